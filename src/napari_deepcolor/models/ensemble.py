"""Several coloring networks, each run on flipped copies of the input, their color probabilities averaged.

Colors are arbitrary labels: two networks (or one network on a flipped image, when its colors follow the objects'
orientation) may paint the same object with different colors. ``permutation`` aligns them: output color ``c`` of the
ensemble is color ``permutation[m, t, c]`` of member ``m`` under flip ``t``. It is fixed when the ensemble is made
(`napari_deepcolor.predict.ensemble.make_ensemble`, from the members' overlap on example images) and stored with the
weights, so a prediction does not depend on the image or the tiling.
"""

from __future__ import annotations

import torch
from torch import nn

from napari_deepcolor.config import FLIP_COUNTS


def flip(x: torch.Tensor, t: int, dims: tuple[int, int] = (-2, -1)) -> torch.Tensor:
    """Transform ``t`` (0-7) of the (row, column) axes ``dims``: bit 2 transposes, then bit 0 flips columns, bit 1
    rows."""
    rows, cols = dims
    if t & 4:
        x = x.transpose(rows, cols)
    if t & 1:
        x = x.flip(cols)
    if t & 2:
        x = x.flip(rows)
    return x


def unflip(x: torch.Tensor, t: int, dims: tuple[int, int] = (-2, -1)) -> torch.Tensor:
    """The inverse of `flip`."""
    rows, cols = dims
    if t & 2:
        x = x.flip(rows)
    if t & 1:
        x = x.flip(cols)
    if t & 4:
        x = x.transpose(rows, cols)
    return x


class Ensemble(nn.Module):
    """Mean color probabilities of ``members`` over ``flips`` transforms of the input.

    Parameters
    ----------
    members : list of nn.Module
        Coloring networks of one architecture, each mapping ``(B, in, H, W)`` to logits ``(B, C, H, W)``.
    n_colors : int
        C, background included.
    flips : {1, 4, 8}
        Transforms averaged per member: the identity; the 4 flips; or the 8 flips and transposes.
    """

    def __init__(self, members: list[nn.Module], *, n_colors: int, flips: int = 1) -> None:
        super().__init__()
        if flips not in FLIP_COUNTS:
            raise ValueError(f"flips must be one of {FLIP_COUNTS}, got {flips}")
        self.members = nn.ModuleList(members)
        self.flips = flips
        self.register_buffer("permutation", torch.arange(n_colors).repeat(len(members), flips, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Log of the mean probabilities ``(B, C, H, W)``: logits whose softmax is that mean.

        In training mode (fine-tuning) the flips are left out: every member trains on the input as it is, the
        training's own augmentation flips it already.
        """
        total = None
        flips = 1 if self.training else self.flips
        for m, member in enumerate(self.members):
            for t in range(flips):
                # float32 whatever the autocast precision, so the mean's log stays finite
                probs = unflip(torch.softmax(member(flip(x, t)).float(), dim=1), t)[:, self.permutation[m, t]]
                total = probs if total is None else total + probs
        count = len(self.members) * flips
        return torch.log((total / count).clamp_min(1e-30))
