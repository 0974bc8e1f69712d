"""Resampling a foreground mask for a mask-input model (`worms-mask`) with the blur of its training resize, in
network pixels, at every object size: chosen on training wells only.

Why: `worms-mask`'s AP50 swings by up to 0.077 between object sizes 2-5 % apart (size_sensitivity.py), and *auto*
misses the true size's AP50 by 0.08-0.11 at 0.5x and 3x (docs/scale.md). The network was trained on masks resized by
its scale (0.5) with scikit-image's anti-aliasing: a Gaussian of σ = (1/0.5 - 1) / 2 = 0.5 source pixels, 0.25
network pixels. At object size F the mask is resized by 0.5 / F with σ = (F/0.5 - 1) / 2 source pixels: none at
F = 0.5 (a crisp mask, which the network never saw), 0.42 network pixels at F = 3 (softer edges than in training).
The arm "fixed" blurs by the training's 0.25 network pixels (σ = 0.25 · F / 0.5 source pixels) at every F, then
resizes bilinearly; at F = 1 that is exactly the resize as it is (checked below). Only the predictions change; the
size estimate's view is resized as before (its regression was fitted on it).

The rule, written before any of it ran: on 8 training wells (spread over the 39, as in size_sensitivity.py), resized
by 0.5, 0.67, 1.5, 2 and 3 (masks: linear resize, then > 0.5, as bench_object_size.py does), "fixed" replaces the
resize for mask-input models only if its AP50 with *auto* (estimate, then the second step), averaged over those 5
factors, beats the resize as it is by at least 0.01, and no factor's *auto* AP50 drops by more than 0.01. Also
printed, not part of the rule: AP50 at the true size, and the spread of AP50 over sizes 2-5 % around the truth at 0.5
and 3.

    OMP_NUM_THREADS=2 python experiments/object_size/mask_resampling.py
    OMP_NUM_THREADS=2 python experiments/object_size/mask_resampling.py --arms fixed source

A second arm, "source", written after the first was adopted and before it ran: the training pipeline itself. The
mask is brought to the training masks' own resolution (objects at object size 1: resized by 1 / F, bilinear with
anti-aliasing, then > 0.5, a crisp mask as the annotations were), then resized by the model's scale exactly as in
training (`rescale_image`). At F = 0.5 the network then sees the soft edges of a 2:1 reduction, as in training,
where "fixed" gives it the crisp mask. The rule: "source" replaces "fixed" only if its *auto* AP50 over the same 8
wells and 5 factors beats "fixed" by at least 0.01 on average, and no factor drops by more than 0.01.

Result (2026-12-06): mean gain +0.013, worst factor +0.000: adopted as `preprocess.rescale_mask`. (The reasoning above
holds for the Gaussian's width, not for the edges the network sees: after the bilinear step, edges of masks shrunk 6
times come out steeper than at the training scale, and at F = 0.5 the 0.25-pixel Gaussian changes nothing. The rule
was on AP50, and AP50 moved as it says.)
"source" against "fixed" (2026-12-06): auto AP50 0.758 / 0.849 / 0.806 / 0.848 / 0.908 at 0.5 / 0.67 / 1.5 / 2 / 3
against 0.735 / 0.855 / 0.846 / 0.865 / 0.903, mean -0.007, worst factor -0.041: not adopted.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "experiments" / "object_size"))
sys.path.insert(0, str(ROOT / "benchmarks"))
from bench_object_size import resized  # noqa: E402
from data import images_for  # noqa: E402

import napari_deepcolor.predict.network as network  # noqa: E402
from napari_deepcolor import preprocess as prep  # noqa: E402
from napari_deepcolor.metrics import evaluate  # noqa: E402
from napari_deepcolor.predict.object_size import estimate_object_size  # noqa: E402
from napari_deepcolor.predict.size_refine import segment_refined  # noqa: E402

FACTORS = (0.5, 0.67, 1.5, 2.0, 3.0)
GRID = {0.5: (0.48, 0.5, 0.52), 3.0: (2.9, 3.0, 3.1)}
TRAIN_SCALE = 0.5  # worms-mask's scale: the training resize's blur is (1 - 0.5) / 2 = 0.25 network pixels


def fixed_rescale(image: np.ndarray, scale: float) -> np.ndarray:
    """``(C, Y, X)`` resized by ``scale`` after a Gaussian of the training resize's width in network pixels."""
    from scipy import ndimage
    from skimage.transform import resize

    if scale == 1 and TRAIN_SCALE == 1:
        return image
    sigma = (1 - TRAIN_SCALE) / 2 / scale  # source pixels
    blurred = ndimage.gaussian_filter(image, (0, sigma, sigma), mode="mirror")
    shape = prep.scaled_shape(image.shape[1:], scale)
    return resize(blurred, (image.shape[0], *shape), order=1, anti_aliasing=False,
                  preserve_range=True).astype(np.float32)


def fixed_preprocess(image, *, in_channels, percentiles, scale, channel_axis=None, limits=None, clip_max=None,
                     mask_input=False, train_scale=None):
    if not mask_input:
        return prep.preprocess(image, in_channels=in_channels, percentiles=percentiles, scale=scale,
                               channel_axis=channel_axis, limits=limits, clip_max=clip_max)
    planes = prep.to_channels_first(image, in_channels, channel_axis=channel_axis)
    return fixed_rescale(prep.binarize(planes), scale)


def source_preprocess(image, *, in_channels, percentiles, scale, channel_axis=None, limits=None, clip_max=None,
                      mask_input=False, train_scale=None):
    if not mask_input:
        return prep.preprocess(image, in_channels=in_channels, percentiles=percentiles, scale=scale,
                               channel_axis=channel_axis, limits=limits, clip_max=clip_max)
    planes = prep.binarize(prep.to_channels_first(image, in_channels, channel_axis=channel_axis))
    source = planes if scale == TRAIN_SCALE else (prep.rescale_image(planes, scale / TRAIN_SCALE) > 0.5)
    return prep.rescale_image(source.astype(np.float32), TRAIN_SCALE)


def as_it_was(image, **kwargs):
    """The resize before "fixed" was adopted (`preprocess.rescale_mask`, 2026-12-06): scikit-image's own."""
    return prep.preprocess(image, **{**kwargs, "train_scale": None})


def run(model, cases, arm: str) -> dict:
    network.preprocess = {"fixed": fixed_preprocess, "source": source_preprocess, "as is": as_it_was}[arm]
    out = {}
    for factor, image, truth in cases:
        size = estimate_object_size(model, image)
        _, size, (instances, _) = segment_refined(model, image, size)
        auto = evaluate(truth, instances.labels)["ap50"]
        true = evaluate(truth, network.segment(network.at_object_size(model, factor), image)[0].labels)["ap50"]
        grid = [evaluate(truth, network.segment(network.at_object_size(model, s), image)[0].labels)["ap50"]
                for s in GRID.get(factor, ())]
        out.setdefault(factor, []).append((auto, true, grid, size.factor))
    return out


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser()
    parser.add_argument("--arms", nargs=2, default=["as is", "fixed"], help="the one in place, and the candidate")
    arms = parser.parse_args().arms
    model = network.load_model("worms-mask", device="cpu")
    train = images_for("worms-mask", "train")
    picked = [train[i] for i in np.linspace(0, len(train) - 1, 8).round().astype(int)]
    # at object size 1 (scale 0.5 exactly) the two resizes agree
    image = prep.binarize(prep.to_channels_first(picked[0][0], 1))
    print("size 1: largest difference", float(np.abs(fixed_rescale(image, 0.5) - prep.rescale_image(image, 0.5)).max()))
    print("the plugin's rescale_mask against this arm at size 3: largest difference",
          float(np.abs(fixed_rescale(image, 0.5 / 3) - prep.rescale_mask(image, 0.5 / 3, train_scale=0.5)).max()))
    cases = [(f, resized(im, f, kind="mask"), resized(tr, f, kind="labels")) for f in FACTORS for im, tr in picked]
    results = {arm: run(model, cases, arm) for arm in arms}
    means = {}
    for arm, rows in results.items():
        autos = [np.mean([r[0] for r in rows[f]]) for f in FACTORS]
        means[arm] = autos
        print(f"{arm:6s} auto AP50 " + "  ".join(f"{f:g}: {a:.3f}" for f, a in zip(FACTORS, autos))
              + f"  mean {np.mean(autos):.3f}")
        print(f"{arm:6s} true AP50 " + "  ".join(f"{f:g}: {np.mean([r[1] for r in rows[f]]):.3f}" for f in FACTORS))
        print(f"{arm:6s} auto sizes " + "  ".join(f"{f:g}: {np.median([r[3] for r in rows[f]]):.2f}" for f in FACTORS))
        for f, sizes in GRID.items():
            grid = np.mean([r[2] for r in rows[f]], axis=0)
            print(f"{arm:6s} at {f:g}x, sizes {sizes}: " + " ".join(f"{g:.3f}" for g in grid)
                  + f"  (spread {grid.max() - grid.min():.3f})")
    base, candidate = arms
    gain = np.mean(means[candidate]) - np.mean(means[base])
    worst = min(a - b for a, b in zip(means[candidate], means[base]))
    adopted = gain >= 0.01 and worst >= -0.01
    print(f"rule, {candidate} against {base}: mean gain {gain:+.3f} (>= 0.01), worst factor {worst:+.3f} (>= -0.01): "
          f"{'ADOPT' if adopted else 'do not adopt'}")


if __name__ == "__main__":
    main()
