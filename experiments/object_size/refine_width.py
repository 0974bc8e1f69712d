"""The second step's statistic: median √area of the decoded objects (now) against their median width, on training
images only.

Why: at 2x and 3x the regression reads `worms` and `leaves-semiconv` too large, and the second step keeps such an
estimate because a network shown objects too small merges them into blobs of about the reference's area
(docs/scale.md). Merged worms or leaves keep the width of one: a width statistic should see that they are too small.

The width of an object is 4 x (mean over its pixels of the distance to the nearest pixel outside it, less half a
pixel): w for a strip w pixels wide, 4/3 r for a disk of radius r (`typical_object_width`). Each statistic has its
own reference, measured as `size_fit.decoded_reference` measures the stored one (the same training images, at their
true size), and its own tolerance (the spread, bounded to 1.1-1.25 as `size_refine.TOLERANCE`).

Cases: `refine_tolerance.cases` (5 training images of each bundled model resized by 0.5, 1, 1.5 and 3, and training
images on other extents). Each case runs `size_refine.refine`'s rule (at most two corrections, keep the pass closest
to the reference) once per statistic, and a third arm with the geometric mean of the two ratios; predictions at one
factor are shared between the arms. Recorded: every factor predicted, its two statistics and AP50.

Rule, written before it ran: the arm with the highest mean AP50 over all cases replaces the √area statistic if its
mean AP50 is at least 0.005 above the √area arm's, no model's mean falls by more than 0.02, and it runs at most 10 %
more predictions per case. Held-out images are measured afterwards (bench_object_size.py), not chosen on.

    OMP_NUM_THREADS=1 python experiments/object_size/refine_width.py --models worms nuclei --out a.jsonl
    python experiments/object_size/refine_width.py --replay a.jsonl b.jsonl
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np
from scipy import ndimage

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "experiments" / "object_size"))
from refine_tolerance import cases

ARMS = ("area", "width", "geo")
FLOOR, CAP, CORRECTIONS = 1.1, 1.25, 2


def typical_object_width(labels: np.ndarray) -> float:
    """Median over the objects of a label image ``(Y, X)`` of 4 x (mean distance to the object's outside - 0.5)."""
    labels = np.asarray(labels)
    if labels.ndim == 3:  # a mask stack: one object per mask
        widths = [typical_object_width(mask.astype(np.int32)) for mask in labels if mask.any()]
        return float(np.median(widths)) if widths else float("nan")
    inside = labels > 0
    if not inside.any():
        return float("nan")
    border = np.zeros_like(inside)  # pixels next to another object's pixel
    for axis in (0, 1):
        a, b = np.swapaxes(labels, 0, axis)[:-1], np.swapaxes(labels, 0, axis)[1:]
        differ = (a != b) & (a > 0) & (b > 0)
        np.swapaxes(border, 0, axis)[:-1] |= differ
        np.swapaxes(border, 0, axis)[1:] |= differ
    # distance to the background, or to the nearest border pixel + 1 (a border pixel counts as an edge pixel)
    distance = np.minimum(ndimage.distance_transform_edt(inside), ndimage.distance_transform_edt(~border) + 1)
    index = np.unique(labels[inside])
    means = np.asarray(ndimage.mean(distance, labels, index))
    return float(np.median(4 * np.maximum(means - 0.5, 0.25)))


def references(name: str, model) -> dict[str, tuple[float, float]]:
    """Each statistic's reference and tolerance, as `size_fit._decoded_reference` measures the stored one."""
    from data import images_for

    from napari_deepcolor.predict.label_sizes import relative_to_median, typical_object_size, typical_sizes
    from napari_deepcolor.predict.network import at_object_size, segment
    from napari_deepcolor.predict.object_size import size_model_of

    pairs = images_for(name, "train")
    with_labels = math.isfinite(size_model_of(model.metadata).object_px)
    relative = relative_to_median(typical_sizes([lab for _, lab in pairs] if with_labels else None, len(pairs)))
    found = {"area": [], "width": []}
    for i in np.unique(np.linspace(0, len(pairs) - 1, min(8, len(pairs))).round().astype(int)):
        sized = at_object_size(model, float(relative[i]))
        labels = segment(sized, pairs[i][0])[0].labels
        found["area"].append(typical_object_size(labels) * sized.config.scale)
        found["width"].append(typical_object_width(labels) * sized.config.scale)
    out = {}
    for key, values in found.items():
        values = [v for v in values if math.isfinite(v)]
        ref = float(np.median(values))
        out[key] = (ref, math.exp(max(abs(math.log(v / ref)) for v in values)))
    return out


def _ratio(arm: str, point: dict) -> float:
    if arm == "geo":
        return math.sqrt(point["area"] * point["width"]) if point["area"] > 0 and point["width"] > 0 else math.nan
    return point[arm]


def _error(ratio: float) -> float:
    return abs(math.log(ratio)) if math.isfinite(ratio) and ratio > 0 else math.inf


def trajectory(arm: str, start: float, at, tolerances: dict, supported) -> list[float]:
    """`size_refine.refine`'s rule with ``arm``'s ratio: the factors predicted, in order."""
    tolerance = math.exp(np.mean([math.log(tolerances["area"]), math.log(tolerances["width"])])) \
        if arm == "geo" else tolerances[arm]
    tolerance = min(CAP, max(FLOOR, tolerance))
    tried = [start]
    while len(tried) <= CORRECTIONS and math.log(tolerance) < _error(_ratio(arm, at(tried[-1]))) < math.inf:
        factor = round(tried[-1] * _ratio(arm, at(tried[-1])), 2)
        if not supported(factor) or factor in tried:
            break
        tried.append(factor)
        at(factor)
    return tried


def kept(arm: str, row: dict) -> tuple[float, float, int]:
    """AP50, factor and predictions of ``arm`` on a recorded row."""
    points = row["points"]
    tried = row["arms"][arm]
    best = min(tried, key=lambda f: _error(_ratio(arm, points[str(f)])))
    return points[str(best)]["ap50"], best, len(tried)


def measure(names: list[str], out: Path) -> None:
    from napari_deepcolor.metrics import evaluate
    from napari_deepcolor.predict.label_sizes import typical_object_size
    from napari_deepcolor.predict.network import at_object_size, load_model, segment
    from napari_deepcolor.predict.object_size import estimate_object_size, supported

    with open(out, "a") as fh:
        for name in names:
            model = load_model(name, device="cpu")
            refs = references(name, model)
            print(name, "references", refs, flush=True)
            for what, image, truth, true_size in cases(name, model):
                size = estimate_object_size(model, image)
                points: dict[str, dict] = {}

                def at(factor: float, points=points, model=model, image=image, truth=truth, refs=refs) -> dict:
                    if str(factor) not in points:
                        sized = at_object_size(model, factor)
                        labels = segment(sized, image)[0].labels
                        points[str(factor)] = {
                            "area": typical_object_size(labels) * sized.config.scale / refs["area"][0],
                            "width": typical_object_width(labels) * sized.config.scale / refs["width"][0],
                            "ap50": evaluate(truth, labels)["ap50"]}
                    return points[str(factor)]

                tolerances = {k: v[1] for k, v in refs.items()}
                arms = {arm: trajectory(arm, size.factor, at, tolerances,
                                        lambda f, model=model: supported(f, model.base_config))
                        if size.how == "auto" else [size.factor] for arm in ARMS}
                if size.how != "auto":
                    at(size.factor)
                row = {"model": name, "what": what, "true": true_size, "how": size.how,
                       "refs": refs, "points": points, "arms": arms}
                fh.write(json.dumps(row) + "\n")
                fh.flush()
                print(name, what, round(true_size, 2), {a: kept(a, row)[:2] for a in ARMS}, flush=True)


def summary(paths: list[Path]) -> None:
    rows = [json.loads(line) for path in paths for line in path.read_text().splitlines()]
    models = sorted({r["model"] for r in rows})
    print(f"{len(rows)} training cases of {len(models)} models")
    for arm in ARMS:
        scored = [kept(arm, r) for r in rows]
        within = np.mean([abs(s[1] / r["true"] - 1) <= 0.2 for s, r in zip(scored, rows)])
        per_model = {m: np.mean([s[0] for s, r in zip(scored, rows) if r["model"] == m]) for m in models}
        print(f"{arm:5s}: mean AP50 {np.mean([s[0] for s in scored]):.4f}, within 20 % {within:.1%}, predictions "
              f"{np.mean([s[2] for s in scored]):.2f} | " + " ".join(f"{m} {v:.3f}" for m, v in per_model.items()))
    for what in sorted({r["what"] for r in rows}):
        part = [r for r in rows if r["what"] == what]
        print(f"  {what:13s}: " + " ".join(f"{arm} {np.mean([kept(arm, r)[0] for r in part]):.3f}" for arm in ARMS))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--replay", type=Path, nargs="+")
    args = parser.parse_args()
    if args.replay:
        summary(args.replay)
    else:
        measure(args.models, args.out)


if __name__ == "__main__":
    main()
