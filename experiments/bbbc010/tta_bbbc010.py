"""Test-time augmentation for a BBBC010 coloring model: the 8 flips/transposes, colors aligned, probabilities averaged.

Usage::

    python experiments/bbbc010/tta_bbbc010.py --model worms [--data ../shared/data/bbbc010/train] [--training-wells-only]

A mask-input model (`worms-mask`) is given each well's human foreground, as in evaluate_bbbc010.py.

A flipped or transposed worm may get another color (the bundled `worms` colors follow orientation), so each
transformed prediction's colors ``>= 1`` are matched to the plain prediction's by the Hungarian algorithm on their
soft overlap before averaging. Prints AP50 / AP75 / mean AP / SBD on 10 training wells (A01, A09, ...) and on the 10
validation wells, for 1, 4 (flips) and 8 (flips and transposes) transforms, τ 400 and 600, fragments dropped or
joined. Not offered in the package: it did not raise validation AP50 (docs/accuracy.md).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from bbbc010_split import DEFAULT_DATA, both_sets, read_input
from scipy.optimize import linear_sum_assignment

from napari_deepcolor.io import read_mask_stack
from napari_deepcolor.metrics import evaluate, summarize
from napari_deepcolor.postprocess.coloring import ColorComponents
from napari_deepcolor.predict.ensemble import flipped_probs
from napari_deepcolor.predict.network import load_model


def aligned(reference: np.ndarray, probs: np.ndarray) -> np.ndarray:
    """``probs`` with its colors >= 1 permuted to best overlap ``reference``'s."""
    overlap = np.einsum("cyx,dyx->cd", reference[1:], probs[1:])
    rows, cols = linear_sum_assignment(-overlap)
    out = probs.copy()
    out[1 + rows] = probs[1 + cols]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--model", default="worms")
    parser.add_argument("--training-wells-only", action="store_true", help="leave the validation wells out (for a "
                        "choice made before they are looked at)")
    args = parser.parse_args()
    sets = both_sets(args.data)
    if args.training_wells_only:
        del sets["validation wells"]
    model = load_model(args.model, device="cpu")
    results: dict[tuple, list] = {}
    for name, chosen in sets.items():
        for image_path, masks in chosen:
            image = read_input(image_path, mask_input=model.config.mask_input)
            truth = read_mask_stack(masks)
            # identity, the flips, then the transposed four (`models.ensemble.flip`)
            outputs = [flipped_probs(model, image, t) for t in range(8)]
            for k in (1, 4, 8):
                mean = np.mean([aligned(outputs[0], o) for o in outputs[:k]], axis=0).astype(np.float32)
                components = ColorComponents.from_probs(mean)
                for tau in (400, 600):
                    for joined in (False, True):
                        labels = components.to_labels(min_size=tau, absorb_fragments=joined).labels
                        results.setdefault((name, k, tau, joined), []).append(evaluate(truth, labels))
    print("| wells | transforms | τ | fragments | AP50 | AP75 | mean AP | SBD |\n|---|---|---|---|---|---|---|---|")
    for (name, k, tau, joined), per_image in results.items():
        s = summarize(per_image)
        print(f"| {name} | {k} | {tau} | {'joined' if joined else 'dropped'} | {s['ap50']:.3f} | {s['ap75']:.3f} | "
              f"{s['mean_ap']:.3f} | {s['sbd']:.3f} |")


if __name__ == "__main__":
    main()
