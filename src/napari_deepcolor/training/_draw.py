"""Drawing helpers shared by the scene generators (`synthetic_scenes`, `synthetic_rosette`, `synthetic_nuclei`): numpy
and scipy only."""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage as ndi


def smooth_noise(rng: np.random.Generator, shape: tuple[int, int], sigma: float, *, mode: str = "wrap"
                 ) -> np.ndarray:
    """Gaussian-filtered white noise scaled to unit standard deviation: ``float32 (Y, X)``; ``mode`` is the filter's
    edge mode (`scipy.ndimage.gaussian_filter`)."""
    field = ndi.gaussian_filter(rng.standard_normal(shape).astype(np.float32), sigma, mode=mode)
    return field / max(float(field.std()), 1e-6)


def relabel_small(labels: np.ndarray, *, min_size: int) -> np.ndarray:
    """Drop labels smaller than ``min_size`` pixels and number the rest ``1..N``."""
    sizes = np.bincount(labels.ravel())
    keep = sizes >= min_size
    keep[0] = False
    lut = np.zeros(sizes.size, np.int32)
    lut[keep] = np.arange(1, keep.sum() + 1, dtype=np.int32)
    return lut[labels]


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


def noise_field(rng: np.random.Generator, shape: tuple[int, int], scale: float) -> np.ndarray:
    """Smooth noise with features of about ``scale`` pixels, unit standard deviation: ``float32 (Y, X)``.

    Above 2 pixels it is drawn on a coarser grid and enlarged (linear interpolation), which costs about the same at
    every scale.
    """
    if scale <= 2:
        field = ndi.gaussian_filter(rng.standard_normal(shape, dtype=np.float32), scale, mode="wrap")
    else:
        step = scale / 1.5
        coarse = ndi.gaussian_filter(rng.standard_normal((int(shape[0] / step) + 2, int(shape[1] / step) + 2),
                                                         dtype=np.float32), 1.5, mode="wrap")
        for axis in (0, 1):  # separable linear interpolation onto the full grid
            position = np.arange(shape[axis], dtype=np.float32) / step
            index = position.astype(np.intp)
            weight = (position - index).reshape((-1, 1) if axis == 0 else (1, -1))
            low, high = np.take(coarse, index, axis), np.take(coarse, index + 1, axis)
            coarse = low + weight * (high - low)
        field = coarse
    return field / max(float(field.std()), 1e-6)


def rgb(*values: float) -> np.ndarray:
    """A colour, ``float32 (3,)``."""
    return np.array(values, np.float32)
