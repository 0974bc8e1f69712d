"""Figures of the bundled ecoli and leaves models at work, for their cards.

Usage::

    python experiments/zoo/zoo_figure.py     # writes docs/img/ecoli_test.png and docs/img/leaves_test.jpg

ecoli: the test strip (rows 167-333 of the bundled image), Omnipose's labels outlined at left, the model's at right.
leaves: four generated test rosettes (seeds 3,000,000-3,000,003), true leaves outlined above, predicted below.
"""

from __future__ import annotations

from pathlib import Path

import imageio.v3 as iio
import numpy as np
import tifffile
from skimage.segmentation import find_boundaries

from napari_deepcolor._sample_data import SAMPLES_DIR
from napari_deepcolor.predict.network import load_model, segment
from napari_deepcolor.training.synthetic_scenes import rosette

DOCS_IMG = Path(__file__).resolve().parents[1] / "docs" / "img"


def outlined(image: np.ndarray, labels: np.ndarray) -> np.ndarray:
    if image.ndim == 2:
        low, high = np.percentile(image, (0.5, 99.5))
        gray = np.clip((image.astype(np.float32) - low) / (high - low), 0, 1)
        image = (np.repeat(gray[..., None], 3, -1) * 255).astype(np.uint8)
    out = image.copy()
    out[find_boundaries(labels, mode="inner")] = (255, 200, 0)
    return out


def main() -> None:
    image = tifffile.imread(SAMPLES_DIR / "ecoli_colony.tif")[167:]
    truth = tifffile.imread(SAMPLES_DIR / "ecoli_colony_labels.tif").astype(np.int32)[167:]
    predicted = segment(load_model("ecoli", device="cpu"), image)[0].labels
    iio.imwrite(DOCS_IMG / "ecoli_test.png", np.kron(np.concatenate([outlined(image, truth),
                                                                     outlined(image, predicted)], 1),
                                                     np.ones((2, 2, 1), np.uint8)))
    model = load_model("leaves", device="cpu")
    top, bottom = [], []
    for seed in range(3_000_000, 3_000_004):
        image, truth = rosette(seed)
        top.append(outlined(image, truth))
        bottom.append(outlined(image, segment(model, image)[0].labels))
    grid = np.concatenate([np.concatenate(top, 1), np.concatenate(bottom, 1)])
    iio.imwrite(DOCS_IMG / "leaves_test.jpg", grid, quality=88)
    print(f"wrote {DOCS_IMG / 'ecoli_test.png'} and {DOCS_IMG / 'leaves_test.jpg'}")


if __name__ == "__main__":
    main()
