"""Why a BBBC010 coloring model misses worms: each annotated worm it does not match at IoU 0.5, sorted by cause.

Usage::

    python experiments/bbbc010/worm_misses_bbbc010.py --model worms [--min-size 600] [--data ../shared/data/bbbc010/train]

Over all 49 wells, grouped by column (treated: live worms, 01-12; untreated: dead worms, 13-24) and split (the 39
training wells, the 10 validation wells). A worm is *matched* when a predicted instance has IoU >= 0.5 with it
(the best one, the AP50 criterion without the one-to-one step); an unmatched worm is

- *background*: less than 60 % of its pixels are predicted foreground;
- *merged*: its best instance is mostly (>= 40 %) something else;
- *split*: its best instance covers less than 60 % of it, the rest in other instances;
- *other*: none of these.

Each worm is also called *faint* when less than half of its mask's skeleton is *visible*
(``image_threshold_baseline.local_contrast`` above 2 noise units within 2 px): the table gives, per cause, how many
of its worms are faint. Also printed: the foreground Dice (predicted foreground against the union of the masks) and
AP50, each averaged over the group's wells. docs/accuracy.md, "What the misses are".
"""

from __future__ import annotations

import argparse
from collections import defaultdict
from pathlib import Path

import numpy as np
from bbbc010_split import DEFAULT_DATA, TRAINING_WELLS, all_pairs, read_input
from image_threshold_baseline import local_contrast
from scipy import ndimage as ndi
from skimage.morphology import skeletonize

from napari_deepcolor.io import read_image, read_mask_stack
from napari_deepcolor.metrics import evaluate
from napari_deepcolor.postprocess.coloring import ColorComponents
from napari_deepcolor.predict.network import load_model, predict_probs

CAUSES = ("matched", "background", "merged", "split", "other")


def cause(mask: np.ndarray, labels: np.ndarray) -> str:
    """Why ``mask`` (Y, X) bool is or is not matched by ``labels`` (Y, X) int at IoU 0.5 (module docstring)."""
    ids, overlaps = np.unique(labels[mask], return_counts=True)
    best_iou, best_id, best_overlap = 0.0, 0, 0
    for i, overlap in zip(ids, overlaps):
        if i == 0:
            continue
        iou = overlap / np.count_nonzero(mask | (labels == i))
        if iou > best_iou:
            best_iou, best_id, best_overlap = iou, i, overlap
    if best_iou >= 0.5:
        return "matched"
    if np.count_nonzero(labels[mask]) < 0.6 * mask.sum():
        return "background"
    if best_id and best_overlap < 0.6 * np.count_nonzero(labels == best_id):
        return "merged"
    if best_id and best_overlap < 0.6 * mask.sum():
        return "split"
    return "other"


def visible_pixels(image: np.ndarray) -> np.ndarray:
    """Where the bright-field ``image`` (Y, X) shows something: local contrast above 2 noise units within 2 px."""
    return ndi.maximum_filter(local_contrast(image), size=5) > 2


def is_faint(mask: np.ndarray, visible: np.ndarray) -> bool:
    """Whether less than half of the skeleton of the worm ``mask`` (Y, X) bool lies on ``visible`` pixels."""
    skeleton = skeletonize(mask)
    return np.count_nonzero(skeleton & visible) < 0.5 * np.count_nonzero(skeleton)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--model", default="worms")
    parser.add_argument("--min-size", type=float, help="τ instead of the one stored in the model")
    args = parser.parse_args()
    model = load_model(args.model, device="cpu")
    min_size = model.config.min_size if args.min_size is None else args.min_size
    counts: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(CAUSES, 0))
    dice: dict[str, list[float]] = defaultdict(list)
    ap50: dict[str, list[float]] = defaultdict(list)
    faint: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(CAUSES, 0))
    for index, (image_path, masks) in enumerate(all_pairs(args.data)):
        column = "treated" if int(image_path.stem[1:]) <= 12 else "untreated"
        group = f"{column}, {'training' if index < TRAINING_WELLS else 'validation'} wells"
        image = read_image(image_path)
        probs = predict_probs(model, read_input(image_path, mask_input=model.config.mask_input))
        labels = ColorComponents.from_probs(probs).to_labels(
            min_size=min_size, merge_distance=None, absorb_fragments=model.config.absorb_fragments).labels
        stack = read_mask_stack(masks).astype(bool)
        ap50[group].append(evaluate(stack, labels)["ap50"])
        union, predicted = stack.any(axis=0), labels > 0
        dice[group].append(2 * np.count_nonzero(union & predicted) / (union.sum() + predicted.sum()))
        visible = visible_pixels(image)
        for mask in stack:
            why = cause(mask, labels)
            counts[group][why] += 1
            faint[group][why] += is_faint(mask, visible)
    print(f"model {args.model}, τ = {min_size:g}, fragments {'joined' if model.config.absorb_fragments else 'dropped'}")
    print("worms (of them faint) by cause")
    print("| wells | worms | " + " | ".join(CAUSES) + " | foreground Dice | AP50 (mean over wells) |")
    print("|---" * (len(CAUSES) + 4) + "|")
    for group in sorted(counts):
        row, row_faint = counts[group], faint[group]
        cells = [f"{row[c]} ({row_faint[c]})" for c in CAUSES]
        print(f"| {group} | {sum(row.values())} ({sum(row_faint.values())}) | " + " | ".join(cells)
              + f" | {np.mean(dice[group]):.3f} | {np.mean(ap50[group]):.3f} ({len(ap50[group])} wells) |")


if __name__ == "__main__":
    main()
