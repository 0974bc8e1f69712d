"""The training widget: fine-tune a model on the labels a user corrected in napari, without blocking the window.

Layout, simple by default: at the top the progress (step, loss, time left) with Cancel beside it, the status line
and the last score; then the image, the labels layer the user corrected, the model to start from, a time limit in
minutes and the new model's name, Train and "Save model…". Everything else is in a collapsed *Advanced* section:
more pairs (an annotated-region layer, an ignore label), the preset and its knobs (the method, colors, scale, margin,
halo weight, patch and batch size, steps, learning rate, ...), an optional validation pair, the checkpoint folder
and a live loss curve.

Training runs in a napari ``thread_worker`` (`napari_deepcolor.training.finetune.finetune`, one torch thread so the GUI
thread keeps a core), with a progress bar in napari's activity dock too; the worker's signals are queued and handled
one at a time (napari's progress bars process events: DEVELOPERS.md). Every finished or cancelled model is added to
`napari_deepcolor.zoo.user`, which keeps it across sessions and where the Segment widget finds it. Torch is imported
by the worker only, never when this module is imported.
"""

from __future__ import annotations

import re
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from napari.qt.threading import GeneratorWorker, create_worker
from napari.utils.notifications import show_error, show_info, show_warning
from qtpy.QtCore import Signal
from qtpy.QtWidgets import QFileDialog, QWidget

from napari_deepcolor._widgets.dock import on_removed, warm_activity_dock
from napari_deepcolor._widgets.signal_queue import SignalQueue
from napari_deepcolor._widgets.train_choices import TrainChoices, start_path
from napari_deepcolor._widgets.train_form import MODEL_FILE, NONE, TrainForm
from napari_deepcolor._widgets.train_progress import TrainProgress
from napari_deepcolor._widgets.train_run import TrainRun
from napari_deepcolor.io import ensure_writable_dir
from napari_deepcolor.training.finetune import SCRATCH, annotated_planes, finetune, model_config_for
from napari_deepcolor.zoo import user as _user_models

if TYPE_CHECKING:
    import napari

    from napari_deepcolor.config import ModelConfig
    from napari_deepcolor.training.presets import Preset

class TrainingFailed(Exception):
    """Training raised; wraps RuntimeErrors, which napari's worker would otherwise swallow as 'deleted worker'."""


def _training(*args: Any, **kwargs: Any):
    """`finetune` in the worker thread, with every error re-raised as `TrainingFailed` (shown as a notification)."""
    try:
        yield from finetune(*args, **kwargs)
    except (GeneratorExit, KeyboardInterrupt):
        raise
    except Exception as error:  # noqa: BLE001 - any failure becomes one clear notification
        raise TrainingFailed(f"training failed: {error}") from error


class TrainWidget(TrainRun, TrainChoices, TrainForm, TrainProgress, QWidget):
    """Dock widget: fine-tune or train a model on labeled layers of the viewer.

    The form is built by `TrainForm` (and `TrainProgress` for the rows on top), its choices are `TrainChoices`,
    and a run's signals are handled by `TrainRun`; this class holds the state, reads the training data from the
    viewer, starts a run and saves its model.

    Parameters
    ----------
    napari_viewer : napari.viewer.Viewer
    """

    #: A run ended: "done", "cancelled" or "failed" (`model_path` is the model it kept, None if none; `improved`
    #: whether it beat its starting model on the held-out annotations, None when unknown)
    run_ended = Signal(str)

    def __init__(self, napari_viewer: napari.viewer.Viewer) -> None:
        super().__init__()
        self.viewer = napari_viewer
        self.worker: GeneratorWorker | None = None
        #: torch CPU threads while training; 1 leaves the other core(s) to the GUI thread (docs/benchmarks.md)
        self.threads = 1
        self.pairs: list[tuple[str, str, str]] = []  # (image, labels, region) layer names
        self.losses: list[float] = []
        self.last_checkpoint: Path | None = None
        self.last_step = 0
        self.model_name = ""
        self.model_path: Path | None = None
        self.model_path_name = ""
        self.model_file: str | None = None
        self.improved: bool | None = None
        self._failed = False  # the last training ended in an error
        self._model_chosen = False  # the user chose a preset or a start: the image no longer suggests one
        self._labels_chosen = False  # the user chose the labels layer: the image no longer suggests one
        self._signals = SignalQueue(self._dispatch_signal)  # the worker's signals, handled one at a time
        self._pbar: Any = None  # the run's progress bar in napari's activity dock
        self._start_score: dict[str, float] = {}  # the starting model's validation score, when the run gives one
        self._stop_note = ""  # why the run stopped before its steps, when it did
        self._size_note = ""  # what the model's automatic object size is, when the run says it
        self._cancelled = False  # the last run was cancelled (or its dock closed)
        self._cost_text = ""  # what fine-tuning the chosen start costs, while the status line shows it
        self._build()
        self.reset_choices()  # napari calls it again whenever layers change, once the widget is docked
        self._unsubscribe = _user_models.subscribe(lambda *_: self._fill_starts())
        self.destroyed.connect(self._unsubscribe)
        on_removed(self, self._on_removed)  # the dock's "x" removes it without a closeEvent
        warm_activity_dock(self)

    # --- data ---------------------------------------------------------------------------------------------
    def training_planes(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """Annotated planes of every pair (the list, or the current selection when the list is empty)."""
        pairs = self.pairs or [(self.image_combo.currentText(), self.labels_combo.currentText(),
                                self.region_combo.currentText())]
        ignore = self.ignore_spin.value() or None
        planes = []
        for image_name, labels_name, region_name in pairs:
            if self.pairs and not all(name in self.viewer.layers for name in (image_name, labels_name)):
                raise ValueError(f"the pair ({image_name!r}, {labels_name!r}) names a layer that was renamed or "
                                 "deleted: remove the pair and add it again")
            image, labels = self._layer(image_name, "image"), self._layer(labels_name, "labels")
            region = None if region_name in (NONE, "") else self._region(region_name, labels)
            planes += annotated_planes(_full_resolution(image), np.asarray(labels.data), rgb=bool(image.rgb),
                                       region=region, ignore_label=ignore, name=f"labels layer {labels_name!r}")
        return planes

    def validation_planes(self) -> list[tuple[np.ndarray, np.ndarray]]:
        image_name, labels_name = self.val_image_combo.currentText(), self.val_labels_combo.currentText()
        if NONE in (image_name, labels_name) or not image_name or not labels_name:
            if (image_name not in (NONE, "")) != (labels_name not in (NONE, "")):
                raise ValueError("validation needs both an image and a labels layer (or neither)")
            return []
        image, labels = self._layer(image_name, "image"), self._layer(labels_name, "labels")
        return annotated_planes(_full_resolution(image), np.asarray(labels.data), rgb=bool(image.rgb),
                                name=f"validation labels {labels_name!r}")

    def _layer(self, name: str, kind: str) -> Any:
        if not name or name not in self.viewer.layers:
            raise ValueError(f"no {kind} layer chosen; add one to the viewer and pick it")
        return self.viewer.layers[name]

    def _region(self, name: str, labels: Any) -> np.ndarray:
        """The annotated region as a bool mask in the labels layer's pixels. Shapes are drawn in world coordinates:
        their vertices go through the shapes layer's transform and back through the labels layer's."""
        from napari.layers import Shapes

        layer = self._layer(name, "annotated-region")
        shape = labels.data.shape
        if isinstance(layer, Shapes):
            if len(layer.data) == 0:
                raise ValueError(f"the annotated-region layer {name!r} has no shapes; draw the annotated region")
            ndim = min(layer.ndim, labels.ndim)
            vertices = [np.array([labels.world_to_data(layer.data_to_world(v))[-ndim:] for v in shape_data])
                        for shape_data in layer.data]
            in_labels = Shapes(vertices, shape_type=layer.shape_type, ndim=ndim)
            return in_labels.to_labels(labels_shape=shape[-ndim:]) > 0
        return np.asarray(layer.data) > 0

    # --- running ------------------------------------------------------------------------------------------
    def start(self) -> GeneratorWorker | None:
        """Check the inputs and start training in a worker thread; returns the worker (None on bad input)."""
        if self.worker is not None:
            show_warning("training is already running; cancel it first")
            return None
        try:
            planes, validation, start, preset, config, output = self._inputs()
        except (ValueError, OSError) as error:
            show_error(str(error))
            return None
        in_channels = _in_channels(planes)
        if config.in_channels != in_channels:
            show_info(f"the image is {'RGB' if in_channels == 3 else 'gray'} and {Path(start).stem} takes "
                      f"{'RGB' if config.in_channels == 3 else 'gray'} images: "
                      + ("its channels are averaged into one gray image (start from a leaves model, or from "
                         "scratch, to train on color)" if in_channels == 3 else "it is used for all three channels"))
        self._reset_run(preset.steps)
        minutes = self.minutes_spin.value() or None
        networks = f"{config.members} networks" if config.members > 1 else "one network"
        limit = f" for at most {minutes} min" if minutes else ""
        chosen = self.start_combo.currentText()
        source = Path(chosen).stem if chosen == self.model_file else chosen
        self.status.setText(f"training {networks} on {len(planes)} plane(s) from {source}{limit}…")
        # The "errored" handler given here (not connected afterwards) keeps the worker from also re-raising the
        # error in the event loop, which napari would show a second time with a traceback.
        worker = create_worker(_training, planes, start=start, preset=preset, method=self.method_combo.currentText(),
                               output=output, validation=validation, device="auto", threads=self.threads,
                               log_every=1, minutes=minutes, replay=self.replay_spin.value(),
                               freeze_encoder=self.freeze_encoder_check.isChecked(),
                               **({} if self.stop_early_check.isChecked() else {"patience": None}),
                               _connect={"errored": lambda error: self._handle("errored", error)},
                               _start_thread=False)
        self._run(worker, preset.steps)
        return worker

    def _inputs(self) -> tuple[list, list, str, Preset, ModelConfig, Path]:
        """The training and validation planes, the start (as ``finetune`` takes it), the knobs, the network's
        config and a new folder for the run's checkpoints; sets the new model's name. Raises ValueError or
        OSError with what to fix."""
        planes = self.training_planes()
        validation = self.validation_planes()
        start = self.start_combo.currentText()
        if start in ("", MODEL_FILE):
            raise ValueError("choose a model to start from (or 'from scratch')")
        start = start_path(start)
        preset = self.preset()
        config = model_config_for(start, preset, in_channels=_in_channels(planes),
                                  method=self.method_combo.currentText())
        # short by default: it becomes part of every result layer's name in the Segment widget
        chosen = self.start_combo.currentText()
        stem = "new model" if chosen == SCRATCH else Path(chosen).stem if chosen == self.model_file else chosen
        stem = re.sub(r"(( \(step \d+\))|( \(\d+\))|( fine-tuned))+$", "", stem)  # not "… fine-tuned fine-tuned"
        self.model_name = self.name_edit.text().strip() or f"{stem} fine-tuned"
        folder = "".join(c if c.isalnum() or c in "-_." else "_" for c in self.model_name)
        base = ensure_writable_dir(Path(self.output_edit.text()).expanduser())
        output = Path(tempfile.mkdtemp(prefix=f"{folder}-{time.strftime('%Y%m%d-%H%M%S')}-", dir=base))
        return planes, validation, start, preset, config, output

    # --- a run cancelled or failed (its queued signals, handled by `TrainRun._dispatch_signal`) ------------------------
    def _on_aborted(self) -> None:
        self._cancelled = True
        if self.last_checkpoint is not None:
            self._register(f"{self.model_name} (step {self.last_step})")
            self.status.setText(f"cancelled; the checkpoint of step {self.last_step} is kept")
            show_info(f"training cancelled; the checkpoint of step {self.last_step} is kept as model "
                      f"{self.model_path_name!r}")
        else:
            self.status.setText("cancelled before the first checkpoint: no model was saved")
            show_warning("training cancelled before its first checkpoint: no model was saved")

    def _on_error(self, error: Exception) -> None:
        kept = ""
        if self.last_checkpoint is not None:
            self._register(f"{self.model_name} (step {self.last_step})")
            kept = f"; the checkpoint of step {self.last_step} is kept as model {self.model_path_name!r}"
        self._failed = True
        self.status.setText(f"training failed (see the notification){kept}")
        show_error(f"{error}{kept}")

    # --- saving -------------------------------------------------------------------------------------------
    def _save_clicked(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save model", f"{self.model_name}.safetensors",
                                              "Checkpoints (*.safetensors)")
        if path:
            self.save_model(path)

    def save_model(self, path: str | Path) -> Path | None:
        """Write the trained model to ``path`` atomically; a notification says where, or why it could not."""
        if self.model_path is None:
            show_warning("no trained model yet: train one first")
            return None
        from napari_deepcolor.checkpoint import load_checkpoint, save_checkpoint

        path = Path(path)
        if path.suffix != ".safetensors":
            path = path.with_name(path.name + ".safetensors")
        try:
            checkpoint = load_checkpoint(self.model_path)
            checkpoint.metadata["name"] = self.model_path_name
            written = save_checkpoint(path, checkpoint)
        except (OSError, ValueError) as error:
            advice = "" if "choose" in str(error) else "; choose another location"
            show_error(f"could not save the model to {path}: {error}{advice}")
            return None
        show_info(f"model saved to {written}")
        return written

    def _on_removed(self) -> None:
        """The widget or its dock was closed: stop training after the current step (its last checkpoint is kept, as
        on Cancel)."""
        self._unsubscribe()
        if self.worker is not None:
            self.worker.quit()

    def closeEvent(self, event: Any) -> None:  # noqa: N802 - Qt's name
        self._on_removed()
        super().closeEvent(event)


def _in_channels(planes: list[tuple[np.ndarray, np.ndarray]]) -> int:
    """3 when any training plane is RGB, else 1."""
    return 3 if any(image.ndim == 3 for image, _ in planes) else 1


def _full_resolution(image: Any) -> np.ndarray:
    """An Image layer's pixels: level 0 of a multiscale layer (``np.asarray`` of its data would be the coarsest)."""
    return np.asarray(image.data[0] if image.multiscale else image.data)
