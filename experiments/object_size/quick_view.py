"""Can `nuclei`'s size estimate stop after its first orientation where that reads large objects? Training images only.

The coarse first pass (quick_large.py, "coarse 2") lets large objects be read once, on the view shrunk by half, and
leaves the precision to the check on the segmented objects (`size_refine`). Models with `sparse_percentile`
(`nuclei`) have no coarse pass (on a coarse view `nuclei` painted a sparse field's noise as objects), so they read
the view in all eight orientations (one network pass, seven encoder passes) at every size but about 1, and on the
held-out benchmark their estimate costs the most: 1.4-2.4 predictions at 1.5-3x (docs/scale.md, 2026-12-08). The
candidate (`object_size.QUICK_VIEW`): for such a model, where the first orientation on the view itself (whole
network, as now) reads objects of `QUICK_ABOVE` (2) or larger, that reading is the estimate, and the seven others are
skipped. In quick_large.py's first run, the same reading on the view ("first 2", all models) kept `nuclei`'s eight
training images at AP50 0.8970 against 0.8959, within 20 % alike, its seconds at 2-3 0.61 of now's; what failed
there were other models, which have the coarse pass instead. Its sparse fields were never checked with it.

Arms: "now" and "quick view". Each runs the full automatic path (estimate, then `segment_refined`); an arm whose
estimate equals now's continues as now did (the same predictions).

Cases (`nuclei`'s training images, none used by quick_large.py, coarse_first.py or two_agree.py): 8 images spread
over those that neither of coarse_first.py's picks took, resized by 0.5, 0.67, 1, 1.5, 2 and 3 (48 cases); fields of
1-19 generated nuclei (try_one.py's `few_nuclei`, seeds 170000-170039, never used before), as they are and enlarged
2x (80 cases). One process, two threads, nothing beside it.

The rule, written before this ran. "quick view" is adopted (`QUICK_VIEW` True) only if, against "now":
(a) on the resized cases, its share within 20 % of the true size is at least now's, less one case;
(b) its mean AP50 with *auto* over the resized cases is at least now's - 0.003;
(c) the estimate's seconds summed over the resized cases at 2 and 3 are at most 0.7 of now's, and *auto*'s seconds
    at 1 at most 1.05 of now's;
(d) on the sparse fields, the mean AP50 with *auto* as they are and enlarged each falls by no more than 0.01.
Else `QUICK_VIEW` leaves the package. Then the held-out benchmark's `nuclei` rows (bench_object_size.py, all three
tables), measured once, and reported whatever they say.

    OMP_NUM_THREADS=2 python experiments/object_size/quick_view.py --save quick_view.jsonl
    python experiments/object_size/quick_view.py --load quick_view.jsonl

Result (2026-12-08, rows: quick_view.jsonl; measured at commit f12f12e, where the flag lived): **not adopted**, by
(d) alone. (a) within 20 % 48 of 48 in both arms; (b) AP50 with *auto* 0.9723 -> 0.9708; (c) the estimate's seconds
at 2-3 0.39 of now's, *auto*'s at 1 1.03 (at 1.5-3 0.73), predictions 1.29 in both; (d) fields of few nuclei as
they are 0.8696 -> 0.8221 (enlarged 2x 0.7909 -> 0.8223): on a sparse field at its own size the first orientation
read objects of 2x or more often enough, and the check did not bring all of them back. `QUICK_VIEW` left the
package; the held-out benchmark was not measured with it.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

from arms import auto_arms, resized_cases, rule_main, tallies, verdict  # noqa: E402
from bench_object_size import resized  # noqa: E402
from coarse_first import IMAGES, picked  # noqa: E402
from data import images_for  # noqa: E402
from try_one import few_nuclei  # noqa: E402

from napari_deepcolor.predict.network import load_model  # noqa: E402

ARMS = {"now": False, "quick view": True}
MODEL = "nuclei"


def third_picks(n: int) -> list[int]:
    """8 images spread over those neither of coarse_first.py's picks took."""
    taken = set(picked(n, False)) | set(picked(n, True))
    rest = [i for i in range(n) if i not in taken]
    return [rest[j] for j in sorted(set(np.linspace(0, len(rest) - 1, IMAGES).round().astype(int).tolist()))]


def _auto(model, image, truth) -> dict:
    """Both arms on one case (`arms.auto_arms`)."""
    return auto_arms(model, image, truth, ARMS, "QUICK_VIEW", commit="f12f12e")


def measure() -> list[dict]:
    model = load_model(MODEL, device="cpu")
    rows = resized_cases(model, MODEL, _auto, third_picks(len(images_for(MODEL, "train"))))
    for j, (_, image, truth) in enumerate(few_nuclei(170_000)):
        for factor in (1.0, 2.0):
            x, t = resized(image, factor, kind="image"), resized(truth, factor, kind="labels")
            rows.append({"model": MODEL, "kind": "sparse", "case": j, "factor": factor, **_auto(model, x, t)})
            print(json.dumps(rows[-1]), flush=True)
    return rows


def judge(rows: list[dict]) -> bool:
    tally = tallies(rows, ARMS)
    resized_rows, new, hits, ap, sparse = (tally[k] for k in ("resized", "new", "hits", "ap", "sparse"))

    def seconds(arm, key, factors):
        return sum(r[arm][key] for r in resized_rows if r["factor"] in factors)

    large = seconds(new, "estimate_seconds", (2.0, 3.0)) / seconds("now", "estimate_seconds", (2.0, 3.0))
    at_one = seconds(new, "seconds", (1.0,)) / seconds("now", "seconds", (1.0,))
    checks = {"a": hits[new] >= hits["now"] - 1, "b": ap[new] >= ap["now"] - 0.003,
              "c": large <= 0.7 and at_one <= 1.05,
              "d": all(s["now"] - s[new] <= 0.01 for s in sparse.values())}
    print(f"(a) within 20 %: now {hits['now']}/{len(resized_rows)}, {new} {hits[new]}")
    print(f"(b) AP50 with auto: now {ap['now']:.4f}, {new} {ap[new]:.4f}")
    print(f"(c) the estimate's seconds at 2-3: {large:.2f} of now's; auto's at 1: {at_one:.2f}; auto's at 1.5-3: "
          f"{seconds(new, 'seconds', (1.5, 2.0, 3.0)) / seconds('now', 'seconds', (1.5, 2.0, 3.0)):.2f}; "
          f"predictions {np.mean([r['now']['passes'] for r in resized_rows]):.2f} -> "
          f"{np.mean([r[new]['passes'] for r in resized_rows]):.2f}")
    print("(d) sparse fields: "
          + "; ".join(f"x{f:g} now {s['now']:.4f}, {new} {s[new]:.4f}" for f, s in sparse.items()))
    return verdict(checks, "QUICK_VIEW", True)


if __name__ == "__main__":
    rule_main(__doc__, measure, judge)
