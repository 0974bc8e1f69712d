"""Leaf models on realistic generated rosettes changed the way consumer photos of plants often differ from one
another: white balance, exposure, gamma, vignetting, defocus, strong JPEG, washed-out colour, a shadow across the
picture. Each change is written here, apart from the generator's own artefacts (`training.rosette_artefacts`), so a
model trained with those is not tested on their code. Seeds 71,000-71,029 by default (70,000-70,029 were where
`leaves-semiconv`'s losses were first seen). With the defaults (automatic object size, stored knobs); AP50, means.
Prints a table (docs/models/leaves.md).

    OMP_NUM_THREADS=2 python experiments/leaves/leaves_robustness.py --models leaves-semiconv OTHER.safetensors
"""

from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage as ndi

from napari_deepcolor.training.synthetic_rosette import rosette

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "zoo"))
from nuclei_robustness import robustness_table  # noqa: E402


def _u8(x: np.ndarray) -> np.ndarray:
    return np.clip(x, 0, 255).astype(np.uint8)


def _f(image: np.ndarray) -> np.ndarray:
    return image.astype(np.float32)


def cast(image, gains):
    return _u8(_f(image) * np.array(gains, np.float32))


def gamma(image, g):
    return _u8(255 * (_f(image) / 255) ** g)


def vignette(image, k):
    height, width = image.shape[:2]
    yy, xx = np.mgrid[:height, :width]
    return _u8(_f(image) * (1 - k * ((yy / height - 0.5) ** 2 + (xx / width - 0.5) ** 2) * 2)[..., None])


def defocus(image, sigma):
    return _u8(ndi.gaussian_filter(_f(image), (sigma, sigma, 0)))


def jpeg(image, quality):
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG", quality=quality)
    return np.array(Image.open(buffer))


def saturation(image, k):
    x = _f(image)
    gray = x.mean(-1, keepdims=True)
    return _u8(gray + k * (x - gray))


def half_shadow(image, k):
    width = image.shape[1]
    shade = np.ones(image.shape[:2], np.float32)
    shade[:, : width // 2] = 1 - k
    return _u8(_f(image) * ndi.gaussian_filter(shade, 20)[..., None])


PERTURBATIONS = {
    "none": lambda image: image,
    "warm white balance (R x1.2, B x0.75)": lambda image: cast(image, (1.2, 1.0, 0.75)),
    "cool white balance (R x0.8, B x1.25)": lambda image: cast(image, (0.8, 1.0, 1.25)),
    "under-exposed x0.5": lambda image: _u8(_f(image) * 0.5),
    "over-exposed x1.5": lambda image: _u8(_f(image) * 1.5),
    "gamma 0.6": lambda image: gamma(image, 0.6), "gamma 1.6": lambda image: gamma(image, 1.6),
    "vignetting 0.6": lambda image: vignette(image, 0.6),
    "defocus σ 2.5": lambda image: defocus(image, 2.5),
    "JPEG quality 25": lambda image: jpeg(image, 25),
    "washed-out colour (saturation x0.4)": lambda image: saturation(image, 0.4),
    "shadow over the left half (x0.5)": lambda image: half_shadow(image, 0.5),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["leaves-semiconv"])
    parser.add_argument("--seeds", type=int, nargs=2, default=(71_000, 71_030), metavar=("FIRST", "STOP"))
    args = parser.parse_args()
    pairs = [rosette(seed) for seed in range(*args.seeds)]
    robustness_table(args.models, ((name, [(change(image), truth) for image, truth in pairs])
                                   for name, change in PERTURBATIONS.items()))


if __name__ == "__main__":
    main()
