"""Choose τ and ρ for a BBBC010 model on training wells, so the validation wells stay untouched by the choice.

Usage: python scripts/choose_tau_on_training_wells.py --model CKPT [--data ../shared/data/bbbc010/train]
Prints mean AP50 / SBD per (τ, ρ) on every 4th of the 39 training wells (A01, A09, ...; 10 wells).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from napari_deepcolor.inference import load_model, predict_probs
from napari_deepcolor.io import find_pairs, read_image, read_mask_stack
from napari_deepcolor.metrics import evaluate
from napari_deepcolor.postprocess import ColorComponents

TRAINING_WELLS = 39
MIN_SIZES = (100, 200, 400, 600, 800)
MERGE_DISTANCES = (0, 10, 20)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data/bbbc010/train"))
    parser.add_argument("--model", required=True)
    args = parser.parse_args()
    pairs = find_pairs(args.data / "images", args.data / "masks")[:TRAINING_WELLS:4]
    model = load_model(args.model, device="cpu")
    decoded = [(ColorComponents.from_probs(predict_probs(model, read_image(image))), read_mask_stack(masks))
               for image, masks in pairs]
    print(f"wells: {', '.join(image.stem for image, _ in pairs)}")
    print("| τ \\ ρ | " + " | ".join(str(r) for r in MERGE_DISTANCES) + " |")
    print("|---|" + "---|" * len(MERGE_DISTANCES))
    for tau in MIN_SIZES:
        cells = []
        for rho in MERGE_DISTANCES:
            results = [evaluate(components.to_labels(min_size=tau, merge_distance=rho).labels, truth)
                       for components, truth in decoded]
            cells.append(f"{np.mean([r['ap50'] for r in results]):.3f} / {np.mean([r['sbd'] for r in results]):.3f}")
        print(f"| {tau} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
