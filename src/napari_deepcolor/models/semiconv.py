"""Semi-convolutional embeddings Ψ_u = Φ_u + û (Novotny et al., ECCV 2018, eqs. 3 and 6).

A backbone (any registered architecture) maps an image to ``D + 2`` channels: the convolutional part Φ of the
embedding (``D`` channels), a foreground logit and a seed-confidence logit. The pixel positions û are *not* added
inside ``forward``: the network output stays translation-equivariant, so a patch, a tile or a whole image give the
same Φ, and the caller adds the positions in the frame it wants (`add_positions`: patch-local in the loss, whole
image in inference). Eq. 5 and the kernel of eq. 10 only see differences of embeddings, so the frame does not matter.

Coordinates: the first two embedding dimensions are ``Φ_0 + y / s`` and ``Φ_1 + x / s`` with ``s`` =
``ModelConfig.coordinate_scale`` network pixels per unit (axis order y, x; with ``D = ndim`` position dimensions in
general); the other ``D - 2`` dimensions are appearance dimensions, û is zero there (eq. 6).
"""

from __future__ import annotations

import math

import torch
from torch import nn

#: σ of eq. 10 at initialization, in embedding units.
INITIAL_SIGMA = 0.5


class SemiConvNet(nn.Module):
    """A backbone with ``embedding_dims + 2`` outputs and the learnable σ of the steered kernel (eq. 10).

    σ is stored as ``log_sigma`` (so it stays positive) in the state dict, next to the weights: a checkpoint's
    decoder uses the trained value.

    Parameters
    ----------
    backbone : nn.Module
        Maps ``(B, C_in, H, W)`` to ``(B, embedding_dims + 2, H, W)``.
    embedding_dims : int
        D >= 2.
    """

    def __init__(self, backbone: nn.Module, embedding_dims: int) -> None:
        super().__init__()
        self.backbone = backbone
        self.embedding_dims = embedding_dims
        self.log_sigma = nn.Parameter(torch.tensor(math.log(INITIAL_SIGMA)))

    @property
    def sigma(self) -> torch.Tensor:
        """σ > 0 of eq. 10, a scalar tensor (differentiable)."""
        return self.log_sigma.exp()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map images ``(B, C_in, H, W)`` to ``(B, D + 2, H, W)``: Φ (D channels), foreground logit, seed logit."""
        return self.backbone(x)


def split_output(output: torch.Tensor, embedding_dims: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Split a network output ``(B, D + 2, *spatial)`` into Φ ``(B, D, ...)``, foreground and seed logits
    ``(B, ...)``."""
    if output.shape[1] != embedding_dims + 2:
        raise ValueError(f"expected {embedding_dims + 2} output channels (D = {embedding_dims} embedding dimensions, "
                         f"foreground, seed), got shape {tuple(output.shape)}")
    return output[:, :embedding_dims], output[:, embedding_dims], output[:, embedding_dims + 1]


def positions(shape: tuple[int, ...], coordinate_scale: float, *, origin: tuple[int, ...] | None = None,
              device: torch.device | str | None = None) -> torch.Tensor:
    """Pixel positions ``(ndim, *shape)`` float32 in embedding units: ``(index + origin) / coordinate_scale``."""
    origin = origin or (0,) * len(shape)
    axes = [(torch.arange(n, device=device, dtype=torch.float32) + o) / coordinate_scale
            for n, o in zip(shape, origin)]
    return torch.stack(torch.meshgrid(*axes, indexing="ij"))


def add_positions(phi: torch.Tensor, coordinate_scale: float, *, origin: tuple[int, ...] | None = None
                  ) -> torch.Tensor:
    """Ψ = Φ + û for Φ ``(B, D, *spatial)``: adds the positions to the first ``len(spatial)`` dimensions."""
    spatial = tuple(phi.shape[2:])
    if phi.shape[1] < len(spatial):
        raise ValueError(f"need at least {len(spatial)} embedding dimensions for {len(spatial)}D positions, got "
                         f"shape {tuple(phi.shape)}")
    pos = positions(spatial, coordinate_scale, origin=origin, device=phi.device).to(phi.dtype)
    pad = phi.new_zeros((phi.shape[1] - len(spatial), *spatial))
    return phi + torch.cat([pos, pad])[None]
