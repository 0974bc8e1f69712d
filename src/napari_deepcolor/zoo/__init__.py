"""The model registry: bundled models (the ``*.safetensors`` files in this folder) and the user's models.

Every place that needs a model name asks here: `bundled_models`, `resolve_model` (a bundled or user model's name, a
checkpoint file or a run folder), `MODEL_KEY` (the image-layer metadata key naming a sample's model), and `user` (the
models the user trained, kept on disk across sessions). No torch, no Qt.
"""

from __future__ import annotations

import os
from collections.abc import Collection
from importlib import resources
from pathlib import Path

from napari_deepcolor.checkpoint import CheckpointError
from napari_deepcolor.zoo import user

#: Key of an image layer's metadata naming the bundled model made for it (the sample images set it).
MODEL_KEY = "napari_deepcolor_model"

#: Every bundled model and the kind of image it is for (the name of that kind's training preset,
#: `napari_deepcolor.training.presets.PRESETS`). tests/test_zoo.py checks it against the files in this folder.
BUNDLED_KINDS: dict[str, str] = {
    "worms": "C. elegans (worms)",
    "worms-mask": "C. elegans (worms)",
    "ecoli": "E. coli (colony)",
    "ecoli-semiconv": "E. coli (colony)",
    "leaves": "Leaves (rosette)",
    "leaves-semiconv": "Leaves (rosette)",
    "nuclei": "Fluorescent nuclei",
}

#: Kind of image → the bundled model to start from (the better of each kind's models, docs/models/); `suggest` tells
#: the kind from the image.
DEFAULT_FOR_KIND: dict[str, str] = {
    "C. elegans (worms)": "worms",
    "E. coli (colony)": "ecoli-semiconv",
    "Leaves (rosette)": "leaves-semiconv",
    "Fluorescent nuclei": "nuclei",
}


def zoo_dir() -> Path:
    """Folder of the bundled models (``napari_deepcolor/zoo/<name>.safetensors``)."""
    return Path(str(resources.files("napari_deepcolor") / "zoo"))


def bundled_models() -> dict[str, Path]:
    """Bundled model names and files."""
    folder = zoo_dir()
    return {p.stem: p for p in sorted(folder.glob("*.safetensors"))} if folder.is_dir() else {}


#: The checkpoints of a ``deepcolor train --output`` folder, in the order `resolve_model` takes them.
RUN_CHECKPOINTS = ("best.safetensors", "last.safetensors")


def resolve_model(name_or_path: str | os.PathLike) -> Path:
    """The checkpoint file of a model, looked for in this order: a bundled model's name, a user model's name
    (`user`), a checkpoint file, a run folder (``deepcolor train --output``: its ``best.safetensors``, else its
    ``last.safetensors``).

    Raises
    ------
    CheckpointError
        Nothing of the kind was found; the message lists the names and what was looked for.
    """
    text = str(name_or_path)
    models = bundled_models()
    if text in models:
        return models[text]
    if text in user.names():
        return user.path(text)
    path = Path(name_or_path).expanduser()
    if path.is_file():
        return path
    if path.is_dir():
        for name in RUN_CHECKPOINTS:
            if (path / name).is_file():
                return path / name
        raise CheckpointError(f"the folder {text!r} holds no {' or '.join(RUN_CHECKPOINTS)}: give a run folder "
                              "written by deepcolor train --output, or a checkpoint file")
    raise CheckpointError(f"no model {text!r}: it is neither a bundled model ({', '.join(models) or 'none'}), nor one "
                          f"of your models ({', '.join(user.names()) or 'none'}; `deepcolor models` lists them), nor a "
                          f"checkpoint file, nor a run folder with {' or '.join(RUN_CHECKPOINTS)}")


def kind_of(name: str) -> str | None:
    """The kind of image a bundled model is for (``"ecoli-semiconv"`` → ``"E. coli (colony)"``); None for others."""
    return BUNDLED_KINDS.get(name)


def model_for_image(sample_model: str | None, rgb: bool, current_takes_rgb: bool | None,
                    bundled: Collection[str]) -> str | None:
    """The bundled model an image suggests; the Segment and training widgets follow it until the user chooses.

    A sample's own model (``sample_model``, from `MODEL_KEY` in its metadata) if it is among ``bundled``; else, when
    the current choice takes the other kind of image (``current_takes_rgb``; None: nothing chosen yet), the leaves
    model for an RGB image and the C. elegans one for a gray one. None: keep the current choice.
    """
    if sample_model in bundled:
        return sample_model
    if current_takes_rgb is None or current_takes_rgb == rgb:
        return None
    name = DEFAULT_FOR_KIND["Leaves (rosette)" if rgb else "C. elegans (worms)"]
    return name if name in bundled else None
