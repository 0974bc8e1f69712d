"""The Segment dock widget: pick an image and a model, run the network in a worker, tune the decoding live.

The GUI side only: layer and model pickers, the worker's life cycle, result layers and notifications. The compute
side is `napari_deepcolor.predict.stack` (plane-by-plane prediction, cached network outputs, re-decoding); torch is imported
only inside the worker, so opening the widget does not load it.

Result layers are found again by their metadata (``layer.metadata["napari_deepcolor"] == {"role": ..., "source":
image name, "model": model name}``), so a second run of the same model updates them instead of adding new ones,
another model's results stay beside them for comparison, and a layer the user made is never touched, whatever its
name. An instances layer the user paints on becomes theirs: its metadata tag is removed (`_on_result_painted`), so
neither the sliders nor a new run write over their corrections.
"""

from __future__ import annotations

import threading
import time
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from magicgui.widgets import CheckBox, ComboBox, Container, FloatSlider, FloatSpinBox, Label, PushButton
from napari.layers import Image, Labels, Layer, Vectors
from napari.qt.threading import create_worker
from napari.utils import notifications
from qtpy.QtCore import QTimer
from qtpy.QtWidgets import QSizePolicy

from napari_deepcolor._widgets.dock import on_removed
from napari_deepcolor.checkpoint import CheckpointError, read_header
from napari_deepcolor.predict.network import DEVICES, OBJECT_SIZES
from napari_deepcolor.preprocess import channel_note
from napari_deepcolor.training.presets import PRESET_MODELS, model_for_image
from napari_deepcolor.zoo import MODEL_KEY, bundled_models
from napari_deepcolor.zoo import user as _user_models

if TYPE_CHECKING:
    import napari

    from napari_deepcolor.config import ModelConfig
    from napari_deepcolor.predict.stack import Knobs, StackLayout, StackResult

META_KEY = "napari_deepcolor"
#: The bundled model a new widget starts from (then `presets.model_for_image` follows the image)
DEFAULT_MODEL = PRESET_MODELS["C. elegans (worms)"]
LOAD_FILE = "<load file...>"
#: The result layers Segment widgets made, in this session: a duplicated layer carries their metadata tag but is the
#: user's; a Segment widget opened again finds the layers of the one that was closed.
_RESULT_LAYERS: weakref.WeakSet[Layer] = weakref.WeakSet()
#: A semiconv clustering slower than this (s) makes its sliders decode on release instead of while dragging.
SLOW_DECODE_SECONDS = 0.15
NO_IMAGE = ("there is no image to segment: open one (File > Open, or File > Open Sample > Deep Coloring) and choose "
            "it under 'image'")


def _work(model: str, image: Any, *, rgb: bool, device: str, cancel: threading.Event, knobs: Knobs | None = None,
          object_size: float = 1.0):
    """The worker: `segment_stack`'s events, then ``(outcome, message)`` with outcome done, cancelled or failed.

    Expected failures (a model that does not load, a device that is not there, a bad image, memory) come back as a
    message for a notification rather than as an exception (which napari would show with a traceback).
    """
    from napari_deepcolor.predict.stack import Cancelled, segment_stack

    try:
        yield from segment_stack(model, image, rgb=rgb, device=device, cancel=cancel, knobs=knobs,
                                 object_size=object_size)
    except Cancelled:
        return "cancelled", ""
    except CheckpointError as error:
        return "failed", f"could not load the model: {error}"
    except MemoryError:
        return "failed", ("out of memory: close other programs or layers, or segment a smaller image (crop it, or "
                          "split a stack into layers)")
    except (ValueError, RuntimeError) as error:
        return "failed", str(error)
    return "done", ""


def _decode_planes(planes: list[tuple[tuple[int, ...], Any]], knobs: Knobs, cancel: threading.Event):
    """The worker of a stack's re-decoding: ``(index, instances)`` for each plane, until ``cancel`` is set."""
    for index, plane in planes:
        if cancel.is_set():
            return
        yield index, plane.decode(knobs)


@dataclass
class _Run:
    """One press of Run: what it segments, and what it has produced so far."""

    source: str
    source_layer: Layer
    layout: StackLayout
    scale: np.ndarray
    translate: np.ndarray
    model: str  # its short name, in layer names
    model_path: str = ""  # the bundled name or file: what tells result layers apart
    axis_labels: tuple[str, ...] | None = None  # the image's (napari >= 0.6 layers have them)
    start: float = field(default_factory=time.perf_counter)
    device: str = ""
    load_seconds: float = 0.0
    predict_seconds: float = 0.0
    seconds: float = 0.0
    planes: int = 0
    outcome: str = ""  # "" while running, then done, cancelled or failed
    result: StackResult | None = None
    worker: Any = None
    previous: _Run | None = None  # the complete earlier run of this image and model, kept if this one is cancelled
    vectors_explained: bool = False  # the arrows were hidden as meaningless, and the user told

    def summary(self) -> str:
        n = self.layout.n_planes
        text = (f"{self.model} on {self.device}: {self.planes} of {n} plane{'s' * (n > 1)} in {self.seconds:.1f} s "
                f"(model loading {self.load_seconds:.1f} s, prediction {self.predict_seconds:.1f} s)")
        if self.outcome == "cancelled":
            text = f"cancelled; {text}"
        if self.result is not None:
            text += f"; {self.result.n_instances()} instances"
        return text


class SegmentWidget(Container):
    """Segment an Image layer with a bundled or saved model; τ/ρ (or the kernel knobs) re-decode live.

    Parameters
    ----------
    napari_viewer : napari.viewer.Viewer
        Injected by napari when the widget is opened from the Plugins menu.
    """

    def __init__(self, napari_viewer: napari.viewer.Viewer) -> None:
        super().__init__(labels=True)
        self._viewer = napari_viewer
        self._model_files: list[str] = []
        self._config: ModelConfig | None = None
        self._model_value: str | None = None
        self._worker = None
        self._cancel = threading.Event()
        self._active: _Run | None = None  # the run in progress
        self._shown: _Run | None = None  # the run whose result the layers show and the sliders re-decode
        self._last: _Run | None = None  # the last run that finished
        self._queue: list[tuple[_Run, str, Any]] = []
        self._busy = False
        self._closed = False
        self._model_text = ""
        self._model_chosen = False  # the user picked a model: the image no longer suggests one
        self._suggesting = False
        self._redecode_cancel = threading.Event()  # set: the background re-decoding of a stack's planes stops

        self._image = ComboBox(label="image", choices=self._image_choices,
                               tooltip="The image to segment: 2D gray or RGB(A), or a stack of 2D planes (time, z); "
                                       "for a model that takes masks (worms-mask), a foreground mask or Labels layer")
        self._model = ComboBox(label="model", choices=self._model_choices,
                               tooltip="A model bundled with the plugin, or a checkpoint file made by deepcolor train")
        self._object_size = FloatSpinBox(label="object size (×)", min=OBJECT_SIZES[0], max=OBJECT_SIZES[1],
                                         step=0.1, value=1.0,
                                         tooltip="How large your objects are, in pixels, against the model's training "
                                                 "objects: 2 if they are twice as long and wide (a higher "
                                                 "magnification), 0.5 if half. The image is resized by 1 / this for "
                                                 "the network, and τ and ρ are scaled to match. Press Run again "
                                                 "after changing it.")
        self._device = ComboBox(label="device", choices=list(DEVICES), value="auto",
                                tooltip="auto: CUDA if there is one, then Apple MPS, else the CPU")
        self._run = PushButton(text="Run", tooltip="Run the network on the image (click again to cancel)")
        self._min_size = FloatSlider(label="min size τ (px)", min=0, max=1000, step=1,
                                     tooltip="τ: instances with fewer pixels are dropped")
        self._merge_distance = FloatSlider(label="merge distance ρ (px)", min=0, max=100, step=0.5,
                                           tooltip="ρ: pieces of one color closer than this (Hausdorff distance) "
                                                   "become one instance; 0 = never merge")
        self._absorb = CheckBox(text="join fragments below τ to a neighbour",
                                tooltip="Pieces smaller than τ that touch another piece join the one they share the "
                                        "longest border with instead of being dropped (for objects the network "
                                        "split between colors)")
        self._threshold = FloatSlider(label="seed threshold", min=0.01, max=0.99, step=0.01,
                                      tooltip="A pixel joins a seed's instance when the kernel K(seed, pixel) is at "
                                              "least this")
        self._sigma_scale = FloatSlider(label="kernel scale (× σ)", min=0.1, max=5, step=0.05, value=1.0,
                                        tooltip="Widens (> 1) or narrows (< 1) the trained kernel σ: wider merges "
                                                "more pixels into each instance")
        self._foreground_threshold = FloatSlider(label="foreground threshold", min=0.01, max=1.0, step=0.01,
                                                 tooltip="Pixels whose foreground probability is at least this are "
                                                         "segmented")
        self._status = Label(value="")
        self._status.native.setWordWrap(True)
        self._knob_widgets = (self._min_size, self._merge_distance, self._absorb, self._threshold,
                              self._sigma_scale, self._foreground_threshold)
        self.extend([self._image, self._model, self._object_size, self._device, self._run, *self._knob_widgets,
                     self._status])
        # no taller than its content: a Train / fine-tune dock below it gets the rest of the column
        self.native.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Maximum)

        # Live tuning: the visible plane at once (coalesced per event-loop pass), every plane after a pause.
        self._live_timer = QTimer(self.native, singleShot=True, interval=0)
        self._live_timer.timeout.connect(lambda: self._apply_knobs(full=False))
        self._full_timer = QTimer(self.native, singleShot=True, interval=300)
        self._full_timer.timeout.connect(lambda: self._apply_knobs(full=True))

        self._run.changed.connect(self._on_run_clicked)
        self.native.destroyed.connect(self._on_destroyed)
        on_removed(self.native, self._on_destroyed)  # the dock's "x" removes it without destroying it
        self._viewer.layers.events.removed.connect(self._on_layer_removed)
        self._viewer.dims.events.current_step.connect(self._on_plane_shown)
        if DEFAULT_MODEL in bundled_models():
            self._model.value = DEFAULT_MODEL
        self._model.changed.connect(self._on_model_changed)
        self._object_size.changed.connect(self._on_object_size_changed)
        self._image.changed.connect(self._suggest_model)
        self._unsubscribe = _user_models.subscribe(self._on_user_model_added)
        for widget in self._knob_widgets:
            widget.changed.connect(self._on_knob_changed)
        if self._model.value != LOAD_FILE:  # no file dialog when the widget opens, even without bundled models
            self._suggesting = True
            try:
                self._on_model_changed(self._model.value)
            finally:
                self._suggesting = False
        self._suggest_model(self._image.value)

    # -- pickers ---------------------------------------------------------------------------------------------------

    def _image_choices(self, _widget: Any = None) -> list[tuple[str, Layer]]:
        """Image layers first, then Labels layers when the model takes masks, then the other layers (chosen, they get
        a notification saying what to do)."""
        layers = [layer for layer in self._viewer.layers if META_KEY not in layer.metadata]
        images = [layer for layer in layers if isinstance(layer, Image)]
        masks = [layer for layer in layers if isinstance(layer, Labels) and self._takes_masks]
        others = [layer for layer in layers if layer not in images and layer not in masks]
        return [(layer.name, layer) for layer in images] + [
            (f"{layer.name} ({type(layer).__name__})", layer) for layer in masks + others]

    def reset_choices(self, *_: Any) -> None:
        """What napari calls when layers change: refill the pickers, the image picker in its order."""
        super().reset_choices()
        self._refill_images()

    def _refill_images(self) -> None:
        """Fill the image picker afresh (magicgui would append new layers at the end), keeping the chosen layer."""
        chosen = self._image.value
        with self._image.changed.blocked():
            self._image.choices = ()
            self._image.reset_choices()
            if chosen is not None and chosen in self._image.choices:
                self._image.value = chosen
        if self._image.value is not chosen:
            self._image.changed.emit(self._image.value)

    @property
    def _takes_masks(self) -> bool:
        return self._config is not None and self._config.mask_input

    def _model_choices(self, _widget: Any = None) -> list[tuple[str, str]]:
        bundled = [(f"{name} (bundled)", name) for name in bundled_models()]
        trained = [(f"{name} (trained)", str(_user_models.path(name))) for name in _user_models.names()]
        files = [(Path(path).name, path) for path in self._model_files]
        return [*bundled, *trained, *files, ("load file...", LOAD_FILE)]

    def _on_user_model_added(self, _name: str, _path: Path) -> None:
        """A model trained in this session (training widget) joins the picker at once; the selection stays."""
        if not self._closed:
            self._restore_model_choice()

    def add_model_file(self, path: str | Path) -> bool:
        """Offer a checkpoint file in the model picker and select it; False (and a notification) if it is unreadable."""
        path = str(Path(path).expanduser())
        try:
            read_header(path)
        except CheckpointError as error:
            self._notify("error", f"could not load the model file: {error}. Choose a napari-deepcolor checkpoint "
                                  "(.safetensors, as written by deepcolor train) or a bundled model.")
            self._restore_model_choice()
            return False
        if path not in self._model_files:
            self._model_files.append(path)
        self._model.reset_choices()
        self._model.value = path
        return True

    def _model_name(self, value: str) -> str:
        """A short name for a model choice, as in layer names and the status line: the bundled or trained name, else
        the file's stem (its folder's name for the ``last.safetensors`` of ``deepcolor train``, ``<folder> best``
        for its ``best.safetensors``)."""
        if value in bundled_models():
            return value
        for name in _user_models.names():
            if str(_user_models.path(name)) == value:
                return name
        path = Path(value)
        if path.stem in ("last", "best") and path.parent.name:
            return path.parent.name if path.stem == "last" else f"{path.parent.name} best"
        return path.stem

    def _restore_model_choice(self) -> None:
        with self._model.changed.blocked():
            self._model.choices = ()  # refilled in order: magicgui appends new choices after "load file..."
            self._model.reset_choices()
            if self._model_value is not None:
                self._model.value = self._model_value

    def _suggest_model(self, layer: Layer | None) -> None:
        """Until the user picks a model, follow the image: a sample's own model (`MODEL_KEY` in its metadata), else
        a bundled model of the image's kind when the current one takes the other (RGB: `leaves-semiconv`, gray:
        `worms`)."""
        if self._model_chosen or not isinstance(layer, Image):
            return
        takes_rgb = None if self._config is None else self._config.in_channels == 3
        name = model_for_image(layer.metadata.get(MODEL_KEY), bool(layer.rgb), takes_rgb, bundled_models())
        if name is not None and name != self._model.value:
            self._suggesting = True
            try:
                self._model.value = name
            finally:
                self._suggesting = False

    def _on_model_changed(self, value: str | None) -> None:
        if not self._suggesting and value != LOAD_FILE:
            self._model_chosen = True
        if value == LOAD_FILE:
            from qtpy.QtWidgets import QFileDialog

            path, _ = QFileDialog.getOpenFileName(self.native, "Load a napari-deepcolor model", "",
                                                  "napari-deepcolor checkpoints (*.safetensors);;All files (*)")
            if path:
                self.add_model_file(path)
            else:
                self._restore_model_choice()
            return
        if value is None:
            return
        try:
            config, _ = read_header(bundled_models().get(value, value))
        except CheckpointError as error:
            self._notify("error", f"could not load the model {value!r}: {error}")
            self._restore_model_choice()
            return
        self._model_value, self._config = value, config
        # The sliders take the new model's values: they no longer describe the result on screen, which stays as it
        # was decoded (and stays beside the new model's results after the next Run).
        self._shown = None
        self._set_knob_defaults(self._resized_config())
        kind = (f"coloring, {config.n_colors} colors (0 = background)" if config.method == "coloring"
                else f"semi-convolutional, {config.embedding_dims} dimensions")
        takes = ("a foreground mask (Image or Labels layer)" if config.mask_input
                 else "RGB images" if config.in_channels == 3 else "gray images")
        self._model_text = f"{self._model_name(value)}: {kind}, takes {takes}; press Run to segment"
        self._refill_images()  # Labels layers move up for a model that takes masks
        if self._active is None:
            self._render_status()

    def _resized_config(self) -> ModelConfig:
        """The model's config for the chosen object size (`resize_objects`); a size the model cannot run at goes
        back to 1, with a notification."""
        from napari_deepcolor.predict.network import resize_objects

        try:
            return resize_objects(self._config, self._object_size.value)
        except ValueError as error:
            self._notify("error", f"{error}; the object size is back at 1")
            with self._object_size.changed.blocked():
                self._object_size.value = 1.0
            return self._config

    def _on_object_size_changed(self, _value: float) -> None:
        """New τ and ρ for the new size (the result on screen stays as it was decoded, as for a new model)."""
        if self._config is None:
            return
        self._shown = None
        self._set_knob_defaults(self._resized_config())

    def _set_knob_defaults(self, config: ModelConfig) -> None:
        """The model's recommended knobs; the sliders of the other method are hidden."""
        from napari_deepcolor.predict.stack import Knobs

        knobs = Knobs.from_config(config)
        coloring = config.method == "coloring"
        with self._knobs_blocked():
            self._min_size.max = max(1000.0, 5 * knobs.min_size)
            self._merge_distance.max = max(100.0, 5 * knobs.merge_distance)
            self._min_size.value = knobs.min_size
            self._merge_distance.value = knobs.merge_distance
            self._absorb.value = knobs.absorb_fragments
            self._threshold.value = knobs.threshold
            self._foreground_threshold.value = knobs.foreground_threshold
            self._sigma_scale.value = 1.0
        self._merge_distance.visible = coloring
        self._absorb.visible = coloring
        for widget in (self._threshold, self._sigma_scale, self._foreground_threshold):
            widget.visible = not coloring

    def _knobs_blocked(self):
        from contextlib import ExitStack

        stack = ExitStack()
        for widget in self._knob_widgets:
            stack.enter_context(widget.changed.blocked())
        return stack

    def knobs(self) -> Knobs:
        """The decoding knobs the sliders show."""
        from napari_deepcolor.predict.stack import Knobs

        return Knobs(min_size=self._min_size.value, merge_distance=self._merge_distance.value,
                     threshold=self._threshold.value, foreground_threshold=self._foreground_threshold.value,
                     sigma_scale=self._sigma_scale.value, absorb_fragments=self._absorb.value)

    # -- running ---------------------------------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._worker is not None

    def _on_run_clicked(self, *_: Any) -> None:
        if self.running:
            self.cancel()
        else:
            self.run()

    def run(self) -> None:
        """Start segmenting the chosen image with the chosen model (what Run does)."""
        from napari_deepcolor.predict.stack import stack_layout

        if self.running:
            return
        layer = self._image.value
        if layer is None or layer not in self._viewer.layers:
            self._notify("error", NO_IMAGE)
            return
        if not isinstance(layer, Image) and not (self._takes_masks and isinstance(layer, Labels)):
            self._notify("error", f"'{layer.name}' is a {type(layer).__name__} layer, not an image: choose an Image "
                                  "layer under 'image'. (If it holds intensities, right-click it in the layer list "
                                  "and convert it to an Image layer; a Labels layer is the input of a model that "
                                  "takes masks, such as worms-mask.)")
            return
        if self._config is None or self._model_value is None:
            self._notify("error", "choose a model under 'model' (a bundled one, or load a checkpoint file)")
            return
        data = layer.data[0] if layer.multiscale else layer.data
        rgb = bool(getattr(layer, "rgb", False))  # a Labels layer (a mask model's input) is never RGB
        try:
            layout = stack_layout(data, rgb=rgb)
        except ValueError as error:
            self._notify("error", f"cannot segment '{layer.name}': {error}")
            return
        if not self._fits_in_memory(layer, layout):
            return
        self._explain_input(layer, data, layout)
        self._cancel = threading.Event()
        shown = self._shown
        labels = getattr(layer, "axis_labels", None)
        run = _Run(source=layer.name, source_layer=layer, layout=layout, scale=np.asarray(layer.scale, float),
                   translate=np.asarray(layer.translate, float), model=self._model_name(str(self._model_value)),
                   model_path=str(self._model_value),
                   axis_labels=None if labels is None else tuple(labels))
        if (shown is not None and shown.source_layer is layer and shown.model_path == run.model_path
                and shown.layout == layout and shown.result is not None and shown.planes == layout.n_planes):
            run.previous = shown
        # An exception is a bug (expected failures come back as messages): the "errored" handler shows napari's error
        # notification with its traceback; connecting it here keeps the worker from re-raising it in the event loop.
        worker = create_worker(_work, str(bundled_models().get(self._model_value, self._model_value)), data,
                               rgb=rgb, device=self._device.value, cancel=self._cancel, knobs=self.knobs(),
                               object_size=self._object_size.value,
                               _progress={"total": layout.n_planes + 1, "desc": f"Segment {layer.name}"},
                               _connect={"errored": lambda error: self._handle(run, "errored", error)},
                               _start_thread=False)
        # napari's progress bars call processEvents(), which would re-enter these handlers: queue, then drain.
        worker.yielded.connect(lambda event: self._handle(run, "event", event))
        worker.returned.connect(lambda value: self._handle(run, "returned", value))
        worker.finished.connect(lambda: self._handle(run, "finished", worker))
        self._worker, self._active, run.worker = worker, run, worker
        self._set_running(True)
        self._render_status()
        worker.start()

    def _fits_in_memory(self, layer: Image, layout: StackLayout) -> bool:
        """Refuse (with a notification) an image whose results cannot fit in the memory that is free now."""
        from napari_deepcolor.predict.stack import memory_needed

        try:
            import psutil
        except ImportError:  # napari brings psutil; without it, MemoryError is still caught later
            return True
        needed, free = memory_needed(layout, self._config), psutil.virtual_memory().available
        if needed <= free:
            return True
        megapixels = np.prod(layout.shape) / 1e6
        self._notify("error", f"'{layer.name}' has {megapixels:,.0f} megapixels: segmenting it here needs about "
                              f"{needed / 2**30:,.1f} GiB of memory and {free / 2**30:,.1f} GiB are free. Crop it (or "
                              "segment a few planes), or segment the file out of core from the command line: "
                              "deepcolor predict (docs/scale.md)")
        return False

    def cancel(self) -> None:
        """Ask the running worker to stop after the current tile (what Cancel does)."""
        if self.running:
            self._cancel.set()
            self._run.text = "Cancelling..."
            self._run.enabled = False

    def _explain_input(self, layer: Image, data: Any, layout: StackLayout) -> None:
        model = self._model_name(str(self._model_value))
        if layer.multiscale:
            self._notify("info", f"'{layer.name}' is multiscale: its full-resolution level is segmented")
        note = channel_note(rgb=layout.rgb, alpha=layout.rgb and data.shape[-1] == 4,
                            in_channels=self._config.in_channels, model=model)
        if note:
            self._notify("info", f"'{layer.name}' {note}")

    def _set_running(self, running: bool) -> None:
        self._run.text = "Cancel" if running else "Run"
        self._run.enabled = True
        for widget in (self._image, self._model, self._object_size, self._device):
            widget.enabled = not running

    def _on_destroyed(self, *_: Any) -> None:
        """The dock widget or the viewer was closed: stop the worker, ignore what it still sends."""
        if self._closed:
            return
        self._closed = True
        self._unsubscribe()
        self._cancel.set()
        self._redecode_cancel.set()
        try:
            self._viewer.layers.events.removed.disconnect(self._on_layer_removed)
            self._viewer.dims.events.current_step.disconnect(self._on_plane_shown)
        except (RuntimeError, TypeError, ValueError):  # the viewer went first
            pass

    def _on_layer_removed(self, event: Any) -> None:
        """The image of the result on screen was deleted: the sliders stop re-decoding it (they would bring its
        layers back over whatever image comes next)."""
        if self._shown is not None and event.value is self._shown.source_layer:
            self._shown = None
            if self._active is None:
                self._render_status()

    def _handle(self, run: _Run, kind: str, payload: Any) -> None:
        if not self._closed:
            self._queue.append((run, kind, payload))
            self._drain()

    def _drain(self) -> None:
        """Handle the worker's queued signals in order, one at a time (never nested in another handler)."""
        if self._busy:
            return
        self._busy = True
        try:
            while self._queue:
                self._dispatch(*self._queue.pop(0))
        finally:
            self._busy = False

    def _dispatch(self, run: _Run, kind: str, payload: Any) -> None:
        from napari_deepcolor.predict.stack import ModelLoaded, StackResult

        if kind == "decoded":  # the re-decoding worker (_redecode); the status line waits for "redecoded"
            self._on_plane_decoded(run, *payload)
            return
        if kind == "redecoded":
            self._on_redecoded(run, payload)
            return
        if kind == "event" and isinstance(payload, ModelLoaded):
            run.device, run.load_seconds = payload.device, payload.seconds
            try:
                run.result = StackResult(run.layout, payload.config, self.knobs())
            except MemoryError:
                self._notify("error", f"segmenting '{run.source}' failed: out of memory for its results: crop it, or "
                                      "segment the file out of core with deepcolor predict (docs/scale.md)")
                run.outcome = "failed"
                self.cancel()
        elif kind == "event" and run.result is not None:
            run.result.set_knobs(self.knobs(), indices=[])  # the sliders may have moved since the run started
            try:
                run.result.add(payload.index, payload.output, payload.plane)
            except MemoryError:
                self._notify("error", f"segmenting '{run.source}' stopped: out of memory after {run.planes} planes, "
                                      "which are kept: crop the image or segment fewer planes, or use deepcolor "
                                      "predict (docs/scale.md)")
                self.cancel()
                self._render_status()
                return
            run.planes += 1
            run.predict_seconds += payload.seconds
            n = run.layout.n_planes
            self._shown = run
            pbar = getattr(run.worker, "pbar", None)
            if pbar is not None and n > 1:
                pbar.set_description(f"Segment {run.source}: plane {run.planes}/{n}")
            self._publish(run, vectors=n == 1)
        elif kind == "returned" and run.outcome != "failed":  # (failed already: no room for the results)
            run.outcome, message = payload
            if run.outcome == "failed":
                self._notify("error", f"segmenting '{run.source}' failed: {message}")
        elif kind == "errored":
            run.outcome = "failed"
            notifications.notification_manager.receive_error(type(payload), payload, payload.__traceback__)
        elif kind == "finished":
            run.seconds = time.perf_counter() - run.start
            if not run.outcome:  # no return value: napari's own cancel (worker.quit) stopped it
                run.outcome = "cancelled" if payload.abort_requested else "done"
            if self._worker is payload:
                self._worker, self._active = None, None
                self._set_running(False)
            self._last = run
            if run.outcome == "cancelled":
                n = run.layout.n_planes
                kept = ""
                if run.previous is not None and run.result is not None and run.planes:
                    run.result.adopt(run.previous.result)  # the layers show the new planes and the earlier others
                    kept = "; the other planes keep the previous run's result"
                self._notify("info", f"cancelled: {run.planes} of {n} planes of '{run.source}' were segmented; "
                                     f"their results are kept{kept}")
            run.previous = None  # not kept alive any longer
            if run.result is not None and run.planes and run.outcome != "failed":
                self._publish(run, vectors=True)
        self._render_status()

    def _render_status(self) -> None:
        run = self._active
        if run is not None:
            text = (f"running {run.model} on {run.device}: plane {run.planes} of {run.layout.n_planes}"
                    if run.device else f"loading {run.model} ...")
        elif self._last is not None and self._last.outcome == "failed":
            text = f"{self._last.model}: failed (see the notification)"
        elif self._shown is not None:
            text = self._shown.summary()
        else:
            text = self._model_text
        self._status.value = text

    # -- result layers ---------------------------------------------------------------------------------------------

    def _publish(self, run: _Run, *, vectors: bool) -> None:
        """Show a run's arrays in its result layers (created on first use, updated afterwards)."""
        result = run.result
        if result.method == "coloring":
            self._result_layer(run, "probabilities", Image, result.probs, leading_axis=True, visible=False,
                               colormap="magma", contrast_limits=(0.0, 1.0))
            self._result_layer(run, "colors", Labels, result.colors, visible=False)
        else:
            self._result_layer(run, "foreground", Image, result.foreground, visible=False, colormap="gray",
                               contrast_limits=(0.0, 1.0))
            if vectors:
                self._publish_vectors(run)
        self._result_layer(run, "instances", Labels, result.labels)

    def _publish_vectors(self, run: _Run) -> None:
        """The displacement arrows, hidden (and said so, once per run) when they do not point into their objects."""
        from napari_deepcolor.postprocess.display import vectors_on_target

        step = max(8, max(run.layout.plane) // 128)  # at most ~128 arrows along a side
        vectors = run.result.vectors(step=step)
        on_target = vectors_on_target(vectors, run.result.labels) if len(vectors) else float("nan")
        meaningful = not on_target < 0.5  # NaN (nothing segmented yet): no verdict
        layer = self._result_layer(run, "displacements", Vectors, vectors, edge_color="yellow", edge_width=1.0,
                                   visible=meaningful)
        if not meaningful and not run.vectors_explained:
            run.vectors_explained = True
            layer.visible = False
            self._notify("info", f"{run.model} separates objects by its appearance dimensions: only "
                                 f"{on_target:.0%} of its displacement arrows end inside their own object, so the "
                                 f"'{layer.name}' layer is hidden (they are not object centres for this model)")

    def _find_result_layer(self, run: _Run, role: str, kind: type[Layer]) -> Layer | None:
        tag = self._tag(run, role)
        for layer in self._viewer.layers:
            if layer.metadata.get(META_KEY) == tag and type(layer) is kind and layer in _RESULT_LAYERS:
                return layer
        return None

    @staticmethod
    def _tag(run: _Run, role: str) -> dict[str, str]:
        return {"role": role, "source": run.source, "model": run.model_path}

    def _result_layer(self, run: _Run, role: str, kind: type[Layer], data: np.ndarray, *,
                      leading_axis: bool = False, **style: Any) -> Layer:
        scale, translate, axis_labels = run.scale, run.translate, run.axis_labels
        if leading_axis:
            scale, translate = np.r_[1.0, scale], np.r_[0.0, translate]
            axis_labels = None if axis_labels is None else ("color", *axis_labels)
        if axis_labels is not None:
            style["axis_labels"] = axis_labels
        layer = self._find_result_layer(run, role, kind)
        data_ndim = data.shape[-1] if kind is Vectors else data.ndim
        if layer is not None and layer.ndim != data_ndim:
            self._viewer.layers.remove(layer)
            layer = None
        if layer is None:
            layer = kind(data, name=f"{run.source} ({run.model}) {role}", scale=scale, translate=translate,
                         metadata={META_KEY: self._tag(run, role)}, **style)
            _RESULT_LAYERS.add(layer)
            if role == "instances":
                layer.events.paint.connect(lambda event, layer=layer: self._on_result_painted(layer))
            # a new layer with another number of axes (the probabilities' color axis) resets napari's view: keep the
            # user's zoom and position
            camera = self._viewer.camera
            zoom, center = camera.zoom, tuple(camera.center)
            self._viewer.add_layer(layer)
            camera.zoom, camera.center = zoom, center
        else:
            # each of these refreshes the layer (tens of ms at 1024 x 1024): set only what changed
            if not np.array_equal(layer.scale, scale):
                layer.scale = scale
            if not np.array_equal(layer.translate, translate):
                layer.translate = translate
            if layer.data is data:  # changed in place (StackResult's arrays): refreshing costs half a new assignment
                layer.refresh()
            else:
                layer.data = data
        return layer

    def _on_result_painted(self, layer: Labels) -> None:
        """The user corrected an instances layer by hand: it becomes theirs (renamed "... (edited)", no longer a
        result layer), so the sliders and later runs write a new layer instead of over the corrections."""
        if META_KEY not in layer.metadata:
            return
        layer.metadata = {k: v for k, v in layer.metadata.items() if k != META_KEY}
        _RESULT_LAYERS.discard(layer)
        for run in (self._shown, self._active, self._last):  # the layer shares its array with the run's result
            if run is not None and run.result is not None and run.result.labels is layer.data:
                # a new array for the result, decoded afresh (napari's brush has written the stroke before the
                # event: a copy would carry it into the next instances layer)
                run.result.labels = np.zeros_like(run.result.labels)
                run.result.set_knobs(run.result.knobs)
        old = layer.name
        layer.name = f"{old} (edited)"
        if self._closed:  # the layer is the user's all the same; no widget to update
            return
        self._image.reset_choices()
        self._notify("info", f"'{old}' was edited by hand, so it is now your layer '{layer.name}': the sliders and "
                             "Run no longer change it (they write a new instances layer). Use it to fine-tune a "
                             "model in Train / fine-tune.")

    # -- live tuning -----------------------------------------------------------------------------------------------

    def _on_knob_changed(self, *_: Any) -> None:
        run = self._shown
        if run is None:
            return
        if run.source_layer not in self._viewer.layers:  # its image is gone (see _on_layer_removed)
            self._shown = None
            return
        self._live_timer.start()
        if run.layout.leading:
            self._full_timer.start()

    def _apply_knobs(self, *, full: bool) -> None:
        """Re-decode from the cached network output: the displayed plane (live), or every plane (after a pause; a
        stack's other planes in a worker thread, so that the window stays responsive)."""
        run = self._shown
        if run is None:
            return
        if self._busy:  # inside another handler (napari may process events there): try again right after
            (self._full_timer if full else self._live_timer).start()
            return
        self._busy = True
        try:
            knobs, before = self.knobs(), run.result.knobs
            start = time.perf_counter()
            if not run.layout.leading:
                run.result.set_knobs(knobs)
                if run.result.method == "semiconv":
                    self._publish_vectors(run)
            else:
                run.result.set_knobs(knobs, indices=[self._displayed_plane(run)])
                if full:
                    self._redecode(run)
            if run.result.method == "semiconv" and knobs.replace(min_size=before.min_size) != before:
                self._follow_kernel_sliders(time.perf_counter() - start)
            self._result_layer(run, "instances", Labels, run.result.labels)
        finally:
            self._busy = False
        if self._active is None:
            self._render_status()
        self._drain()  # worker signals that arrived meanwhile

    def _redecode(self, run: _Run) -> None:
        """Decode the stack's planes that are stale for the current knobs in a worker, storing each as it comes."""
        self._redecode_cancel.set()  # a pass for older knobs stops after its current plane
        cancel = self._redecode_cancel = threading.Event()
        knobs = run.result.knobs
        todo = [(index, run.result.planes[index]) for index in run.result.stale()]
        worker = create_worker(_decode_planes, todo, knobs, cancel, _start_thread=False)
        # through the queue, like the run's signals: a layer refresh may process events and re-enter a slot
        worker.yielded.connect(lambda item: self._handle(run, "decoded", (knobs, *item)))
        worker.finished.connect(lambda: self._handle(run, "redecoded", knobs))
        worker.start()

    def _current(self, run: _Run, knobs: Knobs) -> bool:
        """Whether a re-decoding for ``knobs`` still concerns what the widget shows."""
        return not self._closed and run is self._shown and run.result is not None and run.result.knobs == knobs

    def _on_plane_decoded(self, run: _Run, knobs: Knobs, index: tuple[int, ...], instances: Any) -> None:
        if self._current(run, knobs):
            run.result.store(index, instances, knobs)
            if index == self._displayed_plane(run):  # the user moved to it meanwhile
                self._result_layer(run, "instances", Labels, run.result.labels)

    def _on_redecoded(self, run: _Run, knobs: Knobs) -> None:
        """Every plane has the knobs: the vectors (semiconv) and the status line follow."""
        if not self._current(run, knobs) or run.result.stale():
            return
        if run.result.method == "semiconv":
            self._publish_vectors(run)
        self._result_layer(run, "instances", Labels, run.result.labels)
        if self._active is None:
            self._render_status()

    def _on_plane_shown(self, *_: Any) -> None:
        """The viewer moved to another plane: one the re-decoding has not reached yet is decoded now."""
        run = self._shown
        if (run is not None and run.result is not None and run.layout.leading
                and run.source_layer in self._viewer.layers and self._displayed_plane(run) in run.result.stale()):
            self._live_timer.start()

    def _follow_kernel_sliders(self, seconds: float) -> None:
        """Semiconv's seed threshold, kernel scale and foreground threshold recluster (τ does not): when that is
        slow (a large image), those sliders decode once on release instead of lagging behind the drag."""
        live = seconds < SLOW_DECODE_SECONDS
        for slider in (self._threshold, self._sigma_scale, self._foreground_threshold):
            if slider.tracking != live:
                slider.tracking = live
                note = "" if live else f" (updates when released: reclustering takes {seconds:.1f} s here)"
                slider.tooltip = slider.tooltip.split(" (updates when released")[0] + note

    def _displayed_plane(self, run: _Run) -> tuple[int, ...]:
        """Index of the plane of the run's result that the viewer shows now."""
        leading = run.layout.leading
        layer = self._find_result_layer(run, "instances", Labels)
        if layer is None:
            return (0,) * len(leading)
        point = layer.world_to_data(self._viewer.dims.point)
        return tuple(int(np.clip(round(p), 0, n - 1)) for p, n in zip(point[: len(leading)], leading))

    # -- notifications ---------------------------------------------------------------------------------------------

    def _notify(self, level: str, message: str) -> None:
        """A napari notification: ``level`` is "error", "warning" or "info"."""
        {"error": notifications.show_error, "warning": notifications.show_warning,
         "info": notifications.show_info}[level](message)
