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

import math
import re
import tempfile
import time
from dataclasses import fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from napari.qt.threading import GeneratorWorker, create_worker
from napari.utils import progress as napari_progress
from napari.utils.notifications import show_error, show_info, show_warning
from qtpy.QtCore import QPointF, Qt
from qtpy.QtGui import QPainter, QPen, QPolygonF
from qtpy.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QFrame,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from napari_deepcolor._widgets.dock import on_removed
from napari_deepcolor.io import ensure_writable_dir
from napari_deepcolor.training.finetune import SCRATCH, annotated_planes, finetune, model_config_for
from napari_deepcolor.training.presets import (
    FINETUNE_LEARNING_RATE,
    PRESET_MODELS,
    PRESETS,
    TOOLTIPS,
    Preset,
    model_for_image,
    preset_for_model,
)
from napari_deepcolor.zoo import MODEL_KEY
from napari_deepcolor.zoo import user as _user_models

if TYPE_CHECKING:
    import napari

    from napari_deepcolor.config import ModelConfig

NONE = "(none)"
MODEL_FILE = "model file…"
#: The time limit a new widget offers, in minutes (the preset's steps take about that on a laptop CPU).
DEFAULT_MINUTES = 10


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


class _Note(QLabel):
    """A wrapped line of text that takes no room while it is empty."""

    def __init__(self, tooltip: str = "") -> None:
        super().__init__("")
        self.setWordWrap(True)
        self.setToolTip(tooltip)
        self.setVisible(False)

    def setText(self, text: str) -> None:  # noqa: N802 - Qt's name
        super().setText(text)
        self.setVisible(bool(text))


class LossPlot(QWidget):
    """A live loss curve: one polyline of the losses so far, scaled to the widget (no plotting library)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.losses: list[float] = []
        self.setMinimumHeight(90)
        self.setToolTip("Training loss (mean over each step); it should fall, then level off")

    def set_losses(self, losses: list[float]) -> None:
        self.losses = [v for v in losses if math.isfinite(v)]
        self.update()

    def paintEvent(self, event: Any) -> None:  # noqa: N802 - Qt's name
        painter = QPainter(self)
        painter.fillRect(self.rect(), self.palette().base())
        width, height, pad = self.width(), self.height(), 6
        painter.setPen(QPen(self.palette().text().color()))
        if len(self.losses) < 2:
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, "loss curve appears here while training")
            return
        low, high = min(self.losses), max(self.losses)
        span = high - low or 1.0
        n = len(self.losses) - 1
        points = [QPointF(pad + (width - 2 * pad) * i / n, pad + (height - 2 * pad) * (high - v) / span)
                  for i, v in enumerate(self.losses)]
        pen = QPen(Qt.GlobalColor.cyan)
        pen.setWidth(2)
        painter.setPen(pen)
        painter.drawPolyline(QPolygonF(points))
        painter.setPen(QPen(self.palette().text().color()))
        painter.drawText(pad, height - pad, f"{self.losses[-1]:.4f}  (max {high:.3f})")


def _start_path(start: str) -> str:
    """What ``finetune`` takes for a *start from* choice: a user model's checkpoint path, else the choice itself
    (a bundled model name, a file path or `SCRATCH`)."""
    return str(_user_models.path(start)) if start in _user_models.names() else start


class TrainWidget(QWidget):
    """Dock widget: fine-tune or train a model on labeled layers of the viewer.

    Parameters
    ----------
    napari_viewer : napari.viewer.Viewer
    """

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
        self._failed = False  # the last training ended in an error
        self._model_chosen = False  # the user chose a preset or a start: the image no longer suggests one
        self._labels_chosen = False  # the user chose the labels layer: the image no longer suggests one
        self._queue: list[tuple[str, Any]] = []  # the worker's signals, handled one at a time (`_drain`)
        self._busy = False
        self._pbar: Any = None  # the run's progress bar in napari's activity dock
        self._start_score: dict[str, float] = {}  # the starting model's validation score, when the run gives one
        self._stop_note = ""  # why the run stopped before its steps, when it did
        self._cancelled = False  # the last run was cancelled (or its dock closed)
        self._cost_text = ""  # what fine-tuning the chosen start costs, while the status line shows it
        self._build()
        self.reset_choices()  # napari calls it again whenever layers change, once the widget is docked
        self._unsubscribe = _user_models.subscribe(lambda *_: self._fill_starts())
        self.destroyed.connect(self._unsubscribe)
        on_removed(self, self._on_removed)  # the dock's "x" removes it without a closeEvent

    # --- construction -------------------------------------------------------------------------------------
    def _build(self) -> None:
        """What a biologist needs on top (progress with Cancel; image, labels, start model, minutes, Train); every
        other knob in a collapsed *Advanced* section. The form scrolls, so Train stays reachable on a laptop screen;
        the progress row stays above it."""
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addLayout(self._build_progress())
        self._scroll = scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        content = QWidget()
        scroll.setWidget(content)
        outer.addWidget(scroll)
        layout = QVBoxLayout(content)
        layout.addWidget(self._build_simple())
        self.advanced_button = QToolButton()
        self.advanced_button.setText("Advanced")
        self.advanced_button.setCheckable(True)
        self.advanced_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.advanced_button.setArrowType(Qt.ArrowType.RightArrow)
        self.advanced_button.setToolTip("More training data, validation, the preset and every training knob, the "
                                        "loss curve and where checkpoints go")
        self.advanced_button.toggled.connect(self.show_advanced)
        layout.addWidget(self.advanced_button)
        self.advanced = QWidget()
        advanced = QVBoxLayout(self.advanced)
        advanced.setContentsMargins(0, 0, 0, 0)
        for group in (self._build_data(), self._build_model(), self._build_validation(), self._build_details()):
            advanced.addWidget(group)
        self.advanced.setVisible(False)
        layout.addWidget(self.advanced)
        layout.addStretch()
        self.apply_preset(self.preset_combo.currentText())

    def _build_progress(self) -> QVBoxLayout:
        """The top rows: progress (step, loss, time left) with Cancel beside it, the status line and the score."""
        top = QVBoxLayout()
        top.setContentsMargins(6, 6, 6, 0)
        row = QHBoxLayout()
        self.progress = QProgressBar()
        self.progress.setFormat("not training")
        self.progress.setValue(0)
        self.progress.setToolTip("Training progress: step, loss (it should fall, then level off) and time left")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.cancel_button.setToolTip("Stop after the current step; the last checkpoint is kept and offered")
        self.cancel_button.clicked.connect(self.cancel)
        row.addWidget(self.progress, 1)
        row.addWidget(self.cancel_button)
        top.addLayout(row)
        self.status = _Note()
        top.addWidget(self.status)
        self.metrics_label = _Note("The last validation: AP50 (matched objects at IoU 0.5 over all objects) and SBD "
                                   "(symmetric best Dice), on the validation pair or on the part of your annotations "
                                   "held out for it")
        top.addWidget(self.metrics_label)
        return top

    def _build_simple(self) -> QGroupBox:
        box = QGroupBox("Fine-tune a model on your corrections")
        form = QFormLayout(box)
        self.image_combo, self.labels_combo = QComboBox(), QComboBox()
        self.image_combo.setToolTip("The image layer to train on (a 2D image or a stack of planes)")
        self.image_combo.currentTextChanged.connect(self._suggest_preset)
        self.image_combo.currentTextChanged.connect(self._suggest_labels)
        self.labels_combo.setToolTip("The Labels layer you painted or corrected on that image: 0 = background, one "
                                     "value per object (e.g. the Segment widget's instances after you edited them, "
                                     "'... instances (edited)'). In a stack, planes with no label at all are "
                                     "skipped.")
        self.labels_combo.activated.connect(self._user_chose_labels)
        self.start_combo = QComboBox()
        self.start_combo.setToolTip("The model to start from: a bundled model, one of your models (trained here or "
                                    "earlier), a model file, or from scratch (needs thousands of steps)")
        self.start_combo.activated.connect(self._start_chosen)
        self.start_combo.activated.connect(self._user_chose)
        self.start_combo.currentTextChanged.connect(self._follow_start)
        self.minutes_spin = QSpinBox()
        self.minutes_spin.setRange(0, 24 * 60)
        self.minutes_spin.setValue(DEFAULT_MINUTES)
        self.minutes_spin.setSuffix(" min")
        self.minutes_spin.setSpecialValueText("no limit (Advanced > steps)")
        self.minutes_spin.setToolTip("How long to train, at most. After the first steps the number of steps "
                                     "becomes what fits in this time (at most the steps under Advanced); training "
                                     "also stops early once the score on the held-out annotations stops improving. "
                                     "0 = no time limit: all the steps.")
        self.name_edit = QLineEdit()
        self.name_edit.setPlaceholderText("<start model> fine-tuned")
        self.name_edit.setToolTip("Name of the new model in both widgets' model lists (kept across sessions)")
        form.addRow("image", self.image_combo)
        form.addRow("labels (corrected)", self.labels_combo)
        form.addRow("start from", self.start_combo)
        form.addRow("time", self.minutes_spin)
        form.addRow("new model's name", self.name_edit)
        buttons = QHBoxLayout()
        self.train_button, self.save_button = QPushButton("Train"), QPushButton("Save model…")
        self.train_button.setToolTip("Train in the background: the window stays usable, and the new model appears "
                                     "in the Segment widget's model list when it is done (or cancelled)")
        self.save_button.setToolTip("Copy the trained model to a .safetensors file of your choice")
        self.train_button.clicked.connect(self.start)
        self.save_button.clicked.connect(self._save_clicked)
        self.save_button.setEnabled(False)
        buttons.addWidget(self.train_button)
        buttons.addWidget(self.save_button)
        form.addRow(buttons)
        return box

    def _build_data(self) -> QGroupBox:
        data = QGroupBox("More training data")
        form = QFormLayout(data)
        self.region_combo = QComboBox()
        self.region_combo.setToolTip("Optional: a Labels or Shapes layer marking where the annotation is "
                                     "complete. Only pixels inside it (painted > 0, or inside a shape) count; "
                                     "the rest is ignored, not taken as background.")
        self.ignore_spin = QSpinBox()
        self.ignore_spin.setRange(0, 2**31 - 1)
        self.ignore_spin.setSpecialValueText(NONE)
        self.ignore_spin.setToolTip("Optional: a label value you paint where you have not annotated; those pixels "
                                    "are ignored instead of counting as background (none = off)")
        form.addRow("annotated region", self.region_combo)
        form.addRow("ignore label", self.ignore_spin)
        buttons = QHBoxLayout()
        self.add_pair_button, self.remove_pair_button = QPushButton("Add pair"), QPushButton("Remove pair")
        self.add_pair_button.setToolTip("Train on several images: add the current (image, labels) pair to the list. "
                                        "With an empty list, the current pair is used.")
        self.remove_pair_button.setToolTip("Remove the selected pair (the last one if none is selected)")
        self.add_pair_button.clicked.connect(self.add_pair)
        self.remove_pair_button.clicked.connect(self.remove_pair)
        buttons.addWidget(self.add_pair_button)
        buttons.addWidget(self.remove_pair_button)
        form.addRow(buttons)
        self.pair_list = QListWidget()
        self.pair_list.setMaximumHeight(70)
        self.pair_list.setToolTip("The (image, labels) pairs trained on together")
        form.addRow(self.pair_list)
        return data

    def _build_model(self) -> QGroupBox:
        model = QGroupBox("Training knobs")
        form = QFormLayout(model)
        self.method_combo = QComboBox()
        self.method_combo.addItems(["coloring", "semiconv"])
        self.method_combo.setToolTip("Deep coloring, or semi-convolutional embeddings. Chosen here when training "
                                     "from scratch; a starting model fixes it (e.g. ecoli-semiconv is semiconv)")
        self.preset_combo = QComboBox()
        self.preset_combo.addItems(list(PRESETS))
        self.preset_combo.setToolTip("Fill the knobs below for this kind of image, and start from its bundled model "
                                     "(unless you chose a model of your own)")
        self.preset_combo.currentTextChanged.connect(self._preset_chosen)
        self.preset_combo.activated.connect(self._user_chose)
        form.addRow("method", self.method_combo)
        form.addRow("preset", self.preset_combo)
        self.knobs: dict[str, QWidget] = {}
        for f in fields(Preset):
            if f.type in ("int", int):
                knob = QSpinBox()
                knob.setRange(*{"n_colors": (2, 64), "margin": (1, 64), "patch_size": (16, 2048),
                                "batch_size": (1, 256), "steps": (1, 1_000_000),
                                "prior_steps": (0, 1_000_000)}[f.name])
            elif f.type in ("bool", bool):
                knob = QCheckBox()
            else:
                knob = QDoubleSpinBox()
                knob.setDecimals(5 if f.name == "learning_rate" else 2)
                knob.setRange(*{"scale": (0.05, 4.0), "halo_weight": (0.0, 100.0), "learning_rate": (1e-5, 1.0),
                                "min_size": (0.0, 1e6), "orientation_prior": (0.0, 1000.0),
                                "contact_fraction": (0.0, 1.0)}[f.name])
                knob.setSingleStep(1e-4 if f.name == "learning_rate" else 0.1)
            tooltip = TOOLTIPS[f.name]
            if f.name == "steps":
                tooltip += " With a time limit (above), at most this many: fewer when the time runs out."
            knob.setToolTip(tooltip)
            self.knobs[f.name] = knob
            # a knob the user set is a choice: the image no longer picks the preset (which would reset it)
            (knob.clicked if isinstance(knob, QCheckBox) else knob.editingFinished).connect(self._user_chose)
            form.addRow(f.name.replace("_", " "), knob)
        return model

    def _build_validation(self) -> QGroupBox:
        validation = QGroupBox("Validation (optional)")
        validation.setToolTip("Without a validation pair, a quarter of your annotated objects is held out for the "
                              "score and never trained on")
        form = QFormLayout(validation)
        self.val_image_combo, self.val_labels_combo = QComboBox(), QComboBox()
        self.val_image_combo.setToolTip("An image not used for training, to measure AP50 and SBD while training")
        self.val_labels_combo.setToolTip("Its complete labels")
        form.addRow("image", self.val_image_combo)
        form.addRow("labels", self.val_labels_combo)
        return validation

    def _build_details(self) -> QGroupBox:
        details = QGroupBox("Run")
        form = QFormLayout(details)
        self.output_edit = QLineEdit(str(Path.home() / ".napari-deepcolor" / "runs"))
        self.output_edit.setToolTip("Folder for the checkpoints (a subfolder per run); written atomically. The "
                                    "model itself is copied to your model folder when training ends.")
        form.addRow("checkpoints in", self.output_edit)
        self.stop_early_check = QCheckBox("stop when the score stops improving")
        self.stop_early_check.setChecked(True)
        self.stop_early_check.setToolTip("Stop before the time or the steps run out once three validations in a row "
                                         "did not beat the best score (on the validation pair, or on the "
                                         "annotations held out for it); the best checkpoint is kept")
        form.addRow(self.stop_early_check)
        self.plot = LossPlot()
        form.addRow(self.plot)
        return details

    def show_advanced(self, shown: bool) -> None:
        """Unfold (or fold) the *Advanced* section."""
        self.advanced.setVisible(shown)
        self.advanced_button.setArrowType(Qt.ArrowType.DownArrow if shown else Qt.ArrowType.RightArrow)
        if self.advanced_button.isChecked() != shown:
            self.advanced_button.setChecked(shown)

    # --- choices ------------------------------------------------------------------------------------------
    def reset_choices(self, *_: Any) -> None:
        """Refill the layer and model lists from the viewer (called when layers are added or removed)."""
        from napari.layers import Image, Labels, Shapes

        # the Segment widget's probabilities, foreground and colors are not training data (its instances may be)
        results = {layer.name for layer in self.viewer.layers
                   if layer.metadata.get("napari_deepcolor", {}).get("role") not in (None, "instances")}
        images = [layer.name for layer in self.viewer.layers if isinstance(layer, Image) and layer.name not in results]
        labels = [layer.name for layer in self.viewer.layers if isinstance(layer, Labels) and layer.name not in results]
        regions = [layer.name for layer in self.viewer.layers if isinstance(layer, (Labels, Shapes))]
        for combo, names in ((self.image_combo, images), (self.labels_combo, labels),
                             (self.region_combo, [NONE, *regions]), (self.val_image_combo, [NONE, *images]),
                             (self.val_labels_combo, [NONE, *labels])):
            _refill(combo, names)
        self._fill_starts()
        self._suggest_preset(self.image_combo.currentText())  # _refill changes the image without signals
        self._suggest_labels(self.image_combo.currentText())

    def _fill_starts(self) -> None:
        from napari_deepcolor.zoo import bundled_models

        first = self.start_combo.count() == 0
        bundled = bundled_models()
        names = [*bundled, *_user_models.names(), SCRATCH]
        if self.model_file:
            names.append(self.model_file)
        _refill(self.start_combo, [*names, MODEL_FILE])
        model = PRESET_MODELS[self.preset_combo.currentText()]
        if first and model in bundled:  # a new widget starts from its preset's model, not the first in the list
            self.start_combo.blockSignals(True)
            self.start_combo.setCurrentText(model)
            self.start_combo.blockSignals(False)
        self._follow_start(self.start_combo.currentText())  # _refill changes the choice without signals

    def _start_chosen(self, index: int) -> None:
        if self.start_combo.itemText(index) != MODEL_FILE:
            return
        path, _ = QFileDialog.getOpenFileName(self, "Start from model file", "", "Checkpoints (*.safetensors)")
        if path:
            self.model_file = path
            self._fill_starts()
            self.start_combo.setCurrentText(path)

    def _user_chose(self, *_: Any) -> None:
        self._model_chosen = True

    def _user_chose_labels(self, *_: Any) -> None:
        self._labels_chosen = True

    def _suggest_labels(self, image_name: str) -> None:
        """Until the user picks the labels, take the ones corrected on the image: the Segment widget's instances of
        it that the user edited (``<image> (<model>) instances (edited)``, the newest), else keep a labels layer of
        the image's shape, else take the newest such layer."""
        if self._labels_chosen or image_name not in self.viewer.layers:
            return
        shape = _spatial_shape(self.viewer.layers[image_name])
        names = [self.labels_combo.itemText(i) for i in range(self.labels_combo.count())]
        fitting = [name for name in names
                   if name in self.viewer.layers and tuple(self.viewer.layers[name].data.shape) == shape]
        edited = [name for name in fitting if name.startswith(f"{image_name} (") and name.endswith(" (edited)")]
        current = self.labels_combo.currentText()
        choice = edited[-1] if edited else current if current in fitting else fitting[-1] if fitting else None
        if choice is not None and choice != current:
            self.labels_combo.setCurrentText(choice)

    def _suggest_preset(self, image_name: str) -> None:
        """Until the user picks a preset or a start or sets a knob, follow the image like the Segment widget: the
        preset of `presets.model_for_image` (a sample's own model; else an RGB image selects the leaves preset, and
        a gray one leaves it for the C. elegans preset)."""
        from napari.layers import Image

        from napari_deepcolor.zoo import bundled_models

        if self._model_chosen or image_name not in self.viewer.layers:
            return
        layer = self.viewer.layers[image_name]
        if not isinstance(layer, Image):
            return
        current = self.preset_combo.currentText()
        model = model_for_image(layer.metadata.get(MODEL_KEY), bool(layer.rgb), current == "Leaves (rosette)",
                                bundled_models())
        preset = None if model is None else preset_for_model(model)
        if preset is not None and preset != current:
            self.preset_combo.setCurrentText(preset)  # _preset_chosen starts from its bundled model
        if model is not None and model != PRESET_MODELS.get(preset) and model != self.start_combo.currentText():
            self.start_combo.setCurrentText(model)  # the sample's own model, not its preset's (worms-mask)

    def _follow_start(self, start: str) -> None:
        """Fine-tuning keeps the starting model's network: show its method (locked), colors (locked), scale and τ,
        and the fine-tuning learning rate; a bundled model also selects its kind's preset. From scratch, the
        preset's values come back."""
        from napari_deepcolor.predict.network import model_info
        from napari_deepcolor.zoo import bundled_models

        if self.worker is None and self.status.text() == self._cost_text:  # the last start's note, not a result
            self.status.setText("")
        self._cost_text = ""
        if start in ("", SCRATCH, MODEL_FILE):
            self.method_combo.setEnabled(True)
            self.knobs["n_colors"].setEnabled(True)
            if start == SCRATCH:
                self.apply_preset(self.preset_combo.currentText())
            return
        try:
            config, _ = model_info(_start_path(start))
        except (OSError, ValueError):  # CheckpointError and ConfigError are ValueErrors
            self.method_combo.setEnabled(True)  # an unreadable choice is reported when training starts
            return
        preset = preset_for_model(start) if start in bundled_models() else None
        if preset is not None and preset != self.preset_combo.currentText():
            self.preset_combo.blockSignals(True)
            self.preset_combo.setCurrentText(preset)
            self.preset_combo.blockSignals(False)
            self.apply_preset(preset)
        self.method_combo.setCurrentText(config.method)
        self.method_combo.setEnabled(False)
        self._take_model_knobs(config)
        self._cost_text = _cost_note(Path(start).stem if start == self.model_file else start, config)
        if self.worker is None and self._cost_text:
            self.status.setText(self._cost_text)

    def _take_model_knobs(self, config: ModelConfig) -> None:
        """The starting model's colors (locked: fine-tuning keeps them), scale and τ, and the fine-tuning rate."""
        if config.method == "coloring":
            self.knobs["n_colors"].setValue(config.n_colors)
        self.knobs["n_colors"].setEnabled(False)
        self.knobs["scale"].setValue(config.scale)
        self.knobs["min_size"].setValue(config.min_size)
        self.knobs["learning_rate"].setValue(min(FINETUNE_LEARNING_RATE, PRESETS[self.preset_combo.currentText()]
                                                 .learning_rate))

    def _preset_chosen(self, name: str) -> None:
        """Apply a preset; while the start is a bundled model (or nothing yet), start from the preset's model."""
        from napari_deepcolor.zoo import bundled_models

        self.apply_preset(name)
        start, model, bundled = self.start_combo.currentText(), PRESET_MODELS[name], bundled_models()
        if model in bundled and (start in bundled or start == "") and start != model:
            self.start_combo.setCurrentText(model)  # _follow_start takes the model's knobs
        else:
            self._follow_start(start)

    def apply_preset(self, name: str) -> None:
        """Set the knobs to a preset of `napari_deepcolor.training.presets.PRESETS`."""
        preset = PRESETS[name]
        for f in fields(Preset):
            knob, value = self.knobs[f.name], getattr(preset, f.name)
            if isinstance(knob, QCheckBox):
                knob.setChecked(value)
            else:
                knob.setValue(value)

    def preset(self) -> Preset:
        """The knobs as a `Preset`."""
        values = {name: knob.isChecked() if isinstance(knob, QCheckBox) else knob.value()
                  for name, knob in self.knobs.items()}
        return replace(Preset(), **values)

    def add_pair(self) -> None:
        pair = (self.image_combo.currentText(), self.labels_combo.currentText(), self.region_combo.currentText())
        if not pair[0] or not pair[1]:
            show_warning("choose an image layer and a labels layer first")
            return
        if pair not in self.pairs:
            self.pairs.append(pair)
            region = f" (inside {pair[2]})" if pair[2] != NONE else ""
            self.pair_list.addItem(f"{pair[0]} + {pair[1]}{region}")

    def remove_pair(self) -> None:
        row = self.pair_list.currentRow()
        if row < 0 and self.pairs:
            row = len(self.pairs) - 1
        if row >= 0:
            self.pairs.pop(row)
            self.pair_list.takeItem(row)

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
            planes = self.training_planes()
            validation = self.validation_planes()
            start = self.start_combo.currentText()
            if start in ("", MODEL_FILE):
                raise ValueError("choose a model to start from (or 'from scratch')")
            start = _start_path(start)
            preset = self.preset()
            in_channels = 3 if any(image.ndim == 3 for image, _ in planes) else 1
            config = model_config_for(start, preset, in_channels=in_channels, method=self.method_combo.currentText())
            # short by default: it becomes part of every result layer's name in the Segment widget
            chosen = self.start_combo.currentText()
            stem = "new model" if chosen == SCRATCH else Path(chosen).stem if chosen == self.model_file else chosen
            stem = re.sub(r"(( \(step \d+\))|( \(\d+\))|( fine-tuned))+$", "", stem)  # not "… fine-tuned fine-tuned"
            self.model_name = self.name_edit.text().strip() or f"{stem} fine-tuned"
            folder = "".join(c if c.isalnum() or c in "-_." else "_" for c in self.model_name)
            base = ensure_writable_dir(Path(self.output_edit.text()).expanduser())
            output = Path(tempfile.mkdtemp(prefix=f"{folder}-{time.strftime('%Y%m%d-%H%M%S')}-", dir=base))
        except (ValueError, OSError) as error:
            show_error(str(error))
            return None
        if config.in_channels != in_channels:
            show_info(f"the image is {'RGB' if in_channels == 3 else 'gray'} and {Path(start).stem} takes "
                      f"{'RGB' if config.in_channels == 3 else 'gray'} images: "
                      + ("its channels are averaged into one gray image (start from a leaves model, or from "
                         "scratch, to train on color)" if in_channels == 3 else "it is used for all three channels"))
        self.losses, self.last_checkpoint, self.last_step, self._failed = [], None, 0, False
        self.model_path, self.model_path_name, self._start_score, self._stop_note = None, "", {}, ""
        self._cancelled = False
        self.plot.set_losses([])
        self.metrics_label.setText("")
        self.progress.setRange(0, preset.steps)
        self.progress.setValue(0)
        self.progress.setFormat("starting…")
        minutes = self.minutes_spin.value() or None
        networks = f"{config.members} networks" if config.members > 1 else "one network"
        limit = f" for at most {minutes} min" if minutes else ""
        source = Path(chosen).stem if chosen == self.model_file else chosen
        self.status.setText(f"training {networks} on {len(planes)} plane(s) from {source}{limit}…")
        # The "errored" handler given here (not connected afterwards) keeps the worker from also re-raising the
        # error in the event loop, which napari would show a second time with a traceback.
        worker = create_worker(_training, planes, start=start, preset=preset, method=self.method_combo.currentText(),
                               output=output, validation=validation, device="auto", threads=self.threads,
                               log_every=1, minutes=minutes,
                               **({} if self.stop_early_check.isChecked() else {"patience": None}),
                               _connect={"errored": lambda error: self._handle("errored", error)},
                               _start_thread=False)
        # napari's progress bars process events, which would re-enter these handlers: queue, then drain
        worker.yielded.connect(lambda event: self._handle("event", event))
        worker.aborted.connect(lambda: self._handle("aborted"))
        worker.finished.connect(lambda: self._handle("finished"))
        self.worker = worker
        self.train_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self._pbar = napari_progress(total=preset.steps, desc=f"Training {self.model_name}")
        worker.start()
        return worker

    def cancel(self) -> None:
        """Stop after the current step; the last checkpoint becomes the model."""
        if self.worker is not None:
            self.status.setText("cancelling after this step…")
            self.cancel_button.setEnabled(False)
            self.worker.quit()

    # --- the worker's signals, handled one at a time -------------------------------------------------------
    def _handle(self, kind: str, payload: Any = None) -> None:
        self._queue.append((kind, payload))
        self._drain()

    def _drain(self) -> None:
        """Handle the queued signals in order, never one inside another (a progress bar may process events)."""
        if self._busy:
            return
        self._busy = True
        try:
            while self._queue:
                kind, payload = self._queue.pop(0)
                {"event": self._on_event, "errored": self._on_error}.get(kind, lambda _: None)(payload)
                if kind == "aborted":
                    self._on_aborted()
                elif kind == "finished":
                    self._on_finished()
        finally:
            self._busy = False

    def _show_step(self, event: Any) -> None:
        """The progress row: step, loss and time left; the activity dock's bar follows."""
        if self.progress.maximum() != event.total:
            self.progress.setRange(0, event.total)
        self.progress.setValue(event.step)
        left = event.elapsed / max(event.step, 1) * (event.total - event.step)
        self.progress.setFormat(f"step %v / %m · loss {event.loss:.4f} · {_duration(left)} left")
        if self._pbar is not None:
            if self._pbar.total != event.total:
                self._pbar.total = event.total
            self._pbar.update(event.step - self._pbar.n)

    def _on_event(self, event: Any) -> None:
        if event.kind == "step":
            self.losses.append(event.loss)
            self.plot.set_losses(self.losses)
            self._show_step(event)
        elif event.kind == "validation":
            if getattr(event, "note", "") == "starting model":
                self._start_score = event.metrics
                self.metrics_label.setText(f"the starting model's score: AP50 {event.metrics['ap50']:.3f}, SBD "
                                           f"{event.metrics['sbd']:.3f}")
            else:
                self.metrics_label.setText(f"validation at step {event.step}: AP50 {event.metrics['ap50']:.3f}, "
                                           f"SBD {event.metrics['sbd']:.3f}" + self._start_note())
        elif event.kind == "checkpoint":
            self.last_checkpoint, self.last_step = Path(event.path), event.step
        elif event.kind == "object_size":
            self.status.setText(event.note)
            show_info(event.note)
        elif event.kind == "size_model":
            self.status.setText("fitting the model's automatic object size on the training images…")
            self.progress.setFormat("step %v / %m · fitting the automatic object size…")
        elif event.kind == "done":
            from napari_deepcolor.checkpoint import read_header

            step = int(read_header(event.path)[1].get("step", event.step))  # the best checkpoint's, with validation
            self.last_checkpoint, self.last_step = Path(event.path), step
            self._register(self.model_name)
            kept = f" (the best validation, step {step})" if step != event.step else ""
            metrics = (f"; validation AP50 {event.metrics['ap50']:.3f}, SBD {event.metrics['sbd']:.3f}{kept}"
                       if event.metrics else "")
            show_info(f"training done in {_duration(event.elapsed)}: model {self.model_path_name!r} is in the "
                      f"Segment widget's model list{metrics}")
            self.progress.setRange(0, event.total)
            self.progress.setValue(event.step)
            stopped = f"; {self._stop_note}" if self._stop_note else ""
            self.status.setText(f"done in {_duration(event.elapsed)}{stopped}. Your model {self.model_path_name!r} "
                                f"is in the Segment widget's model list{kept}.")
            if getattr(event, "improved", None) is False:
                start = getattr(event, "start_metrics", {}) or self._start_score
                than = f" (AP50 {start['ap50']:.3f})" if "ap50" in start else ""
                show_warning(f"{self.model_path_name!r} does not score better than the model it started from{than} "
                             "on the annotations held out for the score: keep using that model, or annotate more "
                             "objects and train again")
        elif getattr(event, "note", ""):  # what the training side says it does ("holdout", "early_stop", ...)
            self.status.setText(event.note)
            if event.kind == "early_stop":
                self._stop_note = event.note

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

    def _on_finished(self) -> None:
        self.worker = None
        self.train_button.setEnabled(True)
        self.cancel_button.setEnabled(False)
        if self._pbar is not None:
            self._pbar.close()
            self._pbar = None
        outcome = "failed" if self._failed else "cancelled" if self._cancelled else "done"
        self.progress.setFormat(f"{outcome}: step %v / %m")

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


def _cost_note(name: str, config: ModelConfig) -> str:
    """What fine-tuning from an ensemble costs ("" for one network): every member is trained, and test-time flips
    are skipped while training."""
    if config.members == 1:
        return ""
    return (f"{name} is an ensemble of {config.members} networks: fine-tuning trains all {config.members}, so each "
            f"step takes about {config.members}× as long as one network's and the model stays {config.members}× as "
            "slow to run.")


def _duration(seconds: float) -> str:
    """A time for people: "45 s", "3 min", "1 h 5 min"."""
    if not math.isfinite(seconds):
        return "?"
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes = round(seconds / 60)
    return f"{minutes} min" if minutes < 60 else f"{minutes // 60} h {minutes % 60} min"


def _spatial_shape(layer: Any) -> tuple[int, ...]:
    """An image layer's shape without its color channels (level 0 of a multiscale layer)."""
    shape = tuple(layer.data[0].shape if layer.multiscale else layer.data.shape)
    return shape[:-1] if getattr(layer, "rgb", False) else shape


def _full_resolution(image: Any) -> np.ndarray:
    """An Image layer's pixels: level 0 of a multiscale layer (``np.asarray`` of its data would be the coarsest)."""
    return np.asarray(image.data[0] if image.multiscale else image.data)


def _refill(combo: QComboBox, names: list[str]) -> None:
    """Replace a combo box's items, keeping the current one if it still exists."""
    current = combo.currentText()
    combo.blockSignals(True)
    combo.clear()
    combo.addItems(names)
    if current in names:
        combo.setCurrentText(current)
    combo.blockSignals(False)
