"""Fit the size model of each bundled model on its own training images and store it in the zoo checkpoint.

Usage (from the repository root; the BBBC010 models need ../shared/data/bbbc010)::

    python experiments/object_size/fit_bundled.py [--models worms ecoli ...] [--with-labels]
    python experiments/object_size/fit_bundled.py --reference-only   # only the second step's reference (a minute)
    python experiments/object_size/fit_bundled.py --models worms-mask --mask-width-only   # a mask model's width

The weights are not touched: the checkpoint is rewritten (atomically) with ``metadata["size_model"]`` added.
What each model is fitted on: `data.py` beside this file.
"""

from __future__ import annotations

import argparse
import time

from data import images_for

from napari_deepcolor.checkpoint import load_checkpoint
from napari_deepcolor.predict.network import load_model
from napari_deepcolor.predict.object_size import METADATA_KEY, SizeModel
from napari_deepcolor.predict.size_fit import fit_size_model, store_size_model
from napari_deepcolor.zoo import bundled_models


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=sorted(bundled_models()))
    parser.add_argument("--with-labels", action="store_true", help="targets from each image's typical object size "
                        "too (fit_size_model's labels), for training images whose objects differ in size")
    parser.add_argument("--spread-only", action="store_true", help="keep each stored size model and measure only its "
                        "spread on the training images as they are (what a full fit ends with; the fit is seeded)")
    parser.add_argument("--extent-only", action="store_true", help="keep each stored size model and add only the "
                        "median extent of its training images (fit_extent, for the field-of-view warning; no network "
                        "pass)")
    parser.add_argument("--reference-only", action="store_true", help="keep each stored size model and add only the "
                        "size of the objects the model decodes on its training images (decoded_reference, for the "
                        "second step of the automatic size)")
    parser.add_argument("--mask-width-only", action="store_true", help="keep each stored size model and add only "
                        "its training masks' object width (mask_width, a mask-input model's size read on the mask; "
                        "no network pass)")
    args = parser.parse_args()
    for name in args.models:
        if args.mask_width_only:
            mask_width_only(name)
            continue
        if args.reference_only:
            reference_only(name)
            continue
        if args.spread_only:
            spread_only(name)
            continue
        if args.extent_only:
            extent_only(name)
            continue
        t0 = time.perf_counter()
        model = load_model(name, device="cpu")
        pairs = images_for(name, "train")
        images = [image for image, _ in pairs]
        labels = [labels for _, labels in pairs] if args.with_labels else None
        size_model = fit_size_model(model, images, labels=labels)
        store_size_model(bundled_models()[name], size_model.to_dict())
        print(f"{name}: {len(images)} images, alpha {size_model.alpha:g}, cross-validated median error "
              f"{size_model.cv_error:.3f}, {time.perf_counter() - t0:.0f} s")


def spread_only(name: str) -> None:
    from dataclasses import replace

    from napari_deepcolor.predict.object_size import size_model_of
    from napari_deepcolor.predict.size_fit import unscaled_spread

    model = load_model(name, device="cpu")
    data = dict(model.metadata[METADATA_KEY])
    stored = SizeModel.from_dict(data)
    spread = unscaled_spread(model, stored, [image for image, _ in images_for(name, "train")])
    updated = replace(stored, unscaled_error90=spread).to_dict()
    store_size_model(bundled_models()[name], updated)
    print(f"{name}: largest error on its training images as they are {spread:.3f}; snap band "
          f"{size_model_of({METADATA_KEY: updated}).snap:.3f}")


def extent_only(name: str) -> None:
    import math

    from napari_deepcolor.predict.size_fit import fit_extent

    path = bundled_models()[name]
    checkpoint = load_checkpoint(path)
    stored = checkpoint.metadata[METADATA_KEY]
    pairs = images_for(name, "train")
    with_labels = math.isfinite(SizeModel.from_dict(stored).object_px)  # fitted with --with-labels
    extent = fit_extent(checkpoint.config, [image for image, _ in pairs],
                        labels=[labels for _, labels in pairs] if with_labels else None)
    store_size_model(path, {**stored, **extent})
    print(f"{name}: training images' median extent {extent['fit_extent']:.0f} network pixels of the estimating "
          f"view; their fields of view {extent['fit_fields'][0]:.2f}-{extent['fit_fields'][1]:.2f}")


def mask_width_only(name: str) -> None:
    from napari_deepcolor.predict.size_fit import fit_mask_width

    path = bundled_models()[name]
    checkpoint = load_checkpoint(path)
    width = fit_mask_width(checkpoint.config, [image for image, _ in images_for(name, "train")])
    if not width:
        print(f"{name}: not a mask-input model (or no foreground): nothing stored")
        return
    store_size_model(path, {**checkpoint.metadata[METADATA_KEY], **width})
    print(f"{name}: its training masks' objects {width['mask_width']:.2f} pixels wide (twice area over perimeter)")


def reference_only(name: str) -> None:
    import math

    from napari_deepcolor.predict.size_fit import decoded_reference

    path = bundled_models()[name]
    model = load_model(path, device="cpu")
    stored = model.metadata[METADATA_KEY]
    pairs = images_for(name, "train")
    with_labels = math.isfinite(SizeModel.from_dict(stored).object_px)  # fitted with --with-labels
    reference = decoded_reference(model, [image for image, _ in pairs],
                                  labels=[labels for _, labels in pairs] if with_labels else None)
    store_size_model(path, {**stored, **reference})
    print(f"{name}: decoded objects on its training images {reference['decoded_px']:.1f} network pixels (median "
          f"√area), tolerance {reference['decoded_tolerance']:.3f}")


if __name__ == "__main__":
    main()
