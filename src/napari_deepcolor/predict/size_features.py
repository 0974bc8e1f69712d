"""What the automatic object size reads: the encoder's features of a view, in the orientations of the square.

`napari_deepcolor.predict.object_size` turns them into an object size. Torch is imported only inside the functions.
Shapes: views ``(C, Y, X)`` float32 as the network sees them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from napari_deepcolor.config import ModelConfig
    from napari_deepcolor.predict.network import LoadedModel


def view_features(model: LoadedModel, tiles: Sequence[np.ndarray],
                  turns: Sequence[int] = (0,)) -> tuple[np.ndarray, float]:
    """Encoder features ``(F,)`` of the parts of `pick_tiles` and their foreground fraction: the mean over the
    orientations ``turns`` of `oriented_features`."""
    per_turn, foreground = oriented_features(model, tiles, turns)
    return np.mean(list(per_turn.values()), axis=0), foreground


def oriented_features(model: LoadedModel, tiles: Sequence[np.ndarray], turns: Sequence[int], *,
                      whole: bool = True) -> tuple[dict[int, np.ndarray], float]:
    """Encoder features ``(F,)`` of the parts of `pick_tiles` in each orientation of ``turns`` (`turn`), and their
    foreground fraction.

    In each orientation the features are the log of the pixel-weighted mean over the parts of their moments
    (`_moments`). With ``whole``, the network runs whole on each part in the first orientation (the foreground is
    read there), its encoder alone in the others; without, the encoder alone in all (foreground NaN).
    """
    import torch

    network = _first_network(model.network)
    unet = _unet(network)
    sums: dict[int, np.ndarray] = {}
    pixels, foreground = 0, 0.0 if whole else float("nan")
    with torch.no_grad():
        for part in tiles:
            n = part.shape[-1] * part.shape[-2]
            for j, k in enumerate(turns):
                # a copy: a turned view of a part 1 pixel high keeps its negative stride through ascontiguousarray
                # (numpy calls it contiguous), which torch refuses
                x = torch.from_numpy(np.array(turn(part, k), dtype=np.float32, order="C"))[None].to(model.device)
                if model.channels_last:  # the network's weights are (`load_model`)
                    x = x.contiguous(memory_format=torch.channels_last)
                if j == 0 and whole:
                    levels, out = _whole_pass(network, unet, x)
                    foreground += float(_foreground(out, model.config).float().mean()) * n
                else:
                    levels = unet.encode(x)
                feats = torch.cat([m for level in levels for m in _moments(level)], dim=1)[0].cpu().numpy() * n
                sums[k] = feats if k not in sums else sums[k] + feats
            pixels += n
    return {k: np.log1p(np.maximum(total / pixels, 0)) for k, total in sums.items()}, foreground / pixels


def turn(view: np.ndarray, k: int) -> np.ndarray:
    """``view (C, Y, X)`` in the ``k``-th orientation of the square: 0-3 turned by ``k`` x 90°, 4-7 transposed
    first."""
    return np.rot90(view.transpose(0, 2, 1) if k >= 4 else view, k % 4, axes=(-2, -1))


def _whole_pass(network: Any, unet: Any, x: Any) -> tuple[list[Any], Any]:
    """The outputs of ``unet``'s down blocks, and ``network``'s output, of one pass of ``network`` on ``x``."""
    levels: list[Any] = []
    hooks = [block.register_forward_hook(lambda _m, _i, out: levels.append(out)) for block in unet.down]
    try:
        out = network(x)
    finally:
        for hook in hooks:
            hook.remove()
    return levels, out


def _moments(activation: Any) -> tuple[Any, Any]:
    """Per tile and channel: the mean and the standard deviation (n - 1) of an activation ``(N, K, H, W)`` over the
    tile, float32.

    From the sums of the values and of their squares, accumulated in float64 (float32 on Apple's MPS, which has no
    float64), in any memory layout. torch's ``std`` of the flattened activation gave the same values to float32's
    precision 3-6 times slower (channels-last activations of 16-128 channels), and was a third of the estimate's time.
    """
    import torch

    values = activation.float()
    n = values.shape[-1] * values.shape[-2]
    wide = torch.float32 if values.device.type == "mps" else torch.float64
    mean = values.sum(dim=(2, 3), dtype=wide) / n
    if n == 1:
        return mean.float(), torch.zeros_like(mean, dtype=torch.float32)
    squares = (values * values).sum(dim=(2, 3), dtype=wide)
    variance = ((squares - n * mean * mean) / (n - 1)).clamp_min(0)
    return mean.float(), variance.sqrt().float()


def _first_network(network: Any) -> Any:
    members = getattr(network, "members", None)  # an ensemble: its first network stands for all
    return members[0] if members is not None else network


def _unet(network: Any) -> Any:
    from napari_deepcolor.models.unet import unets

    found = unets(network)
    if not found:
        raise ValueError("automatic object size needs a U-Net model")
    return found[0]


def _foreground(out: Any, config: ModelConfig) -> Any:
    from napari_deepcolor.methods import get_method

    return get_method(config.method).network_foreground(out, config)
