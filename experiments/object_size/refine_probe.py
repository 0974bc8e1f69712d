"""Probe for a second step of the automatic object size (cellpose's): segment at the regression's estimate, measure
the decoded objects, and compare them with what the model decodes on its own training images at their true size.

For each model: the reference is the median over (at most 8) training images of the decoded objects' typical size in
network pixels at the true size; on held-out images (the resized table at 0.5, 1, 2 and the other extents) the
estimate F0, the refined F1 = decoded size (median √area) at F0 x scale / reference, and F2 from decoding at F1,
with AP50 at each. Writes one JSON line per image to runs/refine_probe/<model>.jsonl.

    OMP_NUM_THREADS=1 python experiments/object_size/refine_probe.py --models ecoli nuclei
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT / "experiments" / "object_size"))
from bench_object_size import _own_size, resized  # noqa: E402
from data import images_for, other_extents  # noqa: E402

from napari_deepcolor.metrics import evaluate  # noqa: E402
from napari_deepcolor.predict.label_sizes import typical_object_size  # noqa: E402
from napari_deepcolor.predict.network import at_object_size, load_model, segment  # noqa: E402
from napari_deepcolor.predict.object_size import estimate_object_size, size_model_of  # noqa: E402


def weighted_size(labels: np.ndarray) -> float:
    """The √area of the object a foreground pixel belongs to, median over foreground pixels (area-weighted)."""
    counts = np.bincount(labels[labels > 0].ravel())
    counts = counts[counts > 0]
    if not counts.size:
        return float("nan")
    roots = np.sqrt(counts)
    order = np.argsort(roots)
    cum = np.cumsum(counts[order])
    return float(roots[order][np.searchsorted(cum, cum[-1] / 2)])


def decoded(model, image, factor):
    labels = segment(at_object_size(model, factor), image)[0].labels
    return labels, typical_object_size(labels), weighted_size(labels)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--models", nargs="+", required=True)
    parser.add_argument("--factors", nargs="+", type=float, default=[0.5, 1.0, 2.0])
    args = parser.parse_args()
    out_dir = ROOT / "runs" / "refine_probe"
    out_dir.mkdir(parents=True, exist_ok=True)
    for name in args.models:
        model = load_model(name, device="cpu")
        object_px = size_model_of(model.metadata).object_px
        scale = model.base_config.scale
        refs_med, refs_w = [], []
        train = images_for(name, "train")
        for i in np.linspace(0, len(train) - 1, min(8, len(train))).round().astype(int):
            image, truth = train[i]
            own = _own_size(truth, object_px)
            _, med, wt = decoded(model, image, own)
            refs_med.append(med * scale / own)
            refs_w.append(wt * scale / own)
        ref_med, ref_w = float(np.nanmedian(refs_med)), float(np.nanmedian(refs_w))
        print(name, "reference", ref_med, ref_w, "spread", np.round(np.array(refs_w) / ref_w, 2), flush=True)
        cases = []
        kind = "mask" if model.config.mask_input else "image"
        for factor in args.factors:
            for image, truth in images_for(name, "test"):
                own = _own_size(truth, object_px)
                cases.append((f"resized {factor:g}", resized(image, factor, kind=kind),
                              resized(truth, factor, kind="labels"), factor * own))
        cases += [(what, image, truth, _own_size(truth, object_px)) for what, image, truth in other_extents(name)]
        with open(out_dir / f"{name}.jsonl", "w") as fh:
            for what, image, truth, true_size in cases:
                f0 = estimate_object_size(model, image).factor
                row = {"what": what, "true": true_size, "f0": f0}
                f = f0
                for step in range(3):
                    labels, med, wt = decoded(model, image, f)
                    row[f"ap{step}"] = evaluate(truth, labels)["ap50"]
                    row[f"med{step}"] = med * scale / f / ref_med if math.isfinite(med) else None
                    row[f"w{step}"] = wt * scale / f / ref_w if math.isfinite(wt) else None
                    if not math.isfinite(med):
                        break
                    f = float(np.clip(med * scale / ref_med, 0.25, 8))
                    row[f"f{step + 1}"] = f
                row["ap_true"] = evaluate(truth, decoded(model, image, true_size)[0])["ap50"]
                fh.write(json.dumps(row) + "\n")
                print(name, json.dumps({k: round(v, 3) if isinstance(v, float) else v for k, v in row.items()}),
                      flush=True)


if __name__ == "__main__":
    main()
