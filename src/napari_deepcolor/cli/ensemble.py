"""``deepcolor ensemble``: combine coloring models, and/or test-time flips, into one model file."""

from __future__ import annotations

import argparse
from pathlib import Path

from napari_deepcolor.cli._common import add_command, log


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Add ``ensemble`` and its options to the ``deepcolor`` subcommands."""
    n = add_command(subparsers, "ensemble", help="combine coloring models, and/or test-time flips, into one model "
                    "file whose color probabilities are their mean (docs/training.md)")
    n.add_argument("models", nargs="+", help="bundled model names or checkpoint files of one network description "
                   "(e.g. runs of one recipe with other seeds); the first one's τ and ρ are kept")
    n.add_argument("--output", required=True, type=Path, help="the model file to write (.safetensors)")
    n.add_argument("--images", required=True, type=Path, help="folder of example images (e.g. the training images) "
                   "on which the models' colors are matched")
    n.add_argument("--first", type=int, default=None, help="only the first N images of the folder, sorted by name "
                   "(default: all of them)")
    n.add_argument("--flips", type=int, default=1, choices=(1, 4, 8), help="also run each model on the 4 flips or "
                   "the 8 flips and transposes of the image (default: %(default)s = none)")
    n.add_argument("--half", action="store_true", help="store the weights in float16 (half the file)")
    n.set_defaults(run=run)
    return n


def run(args: argparse.Namespace) -> int:
    """Match the models' colors on the images and write the ensemble; 0 when written."""
    from napari_deepcolor.checkpoint import half_precision, save_checkpoint
    from napari_deepcolor.io import list_images, read_image
    from napari_deepcolor.predict.ensemble import make_ensemble

    if args.output.suffix != ".safetensors":
        raise ValueError(f"--output must be a .safetensors file, got {args.output}")
    if args.output.exists():
        raise FileExistsError(f"{args.output} exists; choose another --output or delete it first")
    if args.first is not None and args.first < 1:
        raise ValueError(f"--first must be >= 1, got {args.first}")
    paths = list_images(args.images)[: args.first]
    if not paths:
        raise FileNotFoundError(f"no images in {args.images} (TIFF, PNG, JPEG) to match the models' colors on")
    checkpoint = make_ensemble(args.models, [read_image(path) for path in paths], flips=args.flips)
    checkpoint.metadata["ensemble"]["aligned_on"] = f"{len(paths)} images of {args.images} ({paths[0].name} ...)"
    if args.half:
        checkpoint = half_precision(checkpoint)
    path = save_checkpoint(args.output, checkpoint)
    log.info("wrote %s (%.1f MB): %d model(s) x %d flip(s), colors matched on %d images; share of the overlap "
             "kept per model and flip: %s", path, path.stat().st_size / 1e6, len(args.models), args.flips,
             len(paths), checkpoint.metadata["ensemble"].get("aligned_overlap", "(nothing to match)"))
    return 0
