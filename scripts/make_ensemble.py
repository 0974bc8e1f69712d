"""Write one coloring model that averages several checkpoints and/or test-time flips (`napari_deepcolor.ensemble`).

Usage::

    python scripts/make_ensemble.py --output runs/worms-mask-ensemble.safetensors --flips 4 \
        --images ../shared/data/bbbc010/train/foreground --first 39 \
        runs/worms-mask/last.safetensors worms-mask runs/worms-mask-seed1/last.safetensors

The members' colors are aligned on the images given (here the 39 BBBC010 training wells' foreground masks, the
validation wells left out). ``--half`` stores the weights in float16 (half the file). The output is an ordinary
checkpoint: evaluate it, choose its τ and bundle it like any other (`scripts/bundle_model.py`).
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from napari_deepcolor.checkpoint import save_checkpoint
from napari_deepcolor.ensemble import make_ensemble
from napari_deepcolor.io import list_images, read_image


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sources", nargs="+", help="bundled model names or checkpoint files")
    parser.add_argument("--output", type=Path, required=True)
    parser.add_argument("--flips", type=int, default=1, choices=(1, 4, 8))
    parser.add_argument("--images", type=Path, required=True, help="folder of example images to align colors on")
    parser.add_argument("--first", type=int, help="only the first N images of the folder, sorted by name")
    parser.add_argument("--half", action="store_true", help="store floating-point weights as float16")
    args = parser.parse_args()
    paths = list_images(args.images)[: args.first]
    checkpoint = make_ensemble(args.sources, [read_image(p) for p in paths], flips=args.flips)
    if args.half:
        checkpoint = dataclasses.replace(checkpoint, state_dict={
            name: tensor.half() if tensor.is_floating_point() else tensor
            for name, tensor in checkpoint.state_dict.items()})
    checkpoint.metadata["ensemble"]["aligned_on"] = f"{len(paths)} images of {args.images} ({paths[0].name} ...)"
    path = save_checkpoint(args.output, checkpoint)
    print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB); colors aligned on {len(paths)} images, share of "
          f"overlap kept per member and flip: {checkpoint.metadata['ensemble']['aligned_overlap']}")


if __name__ == "__main__":
    main()
