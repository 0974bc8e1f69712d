"""Numbers of the `ecoli` and `leaves` model cards: τ/ρ chosen on validation data, then the held-out test set,
next to trivial floors; coloring or semiconv models.

Usage::

    python experiments/zoo/evaluate_zoo.py ecoli --model runs/ecoli/best.safetensors
    python experiments/zoo/evaluate_zoo.py leaves --model runs/leaves/best.safetensors [--absorb-fragments]
    python experiments/zoo/evaluate_zoo.py nuclei --model runs/nuclei/last.safetensors

ecoli: validation = rows 128-166 of the bundled Omnipose image, test = rows 167-333 (the bottom half, never used in
training or tuning); ground truth = Omnipose's labels (silver standard). leaves: validation = generated rosettes
with seeds 1,000,000-1,000,019 (those ``deepcolor train --synthetic-val 20`` used), test = 50 more with seeds
3,000,000-3,000,049. nuclei: generated fluorescence images (`training.synthetic_nuclei`), validation seeds
1,000,000-1,000,019 (``--synthetic-val 20``), test seeds 2,000,000-2,000,049. Prints markdown: the sweep on validation (τ and ρ for coloring; τ, the kernel threshold and the
foreground threshold for semiconv), the chosen knobs on the test set, the floors.
"""

from __future__ import annotations

import argparse
import json
import time
from functools import partial

import numpy as np
import tifffile
from scipy import ndimage as ndi
from skimage.filters import threshold_multiotsu, threshold_otsu
from skimage.measure import label
from skimage.segmentation import expand_labels, watershed

from napari_deepcolor._sample_data import SAMPLES_DIR
from napari_deepcolor.metrics import evaluate, summarize
from napari_deepcolor.postprocess.coloring import ColorComponents
from napari_deepcolor.postprocess.embeddings import cluster_embeddings
from napari_deepcolor.predict.network import load_model, predict_embeddings, predict_probs
from napari_deepcolor.training.loop import touching_color_agreement
from napari_deepcolor.training.synthetic_nuclei import nuclei_field
from napari_deepcolor.training.synthetic_scenes import rosette

MIN_SIZES = {"ecoli": (0, 30, 60, 100, 150), "leaves": (0, 30, 60, 100, 150, 250, 400), "nuclei": (0, 15, 30, 60, 100)}
MERGE_DISTANCES = (0, 2, 4, 8)
ECOLI_ROWS = {"val": (128, 167), "test": (167, 334)}
FOREGROUND = "connected components of the ground-truth foreground"
OTSU = "connected components of an Otsu threshold (darkest of 3 classes for E. coli, excess green for leaves)"
WATERSHED = "watershed of that threshold's distance transform"
TRUE_WATERSHED = "watershed of the true foreground's distance transform"
# (both E. coli floors grown by one pixel, as Omnipose's labels include the cells' rim)
LEAVES_SEEDS = {"val": range(1_000_000, 1_000_020), "test": range(3_000_000, 3_000_050)}
NUCLEI_SEEDS = {"val": range(1_000_000, 1_000_020), "test": range(2_000_000, 2_000_050)}


def ecoli_pairs(part: str) -> list[tuple[np.ndarray, np.ndarray]]:
    top, bottom = ECOLI_ROWS[part]
    image = tifffile.imread(SAMPLES_DIR / "ecoli_colony.tif")
    labels = tifffile.imread(SAMPLES_DIR / "ecoli_colony_labels.tif").astype(np.int32)
    return [(image[top:bottom], labels[top:bottom])]


def leaves_pairs(part: str) -> list[tuple[np.ndarray, np.ndarray]]:
    return [rosette(seed) for seed in LEAVES_SEEDS[part]]


def nuclei_pairs(part: str) -> list[tuple[np.ndarray, np.ndarray]]:
    return [nuclei_field(seed) for seed in NUCLEI_SEEDS[part]]


PAIRS = {"ecoli": ecoli_pairs, "leaves": leaves_pairs, "nuclei": nuclei_pairs}


def row(name: str, results: list[dict]) -> str:
    s = summarize(results)
    return (f"| {name} | {s['ap50']:.3f} | {s['ap75']:.3f} | {s['mean_ap']:.3f} | {s['sbd']:.3f} | "
            f"{s['abs_dic']:.1f} | {s['n_gt']} / {s['n_pred']} |")


def floors(kind: str, pairs: list[tuple[np.ndarray, np.ndarray]]) -> dict[str, list[dict]]:
    """Trivial segmentations of each image: connected components of the true foreground, of an Otsu threshold
    (dark pixels for phase contrast, excess green for plants, bright pixels for nuclei) and, for E. coli and nuclei,
    a distance-transform watershed of the latter. Fixed settings, not tuned on the test data."""
    out: dict[str, list[dict]] = {FOREGROUND: [], OTSU: []}
    watershed_too = kind in ("ecoli", "nuclei")
    if watershed_too:
        out[WATERSHED] = []
    if kind == "leaves":  # the floor the real rosette photos were measured against (FINDINGS.md)
        out[TRUE_WATERSHED] = []
    for image, truth in pairs:
        out[FOREGROUND].append(
            evaluate(truth, label(truth > 0).astype(np.int32)))
        if kind == "leaves":
            out[TRUE_WATERSHED].append(evaluate(truth, _distance_watershed(truth > 0, size=15)))
        if kind == "ecoli":
            smooth = ndi.gaussian_filter(image.astype(np.float32), 1)
            # three classes (cells < background < halo); the darkest are the cells
            mask = smooth < threshold_multiotsu(smooth, classes=3)[0]
        elif kind == "nuclei":
            smooth = ndi.gaussian_filter(image.astype(np.float32), 1)
            mask = smooth > threshold_otsu(smooth)
        else:
            rgb = image.astype(np.float32)
            green = 2 * rgb[..., 1] - rgb[..., 0] - rgb[..., 2]
            mask = green > threshold_otsu(green)
        components = label(mask).astype(np.int32)
        small = np.bincount(components.ravel()) < 30
        small[0] = False
        mask &= ~small[components]
        components = label(mask).astype(np.int32)
        # Omnipose's labels reach a pixel into the bright rim around each dark cell: grow by one pixel to match
        grow = 1 if kind == "ecoli" else 0
        out[OTSU].append(evaluate(truth, expand_labels(components, grow)))
        if watershed_too:
            out[WATERSHED].append(evaluate(truth, expand_labels(_distance_watershed(mask, size=9), grow)))
    return out


def _distance_watershed(mask: np.ndarray, *, size: int) -> np.ndarray:
    """Watershed of a mask's distance transform from its near-maximal plateaus (fixed settings)."""
    distance = ndi.distance_transform_edt(mask)
    peaks = label(distance >= 0.7 * ndi.maximum_filter(distance, size=size)) * (distance > 2)
    return watershed(-distance, peaks, mask=mask).astype(np.int32)


KERNEL_THRESHOLDS = (0.3, 0.5, 0.7, 0.9)
FOREGROUND_THRESHOLDS = (0.5, 0.7, 0.9)


def decoding(model, min_sizes, merge_distances, absorb_fragments: bool):
    """What a sweep varies, for the model's method: (knob names, grid of knob tuples, predict(image) -> network
    output, to_labels(output, knobs) -> label image). Coloring: τ × ρ; semiconv: τ × kernel threshold ×
    foreground threshold (``merge_distances`` unused)."""
    if model.config.method == "semiconv":
        def to_labels(out, knobs):
            min_size, threshold, foreground = knobs
            return cluster_embeddings(out.embeddings, out.foreground, sigma=out.sigma, threshold=threshold,
                                      min_size=min_size, seeds=out.seeds, foreground_threshold=foreground).labels

        grid = [(t, k, f) for t in min_sizes for k in KERNEL_THRESHOLDS for f in FOREGROUND_THRESHOLDS]
        return ("τ", "kernel threshold", "foreground threshold"), grid, partial(predict_embeddings, model), to_labels

    def to_labels(out, knobs):
        min_size, merge = knobs
        return out.to_labels(min_size=min_size, merge_distance=merge or None, absorb_fragments=absorb_fragments).labels

    grid = [(t, r) for t in min_sizes for r in merge_distances]
    return ("τ", "ρ"), grid, lambda image: ColorComponents.from_probs(predict_probs(model, image)), to_labels


def print_sweep(method: str, names, grid, min_sizes, merge_distances, cell) -> None:
    """A sweep as markdown: a τ × ρ table for coloring, one row per knob tuple for semiconv; ``cell(knobs)`` is the
    text of one result."""
    if method == "coloring":
        print("| τ \\ ρ | " + " | ".join(f"{r:g}" for r in merge_distances) + " |\n"
              + "|---" * (len(merge_distances) + 1) + "|")
        for t in min_sizes:
            print(f"| {t:g} | " + " | ".join(cell((t, r)) for r in merge_distances) + " |", flush=True)
    else:
        print("| " + " | ".join(names) + " | result |\n" + "|---" * (len(names) + 1) + "|")
        for knobs in grid:
            print("| " + " | ".join(f"{k:g}" for k in knobs) + f" | {cell(knobs)} |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("kind", choices=tuple(PAIRS))
    parser.add_argument("--model", required=True)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--absorb-fragments", action="store_true", help="decode with fragments below τ joined to a "
                        "touching neighbour (postprocess.fragment_absorbers; coloring models only)")
    parser.add_argument("--knobs", type=float, nargs="+", help="measure the test set at these knobs (τ ρ, or τ, kernel "
                        "threshold, foreground threshold), fixed beforehand, instead of the validation sweep's best")
    args = parser.parse_args()
    make_pairs = PAIRS[args.kind]
    model = load_model(args.model, device=args.device)
    config = model.config
    if config.method == "semiconv" and args.absorb_fragments:
        parser.error("--absorb-fragments is a coloring decoding; a semiconv model has no fragments to join")
    names, grid, predict, to_labels = decoding(model, MIN_SIZES[args.kind], MERGE_DISTANCES, args.absorb_fragments)

    def decode(pairs):
        outputs, seconds = [], []
        for image, _ in pairs:
            start = time.perf_counter()
            outputs.append(predict(image))
            seconds.append(time.perf_counter() - start)
        return outputs, seconds

    def results(outputs, pairs, knobs):
        return [evaluate(truth, to_labels(out, knobs)) for out, (_, truth) in zip(outputs, pairs)]

    def knob_text(knobs):
        return ", ".join(f"{n} = {k:g}" for n, k in zip(names, knobs))

    val = make_pairs("val")
    val_out, _ = decode(val)
    sweep = {knobs: summarize(results(val_out, val, knobs)) for knobs in grid}
    # best AP50, ties to the higher mean AP, then to the smaller knobs
    best, _ = max(sweep.items(), key=lambda kv: (round(kv[1]["ap50"], 6), round(kv[1]["mean_ap"], 6),
                                                 *(-k for k in kv[0])))
    how = "chosen on validation"
    if args.knobs:
        best, how = tuple(args.knobs), "given"
        sweep.setdefault(best, summarize(results(val_out, val, best)))
    colors = f"{config.n_colors} colors" if config.method == "coloring" else f"{config.embedding_dims} dimensions"
    print(f"model {args.model}: {config.method}, {colors}, depth {config.depth}, width {config.width}, scale "
          f"{config.scale:g}; step {model.metadata.get('step')}; absorb_fragments={args.absorb_fragments}\n")
    print("validation sweep (AP50 / mean AP / SBD):\n")
    print_sweep(config.method, names, grid, MIN_SIZES[args.kind], MERGE_DISTANCES,
                lambda knobs: f"{sweep[knobs]['ap50']:.3f} / {sweep[knobs]['mean_ap']:.3f} / {sweep[knobs]['sbd']:.3f}")
    print(f"\n{how}: {knob_text(best)}\n")
    chosen = {k: round(float(sweep[best][k]), 4) for k in ("ap50", "ap75", "mean_ap", "sbd")}

    test = make_pairs("test")
    test_out, seconds = decode(test)
    header = "| method | AP50 | AP75 | mean AP (0.5:0.95) | SBD | abs DiC | instances true / predicted |"
    print("test set:\n\n" + header + "\n" + "|---" * 7 + "|")
    print(row(f"`{args.kind}` model, {knob_text(best)} ({how})", results(test_out, test, best)))
    for name, floor in floors(args.kind, test).items():
        print(row(f"floor: {name}", floor))
    if config.method == "coloring":
        same = touching = 0
        usage = np.zeros(config.n_colors)
        for cc, (_, truth) in zip(test_out, test):
            s, t = touching_color_agreement(cc.colors, truth)
            same, touching = same + s, touching + t
            usage += np.bincount(cc.colors.ravel(), minlength=config.n_colors)
        fg = usage[1:].sum()
        print(f"\ncolors used (>= 2 % of the predicted foreground): {int((usage[1:] >= 0.02 * fg).sum())} of "
              f"{config.n_colors - 1}; touching true pairs with the same majority color: {same}/{touching}")
    print(f"inference on {model.device}: {np.median(seconds) * 1000:.0f} ms median per test image "
          f"{test[0][0].shape}")
    print("\nvalidation metrics at the chosen knobs, for scripts/bundle_model.py --validation-json:")
    knobs = (dict(zip(("min_size", "merge_distance"), best), absorb_fragments=args.absorb_fragments)
             if config.method == "coloring" else
             dict(zip(("min_size", "kernel_threshold", "foreground_threshold"), best)))
    print(json.dumps({**chosen, "set": "validation", **knobs}))


if __name__ == "__main__":
    main()
