"""Could the size estimate read the other seven orientations on a crop of its view instead of the whole view? From
flip_average.py's cached features: two-fold cross-validation over each bundled model's training images.

The estimate reads its view in the eight orientations of the square (one network pass, seven encoder passes: about
3.3 network passes on the view, `object_size.view_features`), because the encoder is not symmetric and the regression
reads a turned view as another size. What the orientations change is the encoder's bias on the image's content,
which a smaller part of the view may show as well: the view read once, in its own orientation, plus a correction read
on its central half (a quarter of the pixels) in the eight orientations, the mean of their log estimates minus the
half's own: one network pass and two encoder-pass equivalents, about 1.7 network passes on the view.

Only whole views have the matching central half in flip_average.py's cache (key "1.0" and "0.5" rows of the same
image and factor); the other keys would need new features.

The rule, written before this ran: on whole views, over the seven models, arm "o1+c" (above) against "o8" (the
bundled estimate): if o1+c's mean share within 20 % is within 1 point of o8's and no model's share falls by more than
3 points, the correction goes on to a full measurement (new features of the benchmark-made views' central halves);
else it is dropped. "o1", "o2" (the view and it turned by 180°) and "o4" are printed beside it.

Result (2026-12-07, once): dropped. Share within 20 % on whole views, mean over the seven models: o1+c 0.728 against
o8 0.874 (o1 0.826, o2 0.850, o4 0.859); worst model -0.231 (`worms` 0.966 -> 0.735). Read on a quarter of the
pixels, the correction's noise is larger than the orientation bias it corrects: it is worse than no correction.

    python experiments/object_size/crop_correction.py   # reads runs/flips (flip_average.py --oriented-fit's cache)
"""

from __future__ import annotations

import math
import pickle
from pathlib import Path

import numpy as np

from napari_deepcolor.predict.object_size import VIEW_REDUCTION
from napari_deepcolor.predict.ridge import ridge_fit
from napari_deepcolor.zoo import bundled_models

CACHE = Path("runs/flips")
ORDER = ("id", "ud", "lr", "rot180", "T", "Tud", "Tlr", "Trot180")  # flip_average.ORIENTATIONS' order


def arms(logs: np.ndarray, half: np.ndarray) -> dict[str, float]:
    """Each arm's log estimate from a whole view's (8,) and its central half's (8,) log estimates."""
    return {"o1": logs[0], "o2": np.mean(logs[[0, 3]]), "o4": np.mean(logs[:4]), "o8": np.mean(logs),
            "o1+c": logs[0] + np.mean(half) - half[0]}


def shares(name: str) -> dict[str, float]:
    fit = pickle.loads((CACHE / "fit" / f"rows_{name}.pkl").read_bytes())
    evaluation = pickle.loads((CACHE / f"rows_{name}.pkl").read_bytes())
    halves = {(i, factor): f for i, factor, key, _, f in evaluation if key == "0.5"}
    hits: dict[str, list[bool]] = {}
    for fold in (0, 1):
        train = [r for r in fit if r[0] % 2 != fold]
        fitted = ridge_fit(np.array([r[4][:-1] for r in train]), np.array([r[3] for r in train]),
                           np.array([r[0] for r in train]), np.array([r[1] == "plain" for r in train]))

        def log_estimates(f: np.ndarray) -> np.ndarray:
            return ((f - fitted["mean"]) / fitted["std"]) @ fitted["weights"] + fitted["bias"]

        for i, factor, key, truth, f in evaluation:
            if i % 2 != fold or key != "1.0" or (i, factor) not in halves:
                continue
            for arm, log in arms(log_estimates(f), log_estimates(halves[(i, factor)])).items():
                estimate = math.exp(log) / VIEW_REDUCTION
                hits.setdefault(arm, []).append(max(estimate / truth, truth / estimate) <= 1.2)
    return {arm: float(np.mean(h)) for arm, h in hits.items()}


def main() -> None:
    results = {name: shares(name) for name in sorted(bundled_models())}
    names = list(next(iter(results.values())))
    print("model".ljust(16) + "".join(a.rjust(7) for a in names))
    for name, r in results.items():
        print(name.ljust(16) + "".join(f"{r[a]:7.3f}" for a in names))
    mean = {a: float(np.mean([r[a] for r in results.values()])) for a in names}
    print("mean".ljust(16) + "".join(f"{mean[a]:7.3f}" for a in names))
    worst = min(r["o1+c"] - r["o8"] for r in results.values())
    go = mean["o1+c"] >= mean["o8"] - 0.01 and worst >= -0.03
    print(f"o1+c against o8: mean {mean['o1+c'] - mean['o8']:+.3f}, worst model {worst:+.3f}: "
          f"{'goes on to a full measurement' if go else 'dropped'}")


if __name__ == "__main__":
    main()
