"""Should the size estimate average the regression over flips and rotations of its view? Two-fold cross-validation
over each bundled model's training images.

The regression is not invariant to the view's orientation: its features are spatial means and spreads of encoder
activations, and the encoder's kernels are not symmetric. The real E. coli colony tiled 2 x 2 reads as 1.46, the
same tiles flipped as 1.0 and turned by 180° as 1.34. The network was trained on flipped and turned images, so
every orientation of a view is as good a reading as the view itself; the regression is linear in its features, so
the mean of its log estimate over orientations is its estimate on the mean features, and that mean can only lower
its squared error where the orientations' errors are alike (Jensen).

As blur_augmented_fit.py: training images only, split by index parity; each half's regression (the fit as it is now:
plain views, crops and blurred copies, the rows cached by blur_augmented_fit.py in runs/blur) estimates the other
half's images at 0.5-3 (`FACTORS`): whole views made directly, their central half, and views made as the benchmark
makes its resized images. Regression alone: no snapping, no second step. Each evaluation view is read in the eight
orientations of the square (`ORIENTATIONS`); an arm averages the log estimate over some of them (`ARMS`).

The rule, written before this ran: against the single orientation (arm "1", as now), over the seven models and the
four evaluation keys (whole, central half, benchmark-made at 1.5-3, benchmark-made at 0.5-0.67), an arm qualifies if
(a) the mean share within 20 % rises by at least 2 points, (b) no key's mean over the models falls by more than 1
point, and (c) no model's mean over the keys falls by more than 3 points. Of the arms that qualify, the one with the
fewest orientations whose gain is within 1 point of the largest gain is adopted for `estimate_object_size`. It is
then confirmed on the full automatic path (regression, snapping, second step) on refine_tolerance.py's 195 training
cases: its mean AP50 must not fall below the single orientation's by more than 0.003, else nothing is adopted.
Held-out images (bench_object_size.py) are measured only afterwards.

Result (2026-12-07): no arm qualified. Mean gains +0.006 to +0.012 (central halves +0.018 to +0.055), but `worms`
fell by 0.066-0.128 (its whole wells within 20 % 0.96 -> 0.75 with eight orientations, enlarged 0.5-0.67 wells 0.67
-> 0.31), `nuclei` by up to 0.064 with four. `ecoli`, `ecoli-semiconv` and `leaves` gained 0.03-0.07 with every
arm. The regression was fitted on views in the training images' own orientation; BBBC010 wells are all lit and
framed alike, and it reads turned wells as other sizes.

The second variant (``--oriented-fit``), written before it ran: the same fit, but each fitting part (plain view,
crop, blurred copy: the same views as now) read in one of the eight orientations, drawn at random, with its target;
then each arm averages the estimate as above ("o1": the view as it is, ... "o8"). Against the fit and estimate as
they are (arm "1"), by the same rule (a)-(c) among the "o" arms, and the same choice of the fewest orientations;
then the same confirmation on the 195 training cases with the bundled size models refitted that way.

Result (2026-12-07): "o8" adopted (`size_fit.fit_size_model`'s ``turns``, `SizeModel.fit_turned`). Against arm "1",
over seven models: mean +0.046 (whole views +0.044, central halves +0.042, benchmark-made 1.5-3 +0.037, 0.5-0.67
+0.061), worst model +0.001 (`leaves-semiconv`); "o4" +0.033 and "o2T" +0.017 (worst -0.024). Per model, whole views
0.85 -> 0.95 (`ecoli-semiconv`), 0.84 -> 0.92 (`leaves`), 0.78 -> 0.83 (`nuclei`); `worms-mask`'s central halves
0.59 -> 0.80; `worms` at 0.5-0.67 fell 0.67 -> 0.59 and `leaves-semiconv`'s 0.55 -> 0.49. The shares:
flip_average_a.json and flip_average_b.json (``--oriented-fit --verdict`` them). Confirmed: after refitting the seven
bundled size models (fit_bundled.py), the full automatic path on refine_tolerance.py's 195 training cases gave mean
AP50 0.7862 against 0.7797, 1.34 predictions per case against 1.37 (flip_confirm_before.jsonl,
flip_confirm_after.jsonl: ``refine_tolerance.py --replay`` them).

    OMP_NUM_THREADS=1 python experiments/object_size/flip_average.py --models worms nuclei ... --save a.json
    OMP_NUM_THREADS=1 python experiments/object_size/flip_average.py --oriented-fit --models ... --save o.json
    python experiments/object_size/flip_average.py --verdict a.json b.json
"""

from __future__ import annotations

import argparse
import json
import math
import pickle
import time
from pathlib import Path

import augmented_cv
import numpy as np
from crop_augmented_fit import cached_rows, central, direct_views, training_pairs

from napari_deepcolor.predict.network import load_model
from napari_deepcolor.predict.object_size import VIEW_REDUCTION, network_view, pick_tiles, view_features
from napari_deepcolor.predict.ridge import ridge_fit
from napari_deepcolor.predict.size_fit import random_blur
from napari_deepcolor.zoo import bundled_models

#: The eight orientations of the square, as functions of a view ``(C, Y, X)``
ORIENTATIONS = {
    "id": lambda x: x, "ud": lambda x: x[:, ::-1], "lr": lambda x: x[:, :, ::-1], "rot180": lambda x: x[:, ::-1, ::-1],
    "T": lambda x: x.transpose(0, 2, 1), "Tud": lambda x: x.transpose(0, 2, 1)[:, ::-1],
    "Tlr": lambda x: x.transpose(0, 2, 1)[:, :, ::-1], "Trot180": lambda x: x.transpose(0, 2, 1)[:, ::-1, ::-1]}
ARMS = {"1": ("id",), "2": ("id", "rot180"), "2T": ("id", "T"), "4": ("id", "ud", "lr", "rot180"),
        "8": tuple(ORIENTATIONS)}
KEYS = ("1.0", "0.5", "bench large", "bench small")


def encoder_features(model, tiles) -> np.ndarray:
    """`object_size.view_features`'s features of ``tiles``, from the encoder alone (no decoder, no foreground)."""
    import torch

    from napari_deepcolor.predict.size_features import _first_network, _moments, _unet

    unet = _unet(_first_network(model.network))
    sums, pixels = None, 0
    with torch.no_grad():
        for part in tiles:
            x = torch.from_numpy(np.ascontiguousarray(part, dtype=np.float32))[None]
            n = part.shape[-1] * part.shape[-2]
            feats = torch.cat([m for level in unet.encode(x) for m in _moments(level)], dim=1)[0].numpy() * n
            sums = feats if sums is None else sums + feats
            pixels += n
    return np.log1p(np.maximum(sums / pixels, 0))


def oriented(model, view: np.ndarray) -> np.ndarray | None:
    """Features of ``view`` in each orientation, ``(8, F)``; None for a view too small to read."""
    if min(view.shape[-2:]) < 8:
        return None
    tiles = pick_tiles(view)
    return np.stack([encoder_features(model, [turn(t) for t in tiles]) for turn in ORIENTATIONS.values()])


def evaluation_rows(name: str) -> list[tuple]:
    """``(image index, factor, key, true size, features (8, F))`` of every evaluation view of each training image."""
    model = load_model(name, device="cpu")
    config = model.base_config
    pairs, relative = training_pairs(model, name)
    first = network_view(config, pairs[0][0], VIEW_REDUCTION)
    check = view_features(model, pick_tiles(first))[0]
    assert np.allclose(oriented(model, first)[0], check, atol=1e-4), "encoder features differ from view_features"
    rows = []
    for i, (image, _) in enumerate(pairs):
        for factor, x, truth in direct_views(config, image, relative[i]):
            for extent in (1.0, 0.5):
                f = oriented(model, central(x, extent))
                if f is not None:
                    rows.append((i, factor, str(extent), truth, f))
            if factor != 1.0:
                view, truth = augmented_cv.bench_view(config, image, factor, relative[i])
                f = oriented(model, view)
                if f is not None:
                    rows.append((i, factor, "bench large" if factor >= 1.5 else "bench small", truth, f))
    return rows


def oriented_fit_rows(name: str) -> list[tuple]:
    """The fitting rows of blur_augmented_fit.py (the same views, crops and blurred copies: the same random draws),
    each part read in one orientation drawn at random."""
    model, config, pairs, relative, rng = augmented_cv.setup(name)
    turns = np.random.default_rng(1)  # its own draws: the views stay those of the cache

    def features_of(model, part):
        if min(part.shape[-2:]) < 8:
            return None
        turn = list(ORIENTATIONS.values())[turns.integers(len(ORIENTATIONS))]
        return np.append(encoder_features(model, [turn(t) for t in pick_tiles(part)]), 0.0)  # no extent feature

    rows = []
    for i, (image, _) in enumerate(pairs):
        rows += augmented_cv.fitting_rows(model, config, i, image, relative[i], rng,
                                          lambda x, rng: [] if config.mask_input else [("blur", random_blur(x, rng))],
                                          features_of=features_of)
    return rows


def cross_validate(fit: list[tuple], evaluation: list[tuple], prefix: str = "") -> dict:
    """Share within 20 % per arm and key, each half's regression (fitted on ``fit``) on the other half's views; the
    arms' names with ``prefix``."""
    names = list(ORIENTATIONS)
    hits: dict[str, dict[str, list[bool]]] = {prefix + arm: {k: [] for k in KEYS} for arm in ARMS}
    for fold in (0, 1):
        train = [r for r in fit if r[0] % 2 != fold]
        fitted = ridge_fit(np.array([r[4][:-1] for r in train]), np.array([r[3] for r in train]),
                           np.array([r[0] for r in train]), np.array([r[1] == "plain" for r in train]))
        for i, _, key, truth, f in evaluation:
            if i % 2 != fold:
                continue
            logs = ((f - fitted["mean"]) / fitted["std"]) @ fitted["weights"] + fitted["bias"]
            for arm, chosen in ARMS.items():
                estimate = math.exp(np.mean([logs[names.index(o)] for o in chosen])) / VIEW_REDUCTION
                hits[prefix + arm][key].append(max(estimate / truth, truth / estimate) <= 1.2)
    return {arm: {k: float(np.mean(h)) for k, h in by_key.items()} for arm, by_key in hits.items()}


def verdict(results: dict, candidates: list[str]) -> str | None:
    """The arm of ``candidates`` the rule adopts (None: the single orientation stays), with each arm's gains
    printed."""
    gains = {}
    for arm in candidates:
        per = np.array([[r[arm][k] - r["1"][k] for k in KEYS] for r in results.values()])  # models x keys
        passed = per.mean() >= 0.02 and per.mean(axis=0).min() >= -0.01 and per.mean(axis=1).min() >= -0.03
        print(f"arm {arm}: mean {per.mean():+.3f}; keys " + " ".join(f"{k} {g:+.3f}" for k, g in
                                                                   zip(KEYS, per.mean(axis=0)))
              + f"; worst model {per.mean(axis=1).min():+.3f}; {'qualifies' if passed else 'does not qualify'}")
        if passed:
            gains[arm] = float(per.mean())
    if not gains:
        return None
    best = max(gains.values())
    return min((arm for arm, g in gains.items() if g >= best - 0.01), key=lambda arm: len(ARMS[arm.lstrip("o")]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=sorted(bundled_models()))
    parser.add_argument("--save")
    parser.add_argument("--cache", default="runs/flips")
    parser.add_argument("--fit-cache", default="runs/blur", help="blur_augmented_fit.py's cached rows")
    parser.add_argument("--verdict", nargs="+")
    parser.add_argument("--oriented-fit", action="store_true", help="the second variant")
    args = parser.parse_args()
    candidates = [("o" if args.oriented_fit else "") + arm for arm in ARMS if args.oriented_fit or arm != "1"]
    if args.verdict:
        results = augmented_cv.load_results(args.verdict)
    else:
        results = {}
        for name in args.models:
            t0 = time.perf_counter()
            fit_rows = pickle.loads((Path(args.fit_cache) / f"rows_{name}.pkl").read_bytes())["fit"]
            evaluation = cached_rows(name, Path(args.cache), evaluation_rows)
            results[name] = r = cross_validate(fit_rows, evaluation)
            if args.oriented_fit:
                r |= cross_validate(cached_rows(name, Path(args.cache) / "fit", oriented_fit_rows), evaluation, "o")
            print(f"{name}: " + "; ".join(f"{arm} " + " ".join(f"{k} {r[arm][k]:.2f}" for k in KEYS) for arm in r)
                  + f" ({time.perf_counter() - t0:.0f} s)", flush=True)
            if args.save:
                Path(args.save).write_text(json.dumps(results, indent=1))
    print("adopted:", verdict(results, candidates))


if __name__ == "__main__":
    main()
