"""Validation numbers on BBBC010 (the 10 last of the 49 distributed wells), next to the trivial floor.

Usage::

    python experiments/bbbc010/evaluate_bbbc010.py --data ../shared/data/bbbc010/train --model runs/worms/best.safetensors

With ``--wells training``, the same on the 10 training wells where choices are made.

Prints a markdown table: the floor (connected components of the human foreground annotation), the model at its
stored τ/ρ, and a τ/ρ sweep (tuned on these same wells: optimistic, and labelled as such).
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

import numpy as np
from bbbc010_split import (
    DEFAULT_DATA,
    TRAINING_WELLS,
    all_pairs,
    foreground_pieces,
    read_input,
    tuning_pairs,
    validation_pairs,
)
from evaluate_semiconv_bbbc010 import coco_ap

from napari_deepcolor.io import read_image, read_mask_stack
from napari_deepcolor.metrics import evaluate, summarize
from napari_deepcolor.postprocess.coloring import ColorComponents
from napari_deepcolor.postprocess.instances import Instances
from napari_deepcolor.predict.network import load_model, predict_probs, segment
from napari_deepcolor.training.loop import touching_color_agreement


def row(name: str, results: list[dict]) -> str:
    s = summarize(results)
    return (f"| {name} | {s['ap50']:.3f} | {s['ap75']:.3f} | {s['mean_ap']:.3f} | {s['sbd']:.3f} | "
            f"{s['abs_dic']:.2f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--model", default="worms")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--min-size", type=float, help="τ instead of the one stored in the model")
    parser.add_argument("--absorb-fragments", action=argparse.BooleanOptionalAction, default=None,
                        help="join (or drop) fragments below τ instead of what the model stores")
    parser.add_argument("--foreground-from", metavar="MODEL", help="for a mask-input --model: give it the "
                        "foreground that MODEL segments in the bright-field image (at MODEL's own knobs) instead of "
                        "the human foreground annotation")
    parser.add_argument("--wells", choices=("validation", "training", "all-training"), default="validation",
                        help="the 10 validation wells (default), the 10 training wells where choices are made, or all "
                        "39 training wells (trained on: a training score)")
    args = parser.parse_args()

    pairs = {"validation": validation_pairs, "training": tuning_pairs,
             "all-training": lambda data: all_pairs(data)[:TRAINING_WELLS]}[args.wells](args.data)
    truths = [read_mask_stack(ann) for _, ann in pairs]
    print(f"{args.wells} wells: {', '.join(p.stem for p, _ in pairs)}\n")
    print("| method | AP50 | AP75 | mean AP (0.5:0.95) | SBD | abs DiC |\n|---|---|---|---|---|---|")

    floor = [evaluate(truth, foreground_pieces(img)) for (img, _), truth in zip(pairs, truths)]
    print(row("floor: connected components of the human foreground", floor))

    model = load_model(args.model, device=args.device)
    config = model.config
    if args.foreground_from:
        if not config.mask_input:
            parser.error("--foreground-from needs a --model that takes masks")
        source = load_model(args.foreground_from, device=args.device)
    if args.min_size is not None:
        config = dataclasses.replace(config, min_size=args.min_size)
    if args.absorb_fragments is not None:
        config = dataclasses.replace(config, absorb_fragments=args.absorb_fragments)
    components, seconds, same, touching = [], [], 0, 0
    usage = np.zeros(config.n_colors)
    for img, _ in pairs:
        if args.foreground_from:
            image = (segment(source, read_image(img))[0].labels > 0).astype(np.uint8)
        else:
            image = read_input(img, mask_input=config.mask_input)
        start = time.perf_counter()
        probs = predict_probs(model, image)
        seconds.append(time.perf_counter() - start)
        components.append(ColorComponents.from_probs(probs))
        usage += np.bincount(components[-1].colors.ravel(), minlength=config.n_colors)
    for cc, truth in zip(components, truths):
        s, t = touching_color_agreement(cc.colors, truth)
        same, touching = same + s, touching + t

    def decode(min_size: float, merge: float, absorb: bool = config.absorb_fragments) -> list[Instances]:
        return [cc.to_labels(min_size=min_size, merge_distance=merge or None, absorb_fragments=absorb)
                for cc in components]

    def results(decoded: list[Instances]) -> list[dict]:
        return [evaluate(truth, instances.labels) for instances, truth in zip(decoded, truths)]

    decoded = decode(config.min_size, config.merge_distance)  # the stored knobs: AP, groups and COCO AP below
    stored = results(decoded)
    joined = ", fragments below τ joined" if config.absorb_fragments else ""
    print(row(f"deep coloring `{args.model}`, τ={config.min_size:g}, ρ={config.merge_distance:g}{joined}",
              stored))
    print(row(f"same, fragments below τ {'dropped (the paper)' if config.absorb_fragments else 'joined'}",
              results(decode(config.min_size, config.merge_distance, not config.absorb_fragments))))
    sweep = {(t, r): summarize(results(decode(t, r)))
             for t in (25, 50, 100, 200, 400, 500, 600, 800) for r in (0, 5, 10, 20, 40)}
    (best_t, best_r), best = max(sweep.items(), key=lambda kv: kv[1]["ap50"])
    print(row(f"same, τ={best_t}, ρ={best_r} (best AP50 of the sweep, tuned on these wells)",
              results(decode(best_t, best_r))))
    treated = [int(img.stem[1:]) <= 12 for img, _ in pairs]  # columns 01-12: live worms (the data's README)
    print("\nAP50 by group of wells (model at its stored τ/ρ; floor):")
    for name, keep in (("treated, live worms", True), ("untreated, dead worms", False)):
        chosen = [i for i, t in enumerate(treated) if t == keep]
        wells = ", ".join(pairs[i][0].stem for i in chosen)
        print(f"| {name} ({wells}) | {summarize([stored[i] for i in chosen])['ap50']:.3f} | "
              f"{summarize([floor[i] for i in chosen])['ap50']:.3f} |")
    fg = usage[1:].sum()
    print(f"\ncolors used (>= 2 % of foreground pixels): {int((usage[1:] >= 0.02 * fg).sum())} of "
          f"{config.n_colors - 1}; share per color: " + ", ".join(f"{u / fg:.2f}" for u in usage[1:]))
    print(f"touching ground-truth pairs with the same majority color: {same}/{touching} "
          f"({same / max(touching, 1):.1%})")
    coco = coco_ap(truths, [d.labels for d in decoded], [d.scores for d in decoded])
    print(f"COCO-style AP at the stored τ/ρ (pooled over the wells, scored by mean color probability; the metric of "
          f"the semi-convolutional paper's table 1): AP {coco['coco_ap']:.3f}, AP50 {coco['coco_ap50']:.3f}, "
          f"AP75 {coco['coco_ap75']:.3f}")
    print(f"inference on {model.device}: {np.median(seconds) * 1000:.0f} ms median per 520x696 image")
    print("\nτ/ρ sweep (AP50 / SBD):")
    print("| τ \\ ρ | " + " | ".join(str(r) for r in (0, 5, 10, 20, 40)) + " |\n" + "|---" * 6 + "|")
    for t in (25, 50, 100, 200, 400, 500, 600, 800):
        print(f"| {t} | " + " | ".join(f"{sweep[t, r]['ap50']:.3f} / {sweep[t, r]['sbd']:.3f}"
                                      for r in (0, 5, 10, 20, 40)) + " |")


if __name__ == "__main__":
    main()
