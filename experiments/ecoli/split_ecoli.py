"""Cut the bundled E. coli image and its Omnipose labels into the train / validation / test strips of the `ecoli`
model (docs/models/ecoli.md), as TIFF pairs that ``deepcolor train`` and ``deepcolor evaluate`` read.

Usage::

    python experiments/ecoli/split_ecoli.py [--output data/ecoli]

Rows 0-127 train, rows 128-166 validate (checkpoint choice, τ and ρ), rows 167-333 test (the bottom half, never
used in training or tuning). Cells cut by a strip's edge keep their visible part in that strip.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import tifffile

from napari_deepcolor._sample_data import SAMPLES_DIR

#: (first row, end row) of each strip of the 334-row image.
SPLIT = {"train": (0, 128), "val": (128, 167), "test": (167, 334)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=Path("data/ecoli"))
    args = parser.parse_args()
    image = tifffile.imread(SAMPLES_DIR / "ecoli_colony.tif")
    labels = tifffile.imread(SAMPLES_DIR / "ecoli_colony_labels.tif").astype(np.int32)
    for part, (top, bottom) in SPLIT.items():
        for kind, array in (("images", image), ("labels", labels)):
            folder = args.output / part / kind
            folder.mkdir(parents=True, exist_ok=True)
            tifffile.imwrite(folder / f"ecoli_rows{top}-{bottom - 1}.tif", array[top:bottom])
        cells = len(np.unique(labels[top:bottom])) - 1
        print(f"{part}: rows {top}-{bottom - 1}, {cells} cells (whole or cut) -> {args.output / part}")


if __name__ == "__main__":
    main()
