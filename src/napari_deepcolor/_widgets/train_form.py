"""The Train dock's form: the simple part (image, labels, start model, time, name, Train) and the collapsed
*Advanced* section (more pairs, the preset and its knobs with their tooltips, validation, the run's folder, early
stopping and the loss plot). Building only: what the choices do is in `train_choices`, running in `train_run`."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

from qtpy.QtCore import Qt
from qtpy.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QFrame,
    QGroupBox,
    QHBoxLayout,
    QLineEdit,
    QListWidget,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from napari_deepcolor._widgets.train_progress import LossPlot
from napari_deepcolor.training.presets import FINETUNE_FREEZE_ENCODER, FINETUNE_REPLAY, PRESETS, TOOLTIPS, Preset

NONE = "(none)"
MODEL_FILE = "model file…"
#: The time limit a new widget offers, in minutes (the preset's steps take about that on a laptop CPU).
DEFAULT_MINUTES = 10

#: The range of each integer knob, and of each float knob.
_INT_RANGES = {"n_colors": (2, 64), "margin": (1, 64), "patch_size": (16, 2048), "batch_size": (1, 256),
               "steps": (1, 1_000_000), "prior_steps": (0, 1_000_000)}
_FLOAT_RANGES = {"scale": (0.05, 4.0), "halo_weight": (0.0, 100.0), "learning_rate": (1e-5, 1.0),
                 "min_size": (0.0, 1e6), "orientation_prior": (0.0, 1000.0), "contact_fraction": (0.0, 1.0),
                 "sparse_percentile": (0.0, 100.0)}


class TrainForm:
    """The form of `napari_deepcolor._widgets.train.TrainWidget` (a mixin: its ``self`` is the widget, whose
    methods the controls call)."""

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
        self._build_minutes()
        self.name_edit = QLineEdit()
        self.name_edit.setPlaceholderText("<start model> fine-tuned")
        self.name_edit.setToolTip("Name of the new model in both widgets' model lists (kept across sessions)")
        form.addRow("image", self.image_combo)
        form.addRow("labels (corrected)", self.labels_combo)
        form.addRow("start from", self.start_combo)
        form.addRow("time", self.minutes_spin)
        form.addRow("new model's name", self.name_edit)
        form.addRow(self._build_buttons())
        return box

    def _build_minutes(self) -> None:
        self.minutes_spin = QSpinBox()
        self.minutes_spin.setRange(0, 24 * 60)
        self.minutes_spin.setValue(DEFAULT_MINUTES)
        self.minutes_spin.setSuffix(" min")
        self.minutes_spin.setSpecialValueText("no limit (Advanced > steps)")
        self.minutes_spin.setToolTip("How long to train, at most. After the first steps the number of steps "
                                     "becomes what fits in this time (at most the steps under Advanced); training "
                                     "also stops early once the score on the held-out annotations stops improving. "
                                     "0 = no time limit: all the steps.")

    def _build_buttons(self) -> QHBoxLayout:
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
        return buttons

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
            knob = _knob(f.name, f.type)
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
        self.freeze_encoder_check = QCheckBox("train the decoder only")
        self.freeze_encoder_check.setChecked(FINETUNE_FREEZE_ENCODER)
        self.freeze_encoder_check.setToolTip("Fine-tuning: the encoder keeps the starting model's weights and only "
                                             "the decoder learns; it forgot less in docs/finetuning.md's tests")
        form.addRow(self.freeze_encoder_check)
        self.replay_spin = QDoubleSpinBox()
        self.replay_spin.setRange(0.0, 0.9)
        self.replay_spin.setSingleStep(0.25)
        self.replay_spin.setValue(FINETUNE_REPLAY)
        self.replay_spin.setToolTip("Fine-tuning: this fraction of the training patches comes from images like "
                                    "those the starting model learned from (generated ones, or bundled wells for "
                                    "worms), so it does not forget them; 0 = only your images")
        form.addRow("replay", self.replay_spin)
        self.plot = LossPlot()
        form.addRow(self.plot)
        return details

    def show_advanced(self, shown: bool) -> None:
        """Unfold (or fold) the *Advanced* section."""
        self.advanced.setVisible(shown)
        self.advanced_button.setArrowType(Qt.ArrowType.DownArrow if shown else Qt.ArrowType.RightArrow)
        if self.advanced_button.isChecked() != shown:
            self.advanced_button.setChecked(shown)


def _knob(name: str, kind: object) -> QWidget:
    """The control of one `Preset` field, with its range and tooltip."""
    if kind in ("int", int):
        knob = QSpinBox()
        knob.setRange(*_INT_RANGES[name])
    elif kind in ("bool", bool):
        knob = QCheckBox()
    else:
        knob = QDoubleSpinBox()
        knob.setDecimals(5 if name == "learning_rate" else 2)
        knob.setRange(*_FLOAT_RANGES[name])
        knob.setSingleStep(1e-4 if name == "learning_rate" else 0.1)
        if name == "sparse_percentile":
            knob.setSpecialValueText("off")
    tooltip = TOOLTIPS[name]
    if name == "steps":
        tooltip += " With a time limit (above), at most this many: fewer when the time runs out."
    knob.setToolTip(tooltip)
    return knob
