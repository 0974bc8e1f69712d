"""Checkpoints: a safetensors file holding the weights, with the model config as JSON metadata.

safetensors stores raw tensors and a JSON header: loading one never runs code, unlike a pickle. Files are written
to a temporary name and renamed, so an interrupted save never leaves a broken checkpoint under the final name.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from napari_deepcolor.config import ModelConfig, network_size
from napari_deepcolor.io import write_atomic

if TYPE_CHECKING:
    import torch

FORMAT = "napari-deepcolor"
FORMAT_VERSION = "1"


class CheckpointError(ValueError):
    """A file is not a readable napari-deepcolor checkpoint."""


@dataclass
class Checkpoint:
    """What a checkpoint file holds.

    Attributes
    ----------
    config : ModelConfig
        Rebuilds the network (`napari_deepcolor.models.create_model`).
    state_dict : dict of str to Tensor
        The weights.
    metadata : dict
        JSON-serializable extras: training config, step, validation metrics, provenance.
    """

    config: ModelConfig
    state_dict: dict[str, torch.Tensor]
    metadata: dict[str, Any] = field(default_factory=dict)


def save_checkpoint(path: str | os.PathLike, checkpoint: Checkpoint) -> Path:
    """Write a checkpoint atomically (temporary file in the same folder, then rename)."""
    from safetensors.torch import save_file

    header = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "config": json.dumps(checkpoint.config.to_dict()),
        "metadata": json.dumps(checkpoint.metadata),
    }
    tensors = {k: v.detach().cpu().contiguous() for k, v in checkpoint.state_dict.items()}
    return write_atomic(path, lambda tmp: save_file(tensors, tmp, metadata=header))


def average_checkpoints(paths: list[str | os.PathLike]) -> Checkpoint:
    """The mean of several checkpoints of one network (weight averaging, as in SWA).

    Floating-point tensors (weights and batch-norm running statistics) are averaged; integer ones (batch-norm's
    batch counter) are taken from the last file. The config and metadata are the last file's, with the sources
    and their steps recorded under ``metadata["averaged"]``. Averaging late checkpoints of one run smooths the
    step-to-step noise of a small-batch run.
    """
    import torch

    if not paths:
        raise ValueError("average_checkpoints needs at least one checkpoint")
    states = [load_checkpoint(p) for p in paths]
    last = states[-1]
    for path, state in zip(paths, states):
        if state.config != last.config or state.state_dict.keys() != last.state_dict.keys():
            raise CheckpointError(f"{path} is not the same network as {paths[-1]}; only checkpoints of one run "
                                  "(same config) can be averaged")
    averaged = {}
    for name, tensor in last.state_dict.items():
        if tensor.is_floating_point():
            averaged[name] = torch.stack([s.state_dict[name].double() for s in states]).mean(0).to(tensor.dtype)
        else:
            averaged[name] = tensor.clone()
    metadata = dict(last.metadata)
    metadata["averaged"] = [{"path": str(p), "step": s.metadata.get("step")} for p, s in zip(paths, states)]
    metadata.pop("validation", None)  # the sources' validation numbers do not describe the average
    return Checkpoint(last.config, averaged, metadata)


def half_precision(checkpoint: Checkpoint) -> Checkpoint:
    """The checkpoint with its floating-point tensors in float16 (half the file; loading casts them back to float32).

    Raises
    ------
    ValueError
        A tensor with values beyond float16's range (about 65,000).
    """
    too_large = [name for name, tensor in checkpoint.state_dict.items()
                 if tensor.is_floating_point() and tensor.abs().max() > 6e4]
    if too_large:
        raise ValueError(f"{too_large[0]} has values beyond float16's range; keep the weights in float32")
    return Checkpoint(checkpoint.config, {name: tensor.half() if tensor.is_floating_point() else tensor
                                          for name, tensor in checkpoint.state_dict.items()}, checkpoint.metadata)


def load_weights(network: Any, checkpoint: Checkpoint, source: Any) -> None:
    """Put a checkpoint's weights into ``network`` (a `torch.nn.Module` built from its config).

    Raises
    ------
    CheckpointError
        Weights that do not fit: a short count of what is missing, extra or of another shape, naming ``source``
        (torch's own message lists every tensor, kilobytes of names).
    """
    expected = network.state_dict()
    found = checkpoint.state_dict
    # as torch allows: BatchNorm fills in a missing step counter; a 0-d tensor and a 1-element one are the same
    missing = [k for k in expected if k not in found and not k.endswith("num_batches_tracked")]
    extra = [k for k in found if k not in expected]
    reshaped = [k for k in expected if k in found and tuple(expected[k].shape) != tuple(found[k].shape)
                and not (expected[k].numel() == 1 and found[k].numel() == 1)]
    if missing or extra or reshaped:
        example = (missing or extra or reshaped)[0]
        raise CheckpointError(
            f"{source}: its weights do not fit the {checkpoint.config.architecture} network its config describes "
            f"({len(missing)} tensors missing, {len(extra)} unexpected, {len(reshaped)} of another shape; e.g. "
            f"{example!r}); the file is damaged or was not written by napari-deepcolor: retrain it or choose another "
            "model")
    network.load_state_dict(found)


def read_header(path: str | os.PathLike) -> tuple[ModelConfig, dict[str, Any]]:
    """Config and metadata of a checkpoint, without loading the weights (no torch needed).

    The config is validated (`ModelConfig`), so a header describing a network beyond `config.MAX_PARAMETERS` or
    the other bounds is refused here, before anything is built.
    """
    path = Path(path)
    meta, _ = _header(path)
    return _parse(path, meta)


def load_checkpoint(path: str | os.PathLike) -> Checkpoint:
    """Read a checkpoint; never executes code from the file.

    Raises
    ------
    CheckpointError
        The file is missing, corrupt, a pickle (refused: loading one can run code), or not ours.
    """
    from safetensors.torch import load_file

    path = Path(path)
    meta, tensors = _header(path)
    config, metadata = _parse(path, meta)
    _check_weights_fit(path, config, tensors)
    try:
        state_dict = load_file(path)
    except Exception as error:  # noqa: BLE001 - safetensors' own error class is not public API
        raise CheckpointError(f"{path} is corrupt ({error}); retrain or copy the checkpoint again") from error
    return Checkpoint(config, state_dict, metadata)


def _check_weights_fit(path: Path, config: ModelConfig, tensors: dict[str, Any]) -> None:
    """Compare the tensor shapes the safetensors header lists (no data read) with the network the config describes.

    More values than the config's network holds (`config.network_size`) are refused before any tensor is read or
    the network built: a damaged or hostile header cannot make loading allocate more than the (bounded) network.
    Missing or reshaped tensors are named one by one by `load_weights`, against the built network.
    """
    try:
        total = sum(math.prod(int(n) for n in entry["shape"]) for entry in tensors.values())
    except (TypeError, KeyError, ValueError) as error:
        raise CheckpointError(f"{path} is corrupt: its header lists tensors without a valid shape ({error})") from error
    expected, _ = network_size(config)
    if expected and total > expected:
        raise CheckpointError(
            f"{path}: its weights do not fit the {config.architecture} network its config describes ({total:,} "
            f"values in {len(tensors)} tensors; depth {config.depth}, width {config.width} has {expected:,}); the "
            "file is damaged or was not written by napari-deepcolor: retrain it or choose another model")


def _header(path: Path) -> tuple[dict[str, str], dict[str, Any]]:
    """The napari-deepcolor metadata of a safetensors file and its tensor entries (name: dtype, shape, offsets)."""
    if not path.is_file():
        raise CheckpointError(f"no checkpoint file at {path}")
    with open(path, "rb") as handle:
        start = handle.read(9)
        size = int.from_bytes(start[:8], "little") if len(start) == 9 else -1
        # safetensors: an 8-byte little-endian header size, then the JSON header
        looks_safetensors = start[8:9] == b"{" and 2 <= size <= min(100_000_000, path.stat().st_size - 8)
        if not looks_safetensors and (start[:1] == b"\x80" or start[:4] == b"PK\x03\x04"):  # pickle, torch.save zip
            raise CheckpointError(
                f"{path} is a pickle (e.g. a torch.save file): it is refused because loading a pickle can run "
                "code. Load the weights in your own trusted session and save them with "
                "napari_deepcolor.checkpoint.save_checkpoint to get a .safetensors checkpoint")
        if not looks_safetensors:
            raise CheckpointError(f"{path} is not a napari-deepcolor checkpoint (not a safetensors file, or it "
                                  "is truncated)")
        handle.seek(8)
        try:
            header = json.loads(handle.read(size))
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise CheckpointError(f"{path} is corrupt: its header is not valid JSON ({error})") from error
    meta = header.get("__metadata__") if isinstance(header, dict) else None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CheckpointError(f"{path} is a safetensors file but not a napari-deepcolor checkpoint (no model "
                              "config in its metadata); train or fine-tune a model with deepcolor to get one")
    tensors = {k: v for k, v in header.items() if k != "__metadata__"}
    if not all(isinstance(v, dict) for v in tensors.values()):
        raise CheckpointError(f"{path} is corrupt: its header lists tensors without a dtype and shape")
    return meta, tensors


def _parse(path: Path, meta: dict[str, str]) -> tuple[ModelConfig, dict[str, Any]]:
    if meta.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(f"{path} has checkpoint format version {meta.get('format_version')!r}; this "
                              f"napari-deepcolor reads version {FORMAT_VERSION}: upgrade the plugin")
    try:
        config = ModelConfig.from_dict(json.loads(meta["config"]))
        metadata = json.loads(meta.get("metadata", "{}"))
    except (KeyError, ValueError, TypeError, AttributeError) as error:  # ConfigError, JSONDecodeError: ValueErrors
        raise CheckpointError(f"{path} has an invalid model config ({error}); the file is damaged or was not "
                              "written by this napari-deepcolor") from error
    return config, metadata
