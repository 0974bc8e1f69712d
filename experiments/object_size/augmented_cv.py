"""What the cross-validations of the size fit's augmentations share (mosaic_augmented_fit.py, blur_augmented_fit.py):
a model's training images and random state, the two-fold cross-validation of fitting variants, and the command line.

A fitting row is ``(image index, kind, view index, target, features)``, an evaluation row ``(image index, factor,
what, true size, features)``; a variant keeps the fitting rows ``keep(kind, view index)`` says, and its regression's
errors are those of its "plain" rows, as `size_fit.fit_size_model` reports them.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from crop_augmented_fit import cached_rows, features, fitting_views, training_pairs

from napari_deepcolor.predict.network import load_model
from napari_deepcolor.predict.object_size import VIEW_REDUCTION, network_view
from napari_deepcolor.predict.ridge import ridge_fit
from napari_deepcolor.predict.size_fit import _fitting_parts
from napari_deepcolor.zoo import bundled_models

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from bench_object_size import resized  # noqa: E402


def setup(name: str):
    """``(model, config, training pairs, their relative object sizes, rng)`` for a bundled model's rows."""
    model = load_model(name, device="cpu")
    pairs, relative = training_pairs(model, name)
    return model, model.base_config, pairs, relative, np.random.default_rng(0)


def fitting_rows(model, config, i: int, image, relative: float, rng: np.random.Generator,
                 extra: Callable[[np.ndarray, np.random.Generator], list],
                 features_of: Callable[[object, np.ndarray], np.ndarray | None] = features) -> list[tuple]:
    """Fitting rows of image ``i``: each of its views, a random crop of it (kept as `size_fit.fit_size_model` keeps
    it: `size_fit._fitting_parts`), then the ``(kind, part)`` pairs ``extra(view, rng)`` makes of it; each part's
    features are ``features_of(model, part)``."""
    rows = []
    for k, (x, target) in enumerate(fitting_views(config, image, relative, rng)):
        kinds = list(zip(("plain", "crop"), _fitting_parts(x, rng, crops=True, blurs=False)))
        for kind, part in kinds + extra(x, rng):
            f = features_of(model, part)
            if f is not None:
                rows.append((i, kind, k, target, f))
    return rows


def bench_view(config, image: np.ndarray, factor: float, relative: float) -> tuple[np.ndarray, float]:
    """The training image resized by ``factor`` as bench_object_size.py resizes it, viewed as the estimate reads it,
    and the size its objects show against the training objects."""
    big = resized(image, factor, kind="mask" if config.mask_input else "image")
    return network_view(config, big, VIEW_REDUCTION), big.shape[1] / np.asarray(image).shape[1] * relative


def cross_validate(rows: dict, variants: dict[str, Callable], keys_of: Callable[[float, object], list[str]]) -> dict:
    """Share within 20 % per variant and evaluation key (``keys_of(factor, what)``), each half's regression (images
    split by index parity) on the other half's images."""
    out = {}
    for variant, keep in variants.items():
        hits: dict[str, list[bool]] = {}
        kept = [r for r in rows["fit"] if keep(r[1], r[2])]
        for fold in (0, 1):
            train = [r for r in kept if r[0] % 2 != fold]
            fitted = ridge_fit(np.array([r[4][:-1] for r in train]), np.array([r[3] for r in train]),
                               np.array([r[0] for r in train]), np.array([r[1] == "plain" for r in train]))
            for i, factor, what, truth, f in rows["evaluation"]:
                if i % 2 == fold:
                    z = (f[:-1] - fitted["mean"]) / fitted["std"]
                    estimate = math.exp(z @ fitted["weights"] + fitted["bias"]) / VIEW_REDUCTION
                    for key in keys_of(factor, what):
                        hits.setdefault(key, []).append(max(estimate / truth, truth / estimate) <= 1.2)
        out[variant] = {e: float(np.mean(h)) for e, h in hits.items()}
    return out


def load_results(paths: list[str]) -> dict:
    """The per-model results of ``--save`` files, merged."""
    return {k: v for path in paths for k, v in json.loads(Path(path).read_text()).items()}


def main(doc: str, rows_of: Callable[[str], dict], variants: dict[str, Callable], keys_of: Callable, shown: tuple,
         verdict: Callable[[dict, str], tuple[bool, float]], cache: str,
         validate: Callable[[dict], dict] | None = None) -> None:
    """The scripts' command line: measure (``--models``, rows cached in ``--cache``) or ``--verdict`` saved results;
    prints each model's shares (the ``shown`` keys), each variant's verdict and the one adopted. ``validate(rows)``
    replaces `cross_validate` (scripts whose variants differ in their features, not in the rows kept)."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=sorted(bundled_models()))
    parser.add_argument("--save")
    parser.add_argument("--cache", default=cache, help="folder for each model's features (reused)")
    parser.add_argument("--verdict", nargs="+", help="only the verdict, from these --save files")
    args = parser.parse_args()
    if args.verdict:
        results = load_results(args.verdict)
    else:
        results = {}
        for name in args.models:
            t0 = time.perf_counter()
            rows = cached_rows(name, Path(args.cache), rows_of)
            results[name] = r = validate(rows) if validate else cross_validate(rows, variants, keys_of)
            print(f"{name}: within 20 % " + "; ".join(f"{v} " + " ".join(f"{k} {r[v][k]:.2f}" for k in shown)
                                                      for v in variants)
                  + f" ({time.perf_counter() - t0:.0f} s)", flush=True)
            if args.save:
                Path(args.save).write_text(json.dumps(results, indent=1))
    print(f"{len(results)} models")
    verdicts = {v: verdict(results, v) for v in variants if v != "default"}
    met = [v for v, (passed, _) in verdicts.items() if passed]
    print("adopted:", max(met, key=lambda v: verdicts[v][1]) if met else "none")
