"""Validation numbers of a semi-convolutional model on BBBC010 (the 10 last of the 49 distributed wells).

Usage::

    python experiments/bbbc010/evaluate_semiconv_bbbc010.py --data ../shared/data/bbbc010/train \\
        --model runs/semiconv/best.safetensors [--coloring runs/worms/best.safetensors]

Prints markdown tables: the floor (connected components of the human foreground annotation), the semiconv model at
its stored knobs, optionally a coloring model at its stored knobs on the same wells, and a sweep over τ, the kernel
threshold and the foreground threshold (tuned on these same wells: optimistic, and labelled as such). Besides the
project's metrics (AP = TP / (TP + FP + FN) per image, averaged over images) it gives a COCO-style AP (`coco_ap`:
score-ranked detections pooled over the images, area under the interpolated precision-recall curve at 101 recall
points, averaged over IoU 0.50:0.05:0.95), the kind of number the semi-convolutional paper reports (0.569 on its own
BBBC010 split).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from bbbc010_split import DEFAULT_DATA, foreground_pieces, validation_pairs

from napari_deepcolor.io import read_image, read_mask_stack
from napari_deepcolor.metrics import THRESHOLDS, evaluate, iou_matrix, summarize
from napari_deepcolor.postprocess.coloring import colors_to_labels
from napari_deepcolor.postprocess.embeddings import cluster_embeddings
from napari_deepcolor.predict.network import load_model, predict_embeddings, predict_probs


def coco_ap(truths: list[np.ndarray], predictions: list[np.ndarray], scores: list[np.ndarray]) -> dict[str, float]:
    """COCO-style mask AP over a set of images (no area ranges, no detection limit, no crowd regions).

    For each IoU threshold, detections of all images are taken in decreasing score order; each is a true positive
    if it overlaps an unmatched ground-truth instance of its image with IoU >= the threshold (the best such one is
    matched), else a false positive. AP is the mean over recall 0, 0.01, ..., 1 of the highest precision at that
    recall or beyond; the result averages it over IoU 0.50:0.05:0.95.

    Parameters
    ----------
    truths : list of ndarray
        Per image, a label image (int) or a mask stack (bool).
    predictions : list of ndarray, int
        Per image, a label image numbered 1..N.
    scores : list of ndarray, shape (N,)
        Per image, the confidence of prediction ``i + 1``.

    Returns
    -------
    dict with ``coco_ap`` (0.50:0.95), ``coco_ap50`` and ``coco_ap75``.
    """
    ious = [iou_matrix(t, p) for t, p in zip(truths, predictions)]
    n_gt = sum(iou.shape[0] for iou in ious)
    order = sorted(((float(s), i, j) for i, sc in enumerate(scores) for j, s in enumerate(sc)), reverse=True)
    recall_points = np.linspace(0, 1, 101)
    per_threshold = []
    for threshold in THRESHOLDS:
        matched = [np.zeros(iou.shape[0], bool) for iou in ious]
        hits = np.zeros(len(order), bool)
        for rank, (_, image, det) in enumerate(order):
            iou = ious[image]
            if iou.shape[0] == 0 or det >= iou.shape[1]:
                continue
            candidates = np.where(matched[image], -1.0, iou[:, det])
            best = int(np.argmax(candidates))
            if candidates[best] >= threshold:
                matched[image][best] = True
                hits[rank] = True
        if not len(order):
            per_threshold.append(0.0)
            continue
        tp = np.cumsum(hits)
        fp = np.cumsum(~hits)
        recall = tp / max(n_gt, 1)
        precision = tp / np.maximum(tp + fp, 1)
        envelope = np.maximum.accumulate(precision[::-1])[::-1]
        index = np.searchsorted(recall, recall_points, side="left")
        sampled = np.where(index < len(envelope), envelope[np.minimum(index, len(envelope) - 1)], 0.0)
        per_threshold.append(float(sampled.mean()))
    return {"coco_ap": float(np.mean(per_threshold)), "coco_ap50": per_threshold[0],
            "coco_ap75": per_threshold[THRESHOLDS.index(0.75)]}


def row(name: str, results: list[dict], coco: dict | None = None) -> str:
    s = summarize(results)
    c = f"{coco['coco_ap']:.3f} | {coco['coco_ap50']:.3f}" if coco else "– | –"
    return (f"| {name} | {s['ap50']:.3f} | {s['ap75']:.3f} | {s['mean_ap']:.3f} | {s['sbd']:.3f} | "
            f"{s['abs_dic']:.2f} | {c} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--model", required=True, help="semiconv checkpoint")
    parser.add_argument("--coloring", help="a coloring checkpoint to evaluate on the same wells")
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()

    pairs = validation_pairs(args.data)
    truths = [read_mask_stack(ann) for _, ann in pairs]
    images = [read_image(img) for img, _ in pairs]
    print(f"validation wells: {', '.join(p.stem for p, _ in pairs)}\n")
    print("| method | AP50 | AP75 | mean AP (0.5:0.95) | SBD | abs DiC | COCO AP | COCO AP50 |\n"
          "|---|---|---|---|---|---|---|---|")

    floor = [foreground_pieces(img) for img, _ in pairs]
    ones = [np.ones(int(f.max()), np.float32) for f in floor]  # no scores: all detections tie
    print(row("floor: connected components of the human foreground", [evaluate(t, f) for t, f in zip(truths, floor)],
              coco_ap(truths, floor, ones)))

    model = load_model(args.model, device=args.device)
    config = model.config
    seconds, outputs = [], []
    for image in images:
        start = time.perf_counter()
        outputs.append(predict_embeddings(model, image))
        seconds.append(time.perf_counter() - start)
    sigma = outputs[0].sigma

    def decode(min_size: float, threshold: float, fg_threshold: float | None = None
               ) -> tuple[list[np.ndarray], list[np.ndarray], float]:
        labels, scores, start = [], [], time.perf_counter()
        for out in outputs:
            inst = cluster_embeddings(out.embeddings, out.foreground, sigma=sigma, threshold=threshold,
                                      min_size=min_size, seeds=out.seeds,
                                      foreground_threshold=fg_threshold or config.foreground_threshold)
            labels.append(inst.labels)
            scores.append(inst.scores)
        return labels, scores, (time.perf_counter() - start) / len(outputs)

    def results(labels: list[np.ndarray]) -> list[dict]:
        return [evaluate(t, p) for t, p in zip(truths, labels)]

    labels, scores, decode_s = decode(config.min_size, config.kernel_threshold)
    print(row(f"semiconv `{args.model}`, stored τ={config.min_size:g}, threshold={config.kernel_threshold:g}, "
              f"foreground threshold={config.foreground_threshold:g}",
              results(labels), coco_ap(truths, labels, scores)))
    if args.coloring:
        coloring = load_model(args.coloring, device=args.device)
        decoded = [colors_to_labels(predict_probs(coloring, image), min_size=coloring.config.min_size,
                                    merge_distance=coloring.config.merge_distance or None) for image in images]
        print(row(f"deep coloring `{args.coloring}`, stored τ={coloring.config.min_size:g}, "
                  f"ρ={coloring.config.merge_distance:g}", results([d.labels for d in decoded]),
                  coco_ap(truths, [d.labels for d in decoded], [d.scores for d in decoded])))
    taus, thresholds, fg_thresholds = (50, 100, 200), (0.3, 0.5, 0.7), (0.5, 0.7, 0.8, 0.9)
    sweep = {}
    for tau in taus:
        for thr in thresholds:
            for fg_thr in fg_thresholds:
                lab, _, _ = decode(tau, thr, fg_thr)
                sweep[tau, thr, fg_thr] = summarize(results(lab))
    best = max(sweep, key=lambda key: sweep[key]["ap50"])
    labels, scores, _ = decode(*best)
    print(row(f"semiconv, τ={best[0]}, threshold={best[1]}, foreground threshold={best[2]} (best AP50 of the "
              "sweep, tuned on these wells)", results(labels), coco_ap(truths, labels, scores)))

    fg_iou = {}
    for fg_thr in fg_thresholds:
        inter = union = 0
        for out, truth in zip(outputs, truths):
            predicted, true_fg = out.foreground >= fg_thr, truth.any(axis=0)
            inter, union = inter + int((predicted & true_fg).sum()), union + int((predicted | true_fg).sum())
        fg_iou[fg_thr] = inter / max(union, 1)
    print(f"\ntrained σ = {sigma:.4f} embedding units (kernel radius at threshold {config.kernel_threshold:g}: "
          f"{-sigma * np.log(config.kernel_threshold):.3f} units = "
          f"{-sigma * np.log(config.kernel_threshold) * outputs[0].unit:.1f} image px on the positional axes)")
    print("foreground IoU (pooled) at foreground threshold " + ", ".join(f"{t:g}: {v:.3f}" for t, v in fg_iou.items()))
    print(f"inference on {model.device}: {np.median(seconds) * 1000:.0f} ms median per 520x696 image; decoding "
          f"{decode_s * 1000:.0f} ms per image")
    print("\nsweep (AP50 / mean AP), rows τ and kernel threshold, columns foreground threshold:")
    print("| τ, threshold | " + " | ".join(str(t) for t in fg_thresholds) + " |\n"
          + "|---" * (len(fg_thresholds) + 1) + "|")
    for tau in taus:
        for thr in thresholds:
            cells = [f"{sweep[tau, thr, f]['ap50']:.3f} / {sweep[tau, thr, f]['mean_ap']:.3f}" for f in fg_thresholds]
            print(f"| {tau}, {thr} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
