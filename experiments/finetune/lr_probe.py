"""A probe, nothing chosen by it: does fine-tuning knock a model that already fits the images off its minimum?

On confirm-leaves-16 (few_shot.py: `leaves-semiconv`, 16 -> 32 realistic rosettes enlarged 1.5x, images like its own
training images) the fine-tuned model scored below its start on the test images (0.853 against 0.878) and its
held-out score never rose above the start's. Fine-tuned here for 300 steps (no time budget, no early stop), the
held-out part scored every 30 steps, in four arms: the dock's rate (3e-4 for this model), 1e-4, 3e-5, and 3e-4 with a
linear warm-up over the first 20 % of the steps. Rows: lr_probe.jsonl (2026-12-07, one run each, one torch thread).

Result: the held-out score (4 planes, ~70 leaves: one leaf is 0.014) moved between 0.698 and 0.743 in every arm,
starting at 0.729, with no drop after the first steps; on the 32 test rosettes the fine-tuned models scored 0.843
(3e-4), 0.846 (1e-4), 0.836 (3e-5) and 0.834 (warm-up), the start 0.878. So it is not the rate: even at 3e-5 the
model scores below its start, which points at what changes with any fine-tuning here, the object size it trains and
runs at (read_as_start.py looked at that; not adopted).

    OMP_NUM_THREADS=1 python experiments/finetune/lr_probe.py default confirm-leaves-16   # or lr1e-4, lr3e-5, warmup
"""

from __future__ import annotations

import json
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import few_shot  # noqa: E402

from napari_deepcolor.predict.network import load_model  # noqa: E402
from napari_deepcolor.training import finetune as finetune_module  # noqa: E402
from napari_deepcolor.training import loop  # noqa: E402
from napari_deepcolor.training.finetune import annotated_planes, finetune, preset_for_start  # noqa: E402
from napari_deepcolor.training.presets import PRESETS  # noqa: E402

ARMS = ("default", "lr1e-4", "lr3e-5", "warmup")
STEPS, VALIDATE_EVERY, WARMUP = 300, 30, 0.2


def patch(arm: str) -> None:
    """Validate every `VALIDATE_EVERY` steps; for ``warmup``, a linear warm-up of the rate over `WARMUP` of them."""
    train_config_for = finetune_module.train_config_for
    finetune_module.train_config_for = lambda preset, **kw: replace(train_config_for(preset, **kw),
                                                                    validate_every=VALIDATE_EVERY)
    if arm == "warmup":
        rate = loop._Run.learning_rate
        loop._Run.learning_rate = lambda run, step: rate(run, step) * min(1.0, (step + 1) / max(1, WARMUP * run.total))


def probe(arm: str, case: str) -> dict:
    model, kind, train, test, _ = {**few_shot.CASES, **few_shot.SELECT_CASES}[case]()
    patch(arm)
    preset = replace(preset_for_start(PRESETS[kind], model), steps=STEPS)
    if arm.startswith("lr"):
        preset = replace(preset, learning_rate=float(arm[2:]))
    planes = [p for image, labels in train for p in annotated_planes(image, labels, rgb=image.ndim == 3)]
    with tempfile.TemporaryDirectory() as out:
        events = list(finetune(planes, start=model, preset=preset, method=load_model(model, device="cpu").config.method,
                               output=out, minutes=None, threads=1, patience=None))
        trajectory = [(e.step, round(e.metrics["ap50"], 3)) for e in events if e.kind == "validation"]
        done = events[-1]
        tuned = few_shot.score(done.path, test)
    return {"arm": arm, "case": case, "lr": preset.learning_rate, "traj": trajectory, "tuned": tuned,
            "improved": done.improved}


if __name__ == "__main__":
    arm, case = sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else "confirm-leaves-16"
    if arm not in ARMS:
        raise SystemExit(f"arm must be one of {ARMS}")
    print(json.dumps(probe(arm, case)))
