"""The second step's tolerance floor and number of corrections, chosen on training images only.

For each bundled model: 5 of its training images (`data.images_for(name, "train")`, spread over the list) resized by
0.5, 1, 1.5 and 3, and the same images on other extents (`refine_statistic.training_extents`). For each, the
regression's estimate, then every correction the decoded objects ask for (up to 3 predictions, whatever the
tolerance), each pass's factor, ratio to the reference and AP50. Offline, each tolerance floor (1.05-1.3) and number
of corrections (1, 2) is replayed on those passes (`size_refine.refine`'s rule: correct while the ratio is outside
the tolerance, keep the pass closest to the reference) and scored by mean AP50 and predictions per image.

    OMP_NUM_THREADS=1 python experiments/object_size/refine_tolerance.py --models ecoli nuclei --out a.jsonl
    python experiments/object_size/refine_tolerance.py --replay a.jsonl b.jsonl
    OMP_NUM_THREADS=1 python experiments/object_size/refine_tolerance.py --with-refine --models ... --out r.jsonl

The passes measured for docs/scale.md are in refine_tolerance.jsonl beside this file (``--replay`` it).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "experiments" / "object_size"))
sys.path.insert(0, str(ROOT / "benchmarks"))
from bench_object_size import _own_size, resized  # noqa: E402
from data import images_for  # noqa: E402
from refine_statistic import training_extents  # noqa: E402

FLOORS = (1.05, 1.1, 1.15, 1.2, 1.25, 1.3)
FACTORS = (0.5, 1.0, 1.5, 3.0)


def cases(name: str, model):
    stored_px = _object_px(model)
    kind = "mask" if model.config.mask_input else "image"
    train = images_for(name, "train")
    picked = [train[i] for i in np.linspace(0, len(train) - 1, 5).round().astype(int)]
    for factor in FACTORS:
        for image, truth in picked:
            yield f"resized {factor:g}", resized(image, factor, kind=kind), resized(truth, factor, kind="labels"), \
                factor * _own_size(truth, stored_px)
    for image, truth in training_extents(name):
        yield "other extent", image, truth, _own_size(truth, stored_px)


def _object_px(model) -> float:
    from napari_deepcolor.predict.object_size import size_model_of

    return size_model_of(model.metadata).object_px


def measure(names: list[str], out: Path) -> None:
    from napari_deepcolor.metrics import evaluate
    from napari_deepcolor.predict.label_sizes import typical_object_size
    from napari_deepcolor.predict.network import at_object_size, load_model, segment
    from napari_deepcolor.predict.object_size import estimate_object_size, size_model_of, supported

    with open(out, "a") as fh:
        for name in names:
            model = load_model(name, device="cpu")
            reference = size_model_of(model.metadata)
            for what, image, truth, true_size in cases(name, model):
                size = estimate_object_size(model, image)
                passes, factor = [], size.factor
                for _ in range(3):
                    sized = at_object_size(model, factor)
                    labels = segment(sized, image)[0].labels
                    ratio = typical_object_size(labels) * sized.config.scale / reference.decoded_px
                    passes.append({"factor": factor, "ratio": ratio, "ap50": evaluate(truth, labels)["ap50"]})
                    new = round(factor * ratio, 2) if math.isfinite(ratio) else factor
                    if size.how != "auto" or new == factor or not supported(new, model.base_config):
                        break
                    factor = new
                row = {"model": name, "what": what, "true": true_size, "how": size.how,
                       "tolerance": reference.decoded_tolerance, "passes": passes}
                fh.write(json.dumps(row) + "\n")
                fh.flush()
                print(name, what, round(true_size, 2), [(p["factor"], round(p["ratio"], 2), round(p["ap50"], 3))
                                                         for p in passes], flush=True)


def measure_refine(names: list[str], out: Path) -> None:
    """The same cases with `size_refine.refine` as it is (its secant step after two predictions): AP50 and
    predictions per case, to set beside the replayed rules (``--replay``)."""
    from napari_deepcolor.metrics import evaluate
    from napari_deepcolor.predict.network import load_model
    from napari_deepcolor.predict.object_size import estimate_object_size
    from napari_deepcolor.predict.size_refine import segment_refined

    with open(out, "a") as fh:
        for name in names:
            model = load_model(name, device="cpu")
            for what, image, truth, true_size in cases(name, model):
                _, size, (instances, _) = segment_refined(model, image, estimate_object_size(model, image))
                row = {"model": name, "what": what, "true": true_size, "factor": size.factor,
                       "passes": size.passes, "ap50": evaluate(truth, instances.labels)["ap50"]}
                fh.write(json.dumps(row) + "\n")
                fh.flush()
                print(name, what, round(true_size, 2), size.factor, size.passes, round(row["ap50"], 3), flush=True)


def replay(row: dict, floor: float, corrections: int) -> tuple[float, int]:
    """AP50 and predictions of `size_refine.refine`'s rule with this floor (cap 1.25) on a row's recorded passes."""
    tolerance = min(1.25, max(floor, row["tolerance"])) if math.isfinite(row["tolerance"]) else floor
    passes = row["passes"]

    def error(p):
        return abs(math.log(p["ratio"])) if math.isfinite(p["ratio"]) and p["ratio"] > 0 else math.inf

    used = 1
    while (used <= corrections and used < len(passes) and row["how"] == "auto"
           and math.log(tolerance) < error(passes[used - 1]) < math.inf):
        used += 1
    best = min(passes[:used], key=error)
    return best["ap50"], used


def summary(paths: list[Path]) -> None:
    rows = [json.loads(line) for path in paths for line in path.read_text().splitlines()]
    measured = [r for r in rows if not isinstance(r["passes"], list)]  # --with-refine rows
    rows = [r for r in rows if isinstance(r["passes"], list)]
    if measured:
        per_model = {m: np.mean([r["ap50"] for r in measured if r["model"] == m])
                     for m in sorted({r["model"] for r in measured})}
        print(f"refine as it is ({len(measured)} cases): mean AP50 {np.mean([r['ap50'] for r in measured]):.4f}, "
              f"predictions {np.mean([r['passes'] for r in measured]):.2f} | "
              + " ".join(f"{m} {v:.3f}" for m, v in per_model.items()))
    print(f"{len(rows)} training cases of {len({r['model'] for r in rows})} models")
    for corrections in (0, 1, 2):
        for floor in FLOORS:
            scored = [replay(r, floor, corrections) for r in rows]
            per_model = {m: np.mean([s[0] for s, r in zip(scored, rows) if r["model"] == m])
                         for m in sorted({r["model"] for r in rows})}
            print(f"corrections {corrections} floor {floor:.2f}: mean AP50 {np.mean([s[0] for s in scored]):.4f}, "
                  f"predictions {np.mean([s[1] for s in scored]):.2f} | "
                  + " ".join(f"{m} {v:.3f}" for m, v in per_model.items()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--replay", type=Path, nargs="+")
    parser.add_argument("--with-refine", action="store_true", help="run size_refine.refine as it is on the cases")
    args = parser.parse_args()
    if args.replay:
        summary(args.replay)
    elif args.with_refine:
        measure_refine(args.models, args.out)
    else:
        measure(args.models, args.out)


if __name__ == "__main__":
    main()
