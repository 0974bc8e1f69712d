"""Should the size model read its features around the objects only? Two-fold cross-validation over each bundled
model's training images, with sparse copies of them as a new kind of view.

The regression's features are means and spreads of encoder activations over the whole view. On an image with few
objects they are mostly the background's, and the estimate is wild: generated fluorescence fields with 1-19 nuclei
(coverage 0.1-1 %, seeds 20000-20005, looked at while planning this) read as 1.05-3.7 with truth 0.5-1.4, and at
2.5-3.3 the prediction painted 52-78 noise blobs (AP50 with auto 0.47 and 0.84 against 0.58 and 0.96 at size 1);
few_objects.py's sparse training images are off their objects' size by more than 25 % on 64 % of cases. The same
moments weighted by where the objects are (the network's own foreground on the view, dilated by `RADIUS` view
pixels, plus a small weight ``eps`` everywhere) read a sparse image as its objects, and a dense one nearly as now.

As blur_augmented_fit.py and flip_average.py: training images only, split by index parity; each half's regression
estimates the other half's images. The fit is as now (plain views, crops, blurred copies but not for a mask model,
each part in one random orientation); evaluation views are read in all eight orientations (their mean features), as
now. Evaluation keys: whole views made directly at 0.5-3 (`FACTORS`), their central half, views made as the
benchmark makes its resized images at 1.5-3 and 0.5-0.67, and **sparse**: each training image with only its k
largest objects kept (k = 1, 3; few_objects.sparse), viewed directly at 0.5-3; its truth is the kept objects' size
where the size model is fitted with labels (else the factor). Regression alone (no snapping, no second step).
Variants: "default" ("default", unweighted), "w0.01" and "w0.1" (``eps`` 0.01, 0.1).

The rule, written before this ran: a weighted variant qualifies if, against "default", over the seven models (a) the
sparse key's mean share within 20 % rises by at least 10 points, (b) none of the four other keys' mean falls by more
than 1 point, and (c) no model's mean over those four keys falls by more than 3 points. Of those that qualify, the one
with the larger sparse gain is adopted (`SizeModel.fit_weighted`), the bundled size models are refitted
(fit_bundled.py), and bench_object_size.py measures them on the held-out images, with few_objects.py ``--part test``
and sparse generated nuclei fields. None qualifies: nothing changes.

Result (2026-12-07, once): **not adopted**; neither weighted variant reads sparse views better. The sparse key's
mean share within 20 % fell: w0.01 -0.059, w0.1 -0.039 (`ecoli` 0.30 -> 0.10, `worms` 0.84 -> 0.63, `leaves` 0.66
-> 0.57; `worms-mask` 0.03 -> 0.17 with w0.01). The other keys rose (w0.01: central halves +0.097, whole views
+0.021, benchmark-made 1.5-3 +0.039; `worms-mask` 1.00 on all four, `leaves-semiconv` whole views 0.55 -> 0.79), but
`worms` fell (whole views 0.99 -> 0.84): worst model -0.049. An isolated object does not look like a crowd of the same
size, weighted or not; the regression was fitted on crowds only (sparse_fit.py goes on from here). The shares:
foreground_weighted.json.

    OMP_NUM_THREADS=2 python experiments/object_size/foreground_weighted.py [--models worms ...] [--save out.json]
    python experiments/object_size/foreground_weighted.py --verdict out.json
"""

from __future__ import annotations

import augmented_cv
import numpy as np
from crop_augmented_fit import central, direct_views
from few_objects import sparse

from napari_deepcolor.predict.label_sizes import typical_object_size, typical_sizes
from napari_deepcolor.predict.object_size import TURNS, pick_tiles
from napari_deepcolor.predict.size_features import _first_network, _foreground, _unet, _whole_pass, turn
from napari_deepcolor.predict.size_fit import random_blur

#: Dilation of the foreground, view pixels
RADIUS = 4
EPS = {"w0.01": 0.01, "w0.1": 0.1}
KEPT = (1, 3)
KEYS = ("1.0", "0.5", "bench large", "bench small")
EVALUATIONS = (*KEYS, "sparse")


def _weighted_moments(level, weight):
    """Mean and spread per channel of ``level (1, K, h, w)`` weighted by ``weight (1, 1, h, w)``."""
    level = level.float()
    total = weight.sum()
    mean = (level * weight).sum(dim=(2, 3)) / total
    var = ((level - mean[..., None, None]) ** 2 * weight).sum(dim=(2, 3)) / total
    return mean, var.clamp_min(0).sqrt()


def _level_weights(mask, levels, eps):
    """``mask (Y, X)`` float (dilated foreground) + eps, padded as the encoder pads and pooled to each level."""
    import torch.nn.functional as F

    stride = 2 ** (len(levels) - 1)
    height, width = mask.shape
    w = (mask + eps)[None, None]
    w = F.pad(w, (0, -width % stride, 0, -height % stride), mode="replicate")
    return [F.adaptive_avg_pool2d(w, level.shape[-2:]) for level in levels]


def dual_features(model, view: np.ndarray, turns) -> dict[str, np.ndarray] | None:
    """`object_size.view_features` of ``view`` as now ("default") and weighted (`EPS`), from the same passes."""
    import torch
    import torch.nn.functional as F

    if min(view.shape[-2:]) < 8:
        return None
    network = _first_network(model.network)
    unet = _unet(network)
    sums: dict[str, dict[int, np.ndarray]] = {v: {} for v in ("default", *EPS)}
    totals = {v: 0.0 for v in sums}
    with torch.no_grad():
        for part in pick_tiles(view):
            n = part.shape[-1] * part.shape[-2]
            mask = None
            for j, k in enumerate(turns):
                x = torch.from_numpy(np.array(turn(part, k), dtype=np.float32, order="C"))[None]
                if j == 0:
                    levels, out = _whole_pass(network, unet, x)
                    fg = _foreground(out, model.base_config).float().reshape(1, 1, *x.shape[-2:])
                    mask = F.max_pool2d(fg, 2 * RADIUS + 1, stride=1, padding=RADIUS)[0, 0]
                    first = k
                else:
                    levels = unet.encode(x)
                # the mask was read in orientation `first`; bring it to orientation k
                m = torch.from_numpy(np.ascontiguousarray(_reorient(mask.numpy(), first, k)))
                for variant in sums:
                    if variant == "default":
                        moments = [t for level in levels for t in _plain(level)]
                        weight_total = n
                    else:
                        weights = _level_weights(m, levels, EPS[variant])
                        moments = [t for level, w in zip(levels, weights) for t in _weighted_moments(level, w)]
                        weight_total = float((m + EPS[variant]).sum())
                    feats = torch.cat(moments, dim=1)[0].numpy() * weight_total
                    sums[variant][k] = feats if k not in sums[variant] else sums[variant][k] + feats
                    if j == 0:
                        totals[variant] += weight_total
    return {v: np.mean([np.log1p(np.maximum(s / totals[v], 0)) for s in by_turn.values()], axis=0)
            for v, by_turn in sums.items()}


def _plain(level):
    level = level.float().flatten(2)
    return level.mean(dim=2), level.std(dim=2) if level.shape[2] > 1 else level[..., 0] * 0


def _reorient(mask: np.ndarray, source: int, target: int) -> np.ndarray:
    """``mask`` seen in orientation ``source`` (of the part), shown in orientation ``target``."""
    original = _undo(mask, source)
    return turn(original[None], target)[0]


def _undo(mask: np.ndarray, k: int) -> np.ndarray:
    back = np.rot90(mask, -(k % 4))
    return back.T if k >= 4 else back


def rows_of(name: str) -> dict:
    model, config, pairs, relative, rng = augmented_cv.setup(name)
    with_labels = not np.all(relative == 1)
    sizes = typical_sizes([lab for _, lab in pairs], len(pairs)) if with_labels else None
    median = float(np.nanmedian(sizes)) if with_labels else 1.0
    fit, evaluation = [], []
    all_turns = tuple(range(TURNS))

    def features_of(_model, part):
        return dual_features(model, part, (int(rng.integers(TURNS)),))

    for i, (image, labels) in enumerate(pairs):
        extra = (lambda x, r: []) if config.mask_input else (lambda x, r: [("blur", random_blur(x, r))])
        fit += augmented_cv.fitting_rows(model, config, i, image, relative[i], rng, extra, features_of)
        for factor, x, truth in direct_views(config, image, relative[i]):
            for extent in (1.0, 0.5):
                f = dual_features(model, central(x, extent), all_turns)
                if f is not None:
                    evaluation.append((i, factor, str(extent), truth, f))
            if factor != 1:
                view, truth = augmented_cv.bench_view(config, image, factor, relative[i])
                f = dual_features(model, view, all_turns)
                if f is not None:
                    evaluation.append((i, factor, "bench large" if factor >= 1.5 else "bench small", truth, f))
        for k in KEPT:
            few, kept = sparse(image, labels, k, rng, mask=config.mask_input)
            own = typical_object_size(kept) / median if with_labels else 1.0
            for factor, x, truth in direct_views(config, few, own):
                f = dual_features(model, x, all_turns)
                if f is not None:
                    evaluation.append((i, factor, "sparse", truth, f))
        print(f"{name}: image {i + 1} of {len(pairs)}", flush=True)
    return {"fit": fit, "evaluation": evaluation}


def cross_validate(rows: dict) -> dict:
    """`augmented_cv.cross_validate` for each feature variant (all fitting kinds kept)."""
    out = {}
    for variant in ("default", *EPS):
        picked = {"fit": [(i, kind, k, t, np.append(f[variant], 0.0)) for i, kind, k, t, f in rows["fit"]],
                  "evaluation": [(i, factor, what, truth, np.append(f[variant], 0.0))
                                 for i, factor, what, truth, f in rows["evaluation"]]}
        out[variant] = augmented_cv.cross_validate(picked, {"all": lambda kind, k: True},
                                                   lambda factor, what: [what])["all"]
    return out


def verdict(results: dict, variant: str) -> tuple[bool, float]:
    def gain(key):
        return np.array([r[variant][key] - r["default"][key] for r in results.values()])

    sparse_gain = float(gain("sparse").mean())
    keys = {key: float(gain(key).mean()) for key in KEYS}
    per_model = np.mean([gain(key) for key in KEYS], axis=0)
    passed = sparse_gain >= 0.10 and min(keys.values()) >= -0.01 and per_model.min() >= -0.03
    print(f"{variant}: sparse {sparse_gain:+.3f}; " + " ".join(f"{k} {v:+.3f}" for k, v in keys.items())
          + f"; worst model {per_model.min():+.3f}; rule {'met' if passed else 'not met'}")
    return passed, sparse_gain


def main() -> None:
    augmented_cv.main(__doc__, rows_of, {v: None for v in ("default", *EPS)}, None, EVALUATIONS, verdict,
                      "runs/weighted", validate=cross_validate)


if __name__ == "__main__":
    main()
