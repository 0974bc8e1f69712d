"""The AP50 a bright-field model reaches on BBBC010 if it segments every *visible* worm exactly and nothing else.

Usage::

    python experiments/bbbc010/visible_worm_ceiling_bbbc010.py [--data ../shared/data/bbbc010/train]

A worm is *faint* when less than half of its mask's skeleton is visible in the bright-field image
(`worm_misses_bbbc010.is_faint`, the measure of docs/accuracy.md, "What the misses are"). An oracle that matches
every other worm at IoU >= 0.5 and makes no false detection scores AP50 = (worms - faint) / worms in each well
(TP / (TP + FP + FN) with FP = 0, FN = faint). Printed per split (the 39 training wells, the 10 validation wells)
and column group (treated: live worms, 01-12; untreated: dead worms, 13-24), as the mean over wells (how the
project reports AP50) and pooled over worms.
"""

from __future__ import annotations

import argparse
from collections import defaultdict
from pathlib import Path

import numpy as np
from bbbc010_split import DEFAULT_DATA, TRAINING_WELLS, all_pairs
from worm_misses_bbbc010 import is_faint, visible_pixels

from napari_deepcolor.io import read_image, read_mask_stack


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    args = parser.parse_args()
    wells: dict[str, list[tuple[int, int]]] = defaultdict(list)  # group -> (worms, faint) per well
    for index, (image_path, masks) in enumerate(all_pairs(args.data)):
        split = "training" if index < TRAINING_WELLS else "validation"
        column = "treated" if int(image_path.stem[1:]) <= 12 else "untreated"
        visible = visible_pixels(read_image(image_path))
        stack = read_mask_stack(masks).astype(bool)
        counts = (len(stack), sum(is_faint(mask, visible) for mask in stack))
        wells[f"{split} wells, all"].append(counts)
        wells[f"{split} wells, {column}"].append(counts)
    print("| wells | count | worms (faint) | oracle AP50, mean over wells | pooled over worms |")
    print("|---|---|---|---|---|")
    for group in sorted(wells):
        rows = wells[group]
        worms, faint = sum(n for n, _ in rows), sum(f for _, f in rows)
        print(f"| {group} | {len(rows)} | {worms} ({faint}) | {np.mean([(n - f) / n for n, f in rows]):.3f} | "
              f"{(worms - faint) / worms:.3f} |")


if __name__ == "__main__":
    main()
