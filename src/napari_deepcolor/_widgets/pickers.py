"""The Segment widget's pickers: the image to segment, the model and the object size; until the user picks a model,
the model follows the image (`napari_deepcolor.zoo.suggest`: the kind the image looks like), and the status line and
the model picker's tooltip say why.

The pieces any dock picking models or layers can use are functions: the model choices (bundled, the user's own
models, kept across sessions by `napari_deepcolor.zoo.user`, checkpoint files, "load file...": `model_choices`), a
model's short name (`model_name`) and description (`describe_model`), and refilling a magicgui picker in order
(`refill`, `restore_choice`). A model of the user's own can be renamed or deleted with the two buttons shown under
the model picker while one is chosen (`Pickers.rename_user_model`, `Pickers.delete_user_model`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from magicgui.widgets import CheckBox, ComboBox, Container, FloatSpinBox, PushButton
from napari.layers import Image, Labels, Layer

from napari_deepcolor._widgets.result_layers import META_KEY
from napari_deepcolor.checkpoint import CheckpointError, read_header
from napari_deepcolor.methods import get_method
from napari_deepcolor.predict.network import OBJECT_SIZES
from napari_deepcolor.training.presets import PRESET_MODELS
from napari_deepcolor.zoo import MODEL_KEY, bundled_models
from napari_deepcolor.zoo import user as _user_models
from napari_deepcolor.zoo.suggest import suggest_model

if TYPE_CHECKING:
    import napari
    from qtpy.QtWidgets import QWidget

    from napari_deepcolor.config import ModelConfig

#: The bundled model a new widget starts from (then `napari_deepcolor.zoo.suggest.suggest_model` follows the image)
DEFAULT_MODEL = PRESET_MODELS["C. elegans (worms)"]
LOAD_FILE = "<load file...>"
MODEL_TOOLTIP = "A model bundled with the plugin, or a checkpoint file made by deepcolor train"


def model_choices(files: Iterable[str] = ()) -> list[tuple[str, str]]:
    """A model picker's choices as (text, value): the bundled models, the user's own (trained here or earlier, in any
    session), the checkpoint ``files``, and "load file..." (`LOAD_FILE`)."""
    bundled = [(f"{name} (bundled)", name) for name in bundled_models()]
    trained = [(f"{name} (trained)", str(_user_models.path(name))) for name in _user_models.names()]
    mine = {value for _, value in trained}
    loaded = [(Path(path).name, path) for path in files if path not in mine]
    return [*bundled, *trained, *loaded, ("load file...", LOAD_FILE)]


def user_model_name(value: str | None) -> str | None:
    """The user-model name of a model choice, None if it is not one of the user's models."""
    if value is None or value in bundled_models():
        return None
    for name in _user_models.names():
        if str(_user_models.path(name)) == value:
            return name
    return None


def model_name(value: str) -> str:
    """A short name for a model choice, as in layer names and the status line: the bundled or trained name, else
    the file's stem (its folder's name for the ``last.safetensors`` of ``deepcolor train``, ``<folder> best``
    for its ``best.safetensors``)."""
    if value in bundled_models():
        return value
    name = user_model_name(value)
    if name is not None:
        return name
    path = Path(value)
    if path.stem in ("last", "best") and path.parent.name:
        return path.parent.name if path.stem == "last" else f"{path.parent.name} best"
    return path.stem


def describe_model(name: str, config: ModelConfig) -> str:
    """What a model is and takes, for the status line."""
    kind = get_method(config.method).kind_text(config)
    takes = ("a foreground mask (Image or Labels layer)" if config.mask_input
             else "RGB images" if config.in_channels == 3 else "gray images")
    return f"{name}: {kind}, takes {takes}; press Run to segment"


def refill(combo: ComboBox) -> None:
    """Fill a picker afresh (magicgui would append new layers at the end), keeping the chosen layer; ``changed`` is
    emitted once, if the choice changed."""
    chosen = combo.value
    with combo.changed.blocked():
        combo.choices = ()
        combo.reset_choices()
        if chosen is not None and chosen in combo.choices:
            combo.value = chosen
    if combo.value is not chosen:
        combo.changed.emit(combo.value)


def restore_choice(combo: ComboBox, value: Any) -> None:
    """Refill a picker in order (magicgui appends new choices after the last, "load file...") and choose ``value``
    again if it is not None, without signals."""
    with combo.changed.blocked():
        combo.choices = ()
        combo.reset_choices()
        if value is not None:
            combo.value = value


class Pickers:
    """The image, model and object-size pickers (magicgui widgets, for a Container to show) and the chosen model.

    ``on_config(config)``: the model or the object size changed; ``config`` is the model's at that object size, whose
    recommended knobs the sliders take. ``on_text()``: the model's description (`text`) changed. ``notify(level,
    message)`` shows a notification; ``parent`` is the file dialog's.
    """

    def __init__(self, viewer: napari.viewer.Viewer, parent: QWidget, *, notify: Callable[[str, str], None],
                 on_config: Callable[[ModelConfig], None], on_text: Callable[[], None]) -> None:
        self._viewer, self._parent = viewer, parent
        self._notify, self._on_config, self._on_text = notify, on_config, on_text
        self.files: list[str] = []  # checkpoint files offered in the model picker
        self.config: ModelConfig | None = None
        self.model_value: str | None = None  # the model whose config is loaded: a bundled name or a file
        self.text = ""  # the model's description
        self._chosen = False  # the user picked a model: the image no longer suggests one
        self.reason = ""  # why the image suggested the model chosen ("" once the user picks one)
        self._suggesting = False
        self._closed = False
        self._unsubscribe: Callable[[], None] = lambda: None

        self.image = ComboBox(label="image", choices=self._image_choices,
                              tooltip="The image to segment: 2D gray or RGB(A), or a stack of 2D planes (time, z); "
                                      "for a model that takes masks (worms-mask), a foreground mask or Labels layer")
        self.model = ComboBox(label="model", choices=lambda _widget=None: model_choices(self.files),
                              tooltip=MODEL_TOOLTIP)
        self.object_size = FloatSpinBox(label="object size (×)", min=OBJECT_SIZES[0], max=OBJECT_SIZES[1],
                                        step=0.1, value=1.0,
                                        tooltip="How large your objects are, in pixels, against the model's training "
                                                "objects: 2 if they are twice as long and wide (a higher "
                                                "magnification), 0.5 if half. The image is resized by 1 / this for "
                                                "the network, and τ and ρ are scaled to match. Press Run again "
                                                "after changing it. With 'auto object size' on, it shows the size "
                                                "the last run estimated.")
        self.auto_size = CheckBox(text="auto object size", value=True,
                                  tooltip="Estimate the object size from each image (each plane of a stack) at half "
                                          "resolution, then check it on the segmented objects and predict again "
                                          "where they disagree: 1.2-7.2 times one prediction's time, typically 2.4. "
                                          "The size used is in the status line and the result layers' metadata. "
                                          "Uncheck it to type the size yourself (and skip that time).")
        self.object_size.enabled = False
        self.rename_button = PushButton(text="Rename...", tooltip="Give this model of yours another name (its file "
                                                                  "stays; result layers keep their names)")
        self.delete_button = PushButton(text="Delete...", tooltip="Remove this model of yours from the list and "
                                                                  "delete its copy in your model folder (asks first)")
        self.rename_button.changed.connect(self._rename_clicked)
        self.delete_button.changed.connect(self._delete_clicked)
        #: shown under the model picker while a model of the user's own is chosen
        self.manage = Container(widgets=[self.rename_button, self.delete_button], layout="horizontal", labels=False,
                                label="your model")
        self.manage.margins = (0, 0, 0, 0)
        self.manage.visible = False

    def start(self) -> None:
        """Choose the default model, connect the pickers and load the model's config (once the widget is ready)."""
        if DEFAULT_MODEL in bundled_models():
            self.model.value = DEFAULT_MODEL
        self.model.changed.connect(self._on_model_changed)
        self.object_size.changed.connect(self._on_object_size_changed)
        self.auto_size.changed.connect(self._on_auto_size_changed)
        self.image.changed.connect(self._suggest_model)
        self._unsubscribe = _user_models.subscribe(self._on_user_models_changed)
        if self.model.value != LOAD_FILE:  # no file dialog when the widget opens, even without bundled models
            self._suggesting = True
            try:
                self._on_model_changed(self.model.value)
            finally:
                self._suggesting = False
        self._suggest_model(self.image.value)

    def close(self) -> None:
        """The widget was closed: models trained later no longer join the picker."""
        self._closed = True
        self._unsubscribe()

    @property
    def takes_masks(self) -> bool:
        return self.config is not None and self.config.mask_input

    def _image_choices(self, _widget: Any = None) -> list[tuple[str, Layer]]:
        """Image layers first, then Labels layers when the model takes masks, then the other layers (chosen, they get
        a notification saying what to do)."""
        layers = [layer for layer in self._viewer.layers if META_KEY not in layer.metadata]
        images = [layer for layer in layers if isinstance(layer, Image)]
        masks = [layer for layer in layers if isinstance(layer, Labels) and self.takes_masks]
        others = [layer for layer in layers if layer not in images and layer not in masks]
        return [(layer.name, layer) for layer in images] + [
            (f"{layer.name} ({type(layer).__name__})", layer) for layer in masks + others]

    def add_model_file(self, path: str | Path) -> bool:
        """Offer a checkpoint file in the model picker and select it; False (and a notification) if it is unreadable."""
        path = str(Path(path).expanduser())
        try:
            read_header(path)
        except CheckpointError as error:
            self._notify("error", f"could not load the model file: {error}. Choose a napari-deepcolor checkpoint "
                                  "(.safetensors, as written by deepcolor train) or a bundled model.")
            restore_choice(self.model, self.model_value)
            return False
        if path not in self.files:
            self.files.append(path)
        self.model.reset_choices()
        self.model.value = path
        return True

    def _on_user_models_changed(self, _name: str, _path: Path | None) -> None:
        """A model of the user's was added (by the training widget), renamed or deleted: the picker follows at once,
        the selection stays (a deleted model's goes back to the default model)."""
        if self._closed:
            return
        values = [value for _, value in model_choices(self.files)]
        if self.model_value is None or self.model_value in values:
            restore_choice(self.model, self.model_value)
            self._show_manage()
            if self.config is not None:  # the description names the model, maybe by its new name
                self._describe()
                self._on_text()
        else:
            restore_choice(self.model, None)
            self._choose_default()

    def _choose_default(self) -> None:
        """The model chosen is gone: the default model (not a choice of the user's: the image may suggest again)."""
        fallback = DEFAULT_MODEL if DEFAULT_MODEL in bundled_models() else next(iter(bundled_models()), None)
        self.model_value, self.config, self.reason = None, None, ""
        if fallback is not None:
            self._suggesting = True
            try:
                with self.model.changed.blocked():
                    self.model.value = fallback
                self._on_model_changed(fallback)
            finally:
                self._suggesting = False
        self._chosen = False
        self._show_manage()

    def _show_manage(self) -> None:
        self.manage.visible = user_model_name(self.model_value) is not None

    def _describe(self) -> None:
        """The chosen model's description (`text`), with why the image suggested it, and the same in the tooltip."""
        self.text = describe_model(model_name(self.model_value), self.config)
        if self.reason:
            self.text += f"\n{self.reason}"
        self.model.tooltip = MODEL_TOOLTIP + (f"\n\nChosen by the image: {self.reason}. Choose another model to "
                                              "keep it for every image." if self.reason else "")

    def rename_user_model(self, new: str) -> bool:
        """Rename the chosen model of the user's own to ``new``; False (and a notification) if it cannot be."""
        old = user_model_name(self.model_value)
        if old is None:
            return False
        try:
            _user_models.rename(old, new)
        except (KeyError, ValueError, OSError) as error:
            self._notify("error", f"could not rename {old!r}: {error.args[0] if error.args else error}")
            return False
        return True

    def delete_user_model(self) -> bool:
        """Delete the chosen model of the user's own (its copy in the model folder); the picker goes back to the
        default model. False (and a notification) if it cannot be."""
        name = user_model_name(self.model_value)
        if name is None:
            return False
        try:
            _user_models.remove(name)
        except (KeyError, OSError) as error:
            self._notify("error", f"could not delete {name!r}: {error.args[0] if error.args else error}")
            return False
        self._notify("info", f"deleted your model {name!r}; its results already in the viewer stay")
        return True

    def _rename_clicked(self, *_: Any) -> None:
        from qtpy.QtWidgets import QInputDialog

        old = user_model_name(self.model_value)
        if old is None:
            return
        new, ok = QInputDialog.getText(self._parent, "Rename model", f"New name for {old!r}:", text=old)
        if ok and new.strip() and new.strip() != old:
            self.rename_user_model(new)

    def _delete_clicked(self, *_: Any) -> None:
        from qtpy.QtWidgets import QMessageBox

        name = user_model_name(self.model_value)
        if name is None:
            return
        answer = QMessageBox.question(self._parent, "Delete model",
                                      f"Delete your model {name!r}? Its file in {_user_models.models_dir()} is "
                                      "deleted; results already in the viewer stay.")
        if answer == QMessageBox.StandardButton.Yes:
            self.delete_user_model()

    def _suggest_model(self, layer: Layer | None) -> None:
        """Until the user picks a model, follow the image: a sample's own model (`MODEL_KEY` in its metadata), else
        the default model of the kind the image looks like (`napari_deepcolor.zoo.suggest.suggest_model`: its
        middle plane, at the lowest resolution of a multiscale image). The reason joins the status line and the
        model picker's tooltip."""
        if self._chosen or not isinstance(layer, Image):
            return
        try:
            name, reason = suggest_model(layer.data[-1] if layer.multiscale else layer.data, bundled_models(),
                                         rgb=bool(layer.rgb), sample_model=layer.metadata.get(MODEL_KEY))
        except Exception:  # noqa: BLE001 - a suggestion is a convenience: data it cannot read keeps the model
            return
        if name is None:
            return
        self.reason = f"{name} for '{layer.name}': {reason}"
        if name != self.model.value:
            self._suggesting = True
            try:
                self.model.value = name
            finally:
                self._suggesting = False
        elif self.config is not None and self.model_value == name:
            self._describe()
            self._on_text()

    def _on_model_changed(self, value: str | None) -> None:
        if not self._suggesting and value != LOAD_FILE:
            self._chosen, self.reason = True, ""
        if value == LOAD_FILE:
            self._load_file()
            return
        if value is None:
            return
        try:
            config, _ = read_header(bundled_models().get(value, value))
        except CheckpointError as error:
            self._notify("error", f"could not load the model {value!r}: {error}")
            restore_choice(self.model, self.model_value)
            return
        self.model_value, self.config = value, config
        self._show_manage()
        # The sliders take the new model's values: they no longer describe the result on screen, which stays as it
        # was decoded (and stays beside the new model's results after the next Run).
        self._on_config(self.resized_config())
        self._describe()
        refill(self.image)  # Labels layers move up for a model that takes masks
        self._on_text()

    def _load_file(self) -> None:
        """The "load file..." choice: a file dialog; cancelled, the model chosen before stays."""
        from qtpy.QtWidgets import QFileDialog

        path, _ = QFileDialog.getOpenFileName(self._parent, "Load a napari-deepcolor model", "",
                                              "napari-deepcolor checkpoints (*.safetensors);;All files (*)")
        if path:
            self.add_model_file(path)
        else:
            restore_choice(self.model, self.model_value)

    def object_size_value(self) -> float | None:
        """The size a run uses: None to estimate it (auto), else the typed size."""
        return None if self.auto_size.value else self.object_size.value

    def show_estimate(self, factor: float) -> None:
        """Show the size a run estimated in the (disabled) size box, without re-configuring anything."""
        with self.object_size.changed.blocked():
            self.object_size.value = factor

    def _on_auto_size_changed(self, auto: bool) -> None:
        self.object_size.enabled = not auto
        if self.config is not None:
            self._on_config(self.resized_config())

    def resized_config(self) -> ModelConfig:
        """The model's config for the chosen object size (`resize_objects`); a size the model cannot run at goes
        back to 1, with a notification."""
        from napari_deepcolor.predict.network import resize_objects

        if self.auto_size.value:  # the run estimates the size, and the sliders follow it then
            return self.config
        try:
            return resize_objects(self.config, self.object_size.value)
        except ValueError as error:
            self._notify("error", f"{error}; the object size is back at 1")
            with self.object_size.changed.blocked():
                self.object_size.value = 1.0
            return self.config

    def _on_object_size_changed(self, _value: float) -> None:
        """New τ and ρ for the new size (the result on screen stays as it was decoded, as for a new model)."""
        if self.config is not None:
            self._on_config(self.resized_config())
