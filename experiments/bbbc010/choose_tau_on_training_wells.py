"""Choose τ and ρ (and a checkpoint) for a BBBC010 model on training wells, so the validation wells stay untouched.

Usage::

    python experiments/bbbc010/choose_tau_on_training_wells.py --model CKPT [--absorb-fragments] [--data ../shared/data/bbbc010/train]
    python experiments/bbbc010/choose_tau_on_training_wells.py --model runs/worms-stage3/history/*.safetensors --min-sizes 600 \
        --merge-distances 0 --absorb-fragments

Prints mean AP50 / SBD per (τ, ρ) on every 4th of the 39 training wells (A01, A09, ...; 10 wells), one table per
model (for a semiconv model, per τ, kernel threshold and foreground threshold); with several models, or a semiconv
one, a last line names the best AP50 (a checkpoint and knobs chosen without the validation wells).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from bbbc010_split import DEFAULT_DATA, read_input, tuning_pairs
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "zoo"))  # evaluate_zoo's sweep, shared with the cards
from evaluate_zoo import decoding, print_sweep  # noqa: E402

from napari_deepcolor.io import read_mask_stack
from napari_deepcolor.metrics import evaluate
from napari_deepcolor.predict.network import load_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--model", required=True, nargs="+")
    parser.add_argument("--min-sizes", type=float, nargs="+", default=[100, 200, 400, 600, 800])
    parser.add_argument("--merge-distances", type=float, nargs="+", default=[0, 10, 20])
    parser.add_argument("--absorb-fragments", action="store_true", help="decode with fragments below τ joined to a "
                        "touching neighbour")
    args = parser.parse_args()
    pairs = tuning_pairs(args.data)
    truths = [read_mask_stack(masks) for _, masks in pairs]
    print(f"wells: {', '.join(image.stem for image, _ in pairs)}; absorb_fragments={args.absorb_fragments}")
    best = (-1.0, "", ())
    for name in args.model:
        model = load_model(name, device="cpu")
        names, grid, predict, to_labels = decoding(model, args.min_sizes, args.merge_distances,
                                                   args.absorb_fragments and model.config.method == "coloring")
        outputs = [predict(read_input(image, mask_input=model.config.mask_input)) for image, _ in pairs]
        sweep = {}
        for knobs in grid:
            results = [evaluate(truth, to_labels(out, knobs)) for out, truth in zip(outputs, truths)]
            sweep[knobs] = (np.mean([r["ap50"] for r in results]), np.mean([r["sbd"] for r in results]))
            best = max(best, (sweep[knobs][0], name, knobs))
        print(f"\n{name}\n\nAP50 / SBD:\n")
        print_sweep(model.config.method, names, grid, args.min_sizes, args.merge_distances,
                    lambda knobs, sweep=sweep: f"{sweep[knobs][0]:.3f} / {sweep[knobs][1]:.3f}")
    if len(args.model) > 1 or len(best[2]) > 2:
        print(f"\nbest AP50 on the training wells: {best[0]:.3f}, {best[1]} at "
              + ", ".join(f"{n} = {k:g}" for n, k in zip(names, best[2])))


if __name__ == "__main__":
    main()
