"""``deepcolor evaluate``: compare predicted label images with ground truth."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from napari_deepcolor.cli._common import add_command, log, truth


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Add ``evaluate`` and its arguments to the ``deepcolor`` subcommands."""
    e = add_command(subparsers, "evaluate", help="compare predicted label images with ground truth")
    e.add_argument("pred_dir", type=Path, help="folder of <stem>_labels.tif (as written by predict)")
    e.add_argument("gt_dir", type=Path, help="folder of label images or per-object masks")
    e.set_defaults(run=run)
    return e


def run(args: argparse.Namespace) -> int:
    """Print one line of metrics per prediction with ground truth, then their mean; 0 when done, 2 when some pairs
    could not be evaluated (each named with why; the mean is over the others)."""
    from napari_deepcolor.io import ambiguous_annotation, annotation_for, list_images, read_labels
    from napari_deepcolor.metrics import summarize

    for folder in (args.pred_dir, args.gt_dir):
        if not folder.is_dir():
            raise FileNotFoundError(f"no such folder: {folder}")
    preds = {p.stem.removesuffix("_labels"): p for p in sorted(args.pred_dir.glob("*_labels.tif"))}
    if not preds:
        zarr = " (evaluate reads TIFF label images: predict with --output-format tif)" if any(
            args.pred_dir.glob("*_labels.zarr")) else ""
        raise FileNotFoundError(f"no <stem>_labels.tif files in {args.pred_dir}{zarr}")
    truths, results, failed = list_images(args.gt_dir), [], []
    for stem, pred_path in preds.items():
        ann = annotation_for(stem, truths)
        if ambiguous_annotation(stem, truths):
            log.warning("%s: %s holds both %s and per-object masks %s_01, ...; %s is used as the label image (if it "
                        "is the image, move it out of the ground-truth folder)", stem, args.gt_dir, ann[0].name, stem,
                        ann[0].name)
        if ann is None:
            log.warning("no ground truth for %s in %s; skipped", stem, args.gt_dir)
            continue
        try:
            scored = _scored(truth(ann), read_labels(pred_path))
        except (ValueError, OSError, MemoryError) as error:  # this pair's failure: the others go on
            reason = "out of memory" if isinstance(error, MemoryError) else str(error)
            print(f"deepcolor evaluate: error: {stem} ({pred_path.name} against {ann[0].name}): {reason}",
                  file=sys.stderr)
            failed.append(stem)
            continue
        for plane, result in scored:
            results.append(result)
            print(f"{stem}{plane}\t" + "\t".join(f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}"
                                               for k, v in result.items()))
    if not results and not failed:
        raise ValueError(f"no prediction in {args.pred_dir} has ground truth in {args.gt_dir}")
    if results:
        summary = summarize(results)
        print("mean\t" + "\t".join(f"{k} {v}" if isinstance(v, int) else f"{k} {v:.3f}" for k, v in summary.items()))
    if failed:
        names = ", ".join(failed[:5]) + (", ..." if len(failed) > 5 else "")
        print(f"deepcolor evaluate: error: {len(failed)} of {len(failed) + len(results)} pairs could not be evaluated "
              f"({names}; see above){'; the mean is over the others' if results else ''}", file=sys.stderr)
        return 2
    return 0


def _scored(gt, pred) -> list[tuple[str, dict]]:
    """The metrics of a prediction: of the image, or of each plane of a label stack (``deepcolor predict`` numbers a
    stack's labels within each plane), named ``[t]`` or ``[t, z]``."""
    import numpy as np

    from napari_deepcolor.metrics import evaluate

    if pred.ndim < 3 or gt.dtype == bool or gt.shape != pred.shape:
        return [("", evaluate(gt, pred))]
    return [(f"[{', '.join(map(str, index))}]", evaluate(gt[index], pred[index]))
            for index in np.ndindex(*pred.shape[:-2])]
