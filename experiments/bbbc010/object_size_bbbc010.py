"""What `--object-size` buys: the BBBC010 validation wells enlarged or shrunk, segmented with and without it.

Usage::

    python experiments/bbbc010/object_size_bbbc010.py [--data ../shared/data/bbbc010/train] [--models worms worms-mask]

Each of the 10 validation wells (`bbbc010_split.py`) and its per-worm masks are resized by a factor (image
bilinear, masks and the mask model's foreground nearest), as if imaged at another magnification; each model then
segments them at object size 1 (as bundled) and at object size = the factor. Prints a markdown table of AP50 and
SBD over the wells, and the median time per image.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from bbbc010_split import DEFAULT_DATA, read_input, validation_pairs
from skimage.transform import resize

from napari_deepcolor.io import read_mask_stack
from napari_deepcolor.metrics import evaluate, summarize
from napari_deepcolor.predict.network import load_model, segment

FACTORS = (0.75, 1.0, 1.5, 2.0)


def resized(array: np.ndarray, factor: float, *, nearest: bool) -> np.ndarray:
    """``array`` (Y, X) or (N, Y, X) with its last two axes resized by ``factor``."""
    shape = (*array.shape[:-2], *(round(s * factor) for s in array.shape[-2:]))
    if factor == 1:
        return array
    out = resize(array, shape, order=0 if nearest else 1, anti_aliasing=not nearest and factor < 1,
                 preserve_range=True)
    return out.astype(array.dtype)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--models", nargs="+", default=["worms", "worms-mask"])
    parser.add_argument("--factors", nargs="+", type=float, default=FACTORS)
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()

    pairs = validation_pairs(args.data)
    truths = [read_mask_stack(annotation) for _, annotation in pairs]
    print(f"validation wells: {', '.join(image.stem for image, _ in pairs)}\n")
    print("| model | wells resized by | object size | AP50 | SBD | median s per image |\n|---|---|---|---|---|---|")
    for name in args.models:
        mask_input = load_model(name, device="cpu").config.mask_input
        inputs = [read_input(image, mask_input=mask_input) for image, _ in pairs]
        if mask_input:  # the RGBA annotation as one 2D mask, so that it resizes as an image does
            inputs = [(image[..., 0] > 0).astype(np.uint8) for image in inputs]
        for factor in args.factors:
            images = [resized(image, factor, nearest=mask_input) for image in inputs]
            wells = [resized(truth, factor, nearest=True) for truth in truths]
            for object_size in sorted({1.0, factor}):
                model = load_model(name, device=args.device, object_size=object_size)
                results, seconds = [], []
                for image, truth in zip(images, wells):
                    start = time.perf_counter()
                    instances, _ = segment(model, image)
                    seconds.append(time.perf_counter() - start)
                    results.append(evaluate(truth, instances.labels))
                s = summarize(results)
                print(f"| `{name}` | {factor:g} | {object_size:g} | {s['ap50']:.3f} | {s['sbd']:.3f} | "
                      f"{np.median(seconds):.2f} |", flush=True)


if __name__ == "__main__":
    main()
