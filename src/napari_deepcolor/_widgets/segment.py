"""The Segment dock widget: pick an image and a model, run the network in a worker, tune the decoding live.

The GUI side only. `SegmentWidget` holds the controls, Run / Cancel, the workers' signals and the status line; it
delegates to its parts: the pickers (`pickers`), the decoding sliders (`knob_sliders`), a run's checks, workers and
record (`runs`), the handlers of the workers' signals (`segment_signals`), the result layers (`result_layers`) and
the live re-decoding (`live_tuning`). The compute side is `napari_deepcolor.predict.stack` (plane-by-plane
prediction, cached network outputs, re-decoding); torch is imported only inside the worker, so opening the widget
does not load it.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

import numpy as np
from magicgui.widgets import CheckBox, ComboBox, Container, Label, PushButton
from napari.qt.threading import create_worker
from napari.utils import notifications
from qtpy.QtWidgets import QSizePolicy

from napari_deepcolor._widgets.dock import on_removed, warm_activity_dock
from napari_deepcolor._widgets.guided_loop import GuidedLoop
from napari_deepcolor._widgets.knob_sliders import KnobSliders
from napari_deepcolor._widgets.live_tuning import LiveTuning
from napari_deepcolor._widgets.pickers import Pickers, model_name, refill
from napari_deepcolor._widgets.result_layers import ResultLayers
from napari_deepcolor._widgets.runs import (
    Run,
    decode_planes,
    input_notes,
    input_problem,
    memory_problem,
    status_text,
    work,
)
from napari_deepcolor._widgets.segment_signals import SegmentSignals
from napari_deepcolor._widgets.signal_queue import SignalQueue
from napari_deepcolor.predict.network import DEVICES
from napari_deepcolor.zoo import bundled_models

if TYPE_CHECKING:
    from pathlib import Path

    import napari
    from napari.layers import Labels

    from napari_deepcolor.config import ModelConfig
    from napari_deepcolor.predict.stack import Knobs

#: The names benchmarks/ import from this module
_Run, _decode_planes = Run, decode_planes


class SegmentWidget(SegmentSignals, Container):
    """Segment an Image layer with a bundled or saved model; τ/ρ (or the kernel knobs) re-decode live.

    Parameters
    ----------
    napari_viewer : napari.viewer.Viewer
        Injected by napari when the widget is opened from the Plugins menu.
    """

    def __init__(self, napari_viewer: napari.viewer.Viewer) -> None:
        super().__init__(labels=True)
        self._viewer = napari_viewer
        self._worker = None
        self._cancel = threading.Event()
        self._active: Run | None = None  # the run in progress
        self._last: Run | None = None  # the last run that finished
        self._signals = SignalQueue(self._dispatch)  # the workers' signals, handled one at a time
        self._closed = False
        self._deleted: set[int] = set()  # ids of runs whose image was deleted while they ran
        self._knob_size = 1.0  # the object size the sliders' τ and ρ are for
        self._picker = Pickers(napari_viewer, self.native, notify=self._notify, on_config=self._on_config,
                               on_text=self._idle_status)
        self._sliders = KnobSliders()
        self._results = ResultLayers(napari_viewer, runs=lambda: (self._shown, self._active, self._last),
                                     refill=lambda run: self._tuning.refill(run), on_edited=self._on_result_edited,
                                     notify=self._notify, window=self.native.window)
        self._tuning = LiveTuning(napari_viewer, self.native, self._results, self._sliders, apply=self._apply_knobs,
                                  handle=self._handle, idle_status=self._idle_status)
        self._guided = GuidedLoop(napari_viewer, self._picker, self._results, run=self.run,
                                  running=lambda: self.running, notify=self._notify)
        self._add_controls()
        self._connect()
        self._picker.start()

    def _add_controls(self) -> None:
        picker, sliders = self._picker, self._sliders
        self._image, self._model, self._object_size = picker.image, picker.model, picker.object_size
        self._min_size, self._merge_distance, self._absorb = sliders.min_size, sliders.merge_distance, sliders.absorb
        self._threshold, self._sigma_scale = sliders.threshold, sliders.sigma_scale
        self._foreground_threshold = sliders.foreground_threshold
        self._device = ComboBox(label="device", choices=list(DEVICES), value="auto",
                                tooltip="auto: CUDA if there is one, then Apple MPS, else the CPU")
        self._outputs = CheckBox(text="network output layers", value=False, tooltip=(
            "Also make layers of what the network predicted: each color's probability and the color map (coloring "
            "models, hidden), or the foreground probability (hidden) and the displacement arrows "
            "(semi-convolutional models). napari takes a moment to "
            "make each layer (worms: 10 of them), so they are made only when this is on; ticking it makes them for "
            "the result on screen. The ones made stay, and runs keep them up to date"))
        self._run = PushButton(text="Run", tooltip="Run the network on the image (click again to cancel)")
        self._status = Label(value="")
        self._status.native.setWordWrap(True)
        # magicgui's labels are Fixed: a long wrapped status held the dock at least 700 px wide, and the canvas beside
        # it narrow; its width now follows the dock's (the text wraps to it)
        self._status.native.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.extend([self._image, self._model, picker.manage, picker.auto_size, self._object_size, self._device,
                     self._outputs, self._run, *sliders.widgets, self._status, self._guided.container])
        # no taller than its content: a Train / fine-tune dock below it gets the rest of the column
        self.native.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Maximum)

    def _connect(self) -> None:
        self._run.changed.connect(self._on_run_clicked)
        self._outputs.changed.connect(self._on_outputs_changed)
        self.native.destroyed.connect(self._on_destroyed)
        on_removed(self.native, lambda: self._on_destroyed(removed=True))  # the dock's "x" (it is not destroyed)
        warm_activity_dock(self.native)
        self._viewer.layers.events.removed.connect(self._on_layer_removed)
        self._viewer.dims.events.current_step.connect(self._tuning.on_plane_shown)
        for widget in self._sliders.widgets:
            widget.changed.connect(self._tuning.on_knob_changed)

    @property
    def _shown(self) -> Run | None:
        """The run whose result the layers show and the sliders re-decode."""
        return self._tuning.shown

    @_shown.setter
    def _shown(self, run: Run | None) -> None:
        self._tuning.shown = run

    # -- pickers and knobs -----------------------------------------------------------------------------------------

    def reset_choices(self, *_: Any) -> None:
        """What napari calls when layers change: refill the pickers, the image picker in its order."""
        super().reset_choices()
        refill(self._image)

    def add_model_file(self, path: str | Path) -> bool:
        """Offer a checkpoint file in the model picker and select it; False (and a notification) if it is unreadable."""
        return self._picker.add_model_file(path)

    def _on_config(self, config: ModelConfig) -> None:
        """A new model or object size: the sliders take its knobs, and no longer describe the result on screen
        (which stays as it was decoded, and stays beside the new model's results after the next Run)."""
        self._shown = None
        self._sliders.set_defaults(config)
        self._tuning.refresh_note()
        self._knob_size = 1.0 if self._picker.auto_size.value else self._picker.object_size.value

    def knobs(self) -> Knobs:
        """The decoding knobs the sliders show."""
        return self._sliders.knobs()

    def _on_outputs_changed(self, on: bool) -> None:
        """The network output layers box: ticked, the result on screen gets them (one per event-loop pass)."""
        self._results.set_outputs(on)
        run = self._shown
        if on and run is not None and run.result is not None and run.planes:
            self._results.network_outputs(run)
            if run.result.method.has_vectors:
                self._results.publish_vectors(run)

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
        layer, picker = self._image.value, self._picker
        problem = input_problem(layer, self._viewer.layers, takes_masks=picker.takes_masks,
                                has_model=picker.config is not None and picker.model_value is not None)
        if problem is not None:
            return self._refuse(problem)
        data = layer.data[0] if layer.multiscale else layer.data
        rgb = bool(getattr(layer, "rgb", False))  # a Labels layer (a mask model's input) is never RGB
        try:
            layout = stack_layout(data, rgb=rgb)
        except ValueError as error:
            return self._refuse(f"cannot segment '{layer.name}': {error}")
        problem = memory_problem(layer, layout, picker.config)
        if problem is not None:
            return self._refuse(problem)
        model = model_name(str(picker.model_value))
        for note in input_notes(layer, data, layout, in_channels=picker.config.in_channels, model=model):
            self._notify("info", note)
        self._cancel = threading.Event()
        labels = getattr(layer, "axis_labels", None)
        run = Run(source=layer.name, source_layer=layer, layout=layout, scale=np.asarray(layer.scale, float),
                  translate=np.asarray(layer.translate, float), model=model, model_path=str(picker.model_value),
                  axis_labels=None if labels is None else tuple(labels))
        shown = self._shown
        if (shown is not None and shown.source_layer is layer and shown.model_path == run.model_path
                and shown.layout == layout and shown.result is not None and shown.planes == layout.n_planes):
            run.previous = shown
        self._start(run, data, model=str(bundled_models().get(picker.model_value, picker.model_value)), rgb=rgb)

    def _start(self, run: Run, data: Any, *, model: str, rgb: bool) -> None:
        # An exception is a bug (expected failures come back as messages): the "errored" handler shows napari's error
        # notification with its traceback; connecting it here keeps the worker from re-raising it in the event loop.
        worker = create_worker(work, model, data, rgb=rgb, device=self._device.value, cancel=self._cancel,
                               knobs=self.knobs(), object_size=self._picker.object_size_value(),
                               _progress={"total": run.layout.n_planes + 1, "desc": f"Segment {run.source}"},
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

    def cancel(self) -> None:
        """Ask the running worker to stop after the current tile (what Cancel does)."""
        if self.running:
            self._cancel.set()
            self._run.text = "Cancelling..."
            self._run.enabled = False

    def _set_running(self, running: bool) -> None:
        self._run.text = "Cancel" if running else "Run"
        self._run.enabled = True
        for widget in (self._image, self._model, self._picker.auto_size, self._device):
            widget.enabled = not running
        self._object_size.enabled = not running and not self._picker.auto_size.value

    def _on_destroyed(self, *_: Any, removed: bool = False) -> None:
        """The dock widget (``removed``) or the viewer was closed: stop the worker, ignore what it still sends."""
        if self._closed:
            return
        run = self._active
        if run is not None:  # its last signals will be ignored: say now what the result layers hold
            self._notify("warning", f"the Segment widget was closed while segmenting '{run.source}': the run stopped"
                                    f"{run.partial_note()}")
        self._closed = True
        self._picker.close()
        self._cancel.set()
        self._tuning.close()
        self._guided.close()
        self._results.close(make_pending=removed)  # the result's hidden layers, unless the viewer is closing
        try:
            self._viewer.layers.events.removed.disconnect(self._on_layer_removed)
            self._viewer.dims.events.current_step.disconnect(self._tuning.on_plane_shown)
        except (RuntimeError, TypeError, ValueError):  # the viewer went first
            pass

    def _on_layer_removed(self, event: Any) -> None:
        """The image being segmented was deleted: the run stops (a notification says what its layers hold when it
        has). The image of the result on screen was deleted: the sliders stop re-decoding it (they would bring its
        layers back over whatever image comes next)."""
        run = self._active
        if run is not None and event.value is run.source_layer and not self._cancel.is_set():
            self._deleted.add(id(run))
            self.cancel()
        if self._shown is not None and event.value is self._shown.source_layer:
            self._shown = None
            self._idle_status()

    def _apply_knobs(self, *, full: bool) -> None:
        """Re-decode the shown result for the sliders (`LiveTuning.decode`) as one of the handlers above: never inside
        another, then the signals that arrived meanwhile."""
        run = self._shown
        if run is None:
            return
        with self._signals.exclusive() as free:
            if not free:  # inside another handler (napari may process events there): try again right after
                self._tuning.later(full=full)
                return
            self._tuning.decode(run, self.knobs(), full=full)
        if full:  # (while a slider moves, the status line waits for `LiveTuning.settle`)
            self._idle_status()
        self._signals.drain()  # worker signals that arrived meanwhile

    # -- status line, notifications ----------------------------------------------------------------------------------

    def _render_status(self) -> None:
        text = status_text(self._active, self._last, self._shown, self._picker.text)
        if self._active is None and self._shown is not None and self._tuning.merge_note:
            text += f"\n{self._tuning.merge_note}"
        self._status.value = text

    def _refuse(self, problem: str) -> None:
        """Run was pressed on what cannot be segmented: say why, in a notification and in the status line (which
        would otherwise still tell the last run, of another image)."""
        self._notify("error", problem)
        self._status.value = f"not run: {problem}"

    def _idle_status(self) -> None:
        """The status line, unless a run in progress writes it."""
        if self._active is None:
            self._render_status()

    def _publish(self, run: Run, *, vectors: bool) -> None:
        """Show a run's arrays in its result layers, made now (benchmarks/ call it)."""
        self._results.publish(run, vectors=vectors)
        self._results.flush()

    def _on_result_edited(self, old: str, layer: Labels) -> None:
        if self._closed:  # the layer is the user's all the same; no widget to update
            return
        self._image.reset_choices()
        self._guided.on_edited(layer)
        self._notify("info", f"'{old}' was edited by hand, so it is now your layer '{layer.name}': the sliders and "
                             "Run no longer change it (they write a new instances layer). Use it to fine-tune a "
                             "model in Train / fine-tune.")

    def _notify(self, level: str, message: str) -> None:
        """A napari notification: ``level`` is "error", "warning" or "info"."""
        {"error": notifications.show_error, "warning": notifications.show_warning,
         "info": notifications.show_info}[level](message)
