"""Fine-tune on the top half of the E. coli colony, test on the bottom half: the training widget's workflow, scripted.

Usage (from the repository root; one torch thread, as the widget uses)::

    OMP_NUM_THREADS=1 python experiments/ecoli/finetune_ecoli.py [--start worms|ecoli|FILE] [--steps 300] [--batch-size 4] \
        [--learning-rate LR] [--output runs/finetune_ecoli]

The bundled Omnipose image and labels (``napari_deepcolor/samples/ecoli_colony*.tif``, 334 × 321) are split like
the ``ecoli`` model's data: rows 0-166 train, rows 167-333 test. Cells cut by the split keep their visible part.
Four results on the bottom half, each with AP50, AP75, mean AP (IoU 0.5-0.95), SBD and the time taken:

1. the ``--start`` model (default ``worms``) as it is, with its own scale and τ;
2. the same with the E. coli preset's decoding (scale 1, τ = 30 px), no training;
3. the same fine-tuned for ``--steps`` steps of ``--batch-size`` patches on the top half with the "E. coli (colony)"
   preset;
4. the same network trained from scratch for the same steps.

Each line is printed as it finishes and the table is written to ``OUTPUT/results.md``.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import tifffile
import torch

from napari_deepcolor._sample_data import SAMPLES_DIR
from napari_deepcolor.metrics import evaluate
from napari_deepcolor.predict.network import load_model, model_info, segment
from napari_deepcolor.training.finetune import SCRATCH, annotated_planes, finetune
from napari_deepcolor.training.presets import PRESETS

SPLIT_ROW = 167


def score(model, image: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    started = time.perf_counter()
    instances, _ = segment(model, image)
    metrics = evaluate(truth, instances.labels)
    return {**{k: metrics[k] for k in ("ap50", "ap75", "mean_ap", "sbd", "n_gt", "n_pred")},
            "seconds": time.perf_counter() - started}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--start", default="worms", help="bundled model name or checkpoint to fine-tune")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--learning-rate", type=float, help="instead of the preset's")
    parser.add_argument("--output", type=Path, default=Path("runs/finetune_ecoli"))
    parser.add_argument("--only", choices=("baseline", "finetune", "scratch"), nargs="*",
                        default=["baseline", "finetune", "scratch"])
    args = parser.parse_args()
    torch.set_num_threads(1)
    image = tifffile.imread(SAMPLES_DIR / "ecoli_colony.tif")
    labels = tifffile.imread(SAMPLES_DIR / "ecoli_colony_labels.tif").astype(np.int32)
    top, bottom = (image[:SPLIT_ROW], labels[:SPLIT_ROW]), (image[SPLIT_ROW:], labels[SPLIT_ROW:])
    preset = PRESETS["E. coli (colony)"]
    preset = replace(preset, steps=args.steps, batch_size=args.batch_size,
                     prior_steps=round(preset.prior_steps * args.steps / preset.steps),
                     learning_rate=args.learning_rate or preset.learning_rate)
    print(f"preset {preset}; {platform.processor() or platform.machine()}, torch threads {torch.get_num_threads()}")
    args.output.mkdir(parents=True, exist_ok=True)
    results: dict[str, dict[str, float]] = {}

    def report(name: str, result: dict[str, float]) -> None:
        results[name] = result
        print(f"{name}: " + ", ".join(f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}"
                                      for k, v in result.items()), flush=True)
        (args.output / f"{name}.json").write_text(json.dumps(result, indent=1))

    if "baseline" in args.only:
        start = load_model(args.start, device="cpu")
        report("start_as_it_is", score(start, *bottom))
        start.config = replace(start.config, scale=preset.scale, min_size=preset.min_size)
        report("start_at_preset_scale_and_tau", score(start, *bottom))
    for name, start in (("finetune", args.start), ("scratch", SCRATCH)):
        if name not in args.only:
            continue
        done = None
        method = "coloring" if start == SCRATCH else model_info(start)[0].method  # fine-tuning keeps the method
        for event in finetune(annotated_planes(*top), start=start, preset=preset, output=args.output / name,
                              method=method, log_every=25):
            if event.kind == "step":
                print(f"  {name} step {event.step}/{event.total} loss {event.loss:.4f} ({event.elapsed:.0f} s)",
                      flush=True)
            done = event
        model = load_model(done.path, device="cpu")
        report(name, {**score(model, *bottom), "train_seconds": done.elapsed, "steps": preset.steps})


if __name__ == "__main__":
    main()
