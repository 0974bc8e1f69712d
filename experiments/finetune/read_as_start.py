"""A fine-tuned model that keeps its start's size model: read each image as the start would, or at its own scale?

A fine-tuning trains at the object size F where the starting model best matches the annotations
(`training.size_scan`), so the fine-tuned model's scale is the start's / F, and when it keeps the start's size model
(`size_fit.carry_size_model`: fewer than 8 images, or its own not usable) that regression read each image at
`object_size.VIEW_REDUCTION` of the *fine-tuned* scale and snapped estimates near the fine-tuned model's own size 1.
Found while looking at why fine-tuned models score below their start on images like their training images even at a
learning rate of 3e-5 (confirm-leaves-16: 0.834-0.846 at 3e-4, 1e-4, 3e-5 and with a warm-up, start 0.878): with no
training step at all, a copy of `leaves-semiconv` with its scale divided by 1.41 and its size model carried scores
AP50 0.804 on that case's 32 test rosettes (0.824 without the snap band; divided by 1.62, 0.785), where
`leaves-semiconv` itself scores 0.878. Same weights: only the sizes the automatic object size chose differ.

The change (`SizeModel.trained_at`, `object_size.relative_to`): a carried size model records F, reads the image at
`VIEW_REDUCTION` of the start's scale and decides the size as for the start (its band around 1, its supported
range), then divides it by F. A copy with no training step then chooses what the start chooses, divided by F.

The rule, written before the runs below: on the selection cases whose fine-tuning carries the start's size model at
a training size other than 1 (select-leaves: 4 -> 10 rosettes at 1.7x; select-leaves-16: 16 -> 32 at 1.5x, carried
since its own size model is not usable; select-nuclei-4: `nuclei`, 4 -> 16 generated nuclei fields with artefacts
at 1.4x, new in few_shot.py), each fine-tuned once with the Train dock's defaults, the fine-tuned checkpoint is scored
with the defaults twice: its size model as carried before (``trained_at`` removed: read at its own scale) and as
now. Adopted if the mean AP50 over the three is at least 0.01 higher and no case is more than 0.02 lower; cases that
train at size 1 are unchanged by construction. The table cases are measured afterwards only.

Result (2026-12-07): **not adopted**, mean -0.015, worst -0.057 (rows: read_as_start.jsonl, ``--verdict`` it). The
fine-tuned models' AP50 with the carried size model read as before / as the start: select-leaves (trained at 1.19)
0.881 / 0.870, select-nuclei-4 (trained at 1.68) 0.901 / 0.844, select-leaves-16 (trained at 1.41) 0.899 / 0.922;
the starts 0.889, 0.900, 0.925. The variant's code is kept as read_as_start.patch (``git apply`` it to rerun; without
it both readings are the same).

A correction to the motivation above: that copy with no training step changed only the scale, not τ and ρ, which a
fine-tuning at size F multiplies by F² and F (`finetune.sized_for_training`, `network.resize_objects`); the 0.804
and 0.785 were mostly that. With the config as a fine-tuning writes it (``--zero-step`` now), the copy scores 0.843
(at 1.41) and 0.851 (at 1.62) read as before, 0.875 and 0.864 read as the start, against the start's 0.878: reading
as the start does give back the start's choices when nothing was trained, but once the decoder has trained, the
fine-tuned model did as well or better with the sizes read at its own scale in two of the three cases.

    OMP_NUM_THREADS=1 python experiments/finetune/read_as_start.py --cases select-leaves --json a.jsonl
    python experiments/finetune/read_as_start.py --zero-step        # the copy with no training step
    python experiments/finetune/read_as_start.py --verdict a.jsonl b.jsonl
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import few_shot  # noqa: E402

from napari_deepcolor.checkpoint import load_checkpoint, save_checkpoint  # noqa: E402
from napari_deepcolor.predict.network import model_info, resize_objects  # noqa: E402
from napari_deepcolor.predict.size_fit import carry_size_model, store_size_model  # noqa: E402
from napari_deepcolor.zoo import resolve_model  # noqa: E402

CASES = ("select-leaves", "select-leaves-16", "select-nuclei-4")


def as_before(path: Path) -> Path:
    """A copy of the checkpoint at ``path`` whose carried size model reads images at its own scale (as before)."""
    copy = path.with_name("as_before.safetensors")
    shutil.copyfile(path, copy)
    size_model = model_info(copy)[1].get("size_model")
    if isinstance(size_model, dict):
        store_size_model(copy, {k: v for k, v in size_model.items() if k != "trained_at"})
    return copy


def hook(path, test, planes) -> dict:
    size_model = model_info(path)[1].get("size_model") or {}
    return {"trained_at": size_model.get("trained_at"), "carried_from": size_model.get("carried_from"),
            "before": few_shot.score(as_before(Path(path)), test)}


def zero_step(case: str = "confirm-leaves-16", factors=(1.41, 1.62)) -> dict:
    """The start copied with its scale divided by each factor and its size model carried (no training step), scored
    as now and as before, beside the start itself."""
    model, _, _, test, _ = few_shot.SELECT_CASES[case]()
    checkpoint = load_checkpoint(resolve_model(model))
    out = {"start": few_shot.score(model, test)}
    with tempfile.TemporaryDirectory() as folder:
        for factor in factors:
            path = Path(folder) / f"zero_{factor}.safetensors"
            # as a fine-tuning at that size writes its config (`finetune.sized_for_training`): scale, τ and ρ
            save_checkpoint(path, replace(checkpoint, config=resize_objects(checkpoint.config, factor)))
            carry_size_model(model, [path], factor)
            out[f"{factor} now"] = few_shot.score(path, test)
            out[f"{factor} before"] = few_shot.score(as_before(path), test)
    return out


def verdict(rows: list[dict]) -> None:
    gains = {}
    for r in rows:
        before = (r.get("also") or {}).get("before")
        if before is None:
            continue
        gains[r["case"]] = r["tuned"]["ap50"] - before["ap50"]
        print(f"{r['case']}: trained at {r['also']['trained_at']}, before {before['ap50']:.3f} (size "
              f"{before['size']:.2f}), now {r['tuned']['ap50']:.3f} (size {r['tuned']['size']:.2f}); start "
              f"{r['start']['ap50']:.3f} ({r['start']['size']:.2f})")
    few_shot.rule_verdict(gains, CASES)


def main() -> None:
    parser = few_shot.rule_parser(__doc__.splitlines()[0], CASES,
                                  [*CASES, "leaves-1.7x", "leaves-16", "ecoli", "nuclei-real"])
    parser.add_argument("--zero-step", action="store_true", help="only the copy of the start with no training step")
    args = parser.parse_args()
    if args.zero_step:
        print(json.dumps(zero_step(), indent=1))
        return
    few_shot.run_rule(args, lambda name: hook, verdict)


if __name__ == "__main__":
    main()
