"""The Train dock's run: the worker started and its signals queued and handled one at a time (napari's progress
bars process events: DEVELOPERS.md), the events shown as they come, and the messages at the end of a run. The
worker itself is made in `napari_deepcolor._widgets.train.TrainWidget.start`, which checks the inputs first."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from napari.qt.threading import GeneratorWorker
from napari.utils import progress as napari_progress
from napari.utils.notifications import show_info, show_warning

from napari_deepcolor._widgets.train_progress import duration
from napari_deepcolor.zoo import user as _user_models


class TrainRun:
    """The running part of `napari_deepcolor._widgets.train.TrainWidget` (a mixin: its ``self`` is the widget; the
    cancellation and failure messages, ``_on_aborted`` and ``_on_error``, are the widget's own)."""

    def _reset_run(self, steps: int) -> None:
        """Forget the last run's results and show a new one starting (of ``steps`` steps)."""
        self.losses, self.last_checkpoint, self.last_step, self._failed = [], None, 0, False
        self.model_path, self.model_path_name, self._start_score, self._stop_note = None, "", {}, ""
        self._size_note = ""  # what the model's automatic object size will be, when the run says it
        self._cancelled, self.improved = False, None
        self.plot.set_losses([])
        self.metrics_label.setText("")
        self.progress.setRange(0, steps)
        self.progress.setValue(0)
        self.progress.setFormat("starting…")

    def _run(self, worker: GeneratorWorker, steps: int) -> None:
        """Queue the worker's signals, follow it in the dock and in napari's activity dock, and start it."""
        # napari's progress bars process events, which would re-enter these handlers: queue, then drain
        worker.yielded.connect(lambda event: self._handle("event", event))
        worker.aborted.connect(lambda: self._handle("aborted"))
        worker.finished.connect(lambda: self._handle("finished"))
        self.worker = worker
        self.train_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self._pbar = napari_progress(total=steps, desc=f"Training {self.model_name}")
        worker.start()

    def cancel(self) -> None:
        """Stop after the current step; the last checkpoint becomes the model."""
        if self.worker is not None:
            self.status.setText("cancelling after this step…")
            self.cancel_button.setEnabled(False)
            self.worker.quit()

    # --- the worker's signals, handled one at a time -------------------------------------------------------
    def _handle(self, kind: str, payload: Any = None) -> None:
        self._signals.put(kind, payload)

    def _dispatch_signal(self, kind: str, payload: Any) -> None:
        """One queued signal (`SignalQueue`: never inside another, as a progress bar may process events)."""
        {"event": self._on_event, "errored": self._on_error}.get(kind, lambda _: None)(payload)
        if kind == "aborted":
            self._on_aborted()
        elif kind == "finished":
            self._on_finished()

    def _on_event(self, event: Any) -> None:
        if event.kind == "step":
            self.losses.append(event.loss)
            self.plot.set_losses(self.losses)
            self._show_step(event)
        elif event.kind == "validation":
            self._on_validation(event)
        elif event.kind == "checkpoint":
            self.last_checkpoint, self.last_step = Path(event.path), event.step
        elif event.kind in ("object_size", "new_kind"):  # worth a notification: the status line moves on
            self.status.setText(event.note)
            show_info(event.note)
        elif event.kind == "size_model":  # fitting (no note), or what the model's automatic object size is
            self._size_note = getattr(event, "note", "") or self._size_note
            self.status.setText(self._size_note or "fitting the model's automatic object size on the training "
                                "images…")
            self.progress.setFormat("step %v / %m · fitting the automatic object size…")
        elif event.kind == "done":
            self._on_done(event)
        elif getattr(event, "note", ""):  # what the training side says it does ("holdout", "early_stop", ...)
            self.status.setText(event.note)
            if event.kind == "early_stop":
                self._stop_note = event.note

    def _on_validation(self, event: Any) -> None:
        if getattr(event, "note", "") == "starting model":
            self._start_score = event.metrics
            self.metrics_label.setText(f"the starting model's score: AP50 {event.metrics['ap50']:.3f}, SBD "
                                       f"{event.metrics['sbd']:.3f}")
        else:
            self.metrics_label.setText(f"validation at step {event.step}: AP50 {event.metrics['ap50']:.3f}, "
                                       f"SBD {event.metrics['sbd']:.3f}" + self._start_note())

    def _on_done(self, event: Any) -> None:
        """Keep the model (the best checkpoint when there is one) and say how the run went."""
        from napari_deepcolor.checkpoint import read_header

        step = int(read_header(event.path)[1].get("step", event.step))  # the best checkpoint's, with validation
        self.last_checkpoint, self.last_step = Path(event.path), step
        self._register(self.model_name)
        kept = f" (the best validation, step {step})" if step != event.step else ""
        metrics = (f"; validation AP50 {event.metrics['ap50']:.3f}, SBD {event.metrics['sbd']:.3f}{kept}"
                   if event.metrics else "")
        sizes = f". Object size: {self._size_note}" if self._size_note else ""
        show_info(f"training done in {duration(event.elapsed)}: model {self.model_path_name!r} is in the "
                  f"Segment widget's model list{metrics}{sizes}")
        self.progress.setRange(0, event.total)
        self.progress.setValue(event.step)
        stopped = f"; {self._stop_note}" if self._stop_note else ""
        self.status.setText(f"done in {duration(event.elapsed)}{stopped}. Your model {self.model_path_name!r} "
                            f"is in the Segment widget's model list{kept}.")
        self.improved = getattr(event, "improved", None)
        if self.improved is False:
            start = getattr(event, "start_metrics", {}) or self._start_score
            if getattr(event, "below_bar", False):
                show_warning(f"{self.model_path_name!r} scores AP50 {event.metrics['ap50']:.3f} against its starting "
                             f"model's {start['ap50']:.3f} on the annotations held out for the score, less than the "
                             f"{event.needed:.3f} that counts as better on so few objects (a smaller gain can be "
                             "chance): keep using that model, or annotate more objects and train again")
                return
            than = f" (AP50 {start['ap50']:.3f})" if "ap50" in start else ""
            show_warning(f"{self.model_path_name!r} does not score better than the model it started from{than} "
                         "on the annotations held out for the score: keep using that model, or annotate more "
                         "objects and train again")

    def _start_note(self) -> str:
        score = self._start_score
        return f" (the starting model: AP50 {score['ap50']:.3f})" if "ap50" in score else ""

    def _register(self, name: str) -> None:
        """Keep the last checkpoint as one of the user's models (a copy in their model folder, listed in both
        widgets, in this session and the next)."""
        if self.last_checkpoint is None or not self.last_checkpoint.is_file():
            return
        try:
            self.model_path_name = _user_models.add(name, self.last_checkpoint)
            self.model_path = _user_models.path(self.model_path_name)
        except (OSError, ValueError) as error:  # the model folder cannot be written: the run's own file stays
            show_warning(f"could not keep the model in your model folder {_user_models.models_dir()}: {error}; "
                         f"it stays at {self.last_checkpoint} (Save model… copies it elsewhere)")
            self.model_path_name, self.model_path = name, self.last_checkpoint
        self.save_button.setEnabled(True)

    def _on_finished(self) -> None:
        self.worker = None
        self.train_button.setEnabled(True)
        self.cancel_button.setEnabled(False)
        if self._pbar is not None:
            self._pbar.close()
            self._pbar = None
        outcome = "failed" if self._failed else "cancelled" if self._cancelled else "done"
        self.progress.setFormat(f"{outcome}: step %v / %m")
        self.run_ended.emit(outcome)
