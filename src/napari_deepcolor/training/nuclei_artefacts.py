"""What real fluorescence images of nuclei often have and `synthetic_nuclei.nuclei_field` draws only with
``artefacts=True``: uneven illumination or haze across the field, a dim cytoplasmic stain around the nuclei,
saturated nuclei, stronger optical blur, and JPEG compression.

The bundled ``nuclei`` model lost most on exactly these (`experiments/zoo/nuclei_robustness.py`), so a model trained
with them learns to ignore them. Each is drawn from its own generator (``numpy.random.default_rng([seed, 1])``), so the
images of ``artefacts=False`` stay what they were for every seed. No torch here; numpy and scipy only.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

from napari_deepcolor.training._draw import smooth_noise
from napari_deepcolor.training._jpeg import JPEG_LUMA, quality_scale, quantize_blocks

def optical_artefacts(rng: np.random.Generator, optical: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """The optical image (nuclei at about 1, background above 0) with each artefact drawn at its own chance."""
    height, width = optical.shape
    out = optical.astype(np.float32, copy=True)
    if rng.random() < 0.3:  # a dim stain of the cytoplasm around each nucleus (not labelled)
        distance = ndi.distance_transform_edt(labels == 0)
        stain = np.exp(-distance / rng.uniform(4, 12)) * (labels == 0)
        texture = np.clip(1 + 0.4 * smooth_noise(rng, out.shape, rng.uniform(2, 6), mode="reflect"), 0, None)
        out += rng.uniform(0.1, 0.6) * ndi.gaussian_filter(stain, 2) * texture
    if rng.random() < 0.35:  # uneven illumination or out-of-focus haze: a ramp across the field
        angle = rng.uniform(0, 2 * np.pi)
        yy, xx = np.mgrid[:height, :width].astype(np.float32)
        ramp = (np.cos(angle) * yy / height + np.sin(angle) * xx / width)
        ramp -= ramp.min()
        out += rng.uniform(0.3, 3.0) * ramp / max(float(ramp.max()), 1e-6)
    if rng.random() < 0.15:  # stronger blur than a focused objective gives
        out = ndi.gaussian_filter(out, rng.uniform(1.6, 4.0))
    if rng.random() < 0.15 and (labels > 0).any():  # saturated: the brightest nuclei clipped flat
        out = np.minimum(out, np.quantile(out[labels > 0], rng.uniform(0.3, 0.9)))
    return out


def jpeg_quality(rng: np.random.Generator) -> int | None:
    """A JPEG quality to save the image with (20 % of images), or None."""
    return int(rng.integers(15, 71)) if rng.random() < 0.2 else None


def jpeg_like(image: np.ndarray, quality: int) -> np.ndarray:
    """An 8-bit image after JPEG's lossy step: 8 x 8 block DCT, quantized with the standard table at ``quality``
    (1-100), and back (no chroma, no entropy coding: those lose nothing more)."""
    table = np.clip(np.floor((JPEG_LUMA * quality_scale(quality) + 50) / 100), 1, 255)
    height, width = image.shape
    padded = np.pad(image.astype(np.float32) - 128, ((0, -height % 8), (0, -width % 8)), mode="edge")
    restored = quantize_blocks(padded, table)[:height, :width] + 128
    return np.clip(np.round(restored), 0, 255).astype(np.uint8)
