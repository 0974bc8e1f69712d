"""The second step's reference for a fine-tuned model that carries its start's size model: the start's decoded
objects (now) or the user's annotations?

A fine-tuning on fewer than 8 images keeps the start's size model (`size_fit.carry_size_model`), and with it the
second step's reference: the size of the objects the *start* decodes on its training images (`SizeModel.decoded_px`).
Fine-tuning trains the decoder, which may paint the objects at another size: on the real nuclei (few_shot.py's
nuclei-real) the fine-tuned model scores 0.805 at object size 1 in two runs, but the check on its segmented nuclei
moved it to 1.25 and to 1.36 (0.781 and 0.707 with the defaults). The annotations say what size the fine-tuned
model's objects are at object size 1: their typical size (median √area) in the fine-tuned network's pixels, with the
tightest tolerance (`size_refine.TOLERANCE`), as a model trained here on prescaled samples gets it.

The rule, written before it ran: on the selection cases that carry a size model (select-worms-1, select-worms-4,
select-ecoli, select-leaves; few_shot.py's, where its other fine-tuning defaults were chosen; never the table's test
images), each case fine-tuned once with the Train dock's defaults, the fine-tuned model is scored on the case's test
images with the defaults twice: with the carried reference (as now) and with the annotations' reference. The
annotations' reference is adopted for `carry_size_model` if its mean AP50 over the four cases is at least 0.01 higher
and no case is more than 0.02 lower.

Result (2026-12-07): **not adopted**, mean +0.003, worst 0.000. The fine-tuned model's AP50 with the carried /
the annotations' reference: select-worms-1 0.534 / 0.534, select-worms-4 0.575 / 0.575, select-ecoli 0.889 / 0.889
(all three at size 1 either way: the references, 15.6-16.5 and 12.9-14.0 px, are within the tolerance of each
other), select-leaves 0.861 / 0.871 (median size 1.59 against 1.34; references 19.9 and 23.4 px). The rows:
carried_reference.jsonl (``--verdict`` it). On these cases the decoder's fine-tuning did not move the decoded
size the way it did on the real nuclei; nothing here says the real-nuclei drift is general.

    OMP_NUM_THREADS=1 python experiments/finetune/carried_reference.py --cases select-worms-1 select-ecoli --json a.jsonl
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import few_shot  # noqa: E402

from napari_deepcolor.predict.label_sizes import typical_object_size  # noqa: E402
from napari_deepcolor.predict.network import model_info  # noqa: E402
from napari_deepcolor.predict.size_fit import store_size_model  # noqa: E402
from napari_deepcolor.predict.size_refine import TOLERANCE  # noqa: E402

CASES = ("select-worms-1", "select-worms-4", "select-ecoli", "select-leaves")


def annotated_reference(path, test, planes) -> dict | None:
    """The fine-tuned checkpoint at ``path`` scored with the annotations' reference (a copy of it rewritten); None
    when it carries no size model."""
    config, metadata = model_info(path)
    size_model = metadata.get("size_model")
    if not isinstance(size_model, dict) or "carried_from" not in size_model:
        return None
    reference = float(np.nanmedian([typical_object_size(np.maximum(labels, 0)) for _, labels in planes])) * config.scale
    copy = Path(path).with_name("annotated_reference.safetensors")
    shutil.copyfile(path, copy)
    store_size_model(copy, {**size_model, "decoded_px": reference, "decoded_tolerance": TOLERANCE[0]})
    return {"reference": reference, "carried": size_model.get("decoded_px"), **few_shot.score(copy, test)}


def verdict(rows: list[dict]) -> None:
    gains = [r["also"]["ap50"] - r["tuned"]["ap50"] for r in rows if r["also"]]
    for r in rows:
        if r["also"]:
            print(f"{r['case']}: carried {r['tuned']['ap50']:.3f} (size {r['tuned']['size']:.2f}, reference "
                  f"{r['also']['carried']:.1f} px), annotations {r['also']['ap50']:.3f} (size {r['also']['size']:.2f}, "
                  f"reference {r['also']['reference']:.1f} px)")
    if len(gains) == len(CASES):
        adopted = np.mean(gains) >= 0.01 and min(gains) >= -0.02
        print(f"mean {np.mean(gains):+.3f}, worst {min(gains):+.3f}: {'adopted' if adopted else 'not adopted'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", nargs="+", default=list(CASES), choices=CASES)
    parser.add_argument("--json", type=Path, help="append each case's result to this JSON-lines file")
    parser.add_argument("--verdict", type=Path, nargs="+", help="only the verdict, from these --json files")
    args = parser.parse_args()
    if args.verdict:
        verdict([json.loads(line) for path in args.verdict for line in path.read_text().splitlines()])
        return
    rows = []
    for name in args.cases:
        rows.append(few_shot.run_case(name, 5.0, also=annotated_reference))
        if args.json:
            with open(args.json, "a") as handle:
                handle.write(json.dumps(rows[-1]) + "\n")
    verdict(rows)


if __name__ == "__main__":
    main()
