"""Alternative decodings of one BBBC010 coloring network, on 10 training wells and the 10 validation wells.

Usage::

    python experiments/bbbc010/decodings_bbbc010.py --model worms [--data ../shared/data/bbbc010/train]

Decodings (τ 400 / 600 / 800): the paper's (argmax, components below τ dropped); fragments below τ joined to a
touching neighbour (``absorb_fragments``, offered in the package); a foreground threshold (1 − p₀ ≥ 0.5, then the
most probable color ≥ 1); same-color pieces within a gap of 2, 4 or 8 px joined before τ (a dilation per color).
Prints AP50 / AP75 / SBD per decoding and set of wells (docs/accuracy.md, "Joining fragments below τ").
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from bbbc010_split import DEFAULT_DATA, both_sets
from scipy import ndimage as ndi
from skimage.morphology import disk

from napari_deepcolor.io import read_image, read_mask_stack
from napari_deepcolor.metrics import evaluate, summarize
from napari_deepcolor.postprocess.coloring import ColorComponents
from napari_deepcolor.predict.network import load_model, predict_probs


def foreground_threshold(probs: np.ndarray, tau: float) -> np.ndarray:
    colors = np.where(1 - probs[0] >= 0.5, probs[1:].argmax(0) + 1, 0).astype(np.int32)
    return ColorComponents.from_colors(colors, probs).to_labels(min_size=tau).labels


def gap_joined(probs: np.ndarray, tau: float, gap: int) -> np.ndarray:
    colors = probs.argmax(0)
    labels, n = np.zeros(colors.shape, np.int32), 0
    for c in range(1, probs.shape[0]):
        mask = colors == c
        grown, k = ndi.label(ndi.binary_dilation(mask, disk(gap)), np.ones((3, 3)))
        grown = np.where(mask, grown, 0)
        keep = np.bincount(grown.ravel(), minlength=k + 1) >= tau
        keep[0] = False
        ids = np.cumsum(keep) * keep
        labels = np.where(keep[grown] & mask, ids[grown] + n, labels)
        n += int(keep.sum())
    return labels


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--model", default="worms")
    args = parser.parse_args()
    sets = both_sets(args.data)
    model = load_model(args.model, device="cpu")
    decodings = {
        "argmax, fragments dropped (the paper)": lambda p, cc, t: cc.to_labels(min_size=t).labels,
        "argmax, fragments joined (absorb_fragments)": lambda p, cc, t: cc.to_labels(min_size=t,
                                                                                     absorb_fragments=True).labels,
        "foreground threshold 0.5": lambda p, cc, t: foreground_threshold(p, t),
        **{f"same color within {g} px joined before τ": (lambda p, cc, t, g=g: gap_joined(p, t, g)) for g in (2, 4, 8)},
    }
    results: dict[tuple, list] = {}
    for name, chosen in sets.items():
        for image_path, masks in chosen:
            probs, truth = predict_probs(model, read_image(image_path)), read_mask_stack(masks)
            components = ColorComponents.from_probs(probs)
            for decoding, decode in decodings.items():
                for tau in (400, 600, 800):
                    results.setdefault((decoding, tau, name), []).append(evaluate(truth, decode(probs, components,
                                                                                                 tau)))
    print("| decoding | τ | " + " | ".join(f"{name}: AP50 / AP75 / SBD" for name in sets) + " |\n|---|---|---|---|")
    for decoding in decodings:
        for tau in (400, 600, 800):
            cells = [summarize(results[decoding, tau, name]) for name in sets]
            print(f"| {decoding} | {tau} | " + " | ".join(f"{s['ap50']:.3f} / {s['ap75']:.3f} / {s['sbd']:.3f}"
                                                          for s in cells) + " |")


if __name__ == "__main__":
    main()
