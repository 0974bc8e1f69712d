"""Automatic object size, measured: labelled images resized by known factors, each model's estimate against the truth.

For every bundled model and its held-out images (`experiments/object_size/data.py`: BBBC010 validation wells, the
E. coli test strip and generated colonies, generated rosettes; none of them used to fit a size model or choose
anything), each image and its labels are resized by 0.5, 0.67, 1, 1.5, 2 and 3, and the table gives, per factor:

- how often the automatic object size is within 20 % of the true factor (the regression's estimate, checked and
  corrected on the segmented objects: `napari_deepcolor.predict.size_refine`);
- AP50 (mean over images) with *auto*, at the true factor, and at object size 1 (what the user got before);
- how many predictions *auto* ran, and the time of the estimate, and of all of *auto*, against the time of one
  prediction at the chosen size (ratios measured side by side).

Run from the repository root (the BBBC010 rows need ../shared/data/bbbc010; they are skipped without it)::

    OMP_NUM_THREADS=2 python benchmarks/bench_object_size.py [--models worms ecoli-semiconv ...] [--write]

Two processes side by side (one thread each), then the tables from both::

    OMP_NUM_THREADS=1 python benchmarks/bench_object_size.py --models ecoli nuclei --save a.json &
    OMP_NUM_THREADS=1 python benchmarks/bench_object_size.py --models worms leaves --save b.json
    python benchmarks/bench_object_size.py --load a.json b.json --write

``--write`` puts the tables into docs/scale.md (sections "Automatic object size: measured", "... other extents,
measured": the same objects at the size the model learned, on canvases larger or smaller than its training images,
and "... few objects, measured": images of one to three objects, and fields of a few nuclei, as they are and
enlarged 2x). ``--only resized|extents|few`` measures one table.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
from _docs import write_section
from skimage.transform import resize

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "experiments" / "object_size"))
from data import BBBC010, images_for, other_extents  # noqa: E402

from napari_deepcolor.metrics import evaluate  # noqa: E402
from napari_deepcolor.predict.network import at_object_size, load_model, segment  # noqa: E402
from napari_deepcolor.predict.object_size import estimate_object_size, size_model_of, typical_object_size  # noqa: E402
from napari_deepcolor.predict.size_refine import segment_refined  # noqa: E402
from napari_deepcolor.training.synthetic_rosette import rosette, rosette_plain  # noqa: E402
from napari_deepcolor.training.synthetic_scenes import ecoli_cells  # noqa: E402
from napari_deepcolor.zoo import bundled_models  # noqa: E402

FACTORS = (0.5, 0.67, 1.0, 1.5, 2.0, 3.0)
HEADING = "## Automatic object size: measured"
EXTENTS_HEADING = "## Automatic object size: other extents, measured"
RESIZED_NOTE = (". Two processes side by side, one torch thread each. A size model fitted with its training labels "
                "(`ecoli`, `leaves-semiconv`, `nuclei`) sizes objects against its training objects' typical size in "
                "pixels, so the true size of a test image is the resize factor times its own objects' typical size "
                "against that; for the others it is the resize factor. *auto* is the regression's estimate checked "
                "and corrected on the segmented objects (`size_refine`); \"predictions\" is how many it ran per "
                "image")
FEW_HEADING = "## Automatic object size: few objects, measured"
FEW_NOTE = (". Images with one to three objects, as they are and enlarged 2x (objects of twice the model's size, "
            "where a change for sparse images can fail unseen: experiments/object_size/sparse_start.py): for `nuclei` "
            "generated fluorescence fields of 1-19 nuclei (coverage 0.1-1 %, try_one.py's held-out seeds "
            "50000-50039); for `ecoli` and `ecoli-semiconv` generated phase-contrast fields of 1-3 separate cells "
            "(`synthetic_scenes.ecoli_cells`, seeds 60000-60029), for `leaves` and `leaves-semiconv` generated plants "
            "of 1-3 leaves (the generator of their held-out rosettes, seeds 60000-60029; both since 2026-12-07 night, "
            "copies of held-out images before); for `worms` and `worms-mask` each held-out image with only its 1, 2 or "
            "3 largest objects kept, the rest filled with the smoothed background (experiments/object_size/"
            "few_objects.py `sparse`; masks: removed)")
#: The enlargement of the few-objects rows beside the images as they are.
FEW_FACTORS = (1.0, 2.0)
EXTENTS_NOTE = (". The objects are at the size the model was trained on (1, or for a size model fitted with labels their "
                "typical size against its training objects'); only the image's extent differs from the training "
                "images' (experiments/object_size/data.py `other_extents`)")


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
    """The rows of the resized held-out images: one per factor."""
    model, object_px = _load(name)
    kind = "mask" if model.config.mask_input else "image"
    rows = []
    for factor in FACTORS:
        results = []
        for image, truth in images_for(name, "test"):
            own = _own_size(truth, object_px)
            image, truth = resized(image, factor, kind=kind), resized(truth, factor, kind="labels")
            results.append(one_image(model, image, truth, factor * own))
        rows.append(_row(name, factor, results))
    return rows


def measure_extents(name: str) -> list[dict]:
    """The rows of held-out images whose objects are at the training size on other extents (`data.other_extents`):
    one per kind of extent."""
    model, object_px = _load(name)
    groups: dict[str, list[dict]] = {}
    for what, image, truth in other_extents(name):
        groups.setdefault(what, []).append(one_image(model, image, truth, _own_size(truth, object_px)))
    return [_row(name, what, results) for what, results in groups.items()]


def measure_few(name: str) -> list[dict]:
    """The rows of held-out images with few objects (`FEW_NOTE`), as they are and enlarged by `FEW_FACTORS`."""
    from few_objects import sparse  # (these experiments import this module: not at its top)
    from try_one import few_nuclei

    model, object_px = _load(name)
    mask = model.config.mask_input
    if name.startswith("nuclei"):
        what, pairs = "1-19 nuclei", [(image, truth) for _, image, truth in few_nuclei(50_000)]
    elif name.startswith("ecoli"):
        what, pairs = "1-3 cells", [ecoli_cells(seed) for seed in range(60_000, 60_030)]
    elif name.startswith("leaves"):  # young plants: the generator of the model's held-out rosettes, 1-3 leaves
        draw = rosette if name == "leaves-semiconv" else rosette_plain
        what, pairs = "plants of 1-3 leaves", [draw(seed, leaves=(1, 3)) for seed in range(60_000, 60_030)]
    else:
        rng = np.random.default_rng(0)
        what, pairs = "1-3 objects kept", [sparse(image, truth, k, rng, mask=mask)
                                           for image, truth in images_for(name, "test") for k in (1, 2, 3)]
    rows = []
    for factor in FEW_FACTORS:
        results = [one_image(model, resized(image, factor, kind="mask" if mask else "image"),
                             resized(truth, factor, kind="labels"), factor * _own_size(truth, object_px))
                   for image, truth in pairs]
        rows.append(_row(name, what if factor == 1 else f"{what}, enlarged {factor:g}x", results))
    return rows


def _load(name: str):
    model = load_model(name, device="cpu")
    stored = size_model_of(model.metadata)
    return model, stored.object_px if stored is not None else float("nan")


def _own_size(truth: np.ndarray, object_px: float) -> float:
    """A size model fitted with labels knows its training objects' size in pixels: the true size of an image is then
    its objects against it, not the resize factor alone."""
    return typical_object_size(truth) / object_px if np.isfinite(object_px) else 1.0


def one_image(model, image: np.ndarray, truth: np.ndarray, true_size: float) -> dict:
    """*auto* on one image against ``true_size``: the size it chose (the regression's estimate, checked and corrected
    on the segmented objects: `size_refine.refine`), AP50 with it, at the truth and at 1, and the time ratios."""
    t0 = time.perf_counter()
    size = estimate_object_size(model, image)
    estimate_seconds = time.perf_counter() - t0
    _, size, (instances, _) = segment_refined(model, image, size)
    auto_seconds = time.perf_counter() - t0
    cache = {f: ap50(model, image, truth, f) for f in {size.factor, true_size, 1.0}}
    return {"estimate": size.factor, "hit": abs(size.factor / true_size - 1) <= 0.2,
            "auto": evaluate(truth, instances.labels)["ap50"], "true": cache[true_size][0], "one": cache[1.0][0],
            "ratio": estimate_seconds / cache[size.factor][1], "auto_ratio": auto_seconds / cache[size.factor][1],
            "passes": size.passes, "fallback": size.how == "fallback"}


def _row(name: str, factor, results: list[dict]) -> dict:
    row = {"model": name, "factor": factor, "n": len(results), "within": float(np.mean([r["hit"] for r in results])),
           "median": float(np.median([r["estimate"] for r in results])),
           **{k: float(np.mean([r[k] for r in results])) for k in ("auto", "true", "one")},
           "ratio": float(np.median([r["ratio"] for r in results])),
           "auto_ratio": float(np.median([r["auto_ratio"] for r in results])),
           "passes": float(np.mean([r["passes"] for r in results])),
           "fallbacks": sum(r["fallback"] for r in results)}
    print(f"{name:16s} {factor!s:22s} within20 {row['within']:.2f} median est {row['median']:.2f} AP50 auto "
          f"{row['auto']:.3f} true {row['true']:.3f} at1 {row['one']:.3f} time ratio {row['ratio']:.2f} "
          f"auto {row['auto_ratio']:.2f} passes {row['passes']:.2f} fallbacks {row['fallbacks']}", flush=True)
    return row


#: The columns of the two tables: header, cell.
_ESTIMATE = [("estimate within 20 %", lambda r: f"{r['within']:.0%}"), ("median estimate", lambda r: f"{r['median']:.2f}"),
             ("AP50 auto", lambda r: f"{r['auto']:.3f}"), ("AP50 at the true size", lambda r: f"{r['true']:.3f}"),
             ("AP50 at size 1", lambda r: f"{r['one']:.3f}")]
_PASSES = [("predictions", lambda r: f"{r['passes']:.1f}")]
RESIZED_COLUMNS = [("model", lambda r: f"`{r['model']}`"), ("resized by", lambda r: f"{r['factor']:g}"),
                   ("images", lambda r: str(r["n"])), *_ESTIMATE, *_PASSES,
                   ("estimate time / predict time", lambda r: f"{r['ratio']:.2f}"),
                   ("auto time / predict time", lambda r: f"{r['auto_ratio']:.2f}")]
EXTENTS_COLUMNS = [("model", lambda r: f"`{r['model']}`"), ("images", lambda r: str(r["n"])),
                   ("objects at their training size, on", lambda r: r["factor"]), *_ESTIMATE, *_PASSES]
FEW_COLUMNS = [("model", lambda r: f"`{r['model']}`"), ("images", lambda r: str(r["n"])),
               ("few objects", lambda r: r["factor"]), *_ESTIMATE, *_PASSES]


def markdown(rows: list[dict], columns: list) -> list[str]:
    """The lines of a markdown table of ``rows`` (`_row`'s) with ``columns``."""
    lines = ["| " + " | ".join(h for h, _ in columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(r) for _, cell in columns) + " |" for r in rows]
    return lines


def _within(rows: list[dict]) -> tuple[int, float]:
    n = sum(r["n"] for r in rows)
    return n, sum(r["within"] * r["n"] for r in rows) / n


def table(rows: list[dict]) -> str:
    n, within = _within(rows)
    worst = max(r["true"] - r["auto"] for r in rows)
    unscaled = min(r["auto"] - r["one"] for r in rows if r["factor"] == 1)
    return "\n".join([*markdown(rows, RESIZED_COLUMNS), "", f"Over all {n} resized images: the estimate is within 20 % "
                      f"of the true factor on {within:.1%}; AP50 with *auto* is at most {worst:.3f} below AP50 at the "
                      f"true factor (mean over a row's images); on unscaled images *auto* is at worst {unscaled:+.3f} "
                      "against object size 1."])


def extents_table(rows: list[dict]) -> str:
    return _images_table(rows, EXTENTS_COLUMNS, "one", "object size 1")


def few_table(rows: list[dict]) -> str:
    return _images_table(rows, FEW_COLUMNS, "true", "the true size")


def _images_table(rows: list[dict], columns: list, key: str, what: str) -> str:
    """A table of rows of unresized images, and how far *auto* fell below AP50 at ``key`` (``what``) at worst."""
    n, within = _within(rows)
    worst = max(r[key] - r["auto"] for r in rows)
    return "\n".join([*markdown(rows, columns), "", f"Over all {n} images: the estimate is within 20 % of the true "
                      f"size on {within:.1%}; *auto* is at worst {worst:.3f} AP50 below {what} (a row's mean)."])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=sorted(bundled_models()))
    parser.add_argument("--write", action="store_true", help="write the tables into docs/scale.md")
    parser.add_argument("--only", choices=("resized", "extents", "few"), help="measure one of the three tables "
                        "(default: all)")
    parser.add_argument("--save", type=Path, help="also save the measured rows to this JSON file")
    parser.add_argument("--load", type=Path, nargs="+", help="measure nothing: make the tables from rows --save "
                        "wrote (runs of different models side by side, one process each)")
    args = parser.parse_args()
    models = [m for m in args.models if not (m.startswith("worms") and not BBBC010.is_dir())]
    if args.load:
        saved = [json.loads(path.read_text()) for path in args.load]
        rows = {part: sorted((row for runs in saved for row in runs.get(part, [])), key=lambda r: r["model"])
                for part in PARTS}
    else:
        rows = {part: [row for name in models for row in measure_part(name)] if args.only in (None, part) else []
                for part, measure_part in PARTS.items()}
    if args.save:
        args.save.write_text(json.dumps(rows))
    sections = [(HEADING, RESIZED_NOTE, table(rows["resized"])) if rows["resized"] else None,
                (EXTENTS_HEADING, EXTENTS_NOTE, extents_table(rows["extents"])) if rows["extents"] else None,
                (FEW_HEADING, FEW_NOTE, few_table(rows["few"])) if rows["few"] else None]
    for heading, note, text in filter(None, sections):
        print(text)
        if args.write:
            write_section(ROOT / "docs" / "scale.md", heading, f"{heading}\n\n(`benchmarks/bench_object_size.py "
                          f"--write`, 2-core CPU){note}\n\n{text}\n")


#: The three tables: their rows' key in a --save file, and what measures them for one model.
PARTS = {"resized": measure, "extents": measure_extents, "few": measure_few}


if __name__ == "__main__":
    main()
