"""Resizing the images of image-input models with the training resize's anti-aliasing width in network pixels at
every object size, as mask-input models now do (`preprocess.rescale_mask`): chosen on training images only.

`rescale_image` anti-aliases a reduction by ``scale`` with a Gaussian of (1 / scale - 1) / 2 source pixels, which is
(1 - scale) / 2 network pixels: at object size F a model trained at scale s0 sees its input smoothed by
(1 - s0 / F) / 2 network pixels, where in training it was (1 - s0) / 2 (0.25 for `worms` and `leaves`, 0 for the
models trained at scale 1: `ecoli`, `ecoli-semiconv`, `nuclei`). The arm "fixed" smooths by the training's width at
every F (so, for the scale-1 models, not at all), then resizes bilinearly; at F = 1 it is the resize as it is. Only
the predictions change; the size estimate's view is resized as before (its regression was fitted on it).

The rule, written before any of it ran: for each image-input bundled model (`ecoli`, `ecoli-semiconv`, `leaves`,
`leaves-semiconv`, `nuclei`, `worms`), 6 of its training images (`data.images_for(name, "train")`, spread over the
list) resized by 0.5, 0.67, 1.5, 2 and 3 (bench_object_size.py's `resized`); per model, the gain is the mean over the
5 factors of the AP50 with *auto* (estimate, then the second step), "fixed" minus "as is". "fixed" replaces the resize
for image-input models only if the mean of the 6 models' gains is at least +0.01 and no model's gain is below
-0.005.

    OMP_NUM_THREADS=2 python experiments/object_size/image_resampling.py

Result (2026-12-06): gains +0.002 (`ecoli`), +0.000 (`ecoli-semiconv`), +0.008 (`leaves`), +0.000
(`leaves-semiconv`), -0.002 (`nuclei`), +0.000 (`worms`; 3x 0.516 -> 0.535, 2x 0.615 -> 0.603): mean +0.001, not
adopted. Image models are not sensitive to the anti-aliasing width the way the mask model is.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "experiments" / "object_size"))
sys.path.insert(0, str(ROOT / "benchmarks"))
from bench_object_size import _load, _own_size, resized  # noqa: E402
from data import images_for  # noqa: E402

from napari_deepcolor import preprocess as prep  # noqa: E402
from napari_deepcolor.metrics import evaluate  # noqa: E402
from napari_deepcolor.predict import network  # noqa: E402
from napari_deepcolor.predict.object_size import estimate_object_size  # noqa: E402
from napari_deepcolor.predict.size_refine import segment_refined  # noqa: E402

MODELS = ("ecoli", "ecoli-semiconv", "leaves", "leaves-semiconv", "nuclei", "worms")
FACTORS = (0.5, 0.67, 1.5, 2.0, 3.0)
PER_MODEL = 6


def fixed_rescale(image: np.ndarray, scale: float, train_scale: float) -> np.ndarray:
    """``(C, Y, X)`` resized by ``scale`` after a Gaussian as wide in network pixels as the training resize's."""
    from scipy import ndimage
    from skimage.transform import resize

    sigma = max(0.0, (1 - train_scale) / 2) / scale
    if sigma > 0:
        image = ndimage.gaussian_filter(image, (0, sigma, sigma), mode="mirror")
    if scale == 1:
        return image.astype(np.float32, copy=False)
    shape = prep.scaled_shape(image.shape[1:], scale)
    return resize(image, (image.shape[0], *shape), order=1, anti_aliasing=False,
                  preserve_range=True).astype(np.float32)


def fixed_preprocess(image, *, in_channels, percentiles, scale, channel_axis=None, limits=None, clip_max=None,
                     mask_input=False, train_scale=None):
    if mask_input or train_scale is None:
        return prep.preprocess(image, in_channels=in_channels, percentiles=percentiles, scale=scale,
                               channel_axis=channel_axis, limits=limits, clip_max=clip_max, mask_input=mask_input,
                               train_scale=train_scale)
    planes = prep.to_channels_first(image, in_channels, channel_axis=channel_axis)
    planes = prep.normalize(planes, percentiles=percentiles, limits=limits, clip_max=clip_max)
    return fixed_rescale(planes, scale, train_scale)


def cases(name: str, model, object_px: float):
    kind = "mask" if model.config.mask_input else "image"
    train = images_for(name, "train")
    for i in np.linspace(0, len(train) - 1, PER_MODEL).round().astype(int):
        image, truth = train[i]
        own = _own_size(truth, object_px)
        for factor in FACTORS:
            yield factor, resized(image, factor, kind=kind), resized(truth, factor, kind="labels"), factor * own


def main() -> None:
    out = ROOT / "runs" / "image_resampling.jsonl"
    gains = {}
    for name in MODELS:
        model, object_px = _load(name)
        scores = {}
        for arm, function in (("as is", prep.preprocess), ("fixed", fixed_preprocess)):
            network.preprocess = function
            for factor, image, truth, true in cases(name, model, object_px):
                _, size, (instances, _) = segment_refined(model, image, estimate_object_size(model, image))
                auto = evaluate(truth, instances.labels)["ap50"]
                scores.setdefault(arm, {}).setdefault(factor, []).append(auto)
                with open(out, "a") as fh:
                    fh.write(json.dumps({"model": name, "arm": arm, "factor": factor, "true": true,
                                         "size": size.factor, "auto": auto}) + "\n")
        means = {arm: [float(np.mean(scores[arm][f])) for f in FACTORS] for arm in scores}
        gains[name] = float(np.mean(means["fixed"]) - np.mean(means["as is"]))
        for arm in means:
            print(f"{name:16s} {arm:6s} auto AP50 " + "  ".join(f"{f:g}: {a:.3f}" for f, a in zip(FACTORS, means[arm])),
                  flush=True)
        print(f"{name:16s} gain {gains[name]:+.3f}", flush=True)
    mean, worst = float(np.mean(list(gains.values()))), min(gains.values())
    adopted = mean >= 0.01 and worst >= -0.005
    print(f"rule: mean gain {mean:+.3f} (>= 0.01), worst model {worst:+.3f} (>= -0.005): "
          f"{'ADOPT' if adopted else 'do not adopt'}")


if __name__ == "__main__":
    main()
