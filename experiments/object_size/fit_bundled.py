"""Fit the size model of each bundled model on its own training images and store it in the zoo checkpoint.

Usage (from the repository root; the BBBC010 models need ../shared/data/bbbc010)::

    python experiments/object_size/fit_bundled.py [--models worms ecoli ...]

The weights are not touched: the checkpoint is rewritten (atomically) with ``metadata["size_model"]`` added.
What each model is fitted on: `data.py` beside this file.
"""

from __future__ import annotations

import argparse
import time

from data import images_for

from napari_deepcolor.checkpoint import load_checkpoint, save_checkpoint
from napari_deepcolor.predict.network import load_model
from napari_deepcolor.predict.object_size import METADATA_KEY, fit_size_model
from napari_deepcolor.zoo import bundled_models


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=sorted(bundled_models()))
    args = parser.parse_args()
    for name in args.models:
        t0 = time.perf_counter()
        model = load_model(name, device="cpu")
        images = [image for image, _ in images_for(name, "train")]
        size_model = fit_size_model(model, images)
        path = bundled_models()[name]
        checkpoint = load_checkpoint(path)
        checkpoint.metadata[METADATA_KEY] = size_model.to_dict()
        save_checkpoint(path, checkpoint)
        print(f"{name}: {len(images)} images, alpha {size_model.alpha:g}, cross-validated median error "
              f"{size_model.cv_error:.3f}, {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
