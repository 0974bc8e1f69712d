"""Automatic object size, measured: labelled images resized by known factors, each model's estimate against the truth.

For every bundled model and its held-out images (`experiments/object_size/data.py`: BBBC010 validation wells, the
E. coli test strip and generated colonies, generated rosettes; none of them used to fit a size model or choose
anything), each image and its labels are resized by 0.5, 0.67, 1, 1.5, 2 and 3, and the table gives, per factor:

- how often the estimated object size is within 20 % of the true factor;
- AP50 (mean over images) with *auto*, at the true factor, and at object size 1 (what the user got before);
- the time of the estimate against the time of the prediction it precedes (a ratio measured side by side).

Run from the repository root (the BBBC010 rows need ../shared/data/bbbc010; they are skipped without it)::

    OMP_NUM_THREADS=2 python benchmarks/bench_object_size.py [--models worms ecoli-semiconv ...] [--write]

``--write`` puts the table into docs/scale.md (section "Automatic object size: measured").
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from _docs import write_section
from skimage.transform import resize

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "experiments" / "object_size"))
from data import BBBC010, images_for  # noqa: E402

from napari_deepcolor.metrics import evaluate  # noqa: E402
from napari_deepcolor.predict.network import at_object_size, load_model, segment  # noqa: E402
from napari_deepcolor.predict.object_size import estimate_object_size, size_model_of, typical_object_size  # noqa: E402
from napari_deepcolor.zoo import bundled_models  # noqa: E402

FACTORS = (0.5, 0.67, 1.0, 1.5, 2.0, 3.0)
HEADING = "## Automatic object size: measured"


def resized(array: np.ndarray, factor: float, *, kind: str) -> np.ndarray:
    """``kind``: "image" (Y, X[, C]) linear, "mask" (Y, X) linear then > 0.5, "labels" (Y, X) or (N, Y, X) nearest."""
    if factor == 1:
        return array
    spatial = (0, 1) if kind != "labels" or array.ndim == 2 else (1, 2)
    shape = list(array.shape)
    for axis in spatial:
        shape[axis] = max(1, round(array.shape[axis] * factor))
    out = resize(array.astype(np.float32) if kind != "labels" else array, shape, order=0 if kind == "labels" else 1,
                 anti_aliasing=kind != "labels" and factor < 1, preserve_range=True)
    if kind == "mask":
        return (out > 0.5).astype(np.float32)
    return out.astype(array.dtype) if kind == "labels" else out.astype(np.float32)


def ap50(model, image: np.ndarray, truth: np.ndarray, factor: float) -> tuple[float, float]:
    """AP50 of the model at ``factor`` and the seconds its prediction took."""
    t0 = time.perf_counter()
    instances, _ = segment(at_object_size(model, factor), image)
    seconds = time.perf_counter() - t0
    return evaluate(truth, instances.labels)["ap50"], seconds


def measure(name: str) -> list[dict]:
    model = load_model(name, device="cpu")
    kind = "mask" if model.config.mask_input else "image"
    stored = size_model_of(model.metadata)
    object_px = stored.object_px if stored is not None else float("nan")
    rows = []
    for factor in FACTORS:
        hits, aps_auto, aps_true, aps_one, ratios, estimates, fallbacks = [], [], [], [], [], [], 0
        for image, truth in images_for(name, "test"):
            # a size model fitted with labels knows its training objects' size in pixels: the true size is then
            # this image's objects against it, not the resize factor alone
            own = typical_object_size(truth) / object_px if np.isfinite(object_px) else 1.0
            image, truth = resized(image, factor, kind=kind), resized(truth, factor, kind="labels")
            factor_here = factor * own
            t0 = time.perf_counter()
            size = estimate_object_size(model, image)
            estimate_seconds = time.perf_counter() - t0
            fallbacks += size.how == "fallback"
            estimates.append(size.factor)
            hits.append(abs(size.factor / factor_here - 1) <= 0.2)
            cache: dict[float, tuple[float, float]] = {}
            for f in {size.factor, factor_here, 1.0}:
                cache[f] = ap50(model, image, truth, f)
            aps_auto.append(cache[size.factor][0])
            aps_true.append(cache[factor_here][0])
            aps_one.append(cache[1.0][0])
            ratios.append(estimate_seconds / cache[size.factor][1])
        rows.append({"model": name, "factor": factor, "n": len(hits), "within": float(np.mean(hits)),
                     "median": float(np.median(estimates)), "auto": float(np.mean(aps_auto)),
                     "true": float(np.mean(aps_true)), "one": float(np.mean(aps_one)),
                     "ratio": float(np.median(ratios)), "fallbacks": fallbacks})
        r = rows[-1]
        print(f"{name:16s} x{factor:<4g} within20 {r['within']:.2f} median est {r['median']:.2f} "
              f"AP50 auto {r['auto']:.3f} true {r['true']:.3f} at1 {r['one']:.3f} time ratio {r['ratio']:.2f} "
              f"fallbacks {fallbacks}", flush=True)
    return rows


def table(rows: list[dict]) -> str:
    lines = ["| model | resized by | images | estimate within 20 % | median estimate | AP50 auto | AP50 at the true "
             "size | AP50 at size 1 | estimate time / predict time |", "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| `{r['model']}` | {r['factor']:g} | {r['n']} | {r['within']:.0%} | {r['median']:.2f} | "
                     f"{r['auto']:.3f} | {r['true']:.3f} | {r['one']:.3f} | {r['ratio']:.2f} |")
    n = sum(r["n"] for r in rows)
    within = sum(r["within"] * r["n"] for r in rows) / n
    worst = max(r["true"] - r["auto"] for r in rows)
    unscaled = min(r["auto"] - r["one"] for r in rows if r["factor"] == 1)
    lines += ["", f"Over all {n} resized images: the estimate is within 20 % of the true factor on {within:.1%}; "
              f"AP50 with *auto* is at most {worst:.3f} below AP50 at the true factor (mean over a row's images); on "
              f"unscaled images *auto* is at worst {unscaled:+.3f} against object size 1."]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=sorted(bundled_models()))
    parser.add_argument("--write", action="store_true", help="write the table into docs/scale.md")
    args = parser.parse_args()
    models = [m for m in args.models if not (m.startswith("worms") and not BBBC010.is_dir())]
    rows = [row for name in models for row in measure(name)]
    text = table(rows)
    print(text)
    if args.write:
        write_section(ROOT / "docs" / "scale.md", HEADING, f"{HEADING}\n\n(`benchmarks/bench_object_size.py "
                      f"--write`, 2-core CPU, one process)\n\n{text}\n")


if __name__ == "__main__":
    main()
