"""The model registry: bundled models (the ``*.safetensors`` files in this folder) and the user's models.

Every place that needs a model name asks here: `bundled_models`, `resolve_model`, `MODEL_KEY` (the image-layer
metadata key naming a sample's model), and `user` (models trained in this session). No torch, no Qt.
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

from napari_deepcolor.checkpoint import CheckpointError

#: Key of an image layer's metadata naming the bundled model made for it (the sample images set it).
MODEL_KEY = "napari_deepcolor_model"


def zoo_dir() -> Path:
    """Folder of the bundled models (``napari_deepcolor/zoo/<name>.safetensors``)."""
    return Path(str(resources.files("napari_deepcolor") / "zoo"))


def bundled_models() -> dict[str, Path]:
    """Bundled model names and files."""
    folder = zoo_dir()
    return {p.stem: p for p in sorted(folder.glob("*.safetensors"))} if folder.is_dir() else {}


def resolve_model(name_or_path: str | os.PathLike) -> Path:
    """Path of a bundled model name or of a checkpoint file; clear error if neither."""
    models = bundled_models()
    if str(name_or_path) in models:
        return models[str(name_or_path)]
    path = Path(name_or_path)
    if path.is_file():
        return path
    raise CheckpointError(f"{name_or_path!r} is neither a bundled model ({', '.join(models) or 'none'}) nor a "
                          "checkpoint file")
