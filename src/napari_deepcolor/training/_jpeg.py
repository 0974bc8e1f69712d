"""JPEG's lossy step for the generators: 8 x 8 block DCT quantized with the standard tables (ITU-T T.81, annex K).

`jpeg_rgb` is what `synthetic_rosette` photos and `rosette_artefacts` use (YCbCr, halved chroma); `quantize_blocks`
is the shared core, which `nuclei_artefacts` uses on gray images. No entropy coding: it loses nothing more.
"""

from __future__ import annotations

import numpy as np
from scipy import fft

#: Standard JPEG quantisation tables (luminance, chrominance), quality 50.
JPEG_LUMA = np.array([
    16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56,
    14, 17, 22, 29, 51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
    49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99], np.float32).reshape(8, 8)
JPEG_CHROMA = np.full((8, 8), 99, np.float32)
JPEG_CHROMA[:4, :4] = np.array([17, 18, 24, 47, 18, 21, 26, 66, 24, 26, 56, 99, 47, 66, 99, 99]).reshape(4, 4)


def quality_scale(quality: float) -> float:
    """The IJG scaling of the quality-50 tables for ``quality`` (1-100), in percent."""
    return 5000 / quality if quality < 50 else 200 - 2 * quality


def quantize_blocks(channel: np.ndarray, table: np.ndarray) -> np.ndarray:
    """``channel`` (sides multiples of 8, centred on 0) after its 8 x 8 blocks' DCT coefficients are rounded to
    multiples of ``table``."""
    height, width = channel.shape
    blocks = channel.reshape(height // 8, 8, width // 8, 8).transpose(0, 2, 1, 3)
    coefficients = np.round(fft.dctn(blocks, axes=(2, 3), norm="ortho") / table) * table
    return fft.idctn(coefficients, axes=(2, 3), norm="ortho").transpose(0, 2, 1, 3).reshape(height, width)


def jpeg_rgb(image: np.ndarray, quality: float) -> np.ndarray:
    """JPEG's losses on an RGB ``float (Y, X, 3)`` in 0..1: YCbCr, halved chroma, 8 × 8 DCT blocks quantised."""
    height, wide = image.shape[:2]
    r, g, b = np.moveaxis(image * 255, -1, 0)
    channels = [0.299 * r + 0.587 * g + 0.114 * b, -0.1687 * r - 0.3313 * g + 0.5 * b,
                0.5 * r - 0.4187 * g - 0.0813 * b]
    scale = quality_scale(quality)
    out = []
    for k, channel in enumerate(channels):
        ph, pw = -height % 16, -wide % 16
        channel = np.pad(channel, ((0, ph), (0, pw)), mode="edge")
        if k:  # chroma at half resolution
            channel = channel.reshape(channel.shape[0] // 2, 2, channel.shape[1] // 2, 2).mean((1, 3))
        table = np.clip(np.floor(((JPEG_CHROMA if k else JPEG_LUMA) * scale + 50) / 100), 1, None)
        channel = quantize_blocks(channel - (128 if k == 0 else 0), table) + (128 if k == 0 else 0)
        if k:
            channel = np.repeat(np.repeat(channel, 2, 0), 2, 1)
        out.append(channel[:height, :wide])
    y, cb, cr = out
    restored = np.stack([y + 1.402 * cr, y - 0.344136 * cb - 0.714136 * cr, y + 1.772 * cb], -1)
    return (restored / 255).astype(np.float32)
