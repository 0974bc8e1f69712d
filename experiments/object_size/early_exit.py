"""Can the size estimate stop after its first orientation when that already reads about 1? Two-fold cross-validation
over each bundled model's training images, on flip_average.py's cached features.

The estimate reads a view in the eight orientations of the square (one network pass, seven encoder passes: about
2.3 network passes more than the first), which raised *auto*'s cost to a median 2.4 predictions (issue 22 asks for
one extra pass at reduced resolution). Most images a user segments are at the model's own size, where the estimate
ends at 1 anyway. The candidate: read the first orientation; if the regression's estimate from it alone is within a
band ``b`` of 1, take it (the snap band then makes it 1 in nearly every case); else read the other seven and average,
as now.

As flip_average.py ``--oriented-fit``: each half's regression (fitted on the oriented fitting rows, cached in
runs/flips/fit) estimates the other half's evaluation views (runs/flips: whole views made directly at 0.5-3, their
central half, views made as the benchmark makes them at 1.5-3 and 0.5-0.67), each with its features in all eight
orientations. Arm "o8" is the estimate as it is; "exit b" the candidate, b in `BANDS`.

The rule, written before this ran: an "exit b" arm qualifies if, against "o8", (a) no key's mean share within 20 %
over the seven models falls by more than 0.005, and (b) no model's mean over the keys falls by more than 0.01. The
widest qualifying band is adopted, then confirmed with the full automatic path on refine_tolerance.py's 195 training
cases (mean AP50 may not fall by more than 0.003), and the held-out benchmark measures its cost.

Result (2026-12-07, once): "exit 1.1" adopted (`object_size.EARLY_EXIT`). Against "o8": keys -0.000 / +0.001 /
+0.000 / -0.002, worst model -0.005 (`worms`); it stops after one orientation on 49 % of the unscaled whole views
(12-64 % by model). "exit 1.05" qualified too (28 %); "exit 1.15" did not (`worms`'s enlarged-by-the-benchmark
views at 0.5-0.67 0.59 -> 0.55, worst model -0.010). Confirmed with the full automatic path on the 195 training
cases (``refine_tolerance.py --with-refine``, exit_confirm.jsonl): mean AP50 0.7862 and 1.34 predictions per case,
the same as before to the last digit (flip_confirm_after.jsonl).

    python experiments/object_size/early_exit.py [--cache runs/flips]
"""

from __future__ import annotations

import argparse
import math
import pickle
from pathlib import Path

import numpy as np

from napari_deepcolor.predict.object_size import VIEW_REDUCTION
from napari_deepcolor.predict.ridge import ridge_fit
from napari_deepcolor.zoo import bundled_models

KEYS = ("1.0", "0.5", "bench large", "bench small")
BANDS = (1.05, 1.1, 1.15)


def cross_validate(fit: list[tuple], evaluation: list[tuple]) -> tuple[dict, dict]:
    arms = ["o8", *(f"exit {b:g}" for b in BANDS)]
    hits = {arm: {k: [] for k in KEYS} for arm in arms}
    exits = {arm: [] for arm in arms[1:]}  # per whole view at factor 1: did it stop after one orientation
    for fold in (0, 1):
        train = [r for r in fit if r[0] % 2 != fold]
        fitted = ridge_fit(np.array([r[4][:-1] for r in train]), np.array([r[3] for r in train]),
                           np.array([r[0] for r in train]), np.array([r[1] == "plain" for r in train]))
        for i, factor, key, truth, f in evaluation:
            if i % 2 != fold:
                continue
            logs = ((f - fitted["mean"]) / fitted["std"]) @ fitted["weights"] + fitted["bias"]
            full = math.exp(np.mean(logs)) / VIEW_REDUCTION
            first = math.exp(logs[0]) / VIEW_REDUCTION
            for arm in arms:
                band = float(arm.split()[1]) if arm != "o8" else None
                stop = band is not None and max(first, 1 / first) <= band
                estimate = first if stop else full
                hits[arm][key].append(max(estimate / truth, truth / estimate) <= 1.2)
                if band is not None and key == "1.0" and factor == 1.0:
                    exits[arm].append(stop)
    return ({arm: {k: float(np.mean(h)) for k, h in by_key.items()} for arm, by_key in hits.items()},
            {arm: float(np.mean(e)) for arm, e in exits.items()})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", default="runs/flips")
    args = parser.parse_args()
    results, rates = {}, {}
    for name in sorted(bundled_models()):
        evaluation = pickle.loads((Path(args.cache) / f"rows_{name}.pkl").read_bytes())
        fit = pickle.loads((Path(args.cache) / "fit" / f"rows_{name}.pkl").read_bytes())
        results[name], rates[name] = cross_validate(fit, evaluation)
        print(f"{name}: " + "; ".join(f"{arm} " + " ".join(f"{k} {v:.2f}" for k, v in r.items())
                                       for arm, r in results[name].items())
              + " | stopped early on unscaled whole views: " + " ".join(f"{a} {v:.0%}" for a, v in rates[name].items()))
    adopted = None
    for band in BANDS:
        arm = f"exit {band:g}"
        per = np.array([[r[arm][k] - r["o8"][k] for k in KEYS] for r in results.values()])
        ok = per.mean(axis=0).min() >= -0.005 and per.mean(axis=1).min() >= -0.01
        rate = np.mean([rates[m][arm] for m in rates])
        print(f"{arm}: keys " + " ".join(f"{k} {g:+.3f}" for k, g in zip(KEYS, per.mean(axis=0)))
              + f"; worst model {per.mean(axis=1).min():+.3f}; stops early on {rate:.0%} of unscaled whole views; "
              + ("qualifies" if ok else "does not qualify"))
        adopted = band if ok else adopted
    print(f"adopted: exit {adopted:g}" if adopted else "adopted: none")


if __name__ == "__main__":
    main()
