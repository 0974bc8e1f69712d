"""Figures of the generated training scenes for docs/: E. coli beside the real image, a grid of rosettes and one of
fluorescent nuclei.

Usage::

    python experiments/zoo/synthetic_figure.py [--output-dir DIR]   # synthetic_ecoli.png, synthetic_rosettes.jpg,
                                                                      # synthetic_nuclei.png (default: docs/img)
"""

from __future__ import annotations

import argparse
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import tifffile
from skimage.segmentation import find_boundaries

from napari_deepcolor._sample_data import SAMPLES_DIR
from napari_deepcolor.training.synthetic_nuclei import nuclei_field
from napari_deepcolor.training.synthetic_scenes import ecoli_colony, rosette

DOCS_IMG = Path(__file__).resolve().parents[2] / "docs" / "img"


def _gray(image: np.ndarray) -> np.ndarray:
    low, high = np.percentile(image, (0.5, 99.5))
    return np.clip((image.astype(np.float32) - low) / (high - low), 0, 1)


def _outlined(gray: np.ndarray, labels: np.ndarray) -> np.ndarray:
    rgb = np.repeat(gray[..., None], 3, axis=-1)
    rgb[find_boundaries(labels, mode="inner")] = (1.0, 0.8, 0.0)
    return rgb


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output-dir", type=Path, default=DOCS_IMG, help="folder of the three figures (default: "
                        "%(default)s)")
    out = parser.parse_args().output_dir
    out.mkdir(parents=True, exist_ok=True)
    real = tifffile.imread(SAMPLES_DIR / "ecoli_colony.tif")[:256, :256]
    real_labels = tifffile.imread(SAMPLES_DIR / "ecoli_colony_labels.tif").astype(np.int32)[:256, :256]
    top = [np.repeat(_gray(real)[..., None], 3, -1)]
    bottom = [_outlined(_gray(real), real_labels)]
    for seed in (0, 1, 2):
        image, labels = ecoli_colony(seed)
        top.append(np.repeat(_gray(image)[..., None], 3, -1))
        bottom.append(_outlined(_gray(image), labels))
    figure = np.concatenate([np.concatenate(top, 1), np.concatenate(bottom, 1)], 0)
    iio.imwrite(out / "synthetic_ecoli.png", (figure * 255).astype(np.uint8))
    rows = []
    for row in range(2):
        scenes = [rosette(seed) for seed in range(row * 4, row * 4 + 4)]
        rows.append(np.concatenate([s[0] for s in scenes], 1))
        rows.append(np.concatenate([(_outlined(s[0].mean(-1) / 255, s[1]) * 255).astype(np.uint8) for s in scenes],
                                   1))
    # 512-px scenes, shown at half size (a 1024-px grid)
    iio.imwrite(out / "synthetic_rosettes.jpg", np.concatenate(rows, 0)[::2, ::2], quality=88)
    rows = []
    for row in range(2):  # each image at percentile contrast, as napari shows it; its labels outlined below
        scenes = [nuclei_field(seed) for seed in range(row * 4, row * 4 + 4)]
        rows.append(np.concatenate([np.repeat(_gray(s[0])[..., None], 3, -1) for s in scenes], 1))
        rows.append(np.concatenate([_outlined(_gray(s[0]), s[1]) for s in scenes], 1))
    iio.imwrite(out / "synthetic_nuclei.png", (np.concatenate(rows, 0) * 255).astype(np.uint8))
    print(f"wrote {out / 'synthetic_ecoli.png'}, {out / 'synthetic_rosettes.jpg'} and {out / 'synthetic_nuclei.png'}")


if __name__ == "__main__":
    main()
