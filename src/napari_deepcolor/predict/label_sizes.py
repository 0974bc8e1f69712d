"""The typical size of the objects of label images, as the size model's fit with labels reads it
(`napari_deepcolor.predict.size_fit.fit_size_model`)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def typical_object_size(labels: np.ndarray) -> float:
    """The median of √(area) over the objects of a label image ``(Y, X)`` (label > 0) or a mask stack ``(N, Y, X)``
    (one object per mask), pixels; NaN without objects."""
    return typical_of(object_areas(labels))


def object_areas(labels: np.ndarray) -> np.ndarray:
    """The area in pixels of each object of a label image ``(Y, X)`` (label > 0) or a mask stack ``(N, Y, X)`` (one
    object per mask); empty without objects."""
    labels = np.asarray(labels)
    if labels.ndim == 3:
        counts = (labels.reshape(len(labels), -1) > 0).sum(axis=1)
    else:
        counts = np.bincount(labels[labels > 0].ravel())
    return counts[counts > 0]


def typical_of(areas: np.ndarray) -> float:
    """`typical_object_size` of the objects' ``areas`` (`object_areas`)."""
    return float(np.median(np.sqrt(areas))) if areas.size else float("nan")


def mask_width(mask: np.ndarray) -> tuple[float, float]:
    """The foreground of a mask ``(Y, X)`` (nonzero) as its area and its perimeter (skimage's, 8-neighbourhood),
    pixels: twice the one over the other is its objects' typical width (a band of width w: w; a disc of radius r: r),
    which grows with the objects' size and does not depend on how many there are
    (`napari_deepcolor.predict.object_size.size_from_mask`)."""
    from skimage.measure import perimeter

    foreground = np.asarray(mask) != 0
    return float(foreground.sum()), float(perimeter(foreground, neighborhood=8))


def width_of(area: float, edge: float) -> float:
    """Twice ``area`` over ``edge`` (`mask_width`); NaN without foreground."""
    return 2 * area / edge if area > 0 and edge > 0 else float("nan")


def relative_object_sizes(labels: Sequence[np.ndarray] | None, n_images: int) -> np.ndarray:
    """Each image's typical object size against the median over the images (1 where unknown, or without labels)."""
    return relative_to_median(typical_sizes(labels, n_images))


def typical_sizes(labels: Sequence[np.ndarray] | None, n_images: int) -> np.ndarray:
    """`typical_object_size` of each image's labels; NaN where unknown (all NaN without labels)."""
    if labels is None:
        return np.full(n_images, np.nan)
    if len(labels) != n_images:
        raise ValueError(f"got {len(labels)} label images for {n_images} images")
    return np.array([typical_object_size(lab) for lab in labels])


def relative_to_median(sizes: np.ndarray) -> np.ndarray:
    """Sizes against their median (1 where unknown, all 1 when none is known)."""
    known = np.isfinite(sizes)
    if not known.any():
        return np.ones(sizes.size)
    return np.where(known, sizes / np.median(sizes[known]), 1.0)


__all__ = ["mask_width", "object_areas", "relative_object_sizes", "relative_to_median", "typical_object_size",
           "typical_of", "typical_sizes", "width_of"]
