"""The Segment widget's result layers: made on a run's first result, updated in place afterwards.

Result layers are found again by their metadata (``layer.metadata["napari_deepcolor"] == {"role": ..., "source":
image name, "model": model name}``, and ``"color": k`` for the probabilities, one layer per color), so a second run
of the same model updates them instead of adding new ones, another model's results stay beside them for comparison,
and a layer the user made is never touched, whatever its name. An instances layer the user paints on becomes theirs:
its metadata tag is removed (`ResultLayers._on_painted`), so neither the sliders nor a new run write over their
corrections.

Making a layer costs napari tens of milliseconds (its GPU visual and its controls; 250 ms and more on a busy 2-core
CPU), and every layer makes the layer list slower to repaint: a run makes the instances layer with its result and
adds it on the next event-loop pass, in stages (`_add`, `_staged`); the layers of
the network's output (a probabilities layer per color and the color map, or the foreground and the displacement
arrows) only when `ResultLayers.outputs` is on (the widget's "network output layers" box), one per pass of the event
loop `LATER_MS` apart, so that the window keeps drawing and taking input between them (docs/benchmarks.md, "GUI
hitches"). Layers that exist are updated either way.
"""

from __future__ import annotations

import contextlib
import weakref
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

import numpy as np
from napari.layers import Image, Labels, Layer, Vectors
from qtpy.QtCore import QTimer

from napari_deepcolor._widgets.dock import hold_paint

if TYPE_CHECKING:
    import napari

    from napari_deepcolor._widgets.runs import Run

META_KEY = "napari_deepcolor"
#: Result-layer metadata key: the object size each plane was segmented at, and how it was chosen (auto or given).
SIZE_KEY = "napari_deepcolor_object_size"
#: The result layers Segment widgets made, in this session: a duplicated layer carries their metadata tag but is the
#: user's; a Segment widget opened again finds the layers of the one that was closed.
_RESULT_LAYERS: weakref.WeakSet[Layer] = weakref.WeakSet()
#: The roles of the layers of the network's output, made only when asked for (`ResultLayers.outputs`)
OUTPUT_ROLES = frozenset({"probabilities", "colors", "foreground", "displacements"})
#: Milliseconds between a layer made on a later pass and what came before it. At 0, Qt ran it right after the canvas's
#: paint of the instances layer, before the window's other timers and input: one stretch (a first `nuclei` run with its
#: arrows: 302 ms, against 134-156 and 190-250 ms apart at 30; docs/benchmarks.md).
LATER_MS = 30
#: napari's editing overlays of a Labels layer (the polygon tool's, the brush stroke's), made with the layer when
#: they are visible: `ResultLayers._add` adds a new Labels layer hidden and without them, and shows it, then them, on
#: later passes `LATER_MS` apart (`_staged`).
EDITING_OVERLAYS = ("polygon", "brush_stroke")
#: The key of a step of a new Labels layer's staged reveal in `ResultLayers._pending`
REVEAL = "reveal"
#: Whether new Labels layers are added in stages (`_staged`), a new instances layer on the event-loop pass after the
#: one that made it (`ResultLayers._add`); off: in one stretch (bench_first_run.py's plain)
STAGED = True
#: Whether the window's paint of a new result layer waits for the next pass (`_without_paint`): napari adds a Labels
#: layer in 40-50 ms and the window paints it in 35-60 ms more (this 2-core CPU, Mesa's software renderer), one
#: stretch of 80-110 ms when the paint follows at once; apart, two of about half (the network's output layers too)
PAINT_APART = True


class ResultLayers:
    """The result layers of a Segment widget's runs in ``viewer``.

    ``runs()`` gives the runs whose result arrays a layer may share: an instances layer painted by hand leaves them
    for a new array, which ``refill(run)`` decodes again. ``on_edited(old_name, layer)`` is called once such a layer
    is the user's; ``notify(level, message)`` shows a notification; ``window()``, the window the widget is in, whose
    paint of a new result layer goes on a pass of its own (`_without_paint`).
    """

    def __init__(self, viewer: napari.viewer.Viewer, *, runs: Callable[[], Iterable[Run | None]],
                 refill: Callable[[Run], None], on_edited: Callable[[str, Labels], None],
                 notify: Callable[[str, str], None], window: Callable[[], Any]) -> None:
        self._viewer = viewer
        self._window = window
        self._runs = runs
        self._refill = refill
        self._on_edited = on_edited
        self._notify = notify
        #: whether runs make the hidden layers of the network's output (`OUTPUT_ROLES`) they do not have yet
        self.outputs = False
        #: layers still to be made, one per event-loop pass (`_make_next`), by their tag
        self._pending: dict[tuple[Any, ...], Callable[[], Any]] = {}
        #: new instances layers made, not yet added to the viewer (`_add`): `find` finds them
        self._unadded: list[Layer] = []
        self._timer = QTimer(singleShot=True, interval=LATER_MS)
        self._timer.timeout.connect(self._make_next)

    def publish(self, run: Run, *, vectors: bool) -> None:
        """Show a run's arrays in its result layers (created on first use, updated afterwards): the instances at
        once, layers not made yet on the next event-loop passes (`pending`)."""
        self.network_outputs(run)
        if run.result.method.has_vectors and vectors:
            self.publish_vectors(run)
        self.instances(run)

    def network_outputs(self, run: Run) -> None:
        """The hidden layers of what the network predicted for ``run``: refreshed where they exist, the others made
        on the next event-loop passes when `outputs` is on."""
        if run.result.method.has_color_channels:
            self.probabilities(run)
            self.hidden(run, "colors", Labels, lambda: run.result.colors)
        else:
            # probabilities in [0, 1]: fixed limits, not the data's range (a first plane may be all 0)
            self.hidden(run, "foreground", Image, lambda: run.result.foreground, colormap="gray",
                        contrast_limits=(0.0, 1.0))

    def set_outputs(self, on: bool) -> None:
        """Make the network's output layers from now on (``on``), or stop making them (the ones made stay)."""
        self.outputs = on
        if not on:
            for key in [key for key in self._pending if key[0] in OUTPUT_ROLES]:
                del self._pending[key]

    def probabilities(self, run: Run) -> None:
        """The color probabilities ``(C, *leading, Y, X)`` as C hidden Image layers, one per color (what napari's
        ``channel_axis`` makes): each has the image's own axes, so a stack's plane slider stays the image's and no
        color slider is added to the viewer; contrast 0 to 1, whatever the data's range."""
        for color in range(run.result.probs.shape[0]):
            self.hidden(run, "probabilities", Image, lambda color=color: run.result.probs[color], color=color,
                        colormap="magma", contrast_limits=(0.0, 1.0))

    def hidden(self, run: Run, role: str, kind: type[Layer], data: Callable[[], np.ndarray], *,
               color: int | None = None, **style: Any) -> None:
        """A hidden result layer of the network's output: refreshed now if it exists, else (when `outputs` is on)
        made on a later event-loop pass with ``data()`` as it is then."""
        key = self._key(run, role, color)
        if key not in self._pending and self.find(run, role, kind, color=color) is not None:
            self.show(run, role, kind, data(), color=color)
        elif self.outputs:
            self._later(key, lambda: self.show(run, role, kind, data(), color=color, visible=False, below=True,
                                               **style))

    def _key(self, run: Run, role: str, color: int | None = None) -> tuple[Any, ...]:
        return tuple(self.tag(run, role, color=color).values())  # (role, source, model[, color])

    def _later(self, key: tuple[Any, ...], make: Callable[[], Any]) -> None:
        """Make a layer on a later event-loop pass (below the run's instances layer, the selection left as it is)."""
        self._pending[key] = make
        self._timer.start()

    @property
    def pending(self) -> int:
        """How many hidden layers are still to be made."""
        return len(self._pending)

    def _reveal(self, layer: Layer, steps: list[Callable[[], Any]]) -> None:
        """Run the steps that add a new instances layer (`_add`) or show a layer added hidden (`_staged`), one per
        event-loop pass, before any layer still to be made."""
        if steps:
            reveal = {(REVEAL, id(layer), i): step for i, step in enumerate(steps)}
            self._pending = {**reveal, **self._pending}
            self._timer.start()

    def _make_next(self) -> None:
        if self._pending:
            self._pending.pop(next(iter(self._pending)))()
        if self._pending:
            self._timer.start()

    def flush(self) -> None:
        """Make the pending hidden layers now."""
        while self._pending:
            self._pending.pop(next(iter(self._pending)))()

    def close(self, *, make_pending: bool) -> None:
        """The widget was closed: the pending layers are made now (``make_pending``: the dock alone was closed) or
        never (the viewer is closing)."""
        try:
            self._timer.stop()
        except RuntimeError:  # Qt deleted it first: the interpreter is exiting with the viewer still open
            pass
        if make_pending:
            self.flush()
        for layer in self._unadded:  # the viewer is closing: a layer not added yet is not added to it now
            self._pending.pop((REVEAL, id(layer), 0), None)
        self._unadded.clear()
        self.settle()  # a layer added is never left hidden
        self._pending.clear()

    def publish_vectors(self, run: Run) -> None:
        """The displacement arrows: updated where the layer exists, else (when `outputs` is on) a new layer on a later
        event-loop pass, hidden (and said so, once per run) when they do not point into their objects."""
        key = self._key(run, "displacements")
        if key in self._pending:
            return  # (made with the arrows as they are then)
        if self.find(run, "displacements", Vectors) is not None:
            self._vectors(run)
        elif self.outputs:
            self._later(key, lambda: self._vectors(run, below=True))

    def _vectors(self, run: Run, *, below: bool = False) -> None:
        from napari_deepcolor.postprocess.display import vectors_on_target

        step = max(8, max(run.layout.plane) // 128)  # at most ~128 arrows along a side
        vectors = run.result.vectors(step=step)
        on_target = vectors_on_target(vectors, run.result.labels) if len(vectors) else float("nan")
        meaningful = not on_target < 0.5  # NaN (nothing segmented yet): no verdict
        layer = self.show(run, "displacements", Vectors, vectors, edge_color="yellow", edge_width=1.0,
                          visible=meaningful, below=below)
        if not meaningful and not run.vectors_explained:
            run.vectors_explained = True
            layer.visible = False
            self._notify("info", f"{run.model} separates objects by its appearance dimensions: only "
                                 f"{on_target:.0%} of its displacement arrows end inside their own object, so the "
                                 f"'{layer.name}' layer is hidden (they are not object centres for this model)")

    def instances(self, run: Run, *, live: bool = False) -> Layer:
        """Show the run's instances (what the sliders re-decode); ``live``: while a slider moves, the layer list's
        thumbnail is left for `thumbnail`."""
        return self.show(run, "instances", Labels, run.result.labels, live=live)

    def thumbnail(self, run: Run) -> None:
        """Bring the layer list's thumbnail of the run's instances up to date (after live updates)."""
        layer = self.find(run, "instances", Labels)
        if layer is not None:
            _refresh(layer, thumbnail=True, data_displayed=False)

    def find(self, run: Run, role: str, kind: type[Layer], *, color: int | None = None) -> Layer | None:
        """The run's result layer of this role (and color, for the probabilities), if the viewer has it (or is about
        to: a new instances layer is added on the next event-loop pass; `settle` adds it now)."""
        tag = self.tag(run, role, color=color)
        for layer in [*self._viewer.layers, *self._unadded]:
            if layer.metadata.get(META_KEY) == tag and type(layer) is kind and layer in _RESULT_LAYERS:
                return layer
        return None

    @staticmethod
    def tag(run: Run, role: str, *, color: int | None = None) -> dict[str, Any]:
        tag: dict[str, Any] = {"role": role, "source": run.source, "model": run.model_path}
        if color is not None:
            tag["color"] = color
        return tag

    def show(self, run: Run, role: str, kind: type[Layer], data: np.ndarray, *, color: int | None = None,
             below: bool = False, live: bool = False, **style: Any) -> Layer:
        """Put ``data`` in the run's result layer of this role (and ``color``): a new layer (with ``style``; right
        below the run's instances layer if ``below``) if there is none, or one with another number of axes; else the
        existing layer, refreshed (``live``: not its thumbnail)."""
        scale, translate, axis_labels = run.scale, run.translate, run.axis_labels
        if axis_labels is not None:
            style["axis_labels"] = axis_labels
        layer = self.find(run, role, kind, color=color)
        data_ndim = data.shape[-1] if kind is Vectors else data.ndim
        if layer is not None and layer.ndim != data_ndim:
            self._viewer.layers.remove(layer)
            layer = None
        if layer is None:
            metadata = {META_KEY: self.tag(run, role, color=color), SIZE_KEY: run.size_metadata()}
            name = f"{run.source} ({run.model}) {role}"
            if color is not None:
                name += f" {color}" + (" (background)" if color == 0 else "")
            return self._add(run, role, kind(data, name=name, scale=scale, translate=translate, metadata=metadata,
                                             **style), below=below)
        if layer.metadata.get(SIZE_KEY) != run.size_metadata():
            layer.metadata = {**layer.metadata, SIZE_KEY: run.size_metadata()}
        # each of these refreshes the layer (tens of ms at 1024 x 1024): set only what changed
        if not np.array_equal(layer.scale, scale):
            layer.scale = scale
        if not np.array_equal(layer.translate, translate):
            layer.translate = translate
        if _same_array(layer.data, data):  # changed in place (StackResult's arrays): a refresh costs half a new one
            _refresh(layer, thumbnail=not live)
        else:
            layer.data = data
        return layer

    def _add(self, run: Run, role: str, layer: Layer, *, below: bool = False) -> Layer:
        """Add a new result layer to the viewer; a new instances layer (`STAGED`) on the next event-loop pass: what
        made it (the run's handlers, the layer itself) and the window's paint of the dock's changes go first, then
        napari's add of the layer and its paint, each a stretch of its own."""
        _RESULT_LAYERS.add(layer)
        if role == "instances":
            layer.events.paint.connect(lambda event, layer=layer: self._on_painted(layer))
            if STAGED:
                self._unadded.append(layer)
                self._reveal(layer, [lambda: self._insert(run, layer, below=below)])
                return layer
        return self._insert(run, layer, below=below)

    def settle(self) -> None:
        """Add the new instances layers still waiting for their event-loop pass, and show them whole, now."""
        while (key := next((key for key in self._pending if key[0] == REVEAL), None)) is not None:
            self._pending.pop(key)()  # (adding a layer puts the steps that show it first)

    def _insert(self, run: Run, layer: Layer, *, below: bool = False) -> Layer:
        if layer in self._unadded:
            self._unadded.remove(layer)
        # a new layer can reset napari's view (its first layer, or one with more axes): keep the user's zoom and
        # position
        camera = self._viewer.camera
        zoom, center = camera.zoom, tuple(camera.center)
        instances = self.find(run, "instances", Labels) if below else None
        if instances in self._unadded:
            self.settle()
        layers = self._viewer.layers
        steps = _staged(layer) if STAGED and isinstance(layer, Labels) else []
        with self._without_paint(steps):
            if instances is None:
                self._viewer.add_layer(layer)
            else:  # under the instances; napari selects what it inserts: the user's selection comes back
                active, selected = layers.selection.active, set(layers.selection)
                layers.insert(layers.index(instances), layer)
                layers.selection.active = active  # (None: nothing)
                layers.selection.update(selected)
            camera.zoom, camera.center = zoom, center
        self._reveal(layer, steps)
        return layer

    @contextlib.contextmanager
    def _without_paint(self, steps: list[Callable[[], Any]]) -> Iterator[None]:
        """Keep the window from painting while a new layer is added: its paint of the added layer waits for the first
        of the layer's ``steps`` (the only one for a layer not staged), a pass of its own `LATER_MS` later
        (`PAINT_APART`, `dock.hold_paint`). Undone at once if the add fails."""
        release = hold_paint(self._window()) if PAINT_APART else None
        if release is None:
            yield
            return
        try:
            yield
        except BaseException:
            release()
            raise
        steps.insert(0, release)

    def displayed_plane(self, run: Run) -> tuple[int, ...]:
        """Index of the plane of the run's result that the viewer shows now."""
        leading = run.layout.leading
        layer = self.find(run, "instances", Labels)
        if layer is None:
            return (0,) * len(leading)
        point = layer.world_to_data(self._viewer.dims.point)
        return tuple(int(np.clip(round(p), 0, n - 1)) for p, n in zip(point[: len(leading)], leading))

    def _on_painted(self, layer: Labels) -> None:
        """The user corrected an instances layer by hand: it becomes theirs (renamed "... (edited)", no longer a
        result layer), so the sliders and later runs write a new layer instead of over the corrections."""
        if META_KEY not in layer.metadata:
            return
        layer.metadata = {k: v for k, v in layer.metadata.items() if k != META_KEY}
        _RESULT_LAYERS.discard(layer)
        for run in self._runs():  # the layer shares its array with the run's result
            if run is not None and run.result is not None and run.result.labels is layer.data:
                # a new array for the result, decoded afresh (napari's brush has written the stroke before the
                # event: a copy would carry it into the next instances layer)
                run.result.labels = np.zeros_like(run.result.labels)
                self._refill(run)
        old = layer.name
        layer.name = f"{old} (edited)"
        self._on_edited(old, layer)


def _staged(layer: Labels) -> list[Callable[[], Any]]:
    """Hide a Labels layer about to be added, and its editing overlays (`EDITING_OVERLAYS`); returns the steps that
    show them again, in order.

    napari makes a Labels layer's visual and its editing overlays when it is added, and the first paint that follows
    links the layer's shader program, all in one stretch on the GUI thread: a session's first instances layer took
    100-110 ms to add and 45-55 ms to paint here (idle). Hidden and without those overlays, adding it took 40 ms and
    painting 35-40 ms; showing it later 40-55 ms, and each overlay 35-55 ms (napari makes an overlay once it is
    visible). The overlays are napari's private ``_overlays`` of a layer made here (not the viewer's, which napari
    shields from plugins): a napari without them has the layer shown in one stage. Not selecting the new layer on
    insert would save 15 ms more, but only through the layer list's private ``_activate_on_insert``, which napari
    warns a plugin off.
    """
    steps: list[Callable[[], Any]] = []
    if layer.visible:
        layer.visible = False
        steps.append(lambda: setattr(layer, "visible", True))
    overlays = getattr(layer, "_overlays", {})
    for name in EDITING_OVERLAYS:
        overlay = overlays.get(name) if hasattr(overlays, "get") else None
        if overlay is not None and getattr(overlay, "visible", False):
            overlay.visible = False
            steps.append(lambda overlay=overlay: setattr(overlay, "visible", True))
    return steps


def _refresh(layer: Layer, *, thumbnail: bool, data_displayed: bool = True) -> None:
    """napari's refresh of a layer whose pixels changed in place: its extent (shape, scale) did not, and recomputing it
    makes napari update the viewer's dimensions; the thumbnail (a repaint of the layer list) only when asked."""
    try:
        layer.refresh(extent=False, thumbnail=thumbnail, data_displayed=data_displayed)
    except TypeError:  # a napari without partial refreshes
        layer.refresh()


def _same_array(a: Any, b: Any) -> bool:
    """Whether ``a`` and ``b`` are the same pixels: the same object, or views of one buffer with the same shape and
    strides (a color's probabilities, ``probs[color]``, is a new view each time)."""
    if a is b:
        return True
    if not (isinstance(a, np.ndarray) and isinstance(b, np.ndarray)):
        return False
    return (a.shape == b.shape and a.strides == b.strides and a.dtype == b.dtype
            and a.__array_interface__["data"][0] == b.__array_interface__["data"][0])
