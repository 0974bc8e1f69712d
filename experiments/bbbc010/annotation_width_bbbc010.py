"""How wide the BBBC010 worm masks are against the worm visible under them, per validation well.

Usage::

    python experiments/bbbc010/annotation_width_bbbc010.py [--data ../shared/data/bbbc010/train] [--k 2]

A pixel is *visible* when the image's local contrast (``image_threshold_baseline.local_contrast``: smoothed minus
background, in noise units) is above k. Per worm mask: its width (area / skeleton length), the width of its visible
part (visible area inside the mask / the same skeleton length) and the fraction of its pixels that are visible;
printed as the median over the well's worms (docs/accuracy.md, "Where the gap is").
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from bbbc010_split import DEFAULT_DATA, validation_pairs
from image_threshold_baseline import local_contrast
from skimage.morphology import skeletonize

from napari_deepcolor.io import read_image, read_mask_stack


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--k", type=float, default=2.0, help="visibility threshold in noise units")
    args = parser.parse_args()
    print("| well | column | mask width (px) | visible width inside it (px) | visible fraction of the mask |")
    print("|---|---|---|---|---|")
    for image, masks in validation_pairs(args.data):
        visible = local_contrast(read_image(image)) > args.k
        stack = read_mask_stack(masks)
        lengths = np.array([max(int(skeletonize(mask).sum()), 1) for mask in stack])
        widths = stack.sum(axis=(1, 2)) / lengths
        visible_widths = (stack & visible).sum(axis=(1, 2)) / lengths
        column = "treated" if int(image.stem[1:]) <= 12 else "untreated"
        print(f"| {image.stem} | {column} | {np.median(widths):.1f} | {np.median(visible_widths):.1f} | "
              f"{np.median(visible_widths / widths):.2f} |")


if __name__ == "__main__":
    main()
