"""Should the size model be fitted on sparse copies of its training images too? Two-fold cross-validation over each
bundled model's training images, on foreground_weighted.py's cached rows.

foreground_weighted.py (2026-12-07) found that reading the features around the objects alone does not read sparse
images right: the regression was fitted on dense views only, and an isolated object looks unlike a crowd of the same
size. Its share within 20 % on the sparse views fell for `ecoli` (0.30 -> 0.10) and `leaves` (0.66 -> 0.57). As the
crops and blurred copies taught the regression other extents and sharpness, sparse copies in the fit may teach it
sparsity: each fitting view also gives a sparse copy (the image with k of its objects kept, k drawn from 1-5, the
objects at random, few_objects.sparse; viewed at the same apparent size, in one random orientation), its target the
kept objects' size (where the size model is fitted with labels; else the view's factor).

Evaluation as foreground_weighted.py (same cached evaluation rows, same keys; the sparse evaluation copies keep the
k = 1 and 3 largest objects, and the folds split images by parity, so no image is both fitted and evaluated).
Variants against "default" (the fit as now): "+sparse" (default features), "w0.01+sparse" and "w0.1+sparse"
(foreground-weighted features, foreground_weighted.EPS).

The rule, written before this ran: foreground_weighted.py's (a)-(c): a variant qualifies if, over the seven models,
(a) the sparse key's mean share within 20 % rises by at least 10 points, (b) none of the four other keys' mean falls
by more than 1 point, and (c) no model's mean over those four keys falls by more than 3 points; the one with the
larger sparse gain is adopted, then the bundled size models are refitted and measured on held-out images.

    OMP_NUM_THREADS=2 python experiments/object_size/sparse_fit.py [--models worms ...] [--save out.json]
"""

from __future__ import annotations

import math
import pickle
from pathlib import Path

import augmented_cv
import numpy as np
from crop_augmented_fit import cached_rows, fitting_views
from few_objects import sparse
from foreground_weighted import EPS, EVALUATIONS, dual_features, verdict
from foreground_weighted import rows_of as weighted_rows

from napari_deepcolor.predict.label_sizes import typical_object_size, typical_sizes
from napari_deepcolor.predict.object_size import TURNS, network_view

_cross_validate = augmented_cv.cross_validate
ROOT = Path(__file__).resolve().parents[2]
MAX_KEPT = 5


def sparse_rows(name: str) -> list[tuple]:
    """Fitting rows of the sparse copies: ``(image index, "sparse", view index, target, dual features)``."""
    model, config, pairs, relative, _ = augmented_cv.setup(name)
    rng = np.random.default_rng(1)
    with_labels = not np.all(relative == 1)
    median = float(np.nanmedian(typical_sizes([lab for _, lab in pairs], len(pairs)))) if with_labels else 1.0
    rows = []
    for i, (image, labels) in enumerate(pairs):
        for k, (x, target) in enumerate(fitting_views(config, image, relative[i], rng)):
            few, kept = sparse(image, labels, int(rng.integers(1, MAX_KEPT + 1)), rng, mask=config.mask_input,
                               largest=False)
            own = typical_object_size(kept) / median if with_labels else 1.0
            if not math.isfinite(own):
                continue
            g = x.shape[-1] / np.asarray(image).shape[1] / config.scale  # the view's factor, as fitting_views drew
            view = network_view(config, few, g)
            f = dual_features(model, view, (int(rng.integers(TURNS)),))
            if f is not None:
                rows.append((i, "sparse", k, math.log(view.shape[-1] / np.asarray(image).shape[1] / config.scale
                                                      * own), f))
        print(f"{name}: image {i + 1} of {len(pairs)}", flush=True)
    return rows


def cross_validate(rows: dict) -> dict:
    out = {}
    arms = {"default": ("default", False), "+sparse": ("default", True),
            **{f"{v}+sparse": (v, True) for v in EPS}}
    for arm, (features, with_sparse) in arms.items():
        fit = [r for r in rows["fit"] if with_sparse or r[1] != "sparse"]
        picked = {"fit": [(i, kind, k, t, np.append(f[features], 0.0)) for i, kind, k, t, f in fit],
                  "evaluation": [(i, factor, what, truth, np.append(f[features], 0.0))
                                 for i, factor, what, truth, f in rows["evaluation"]]}
        out[arm] = _cross_validate(picked, {"all": lambda kind, k: True}, lambda factor, what: [what])["all"]
    return out


def rows_with_sparse(name: str) -> dict:
    rows = cached_rows(name, ROOT / "runs" / "weighted", weighted_rows)
    path = ROOT / "runs" / "weighted" / f"sparse_{name}.pkl"
    if not path.exists():
        path.write_bytes(pickle.dumps(sparse_rows(name)))
    return {"fit": rows["fit"] + pickle.loads(path.read_bytes()), "evaluation": rows["evaluation"]}


def main() -> None:
    arms = {"default": None, "+sparse": None, **{f"{v}+sparse": None for v in EPS}}

    def patched(name):
        return rows_with_sparse(name)

    original = augmented_cv.cross_validate
    augmented_cv.cross_validate = lambda rows, variants, keys_of: cross_validate(rows)
    try:
        augmented_cv.main(__doc__, patched, arms, None, EVALUATIONS, verdict, "runs/weighted_sparse")
    finally:
        augmented_cv.cross_validate = original


if __name__ == "__main__":
    main()
