"""Few-shot fine-tuning with the Train dock's defaults: does it help, and does the guard fire when it does not?

Each case fine-tunes a bundled model on a few annotated images with `napari_deepcolor.training.finetune.finetune`
(the Train dock's code: the kind's preset, one torch thread, a 5-minute budget, part of the annotations held out
for the score, the starting model scored first) and measures both models on images that no step saw or chose on,
with the defaults (automatic object size, stored τ and ρ), beside the best classical floor:

- `worms`, BBBC010: 1 treated well; 4 wells (2 treated, 2 untreated); 4 treated wells. Test: the other 45-48 wells.
- `ecoli-semiconv`: the colony's top (rows 0-166) -> its bottom (rows 167-333).
- `leaves-semiconv`: 4 generated rosettes at 1.7x -> 10 other generated rosettes at 1.7x.

Usage (from the repository root; the worms cases need ../shared/data/bbbc010)::

    OMP_NUM_THREADS=1 python experiments/finetune/few_shot.py [--cases worms-1 ecoli ...] [--minutes 5]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import tifffile

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT / "experiments" / "bbbc010"), str(ROOT / "experiments" / "zoo"),
                str(ROOT / "experiments" / "object_size"), str(ROOT / "benchmarks")]
from bbbc010_split import all_pairs, foreground_pieces  # noqa: E402
from bench_object_size import resized  # noqa: E402
from evaluate_zoo import floors  # noqa: E402

from napari_deepcolor.io import masks_to_labels, read_image, read_mask_stack  # noqa: E402
from napari_deepcolor.metrics import evaluate  # noqa: E402
from napari_deepcolor.predict.network import at_object_size, load_model, segment  # noqa: E402
from napari_deepcolor.predict.object_size import estimate_object_size  # noqa: E402
from napari_deepcolor.training.finetune import annotated_planes, finetune  # noqa: E402
from napari_deepcolor.training.presets import FINETUNE_LEARNING_RATE, PRESETS  # noqa: E402
from napari_deepcolor.training.synthetic_scenes import synthetic_pairs  # noqa: E402

BBBC010 = ROOT.parent / "shared" / "data" / "bbbc010" / "train"
SAMPLES = ROOT / "src" / "napari_deepcolor" / "samples"


def treated(image: Path) -> bool:
    return int(image.stem[1:]) <= 12  # plate columns 01-12 are treated (BBBC010 README)


def worms_case(wells: str):
    pairs = all_pairs(BBBC010)
    training = pairs[:39]
    t = [p for p in training if treated(p[0])]
    u = [p for p in training if not treated(p[0])]
    chosen = {"worms-1": t[:1], "worms-4-mixed": t[:2] + u[:2], "worms-4-treated": t[:4]}[wells]
    names = {p[0].stem for p in chosen}
    train = [(read_image(img), masks_to_labels(read_mask_stack(masks))) for img, masks in chosen]
    test = [(img, masks) for img, masks in pairs if img.stem not in names]
    test_pairs = [(read_image(img), read_mask_stack(masks)) for img, masks in test]
    floor = [evaluate(truth, foreground_pieces(img)) for (img, _), (_, truth) in zip(test, test_pairs)]
    return "worms", "C. elegans (worms)", train, test_pairs, {"connected components of the human foreground": floor}


def ecoli_case():
    image, labels = tifffile.imread(SAMPLES / "ecoli_colony.tif"), tifffile.imread(SAMPLES / "ecoli_colony_labels.tif")
    train = [(image[:167], labels[:167])]
    test = [(image[167:334], labels[167:334])]
    return "ecoli-semiconv", "E. coli (colony)", train, test, floors("ecoli", test)


def leaves_case():
    def big(pairs):
        return [(resized(img, 1.7, kind="image"), resized(lab, 1.7, kind="labels")) for img, lab in pairs]
    train = big(list(synthetic_pairs("rosette", 4, seed=20_000)))
    test = big(list(synthetic_pairs("rosette", 10, seed=10_000)))
    return "leaves-semiconv", "Leaves (rosette)", train, test, floors("leaves", test)


CASES = {"worms-1": lambda: worms_case("worms-1"), "worms-4-mixed": lambda: worms_case("worms-4-mixed"),
         "worms-4-treated": lambda: worms_case("worms-4-treated"), "ecoli": ecoli_case, "leaves-1.7x": leaves_case}


def score(model_path, test) -> dict[str, float]:
    """Mean AP50 and SBD over ``test`` with the defaults (automatic object size, stored knobs)."""
    model = load_model(model_path, device="cpu")
    results = []
    for image, truth in test:
        size = estimate_object_size(model, image)
        instances, _ = segment(at_object_size(model, size.factor), image)
        results.append(evaluate(truth, instances.labels))
    return {"ap50": float(np.mean([r["ap50"] for r in results])), "sbd": float(np.mean([r["sbd"] for r in results]))}


def run_case(name: str, minutes: float) -> dict:
    model, kind, train, test, floor_results = CASES[name]()
    planes = [plane for image, labels in train for plane in annotated_planes(image, labels, rgb=image.ndim == 3)]
    with tempfile.TemporaryDirectory() as out:
        t0 = time.perf_counter()
        config = load_model(model, device="cpu").config
        method = config.method
        # the Train dock's defaults when starting from a model: the kind's preset with the starting model's scale and
        # τ (the dock shows those), at the fine-tuning learning rate
        preset = replace(PRESETS[kind], scale=config.scale, min_size=config.min_size,
                         learning_rate=min(FINETUNE_LEARNING_RATE, PRESETS[kind].learning_rate))
        events = list(finetune(planes, start=model, preset=preset, method=method, output=out, minutes=minutes,
                               threads=1))
        seconds = time.perf_counter() - t0
        done = events[-1]
        tuned = score(done.path, test)
    start = score(model, test)
    floor = max(({"name": k, "ap50": float(np.mean([r["ap50"] for r in v]))} for k, v in floor_results.items()),
                key=lambda f: f["ap50"])
    kept = tuned if done.improved else start  # the guard keeps the starting model selected
    notes = [e.note for e in events if e.note]
    return {"case": name, "model": model, "minutes": seconds / 60, "steps": done.total, "start": start,
            "tuned": tuned, "improved": done.improved, "kept": kept, "floor": floor, "notes": notes,
            "held_out_start": done.start_metrics.get("ap50"), "held_out_best": done.metrics.get("ap50")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", nargs="+", default=list(CASES))
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--json", type=Path, default=None, help="append each case's result to this JSON-lines file")
    args = parser.parse_args()
    for name in args.cases:
        r = run_case(name, args.minutes)
        guard = "helped" if r["improved"] else ("guard fired: start kept" if r["improved"] is False else "no score")
        print(f"| {name} | `{r['model']}` | {r['start']['ap50']:.3f} / {r['start']['sbd']:.3f} | "
              f"{r['tuned']['ap50']:.3f} / {r['tuned']['sbd']:.3f} | {guard} | {r['kept']['ap50']:.3f} | "
              f"{r['floor']['ap50']:.3f} ({r['floor']['name']}) | {r['minutes']:.1f} ({r['steps']} steps) |",
              flush=True)
        print("   ", "; ".join(r["notes"]), flush=True)
        if args.json:
            with open(args.json, "a") as handle:
                handle.write(json.dumps(r) + "\n")


if __name__ == "__main__":
    main()
