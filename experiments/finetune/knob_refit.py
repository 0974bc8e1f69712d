"""Decoding knobs chosen on the user's own annotations after fine-tuning: does the fine-tuned model score higher on
images no step saw with them than with the starting model's knobs?

A fine-tuning keeps the starting model's τ (and, for a semi-convolutional model, its kernel threshold): they were
chosen for the start's network on the start's images. On the real nuclei the fine-tuned `nuclei` lost 0.10 AP50 on
the test half with the same SBD (0.740 / 0.819 against 0.843 / 0.816): the objects overlap as well, but fewer match,
which is what a τ or a threshold off for the new network does.

Each case (few_shot.py's) is fine-tuned with the Train dock's defaults, as few_shot.py does. Then, on the training
part of its annotations (`holdout.split_holdout`'s, which the guard's held-out part is kept out of), the grid below
is scored with the automatic object size (the estimate, checked on the objects, at the stored knobs; then each grid
point decoded at the size kept) by mean AP50 over the planes (pixels not annotated, -1, are left out of both). The
grid point with the highest mean AP50 is chosen (ties: nearest the stored knobs, τ first). Both the fine-tuned and
the starting model get a choice; the fine-tuned one is what the rule is about, the start's is reported.

- τ (``min_size``): the stored τ times 0.5, 0.7, 1, 1.4, 2.
- semi-convolutional models also the kernel threshold: the stored one -0.1, +0, +0.1 (within 0.05-0.95).

Rule, written before it ran: on the selection cases select-worms-1, select-worms-4, select-ecoli, select-leaves,
select-shift and select-shift-worms, the fine-tuned model's mean AP50 on their test images (the defaults: automatic
object size, the knobs as stored or as chosen) with the chosen knobs against the stored ones. Adopted (fine-tuning
then stores the knobs it chose on the training part) if the mean over the six rises by at least 0.01 and no case
drops by more than 0.02. The table cases (few_shot.py's CASES, nuclei-real among them) are measured afterwards only.

    OMP_NUM_THREADS=1 python experiments/finetune/knob_refit.py --cases select-ecoli select-leaves --json a.jsonl
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import few_shot  # noqa: E402

from napari_deepcolor.metrics import evaluate  # noqa: E402
from napari_deepcolor.predict.network import at_object_size, load_model, segment  # noqa: E402
from napari_deepcolor.predict.object_size import estimate_object_size  # noqa: E402
from napari_deepcolor.predict.size_refine import segment_refined  # noqa: E402
from napari_deepcolor.training.finetune import annotated_planes, finetune, preset_for_start  # noqa: E402
from napari_deepcolor.training.holdout import split_holdout  # noqa: E402
from napari_deepcolor.training.presets import PRESETS  # noqa: E402

TAU = (0.5, 0.7, 1.0, 1.4, 2.0)
THRESHOLD = (-0.1, 0.0, 0.1)


def with_knobs(model, tau: float, threshold: float):
    """``model`` with its τ times ``tau`` and its kernel threshold moved by ``threshold`` (as stored knobs)."""
    base = model.base_config
    changed = {"min_size": base.min_size * tau}
    if base.method == "semiconv":
        changed["kernel_threshold"] = float(np.clip(base.kernel_threshold + threshold, 0.05, 0.95))
    return replace(model, base_config=replace(base, **changed), config=replace(model.config, **{
        "min_size": model.config.min_size * tau, **({"kernel_threshold": changed["kernel_threshold"]}
                                                    if "kernel_threshold" in changed else {})}))


def grid(model) -> list[tuple[float, float]]:
    thresholds = THRESHOLD if model.base_config.method == "semiconv" else (0.0,)
    points = list(itertools.product(TAU, thresholds))
    return sorted(points, key=lambda p: (abs(np.log(p[0])), abs(p[1])))  # nearest the stored first: wins ties


def _ap50(truth: np.ndarray, labels: np.ndarray) -> float:
    ignored = truth < 0
    labels = np.where(ignored, 0, labels)
    return evaluate(np.where(ignored, 0, truth), labels)["ap50"]


def choose(model, planes) -> tuple[tuple[float, float], dict]:
    """The grid point with the highest mean AP50 on ``planes`` (their auto size kept at the stored knobs)."""
    sized = []
    for image, _ in planes:
        kept, _, _ = segment_refined(model, image, estimate_object_size(model, image))
        sized.append(kept.base_config.scale / kept.config.scale)
    scores = {}
    for point in grid(model):
        scores[point] = float(np.mean([_ap50(truth, segment(with_knobs(at_object_size(model, f), *point), image)[0].labels)
                                       for (image, truth), f in zip(planes, sized)]))
    best = max(scores, key=lambda p: scores[p])  # max keeps the first of equals: the nearest the stored
    return best, {f"{p[0]:g}/{p[1]:+g}": s for p, s in scores.items()}


def score(model, test) -> float:
    results = []
    for image, truth in test:
        _, _, (instances, _) = segment_refined(model, image, estimate_object_size(model, image))
        results.append(evaluate(truth, instances.labels)["ap50"])
    return float(np.mean(results))


def run_case(name: str, minutes: float) -> dict:
    start_name, kind, train, test, _ = {**few_shot.CASES, **few_shot.SELECT_CASES}[name]()
    planes = [plane for image, labels in train for plane in annotated_planes(image, labels, rgb=image.ndim == 3)]
    training_part = split_holdout(list(planes)).training
    start = load_model(start_name, device="cpu")
    with tempfile.TemporaryDirectory() as out:
        t0 = time.perf_counter()
        preset = preset_for_start(PRESETS[kind], start_name)
        events = list(finetune(planes, start=start_name, preset=preset, method=start.config.method, output=out,
                               minutes=minutes, threads=1))
        seconds = time.perf_counter() - t0
        tuned = load_model(events[-1].path, device="cpu")
    row = {"case": name, "model": start_name, "minutes": seconds / 60, "improved": events[-1].improved}
    for which, model in (("tuned", tuned), ("start", start)):
        point, scores = choose(model, training_part)
        row[which] = {"stored": score(model, test), "chosen_point": point, "training_scores": scores,
                      "chosen": score(with_knobs(model, *point), test) if point != (1.0, 0.0) else None}
        if row[which]["chosen"] is None:
            row[which]["chosen"] = row[which]["stored"]
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", nargs="+", required=True)
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--json", type=Path, required=True)
    args = parser.parse_args()
    for name in args.cases:
        row = run_case(name, args.minutes)
        with open(args.json, "a") as handle:
            handle.write(json.dumps(row) + "\n")
        print(name, f"tuned stored {row['tuned']['stored']:.3f} chosen {row['tuned']['chosen']:.3f} at "
              f"{row['tuned']['chosen_point']}; start stored {row['start']['stored']:.3f} chosen "
              f"{row['start']['chosen']:.3f} at {row['start']['chosen_point']}; {row['minutes']:.1f} min", flush=True)


if __name__ == "__main__":
    main()
