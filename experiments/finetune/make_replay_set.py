"""Write the bundled replay wells of `worms` (src/napari_deepcolor/zoo/replay/): four BBBC010 training wells, two
treated and two untreated, that no few-shot case fine-tunes on or tests on (experiments/finetune/few_shot.py
excludes them), as zlib-compressed TIFFs: the bright-field image as it is and its per-worm masks as one int16 label
image, -1 where worms overlap (ignored in training, `napari_deepcolor.io.masks_to_labels`).

Usage (from the repository root, with ../shared/data/bbbc010)::

    python experiments/finetune/make_replay_set.py
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import tifffile

from napari_deepcolor.io import masks_to_labels, read_image, read_mask_stack

ROOT = Path(__file__).resolve().parents[2]
BBBC010 = ROOT.parent / "shared" / "data" / "bbbc010" / "train"
OUT = ROOT / "src" / "napari_deepcolor" / "zoo" / "replay"
#: Training wells of the bundled `worms` outside every few-shot case's fine-tuning wells, tuning wells and the
#: select cases' wells: treated C03 and C05, untreated B21 and B23.
WELLS = ("C03", "C05", "B21", "B23")


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for well in WELLS:
        image = read_image(BBBC010 / "images" / f"{well}.tif")
        masks = read_mask_stack(sorted((BBBC010 / "masks").glob(f"{well}_*")))
        labels = masks_to_labels(masks).astype(np.int16)
        tifffile.imwrite(OUT / f"bbbc010_{well}.tif", image, compression="zlib")
        tifffile.imwrite(OUT / f"bbbc010_{well}_labels.tif", labels, compression="zlib")
        print(well, image.shape, image.dtype, int(labels.max()), "worms")


if __name__ == "__main__":
    main()
