"""What consumer-camera photos of plants often have beyond `synthetic_rosette.rosette`'s camera, drawn only with
``artefacts=True``: a white balance off by up to a fifth per channel, another gamma, washed-out or vivid colour, a
defocused lens, a hard shadow across the tray, and strong JPEG compression.

The bundled ``leaves-semiconv`` lost most on such changes (`experiments/leaves/leaves_robustness.py`), so a model
trained with them learns to ignore them. Drawn from their own generator (``numpy.random.default_rng([seed, 1])``), so
the images of ``artefacts=False`` stay what they were for every seed. No torch here; numpy and scipy only.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

from napari_deepcolor.training._jpeg import jpeg_rgb


def photo_artefacts(rng: np.random.Generator, image: np.ndarray) -> np.ndarray:
    """``image`` (uint8 RGB) with each artefact drawn at its own chance."""
    out = image.astype(np.float32) / 255
    height, width = out.shape[:2]
    if rng.random() < 0.4:  # white balance
        out = out * np.clip(1 + rng.normal(0, 0.12, 3), 0.7, 1.3).astype(np.float32)
    if rng.random() < 0.35:  # another gamma (camera profile, editing)
        out = np.clip(out, 0, 1) ** rng.uniform(0.6, 1.6)
    if rng.random() < 0.35:  # washed-out or vivid colour
        gray = out.mean(-1, keepdims=True)
        out = gray + rng.uniform(0.4, 1.4) * (out - gray)
    if rng.random() < 0.25:  # defocus
        out = ndi.gaussian_filter(out, (rng.uniform(1.5, 3.5),) * 2 + (0,))
    if rng.random() < 0.2:  # a hard shadow: a soft-edged half-plane across the picture
        angle, offset = rng.uniform(0, 2 * np.pi), rng.uniform(-0.3, 0.3)
        yy, xx = np.mgrid[:height, :width].astype(np.float32)
        side = np.cos(angle) * (yy / height - 0.5) + np.sin(angle) * (xx / width - 0.5) > offset
        shade = ndi.gaussian_filter(np.where(side, rng.uniform(0.45, 0.8), 1.0).astype(np.float32), rng.uniform(3, 15))
        out = out * shade[..., None]
    out = np.clip(out, 0, 1)
    if rng.random() < 0.2:  # strong compression (a messenger, a web upload)
        out = np.clip(jpeg_rgb(out, rng.uniform(20, 55)), 0, 1)
    return (out * 255).round().astype(np.uint8)
