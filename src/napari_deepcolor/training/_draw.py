"""Drawing helpers shared by the scene generators (`synthetic_scenes`, `synthetic_rosette`): numpy and scipy only."""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage as ndi


def smooth_noise(rng: np.random.Generator, shape: tuple[int, int], sigma: float) -> np.ndarray:
    """Gaussian-filtered white noise scaled to unit standard deviation: ``float32 (Y, X)``."""
    field = ndi.gaussian_filter(rng.standard_normal(shape).astype(np.float32), sigma, mode="wrap")
    return field / max(float(field.std()), 1e-6)


def capsule(shape: tuple[int, int], centre: tuple[float, float], angle: float, length: float, radius: float
            ) -> tuple[tuple[slice, slice], np.ndarray] | None:
    """A rod with round caps: its bounding box in the image and its mask there (None when fully outside)."""
    cy, cx = centre
    half = max(length / 2 - radius, 0.0)
    dy, dx = math.sin(angle), math.cos(angle)
    reach = half + radius + 1
    y0, y1 = max(int(cy - reach), 0), min(int(cy + reach) + 2, shape[0])
    x0, x1 = max(int(cx - reach), 0), min(int(cx + reach) + 2, shape[1])
    if y0 >= y1 or x0 >= x1:
        return None
    yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
    py, px = yy - cy, xx - cx
    t = np.clip(py * dy + px * dx, -half, half)  # position along the axis
    inside = (py - t * dy) ** 2 + (px - t * dx) ** 2 <= radius**2
    return (slice(y0, y1), slice(x0, x1)), inside
