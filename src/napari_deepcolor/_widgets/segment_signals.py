"""The Segment dock's handlers of its workers' signals: a run's events (the model loaded, each plane's network
output), its end, and the live re-decoding's results, each handled after the one before (`SignalQueue`: napari's
progress bars process events, which would re-enter them; DEVELOPERS.md)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from napari.utils import notifications

if TYPE_CHECKING:
    from napari_deepcolor._widgets.runs import Run
    from napari_deepcolor.predict.stack import ModelLoaded


class SegmentSignals:
    """The signal handlers of `napari_deepcolor._widgets.segment.SegmentWidget` (a mixin: its ``self`` is the widget,
    whose controls, parts and run state they update)."""

    def _handle(self, run: Run, kind: str, payload: Any) -> None:
        if not self._closed:
            self._signals.put(run, kind, payload)

    def _dispatch(self, run: Run, kind: str, payload: Any) -> None:
        from napari_deepcolor.predict.stack import ModelLoaded

        if kind == "decoded":  # the re-decoding worker (LiveTuning); the status line waits for "redecoded"
            self._tuning.on_plane_decoded(run, *payload)
            return
        if kind == "redecoded":
            self._tuning.on_redecoded(run, payload)
            return
        if kind == "refilled":  # the re-decoding of a result whose instances layer became the user's
            self._tuning.on_plane_refilled(run, *payload)
            return
        if kind == "event" and isinstance(payload, ModelLoaded):
            self._on_model_loaded(run, payload)
        elif kind == "event" and run.result is not None:
            self._on_plane(run, payload)
        elif kind == "returned" and run.outcome != "failed":  # (failed already: no room for the results)
            run.outcome, message = payload
            if run.outcome == "failed":
                partial = run.partial_note() if run.planes else ""
                self._notify("error", f"segmenting '{run.source}' failed: {message}{partial}")
        elif kind == "errored":
            run.outcome = "failed"
            notifications.notification_manager.receive_error(type(payload), payload, payload.__traceback__)
        elif kind == "finished":
            self._on_finished(run, payload)
        self._render_status()

    def _on_model_loaded(self, run: Run, loaded: ModelLoaded) -> None:
        """The network is loaded: the sliders follow an estimated object size, and the run makes room for its
        results (or fails, out of memory)."""
        size = loaded.object_size
        if size is not None and size.how != "given":
            if size.factor != self._knob_size:  # τ and ρ follow the estimated size, from where the user left them
                self._sliders.rescale(size.factor / self._knob_size)
                self._knob_size = size.factor
            self._picker.show_estimate(size.factor)
            if size.how == "fallback" or size.warning:
                self._notify("warning", f"'{run.source}': {size.note}")
        try:
            run.model_loaded(loaded, self.knobs())
        except MemoryError:
            self._notify("error", f"segmenting '{run.source}' failed: out of memory for its results: crop it, or "
                                  "segment the file out of core with deepcolor predict (docs/scale.md)")
            run.outcome = "failed"
            self.cancel()

    def _on_plane(self, run: Run, event: Any) -> None:
        """A plane's network output: decoded and shown."""
        run.result.set_knobs(self.knobs(), indices=[])  # the sliders may have moved since the run started
        try:
            run.add_plane(event)
        except MemoryError:
            self._notify("error", f"segmenting '{run.source}' stopped: out of memory after {run.planes} planes, "
                                  "which are kept: crop the image or segment fewer planes, or use deepcolor "
                                  "predict (docs/scale.md)")
            self.cancel()
            return
        n = run.layout.n_planes
        self._shown = run
        pbar = getattr(run.worker, "pbar", None)
        if pbar is not None and n > 1:
            pbar.set_description(f"Segment {run.source}: plane {run.planes}/{n}")
        self._results.publish(run, vectors=n == 1)

    def _on_finished(self, run: Run, worker: Any) -> None:
        run.finish(aborted=worker.abort_requested)
        if self._worker is not worker:
            return
        self._worker, self._active = None, None
        self._set_running(False)
        self._last = run
        if id(run) in self._deleted:
            self._deleted.discard(id(run))
            run.previous = None  # the earlier result was of the deleted image too: nothing to complete
            self._notify("warning", f"'{run.source}' was deleted while it was being segmented: the run stopped"
                                    f"{run.partial_note()}")
        elif run.outcome == "cancelled":
            kept = "; the other planes keep the previous run's result" if run.keep_previous() else ""
            self._notify("info", f"cancelled: {run.planes} of {run.layout.n_planes} planes of '{run.source}' were "
                                 f"segmented; their results are kept{kept}")
        run.previous = None  # not kept alive any longer
        if run.result is not None and run.planes and run.outcome != "failed":
            if run.layout.n_planes > 1:  # a stack's arrows and adopted planes; one plane was shown whole as it came
                self._results.publish(run, vectors=True)
            self._guided.on_result(run)
        self._tuning.refresh_note()
