"""An image-based trivial baseline on BBBC010: connected components of a local-contrast threshold.

Usage::

    python experiments/bbbc010/image_threshold_baseline.py [--data ../shared/data/bbbc010/train]

Each image is smoothed (Gaussian, σ = 1), its background (Gaussian, σ = 25) subtracted, and pixels more than k
robust standard deviations (1.4826 × MAD) above it kept; components of at least 400 px are the instances. k is
chosen on every 4th training well (A01, A09, …), then the 10 validation wells are scored. Unlike the floor of
docs/accuracy.md (connected components of the human foreground annotation), this one only sees the image.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from bbbc010_split import DEFAULT_DATA, tuning_pairs, validation_pairs
from skimage.filters import gaussian
from skimage.measure import label

from napari_deepcolor.io import read_image, read_mask_stack
from napari_deepcolor.metrics import evaluate, summarize

MIN_SIZE = 400
THRESHOLDS = (2, 3, 4, 6, 8)


def local_contrast(image: np.ndarray) -> np.ndarray:
    """The image smoothed (σ = 1) minus its background (σ = 25), in robust noise units (1.4826 × MAD)."""
    image = image.astype(np.float64)
    contrast = gaussian(image, 1) - gaussian(image, 25)
    return contrast / (1.4826 * np.median(np.abs(contrast - np.median(contrast))))


def segment(image: np.ndarray, k: float) -> np.ndarray:
    labels = label(local_contrast(image) > k, connectivity=2)
    sizes = np.bincount(labels.ravel())
    sizes[0] = 0
    return label(sizes[labels] >= MIN_SIZE, connectivity=2)


def score(pairs, k: float) -> list[dict]:
    return [evaluate(read_mask_stack(masks), segment(read_image(image), k)) for image, masks in pairs]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    args = parser.parse_args()
    tuning, validation = tuning_pairs(args.data), validation_pairs(args.data)
    ap50 = {k: summarize(score(tuning, k))["ap50"] for k in THRESHOLDS}
    print("training wells, AP50 by k:", {k: round(v, 3) for k, v in ap50.items()})
    best = max(ap50, key=ap50.get)
    results = score(validation, best)
    s = summarize(results)
    print(f"validation, k = {best}: AP50 {s['ap50']:.3f}, AP75 {s['ap75']:.3f}, mean AP {s['mean_ap']:.3f}, "
          f"SBD {s['sbd']:.3f}, abs DiC {s['abs_dic']:.2f}")
    print("per well AP50:", ", ".join(f"{img.stem} {r['ap50']:.2f}" for (img, _), r in zip(validation, results)))


if __name__ == "__main__":
    main()
