"""The bundled ``nuclei`` model on a real fluorescent-nuclei image with human labels, which nothing here was chosen
on: StarDist's 2D test image (a 512 x 512 crop of the 2018 Data Science Bowl's stage-1 training set, BBBC038, CC0;
shipped in the ``stardist`` wheel on PyPI, BSD-3). It is not redistributed here: the script downloads the wheel once
(``pip download stardist --no-deps``, no dependencies installed) into a cache folder and reads the two TIFFs from it.

    OMP_NUM_THREADS=2 python experiments/zoo/real_nuclei.py [--cache ~/.cache/deepcolor-real-nuclei] [--figure docs/img/nuclei_real.jpg]

Prints, with the defaults (the model the Segment widget picks for the image, automatic object size, stored knobs):
the picked model and its reason, AP50 / SBD against the classical floors (fixed settings), the object size *auto*
chose, and the same on the image resized by 0.5-2 (nuclei 10-42 px across), where the truth is the resize factor
times the size *auto* gives the image as it is. One image: a check that the generated training data carried over to
a real image, not a score to choose on (nothing was).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import tifffile

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from bench_object_size import resized
from evaluate_zoo import OTSU, WATERSHED, floors

from napari_deepcolor.metrics import evaluate
from napari_deepcolor.predict.network import at_object_size, load_model, segment
from napari_deepcolor.predict.object_size import estimate_object_size
from napari_deepcolor.predict.size_refine import segment_refined
from napari_deepcolor.zoo import bundled_models
from napari_deepcolor.zoo.suggest import suggest_model

MEMBERS = ("stardist/data/images/img2d.tif", "stardist/data/images/mask2d.tif")
FACTORS = (0.5, 0.67, 1.0, 1.5, 2.0)


def image_and_labels(cache: Path) -> tuple[np.ndarray, np.ndarray]:
    """StarDist's 2D nuclei test image and its labels, from the wheel in ``cache`` (downloaded when missing)."""
    cache.mkdir(parents=True, exist_ok=True)
    wheels = sorted(cache.glob("stardist-*.whl"))
    if not wheels:
        subprocess.run([sys.executable, "-m", "pip", "download", "stardist", "--no-deps", "--quiet", "-d", str(cache)],
                       check=True)
        wheels = sorted(cache.glob("stardist-*.whl"))
    with zipfile.ZipFile(wheels[-1]) as wheel:
        image, labels = (tifffile.imread(wheel.open(member)) for member in MEMBERS)
    return image, labels.astype(np.int32)


def auto(model, image: np.ndarray) -> tuple[np.ndarray, float]:
    """The labels with the automatic object size (estimate, then the check on the segmented objects), and the size."""
    size = estimate_object_size(model, image)
    _, size, (instances, _) = segment_refined(model, image, size)
    return instances.labels, size.factor


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "deepcolor-real-nuclei")
    parser.add_argument("--figure", type=Path, help="write the image beside it with the outlines of the result here (PNG or JPEG)")
    args = parser.parse_args()
    image, truth = image_and_labels(args.cache)
    areas = np.bincount(truth.ravel())[1:]
    print(f"image {image.shape} {image.dtype} (values {image.min()}-{image.max()}), {len(areas[areas > 0])} nuclei, "
          f"median {np.median(np.sqrt(areas[areas > 0])):.1f} px across (sqrt area)")
    name, reason = suggest_model(image, bundled_models())
    print(f"picked: {name} ({reason})\n")
    model = load_model(name, device="cpu")
    as_it_is = auto(model, image)
    print("| image | nuclei across (px) | object size *auto* | AP50 *auto* | SBD | AP50 at size 1 | "
          "Otsu components | Otsu + distance watershed |\n|---|---|---|---|---|---|---|---|")
    for factor in FACTORS:
        scaled = image if factor == 1 else resized(image.astype(np.float32), factor, kind="image")
        scaled_truth = truth if factor == 1 else resized(truth, factor, kind="labels")
        labels, size = auto(model, scaled) if factor != 1 else as_it_is
        result = evaluate(scaled_truth, labels)
        at_one = evaluate(scaled_truth, segment(at_object_size(model, 1.0), scaled)[0].labels)["ap50"]
        floor = floors("nuclei", [(scaled, scaled_truth)])
        print(f"| {'as it is' if factor == 1 else f'resized by {factor:g}'} | "
              f"{factor * np.median(np.sqrt(areas[areas > 0])):.0f} | {size:.2f} | {result['ap50']:.3f} | "
              f"{result['sbd']:.3f} | {at_one:.3f} | {floor[OTSU][0]['ap50']:.3f} | {floor[WATERSHED][0]['ap50']:.3f} |",
              flush=True)
        if factor == 1 and args.figure:
            figure(image, labels, args.figure)


def figure(image: np.ndarray, labels: np.ndarray, path: Path) -> None:
    """The image (1st-99.8th percentiles) with the result's outlines in yellow, side by side with the image alone."""
    from PIL import Image
    from skimage.segmentation import find_boundaries

    low, high = np.percentile(image, (1, 99.8))
    gray = (np.clip((image - low) / (high - low), 0, 1) * 255).astype(np.uint8)
    rgb = np.repeat(gray[..., None], 3, axis=-1)
    outlined = rgb.copy()
    outlined[find_boundaries(labels, mode="inner")] = (255, 220, 0)
    side_by_side = np.concatenate([rgb, np.full((rgb.shape[0], 8, 3), 255, np.uint8), outlined], axis=1)
    Image.fromarray(side_by_side).save(path, quality=90)  # quality: JPEG only


if __name__ == "__main__":
    main()
