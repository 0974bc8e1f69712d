"""A figure of generated rosettes (napari_deepcolor.training.synthetic_rosette.rosette) for docs/models/leaves.md.

Usage::

    python experiments/leaves/show_generated.py                      # docs/img/rosettes_generated.png
    python experiments/leaves/show_generated.py --seeds 10 11 12 --output /tmp/rosettes.png

Each generated image is shown beside itself with every leaf's outline in its own colour (label 0, everything that is
not a leaf, has none), both shrunk to ``--zoom`` of their size; it prints the seeds and the time per image.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import imageio.v3 as iio
import numpy as np
from skimage.segmentation import find_boundaries
from skimage.transform import rescale

from napari_deepcolor.training.synthetic_rosette import rosette

ROOT = Path(__file__).resolve().parents[2]


def outlined(image: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """``image`` (uint8 RGB) with each label's inner boundary, two pixels wide, in a colour of its own."""
    palette = np.random.default_rng(1).uniform(0.3, 1.0, (int(labels.max()) + 1, 3))
    palette[np.arange(palette.shape[0]), np.arange(palette.shape[0]) % 3] = 1.0  # bright, one channel saturated
    edges = find_boundaries(labels, mode="inner")
    edges |= np.pad(edges[1:], ((0, 1), (0, 0))) & (labels > 0)
    rgb = image.astype(np.float32) / 255 * 0.6
    rgb[edges] = palette[labels[edges]]
    return (rgb * 255).astype(np.uint8)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    # the figure's seeds, picked among 12-23 to show each kind of scene: tray edges, moss, a purplish plant, sizes
    parser.add_argument("--seeds", type=int, nargs="+", default=[13, 16, 17, 18, 21, 23])
    parser.add_argument("--columns", type=int, default=3, help="image + outline pairs per row")
    parser.add_argument("--zoom", type=float, default=0.4, help="size of the figure's tiles, of the images' size")
    parser.add_argument("--output", type=Path, default=ROOT / "docs" / "img" / "rosettes_generated.png")
    args = parser.parse_args()
    tiles, seconds = [], []
    for seed in args.seeds:
        start = time.perf_counter()
        image, labels = rosette(seed)
        seconds.append(time.perf_counter() - start)
        pair = np.concatenate([image, np.full((image.shape[0], 4, 3), 255, np.uint8), outlined(image, labels)], 1)
        tiles.append((rescale(pair, args.zoom, channel_axis=-1, anti_aliasing=True) * 255).astype(np.uint8))
        print(f"seed {seed}: {labels.max()} leaves, {seconds[-1]:.2f} s")
    while len(tiles) % args.columns:
        tiles.append(np.full_like(tiles[0], 255))
    # a white gap of 8 pixels between the pairs and between the rows
    tiles = [np.pad(tile, ((0, 8), (0, 8), (0, 0)), constant_values=255) for tile in tiles]
    rows = [np.concatenate(tiles[i:i + args.columns], 1) for i in range(0, len(tiles), args.columns)]
    args.output.parent.mkdir(parents=True, exist_ok=True)
    iio.imwrite(args.output, np.concatenate(rows, 0)[:-8, :-8], optimize=True)
    print(f"wrote {args.output}: seeds {args.seeds}, median {np.median(seconds):.2f} s an image")


if __name__ == "__main__":
    main()
