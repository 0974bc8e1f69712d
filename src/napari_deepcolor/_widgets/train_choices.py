"""What the Train dock's choices do: the layer and model lists, the labels and preset that follow the image until the
user picks them, the knobs that follow the starting model or the preset, and the list of training pairs."""

from __future__ import annotations

from dataclasses import fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from napari.utils.notifications import show_warning
from qtpy.QtWidgets import QCheckBox, QComboBox, QFileDialog

from napari_deepcolor._widgets.train_form import MODEL_FILE, NONE
from napari_deepcolor.methods import get_method
from napari_deepcolor.training.finetune import INHERITED_KNOBS, SCRATCH
from napari_deepcolor.training.presets import (
    PRESET_MODELS,
    PRESETS,
    Preset,
    preset_for_model,
)
from napari_deepcolor.zoo import MODEL_KEY
from napari_deepcolor.zoo import user as _user_models

if TYPE_CHECKING:
    from napari_deepcolor.config import ModelConfig


class TrainChoices:
    """The choices of `napari_deepcolor._widgets.train.TrainWidget` (a mixin: its ``self`` is the widget)."""

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
            refill(combo, names)
        self._fill_starts()
        self._suggest_preset(self.image_combo.currentText())  # refill changes the image without signals
        self._suggest_labels(self.image_combo.currentText())

    def prepare(self, image: str, labels: str, start: str) -> None:
        """Fill the form as the user would for a fine-tuning: the image and labels layers (names) and the model to
        start from (a bundled model's name, a model of the user's by name or file, or a checkpoint file). The image
        chooses the preset as usual, unless the user chose one; the knobs follow the starting model."""
        self.reset_choices()
        self.image_combo.setCurrentText(image)
        self._labels_chosen = True
        self.labels_combo.setCurrentText(labels)
        start = next((name for name in _user_models.names() if str(_user_models.path(name)) == start), start)
        if self.start_combo.findText(start) < 0:  # a checkpoint file: offered as "model file"
            self.model_file = start
            self._fill_starts()
        self.start_combo.setCurrentText(start)
        self._model_chosen = True

    def _fill_starts(self) -> None:
        from napari_deepcolor.zoo import bundled_models

        first = self.start_combo.count() == 0
        bundled = bundled_models()
        names = [*bundled, *_user_models.names(), SCRATCH]
        if self.model_file:
            names.append(self.model_file)
        refill(self.start_combo, [*names, MODEL_FILE])
        model = PRESET_MODELS[self.preset_combo.currentText()]
        if first and model in bundled:  # a new widget starts from its preset's model, not the first in the list
            self.start_combo.blockSignals(True)
            self.start_combo.setCurrentText(model)
            self.start_combo.blockSignals(False)
        self._follow_start(self.start_combo.currentText())  # refill changes the choice without signals

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
        preset of the model `zoo.suggest.suggest_model` gives for it (a sample's own model; else the kind the image
        looks like: RGB leaves, fluorescent nuclei, a bright-field well of worms, phase-contrast E. coli)."""
        from napari.layers import Image

        from napari_deepcolor.zoo import bundled_models
        from napari_deepcolor.zoo.suggest import suggest_model

        if self._model_chosen or image_name not in self.viewer.layers:
            return
        layer = self.viewer.layers[image_name]
        if not isinstance(layer, Image):
            return
        current = self.preset_combo.currentText()
        model, _ = suggest_model(layer.data[-1] if layer.multiscale else layer.data, bundled_models(),
                                 rgb=bool(layer.rgb), sample_model=layer.metadata.get(MODEL_KEY))
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
            config, _ = model_info(start_path(start))
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
        self._take_model_knobs(config, start_path(start))
        self._cost_text = _cost_note(Path(start).stem if start == self.model_file else start, config)
        if self.worker is None and self._cost_text:
            self.status.setText(self._cost_text)

    def _take_model_knobs(self, config: ModelConfig, start: str) -> None:
        """The starting model's colors (locked: fine-tuning keeps them), scale, τ and training knobs, and the
        fine-tuning rate (`napari_deepcolor.training.finetune.preset_for_start`)."""
        from napari_deepcolor.training.finetune import preset_for_start

        if "n_colors" in get_method(config.method).config_fields:
            self.knobs["n_colors"].setValue(config.n_colors)
        self.knobs["n_colors"].setEnabled(False)
        preset = preset_for_start(PRESETS[self.preset_combo.currentText()], start)
        for name in ("scale", "min_size", "learning_rate", "sparse_percentile", *INHERITED_KNOBS):
            knob, value = self.knobs[name], getattr(preset, name)
            knob.setChecked(value) if isinstance(knob, QCheckBox) else knob.setValue(value)

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


def start_path(start: str) -> str:
    """What ``finetune`` takes for a *start from* choice: a user model's checkpoint path, else the choice itself
    (a bundled model name, a file path or `SCRATCH`)."""
    return str(_user_models.path(start)) if start in _user_models.names() else start


def _cost_note(name: str, config: ModelConfig) -> str:
    """What fine-tuning from an ensemble costs ("" for one network): every member is trained, and test-time flips
    are skipped while training."""
    if config.members == 1:
        return ""
    return (f"{name} is an ensemble of {config.members} networks: fine-tuning trains all {config.members}, so each "
            f"step takes about {config.members}× as long as one network's and the model stays {config.members}× as "
            "slow to run.")


def _spatial_shape(layer: Any) -> tuple[int, ...]:
    """An image layer's shape without its color channels (level 0 of a multiscale layer)."""
    shape = tuple(layer.data[0].shape if layer.multiscale else layer.data.shape)
    return shape[:-1] if getattr(layer, "rgb", False) else shape


def refill(combo: QComboBox, names: list[str]) -> None:
    """Replace a combo box's items, keeping the current one if it still exists."""
    current = combo.currentText()
    combo.blockSignals(True)
    combo.clear()
    combo.addItems(names)
    if current in names:
        combo.setCurrentText(current)
    combo.blockSignals(False)
