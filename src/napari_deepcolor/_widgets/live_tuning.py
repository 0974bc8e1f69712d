"""Live tuning in the Segment widget: a slider re-decodes the shown result from its cached network output, never
running the network: the plane on screen at once, every plane of a stack after a pause (the others in a worker
thread, so that the window stays responsive). While a slider moves, only the canvas follows: the layer list's
thumbnail and the status line catch up after a pause (each costs a repaint of its part of the window)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from napari.qt.threading import create_worker
from qtpy.QtCore import QTimer

from napari_deepcolor._widgets.runs import decode_planes

if TYPE_CHECKING:
    import napari
    from qtpy.QtCore import QObject

    from napari_deepcolor._widgets.knob_sliders import KnobSliders
    from napari_deepcolor._widgets.result_layers import ResultLayers
    from napari_deepcolor._widgets.runs import Run
    from napari_deepcolor.predict.stack import Knobs

#: A semiconv clustering slower than this (s) makes its sliders decode on release instead of while dragging.
SLOW_DECODE_SECONDS = 0.15


def merge_note(plane: Any, knobs: Knobs) -> str:
    """Why ρ merges nothing on a coloring plane, for the status line and ρ's tooltip; ``""`` when ρ is 0 or merges
    something. Decodes the plane up to three more times (ρ = 0, and without fragment joining), a few ms each."""
    if knobs.merge_distance <= 0:
        return ""
    unmerged = plane.decode(knobs.replace(merge_distance=0.0))
    if plane.decode(knobs).n_instances != unmerged.n_instances:
        return ""
    if knobs.absorb_fragments:
        plain = plane.decode(knobs.replace(merge_distance=0.0, absorb_fragments=False))
        if (unmerged.labels > 0).sum() > (plain.labels > 0).sum():
            return (f"ρ = {knobs.merge_distance:g} merges nothing on this plane: 'join fragments below τ' already "
                    "joined the pieces of each object, and no two objects of one color are closer than ρ")
    return (f"ρ = {knobs.merge_distance:g} merges nothing on this plane: no two pieces of one color are closer than "
            "ρ (the farthest pixel of one piece from the other)")


class LiveTuning:
    """The sliders' re-decoding of `shown`, the run whose result the layers show.

    Its timers call ``apply(full=...)``, which the widget runs as one of its handlers of worker signals (never nested
    in another: napari re-enters Qt slots, DEVELOPERS.md) and which calls `decode`. ``handle(run, kind, payload)``
    queues the re-decoding worker's signals for the widget, which hands them back to `on_plane_decoded` and
    `on_redecoded`; ``idle_status()`` renders the status line when no run is in progress.
    """

    def __init__(self, viewer: napari.viewer.Viewer, parent: QObject, results: ResultLayers, sliders: KnobSliders,
                 *, apply: Callable[..., None], handle: Callable[[Run, str, Any], None],
                 idle_status: Callable[[], None]) -> None:
        self.shown: Run | None = None
        self._viewer, self._results, self._sliders = viewer, results, sliders
        self._handle, self._idle_status = handle, idle_status
        self._closed = False
        self._cancel = threading.Event()  # set: the background re-decoding of a stack's planes stops
        # the visible plane at once (coalesced per event-loop pass), every plane after a pause
        self._live_timer = QTimer(parent, singleShot=True, interval=0)
        self._live_timer.timeout.connect(lambda: apply(full=False))
        self._full_timer = QTimer(parent, singleShot=True, interval=300)
        self._full_timer.timeout.connect(lambda: apply(full=True))
        #: why ρ merges nothing on the plane shown (`merge_note`), worked out after a pause; "" when it does
        self.merge_note = ""
        self._note_timer = QTimer(parent, singleShot=True, interval=300)
        self._note_timer.timeout.connect(self._update_merge_note)
        #: the sliders stopped: the thumbnail and the status line catch up (`settle`)
        self._settle_timer = QTimer(parent, singleShot=True, interval=300)
        self._settle_timer.timeout.connect(self.settle)

    def later(self, *, full: bool) -> None:
        """Decode on the next event-loop pass (the plane on screen), or after a pause (every plane: ``full``)."""
        (self._full_timer if full else self._live_timer).start()

    def close(self) -> None:
        """The widget was closed: a background re-decoding stops, and what it still sends is ignored."""
        self._closed = True
        self._cancel.set()

    def on_knob_changed(self, *_: Any) -> None:
        run = self.shown
        if run is None:
            return
        if run.source_layer not in self._viewer.layers:  # its image is gone (see the widget's _on_layer_removed)
            self.shown = None
            return
        self.later(full=False)
        if run.layout.leading:
            self.later(full=True)
        self._settle_timer.start()
        self.refresh_note()

    def on_plane_shown(self, *_: Any) -> None:
        """The viewer moved to another plane: one the re-decoding has not reached yet is decoded now."""
        run = self.shown
        if (run is not None and run.result is not None and run.layout.leading
                and run.source_layer in self._viewer.layers
                and self._results.displayed_plane(run) in run.result.stale()):
            self.later(full=False)
        if run is not None and run.layout.leading:
            self.refresh_note()

    def settle(self) -> None:
        """The sliders stopped moving: the instances' thumbnail in the layer list and the status line follow."""
        run = self.shown
        if self._closed or run is None or run.result is None or run.source_layer not in self._viewer.layers:
            return
        self._results.thumbnail(run)
        self._idle_status()

    def refresh_note(self) -> None:
        """Work out `merge_note` again after a pause (the knobs, the plane shown or the result changed)."""
        self._note_timer.start()

    def _update_merge_note(self) -> None:
        run, note = self.shown, ""
        if (not self._closed and run is not None and run.result is not None
                and "merge_distance" in run.result.method.knobs
                and run.source_layer in self._viewer.layers):
            plane = run.result.planes.get(self._results.displayed_plane(run))
            if plane is not None:
                note = merge_note(plane, self._sliders.knobs())
        if note != self.merge_note:
            self.merge_note = note
            self._sliders.note_merge(note)
            self._idle_status()

    def decode(self, run: Run, knobs: Knobs, *, full: bool) -> None:
        """Re-decode ``run`` for ``knobs``: the displayed plane, or every plane (``full``; a stack's other planes in
        a worker); the kernel sliders follow how long a reclustering takes."""
        before = run.result.knobs
        start = time.perf_counter()
        if not run.layout.leading:
            run.result.set_knobs(knobs)
            if run.result.method.has_vectors:
                self._results.publish_vectors(run)
        else:
            run.result.set_knobs(knobs, indices=[self._results.displayed_plane(run)])
            if full:
                self._redecode(run)
        if run.result.method.reclusters and knobs.replace(min_size=before.min_size) != before:
            # semiconv's kernel sliders recluster (τ does not): when that is slow (a large image), they decode once on
            # release instead of lagging behind the drag
            seconds = time.perf_counter() - start
            self._sliders.track(live=seconds < SLOW_DECODE_SECONDS, seconds=seconds)
        self._results.instances(run, live=not full)

    def _redecode(self, run: Run) -> None:
        """Decode the stack's planes that are stale for the current knobs in a worker, storing each as it comes."""
        self._cancel.set()  # a pass for older knobs stops after its current plane
        cancel = self._cancel = threading.Event()
        knobs = run.result.knobs
        todo = [(index, run.result.planes[index]) for index in run.result.stale()]
        worker = create_worker(decode_planes, todo, knobs, cancel, _start_thread=False)
        # through the queue, like the run's signals: a layer refresh may process events and re-enter a slot
        worker.yielded.connect(lambda item: self._handle(run, "decoded", (knobs, *item)))
        worker.finished.connect(lambda: self._handle(run, "redecoded", knobs))
        worker.start()

    def refill(self, run: Run) -> None:
        """``run``'s result has a new, empty labels array (the layer that shared the old one became the user's):
        decode its planes into it again with the current knobs, a stack's in a worker (the GUI thread would hold the
        window for as long as the whole stack takes). Nothing is shown: the next slider move or run makes a new
        instances layer."""
        result = run.result
        if not run.layout.leading:  # one plane: what a slider move costs
            result.set_knobs(result.knobs)
            return
        knobs, labels = result.knobs, result.labels
        worker = create_worker(decode_planes, list(result.planes.items()), knobs, threading.Event(),
                               _start_thread=False)
        worker.yielded.connect(lambda item: self._handle(run, "refilled", (knobs, labels, *item)))
        worker.start()

    def on_plane_refilled(self, run: Run, knobs: Knobs, labels: Any, index: tuple[int, ...], instances: Any) -> None:
        """A plane of `refill`, stored unless the knobs or the labels array changed meanwhile (new knobs re-decode
        every plane themselves)."""
        result = run.result
        if not self._closed and result is not None and result.labels is labels and result.knobs == knobs:
            result.store(index, instances, knobs)

    def _current(self, run: Run, knobs: Knobs) -> bool:
        """Whether a re-decoding for ``knobs`` still concerns what the widget shows."""
        return not self._closed and run is self.shown and run.result is not None and run.result.knobs == knobs

    def on_plane_decoded(self, run: Run, knobs: Knobs, index: tuple[int, ...], instances: Any) -> None:
        if self._current(run, knobs):
            run.result.store(index, instances, knobs)
            if index == self._results.displayed_plane(run):  # the user moved to it meanwhile
                self._results.instances(run)

    def on_redecoded(self, run: Run, knobs: Knobs) -> None:
        """Every plane has the knobs: the vectors (semiconv) and the status line follow."""
        if not self._current(run, knobs) or run.result.stale():
            return
        if run.result.method.has_vectors:
            self._results.publish_vectors(run)
        self._results.instances(run)
        self._idle_status()
