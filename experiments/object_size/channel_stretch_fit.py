"""Should a color model's size model read each channel stretched on its own? Two-fold cross-validation over training
images.

On training rosettes (seeds 42-71) `leaves-semiconv`'s size model reads a warm white balance as smaller plants
(AP50 0.700 against 0.782 with its earlier size model; docs/scale.md, "Which size model"), and fitting it on casts
too did not help (cast_augmented_fit.py). A white balance multiplies each channel of the photo by its own gain; the
joint normalization keeps that cast, a per-channel one removes it. Here a view's channels are each stretched to their
own percentiles (`stretch_channels`, the model's percentiles) before the encoder reads it, in the fit and in the
estimate alike: a cast's gains then no longer reach the features, but neither does the colour balance of a plain
image, which the regression may have used.

Only the color models (`leaves`, `leaves-semiconv`) and only their training images (`data.images_for(m, "train")`):
split by index parity; a regression fitted on one half (views as now, or every view stretched) estimates the other
half's images resized by 0.5-3, whole, as central halves and quarters, and whole under cast_augmented_fit.py's
evaluation casts (each channel's gain uniform in 0.75-1.3). Regression alone. The same views, crops and casts for both
variants (seeded alike).

The rule, written before this ran (cast_augmented_fit.py's): the stretch becomes part of the size views of every
model with three input channels if, over the two models, the mean share within 20 % on the cast views rises by at
least 5 points, the mean on the uncast views (whole and crops together) falls by at most 2 points, and neither
model's uncast share by more than 5. If it is met, the two bundled size models are refitted with it, and a second gate
decides on training rosettes: `leaves_robustness.py --seeds 42 72 --models leaves-semiconv` must gain at least 0.01
over today's 0.819 (mean over the eleven changes) and lose at most 0.01 on the unchanged rosettes; otherwise the
refit is not kept.

    python experiments/object_size/channel_stretch_fit.py

Result (2026-12-06): not met, not adopted; the second gate was not run. Share within 20 %, joint -> stretched:
`leaves` cast views 0.71 -> 0.68, uncast 0.53 -> 0.41 (whole 0.83 -> 0.68); `leaves-semiconv` cast views 0.42 ->
0.40, uncast 0.43 -> 0.25 (whole 0.49 -> 0.40, quarters 0.31 -> 0.10). Over the two: cast views -0.023, uncast
-0.151. With the colour balance gone the regression loses more than the cast costs it: colour is one of its size cues.
"""

from __future__ import annotations

import numpy as np
from cast_augmented_fit import compare, evaluation_cast, loaded, two_fold_shares
from crop_augmented_fit import EXTENTS, central, direct_views, features, fitting_views

from napari_deepcolor.predict.size_fit import CROP_FRACTION, random_crop
from napari_deepcolor.preprocess import normalize


def stretch_channels(view: np.ndarray, percentiles: tuple[float, float]) -> np.ndarray:
    """Each channel of ``view (C, Y, X)`` normalized to its own ``percentiles`` (a one-channel view as it is)."""
    if view.shape[0] < 2:
        return view
    return np.stack([normalize(channel[None], percentiles=percentiles)[0] for channel in view])


def rows_of(name: str) -> dict:
    model, config, pairs, relative, rng, test_rng = loaded(name)
    fit, evaluation = [], []

    def add(rows: list, key: tuple, view: np.ndarray | None) -> None:
        if view is None:
            return
        for variant, part in (("joint", view), ("stretched", stretch_channels(view, config.percentiles))):
            f = features(model, part)
            if f is not None:
                rows.append((*key, variant, f))

    for i, (image, _) in enumerate(pairs):
        for x, target in fitting_views(config, image, relative[i], rng):
            crop = random_crop(x, rng)
            add(fit, (i, "plain", target), x)
            add(fit, (i, "crop", target), crop if crop.size >= CROP_FRACTION ** 2 * x.size else None)
        for _, x, truth in direct_views(config, image, relative[i]):
            for extent in EXTENTS:
                add(evaluation, (i, str(extent), truth), central(x, extent))
            add(evaluation, (i, "cast", truth), evaluation_cast(x, test_rng, config.percentiles))
    return {"fit": fit, "evaluation": evaluation}


def cross_validate(rows: dict) -> dict:
    out = {}
    for variant in ("joint", "stretched"):
        fit = [(i, target, f) for i, _, target, v, f in rows["fit"] if v == variant]
        out[variant] = two_fold_shares(fit, [(i, what, truth, f) for i, what, truth, v, f in rows["evaluation"]
                                             if v == variant])
    return out


def main() -> None:
    compare(rows_of, cross_validate, "joint", "stretched")


if __name__ == "__main__":
    main()
