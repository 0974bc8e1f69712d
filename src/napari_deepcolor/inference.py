"""Inference: load a model, normalize and rescale an image, run the network (tiled when large), get probabilities."""

from __future__ import annotations

import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from napari_deepcolor.checkpoint import CheckpointError, load_checkpoint, read_header
from napari_deepcolor.config import ModelConfig
from napari_deepcolor.data import preprocess

if TYPE_CHECKING:
    import torch

DEVICES = ("auto", "cpu", "cuda", "mps")


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


def resolve_device(device: str = "auto") -> str:
    """``auto`` picks CUDA, then Apple MPS, else CPU; an explicit device that is not available is an error."""
    import torch

    if device not in DEVICES:
        raise ValueError(f"unknown device {device!r}; choose one of {list(DEVICES)}")
    cuda = torch.cuda.is_available()
    mps = getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
    if device == "auto":
        return "cuda" if cuda else "mps" if mps else "cpu"
    if device == "cuda" and not cuda:
        raise RuntimeError("CUDA was asked for but torch sees no CUDA GPU; use --device cpu or auto")
    if device == "mps" and not mps:
        raise RuntimeError("Apple MPS was asked for but is not available here; use --device cpu or auto")
    return device


@dataclass
class LoadedModel:
    """A network ready for inference, with its config and metadata."""

    network: torch.nn.Module
    config: ModelConfig
    metadata: dict[str, Any]
    device: str
    source: str


def load_model(name_or_path: str | os.PathLike, *, device: str = "auto") -> LoadedModel:
    """Load a bundled model by name or a checkpoint file onto a device, in eval mode."""
    from napari_deepcolor.models import create_model

    path = resolve_model(name_or_path)
    checkpoint = load_checkpoint(path)
    network = create_model(checkpoint.config)
    try:
        network.load_state_dict(checkpoint.state_dict)
    except RuntimeError as error:
        raise CheckpointError(f"{path}: weights do not fit the {checkpoint.config.architecture} network its "
                              f"config describes ({str(error).splitlines()[0]})") from error
    resolved = resolve_device(device)
    return LoadedModel(network.to(resolved).eval(), checkpoint.config, checkpoint.metadata, resolved, str(path))


def model_info(name_or_path: str | os.PathLike) -> tuple[ModelConfig, dict[str, Any]]:
    """Config and metadata of a model without loading its weights."""
    return read_header(resolve_model(name_or_path))


def predict_probs(
    model: LoadedModel,
    image: np.ndarray,
    *,
    channel_axis: int | None = None,
    tile_size: int = 1024,
    overlap: int = 64,
    progress: Callable[[int, int], None] | None = None,
) -> np.ndarray:
    """Color probabilities of a coloring network for one 2D image.

    Parameters
    ----------
    model : LoadedModel
    image : ndarray, shape (Y, X) or (Y, X, 3|4)
        Gray or RGB(A), any numeric dtype.
    channel_axis : int, optional
        Axis of the color channels when it is not the last one.
    tile_size, overlap : int
        Images larger than ``tile_size`` (network pixels) are processed in overlapping tiles; each tile keeps its
        centre, so the result does not depend on the tiling except at float rounding.
    progress : callable(done, total), optional
        Called after each tile.

    Returns
    -------
    probs : ndarray, shape (C, Y, X), float32
        Softmax probabilities at the input's resolution; channel 0 is background.
    """
    import torch

    config = model.config
    planes = np.asarray(image)
    x = preprocess(planes, in_channels=config.in_channels, percentiles=config.percentiles, scale=config.scale,
                   channel_axis=channel_axis)
    out_shape = planes.shape[:2] if channel_axis in (None, -1, 2) else np.delete(planes.shape, channel_axis)
    logits = _run_tiled(model, x, tile_size=tile_size, overlap=overlap, progress=progress)
    with torch.no_grad():
        t = torch.from_numpy(logits)[None]
        if t.shape[-2:] != tuple(out_shape):
            t = torch.nn.functional.interpolate(t, size=tuple(int(s) for s in out_shape), mode="bilinear",
                                                align_corners=False)
        return torch.softmax(t, dim=1)[0].numpy()


def _tiles(length: int, tile: int, overlap: int) -> list[tuple[int, int, int, int]]:
    """(read start, read stop, keep start, keep stop) along one axis."""
    if length <= tile:
        return [(0, length, 0, length)]
    step = tile - 2 * overlap
    out = []
    start = 0
    while True:
        read0 = max(0, min(start - overlap, length - tile))
        read1 = read0 + tile
        keep1 = length if read1 >= length else start + step
        out.append((read0, read1, start, keep1))
        if keep1 >= length:
            return out
        start = keep1


def _run_tiled(model: LoadedModel, x: np.ndarray, *, tile_size: int, overlap: int,
               progress: Callable[[int, int], None] | None) -> np.ndarray:
    import torch

    height, width = x.shape[1:]
    rows, cols = _tiles(height, tile_size, overlap), _tiles(width, tile_size, overlap)
    out = np.empty((model.config.out_channels, height, width), dtype=np.float32)
    total, done = len(rows) * len(cols), 0
    with torch.inference_mode():
        for r0, r1, k0, k1 in rows:
            for c0, c1, l0, l1 in cols:
                tile = torch.from_numpy(np.ascontiguousarray(x[:, r0:r1, c0:c1]))[None].to(model.device)
                logits = model.network(tile)[0].float().cpu().numpy()
                out[:, k0:k1, l0:l1] = logits[:, k0 - r0 : k1 - r0, l0 - c0 : l1 - c0]
                done += 1
                if progress is not None:
                    progress(done, total)
    return out
