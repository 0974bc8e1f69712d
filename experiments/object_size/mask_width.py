"""Can a mask-input model (`worms-mask`) read its object size on the mask itself? Training masks only.

A mask-input model is given a foreground mask: the objects' outline is its input, so their size can be measured
there with no network pass. The candidate (`object_size.MASK_WIDTH`, `object_size.size_from_mask`): the objects'
typical width, twice the foreground's area over its perimeter (a band of width w: w; a disc of radius r: r; it does
not depend on how many objects there are), against the same over the model's training masks
(`SizeModel.mask_width`, the median over its 39 training wells: 6.72 px), snapped and checked on the segmented
objects as the regression's estimate is. A probe on the held-out masks (one look, before this rule; nothing chosen
from it) read the width within 20 % of the resize factor on 90-100 % of them at 0.5-3x, biased +6 % at 0.5x, and on
masks of 1-3 worms on 97 % as they are and enlarged 2x, where the regression reads 3 % of the enlarged ones within
20 % (docs/scale.md, few objects).

Arms: "now" (the regression, as the package is) and "mask width". Each runs the full automatic path (estimate, then
`segment_refined`); an arm whose estimate equals now's continues as now did (`arms.auto_arms`).

Cases (`worms-mask`'s training masks; the width reference was taken over all 39 of them): 8 wells spread over those
neither of coarse_first.py's picks took, resized by 0.5, 0.67, 1, 1.5, 2 and 3 (48 cases); the same 8 with only
their 1, 2 or 3 largest worms kept (few_objects.py `sparse`), as they are and enlarged 2x (48 cases). The true size
is the resize factor (`worms-mask`'s size model is fitted without labels). One process, two threads.

The rule, written before this ran. "mask width" is adopted (`MASK_WIDTH` True, and fitted for every mask-input
model) only if, against "now":
(a) on the resized cases, its share of kept sizes within 20 % of the true size is at least now's, less one case;
(b) its mean AP50 with *auto* over the resized cases is at least now's - 0.003;
(c) on the few-worm cases, its mean AP50 with *auto* as they are and enlarged each falls by no more than 0.01;
(d) the estimate's seconds summed over the resized cases are at most now's.
Else `MASK_WIDTH` and `SizeModel.mask_width` leave the package. Then `worms-mask`'s rows of the held-out benchmark
(bench_object_size.py, all three tables), measured once, and reported whatever they say.

    OMP_NUM_THREADS=2 python experiments/object_size/mask_width.py --save mask_width.jsonl
    python experiments/object_size/mask_width.py --load mask_width.jsonl

Result (2026-12-08, rows: mask_width.jsonl; measured at commit 1134a2e, where the flag lived): **adopted**, all four
checks pass. (a) kept sizes within 20 % 48 of 48 both ways; (b) AP50 with *auto* 0.8219 -> 0.8252 (0.5x 0.757 ->
0.753, 0.67x 0.865 -> 0.843, 1x the same, 1.5x 0.830 -> 0.820, 2x 0.789 -> 0.851, 3x 0.873 -> 0.867); (c) masks of
1-3 worms 0.948 -> 0.990 as they are, 0.287 -> 1.000 enlarged 2x (within 20 % 0.00 -> 0.96); (d) the estimate's
seconds 2.74 -> 0.57, predictions per case 1.67 -> 1.18. The flag left the package: a mask-input model whose size
model holds `mask_width` reads the size on the mask (`object_size.reads_mask`). Held out, measured once afterwards
(docs/scale.md): masks of 1-3 worms enlarged 2x 0.512 -> 1.000; resized wells' mean 0.888 -> 0.873.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

from arms import FACTORS, auto_arms, resized_cases, rule_main, tallies, verdict  # noqa: E402
from bench_object_size import resized  # noqa: E402
from coarse_first import _hit  # noqa: E402
from data import images_for  # noqa: E402
from few_objects import sparse  # noqa: E402
from quick_view import third_picks  # noqa: E402

from napari_deepcolor.predict.network import load_model  # noqa: E402

ARMS = {"now": False, "mask width": True}
MODEL = "worms-mask"


def _auto(model, image, truth) -> dict:
    return auto_arms(model, image, truth, ARMS, "MASK_WIDTH", commit="1134a2e")


def measure() -> list[dict]:
    model = load_model(MODEL, device="cpu")
    train = images_for(MODEL, "train")
    chosen = third_picks(len(train))
    rows = resized_cases(model, MODEL, _auto, chosen)  # the true size is the factor: a size model without labels
    rng = np.random.default_rng(0)
    for i in chosen:
        for k in (1, 2, 3):
            image, truth = sparse(*train[i], k, rng, mask=True)
            for factor in (1.0, 2.0):
                x, t = resized(image, factor, kind="mask"), resized(truth, factor, kind="labels")
                rows.append({"model": MODEL, "kind": "sparse", "image": int(i), "k": k, "factor": factor,
                             "true": factor, **_auto(model, x, t)})
                print(json.dumps(rows[-1]), flush=True)
    return rows


def judge(rows: list[dict]) -> bool:
    tally = tallies(rows, ARMS)
    resized_rows, new, hits, ap, few = (tally[k] for k in ("resized", "new", "hits", "ap", "sparse"))

    def mean(rs, arm):
        return float(np.mean([r[arm]["ap50"] for r in rs]))

    seconds = {arm: sum(r[arm]["estimate_seconds"] for r in resized_rows) for arm in ARMS}
    few_hits = {f: {arm: np.mean([_hit(r, arm) for r in rows if r["kind"] == "sparse" and r["factor"] == f])
                    for arm in ARMS} for f in (1.0, 2.0)}
    checks = {"a": hits[new] >= hits["now"] - 1, "b": ap[new] >= ap["now"] - 0.003,
              "c": all(s["now"] - s[new] <= 0.01 for s in few.values()), "d": seconds[new] <= seconds["now"]}
    print(f"(a) kept sizes within 20 %: now {hits['now']}/{len(resized_rows)}, {new} {hits[new]}")
    print(f"(b) AP50 with auto: now {ap['now']:.4f}, {new} {ap[new]:.4f}; per factor: " + "; ".join(
        f"x{f:g} {mean([r for r in resized_rows if r['factor'] == f], 'now'):.3f} -> "
        f"{mean([r for r in resized_rows if r['factor'] == f], new):.3f}" for f in FACTORS))
    print("(c) few worms: " + "; ".join(f"x{f:g} AP50 {s['now']:.4f} -> {s[new]:.4f} (within 20 % "
                                        f"{few_hits[f]['now']:.2f} -> {few_hits[f][new]:.2f})" for f, s in few.items()))
    print(f"(d) the estimate's seconds over the resized cases: now {seconds['now']:.2f}, {new} {seconds[new]:.2f}; "
          f"predictions {np.mean([r['now']['passes'] for r in rows]):.2f} -> "
          f"{np.mean([r[new]['passes'] for r in rows]):.2f}")
    return verdict(checks, "MASK_WIDTH", True)


if __name__ == "__main__":
    rule_main(__doc__, measure, judge)
