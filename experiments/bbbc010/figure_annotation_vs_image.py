"""docs/img/bbbc010_annotation_vs_image.png: two validation wells with the per-worm annotation outlined.

Usage: python experiments/bbbc010/figure_annotation_vs_image.py [--data ../shared/data/bbbc010/train] [--output PNG]

Top: part of E01 (a treated well, live worms); bottom: part of D17 (untreated, dead worms); both magnified 2×.
Left the image (1st and 99.5th percentiles mapped to black and white, gamma 0.5 so that faint worms show), right
the same with every annotated worm's outline in red.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from skimage.io import imsave
from skimage.segmentation import find_boundaries

from napari_deepcolor.io import read_image, read_mask_stack

CROPS = {"E01": (slice(200, 420), slice(150, 450)), "D17": (slice(250, 470), slice(250, 550))}
ZOOM = 2


def panel(data: Path, well: str) -> np.ndarray:
    image = read_image(data / "images" / f"{well}.tif").astype(np.float64)
    low, high = np.percentile(image, (1, 99.5))
    gray = np.clip((image - low) / (high - low), 0, 1) ** 0.5
    rgb = np.stack([gray] * 3, axis=-1)
    outlined = rgb.copy()
    for mask in read_mask_stack(sorted((data / "masks").glob(f"{well}_*.png"))):
        outlined[find_boundaries(mask > 0, mode="outer")] = (1.0, 0.2, 0.2)
    crop = CROPS[well]
    both = np.concatenate([rgb[crop], outlined[crop]], axis=1)
    return both.repeat(ZOOM, axis=0).repeat(ZOOM, axis=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data/bbbc010/train"))
    parser.add_argument("--output", type=Path, default=Path("docs/img/bbbc010_annotation_vs_image.png"))
    args = parser.parse_args()
    figure = np.concatenate([panel(args.data, well) for well in CROPS], axis=0)
    imsave(args.output, (figure * 255).astype(np.uint8))
    print(args.output)


if __name__ == "__main__":
    main()
