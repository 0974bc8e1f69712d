"""Figures of the bundled ecoli, leaves and nuclei models at work, for their cards.

Usage::

    python experiments/zoo/zoo_figure.py     # docs/img/ecoli_test.png, leaves_test.jpg, leaves_semiconv_test.png, nuclei_test.png

ecoli: the test strip (rows 167-333 of the bundled image), Omnipose's labels outlined at left, the model's at right.
leaves: four plain generated test rosettes (seeds 3,000,000-3,000,003, the coloring `leaves`), true leaves outlined
above, predicted below; leaves_semiconv: the same for four realistic ones and `leaves-semiconv`; nuclei: two
generated test images (seeds 2,000,000-2,000,001), true nuclei outlined at left, `nuclei`'s at right, each with the
automatic object size.
"""

from __future__ import annotations

from pathlib import Path

import imageio.v3 as iio
import numpy as np
import tifffile
from skimage.segmentation import find_boundaries

from napari_deepcolor._sample_data import SAMPLES_DIR
from napari_deepcolor.predict.network import at_object_size, load_model, segment
from napari_deepcolor.predict.object_size import estimate_object_size
from napari_deepcolor.training.synthetic_nuclei import nuclei_field
from napari_deepcolor.training.synthetic_rosette import rosette, rosette_plain

DOCS_IMG = Path(__file__).resolve().parents[2] / "docs" / "img"


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
    for name, generator, file in (("leaves", rosette_plain, "leaves_test.jpg"),
                                  ("leaves-semiconv", rosette, "leaves_semiconv_test.png")):
        model = load_model(name, device="cpu")
        top, bottom = [], []
        for seed in range(3_000_000, 3_000_004):
            image, truth = generator(seed)
            top.append(outlined(image, truth))
            bottom.append(outlined(image, auto_segment(model, image)))
        grid = np.concatenate([np.concatenate(top, 1), np.concatenate(bottom, 1)])
        iio.imwrite(DOCS_IMG / file, grid[::2, ::2] if grid.shape[0] > 600 else grid)
    model = load_model("nuclei", device="cpu")
    pairs = [nuclei_field(seed) for seed in (2_000_000, 2_000_001)]
    rows = [np.concatenate([outlined(image, truth), outlined(image, auto_segment(model, image))], 1)
            for image, truth in pairs]
    iio.imwrite(DOCS_IMG / "nuclei_test.png", np.concatenate(rows))
    print(f"wrote ecoli_test.png, leaves_test.jpg, leaves_semiconv_test.png and nuclei_test.png in {DOCS_IMG}")


def auto_segment(model, image: np.ndarray) -> np.ndarray:
    """The model's labels at its automatic object size, as `deepcolor predict` runs it."""
    return segment(at_object_size(model, estimate_object_size(model, image).factor), image)[0].labels


if __name__ == "__main__":
    main()
