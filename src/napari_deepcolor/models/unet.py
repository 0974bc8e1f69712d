"""U-Net: convolution blocks, max-pool down, transposed-convolution up, skip connections."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def _block(in_channels: int, out_channels: int, batch_norm: bool) -> nn.Sequential:
    layers: list[nn.Module] = []
    for c_in in (in_channels, out_channels):
        layers.append(nn.Conv2d(c_in, out_channels, 3, padding=1, bias=not batch_norm))
        if batch_norm:
            layers.append(nn.BatchNorm2d(out_channels))
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class UNet(nn.Module):
    """U-Net of ``depth`` poolings, ``width`` channels at full resolution, doubled at each level.

    Any input size works: the input is padded (reflect) to a multiple of ``2**depth`` and the output cropped back.

    Parameters
    ----------
    in_channels, out_channels : int
        Image channels in, logits out.
    depth : int
        Number of 2× poolings.
    width : int
        Channels of the first level.
    batch_norm : bool
        Batch normalization after each convolution.
    """

    def __init__(self, in_channels: int, out_channels: int, *, depth: int = 4, width: int = 16,
                 batch_norm: bool = True) -> None:
        super().__init__()
        self.depth = depth
        widths = [width * 2**i for i in range(depth + 1)]
        self.down = nn.ModuleList()
        c_in = in_channels
        for w in widths:
            self.down.append(_block(c_in, w, batch_norm))
            c_in = w
        self.upsample = nn.ModuleList(
            nn.ConvTranspose2d(widths[i + 1], widths[i], 2, stride=2) for i in reversed(range(depth))
        )
        self.up = nn.ModuleList(_block(2 * widths[i], widths[i], batch_norm) for i in reversed(range(depth)))
        self.head = nn.Conv2d(width, out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map images ``(B, in_channels, H, W)`` to logits ``(B, out_channels, H, W)``."""
        height, width = x.shape[-2:]
        skips = self.encode(x)
        x = skips.pop()
        for upsample, block in zip(self.upsample, self.up):
            x = block(torch.cat([skips.pop(), upsample(x)], dim=1))
        return self.head(x)[..., :height, :width]

    def encode(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The encoder alone: the output of each down block, ``depth + 1`` of them (full resolution first, the
        bottleneck last), of images ``(B, in_channels, H, W)`` padded to a multiple of ``2**depth``."""
        height, width = x.shape[-2:]
        stride = 2**self.depth
        pad_h, pad_w = -height % stride, -width % stride
        if pad_h or pad_w:
            mode = "reflect" if min(height, width) > max(pad_h, pad_w) else "replicate"
            x = F.pad(x, (0, pad_w, 0, pad_h), mode=mode)
        levels = []
        for i, block in enumerate(self.down):
            x = block(x if i == 0 else F.max_pool2d(x, 2))
            levels.append(x)
        return levels


def unets(network: nn.Module) -> list[UNet]:
    """The U-Nets in ``network`` (itself, the one it wraps, or an ensemble's members'), in module order."""
    return [module for module in network.modules() if isinstance(module, UNet)]
