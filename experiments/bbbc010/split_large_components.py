"""Bright-field `worms`, with its instances much larger than the well's typical worm split by `worms-mask` (which
splits a foreground into worms), against `worms` alone, the whole chain (`worms`'s foreground into `worms-mask`) and
the floor. The idea: touching worms painted one color are `worms`'s merges, and merged pairs are large.

An instance larger than F times the well's median instance area is replaced by the `worms-mask` instances (of
`worms`'s own foreground) inside it, when at least two of them have 300 pixels there; the rest of it goes to the
nearest of those. F is to be chosen on the 10 training wells where choices are made; all 39 training wells and the
10 validation wells are printed beside them (docs/accuracy.md). Result (2026-12-06): not adopted. On the 10
training wells F = 1.3 and 1.6 tie (0.641 against `worms`'s 0.627); on the validation wells they score 0.652 and
0.681 against 0.677: within the noise, in either direction.

    python experiments/bbbc010/split_large_components.py
"""

from __future__ import annotations

import numpy as np
from bbbc010_split import DEFAULT_DATA, TRAINING_WELLS, all_pairs, foreground_pieces
from scipy import ndimage as ndi

from napari_deepcolor.io import read_image, read_mask_stack
from napari_deepcolor.metrics import evaluate, summarize
from napari_deepcolor.predict.network import load_model, segment

FACTORS = (1.3, 1.6, 2.0, 2.5)


def split_large(worms: np.ndarray, mask: np.ndarray, factor: float, min_part: int = 300) -> np.ndarray:
    """``worms``'s instances, those over ``factor`` x the median area split along ``mask``'s instances."""
    areas = np.bincount(worms.ravel())[1:]
    if not (areas > 0).any():
        return worms
    out, next_id = worms.copy(), int(worms.max()) + 1
    for label in np.flatnonzero(areas > factor * np.median(areas[areas > 0])) + 1:
        inside = worms == label
        parts = [p for p in np.unique(mask[inside]) if p and (mask[inside] == p).sum() >= min_part]
        if len(parts) < 2:
            continue
        out[inside] = 0
        for part in parts:
            out[inside & (mask == part)] = next_id
            next_id += 1
        rest = inside & (out == 0)
        if rest.any():  # to the nearest part
            _, (iy, ix) = ndi.distance_transform_edt(out == 0, return_indices=True)
            out[rest] = out[iy[rest], ix[rest]]
    return out


def main() -> None:
    worms, mask_model = load_model("worms", device="cpu"), load_model("worms-mask", device="cpu")
    pairs = all_pairs(DEFAULT_DATA)
    rows: dict[str, list[tuple[str, dict[str, dict]]]] = {}
    for image_path, masks in pairs:
        truth = read_mask_stack(masks)
        labels = segment(worms, read_image(image_path))[0].labels
        chain = segment(mask_model, (labels > 0).astype(np.uint8))[0].labels
        methods = {"floor": foreground_pieces(image_path), "worms": labels, "chain": chain,
                   **{f"split > {f}x": split_large(labels, chain, f) for f in FACTORS}}
        rows[image_path.stem] = {name: evaluate(truth, result) for name, result in methods.items()}
    names = [p.stem for p, _ in pairs]
    sets = {"10 training wells (choices)": names[:TRAINING_WELLS:4], "39 training wells": names[:TRAINING_WELLS],
            "10 validation wells": names[TRAINING_WELLS:]}
    methods = list(next(iter(rows.values())))
    print("| AP50 | " + " | ".join(methods) + " |\n|---|" + "---:|" * len(methods))
    for set_name, wells in sets.items():
        print(f"| {set_name} | " + " | ".join(f"{summarize([rows[w][m] for w in wells])['ap50']:.3f}"
                                           for m in methods) + " |")


if __name__ == "__main__":
    main()
