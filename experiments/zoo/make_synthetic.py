"""Write generated scenes (napari_deepcolor.training.synthetic_scenes) to a folder as image / label TIFF pairs.

Usage::

    python experiments/zoo/make_synthetic.py ecoli --count 200 --output data/synthetic_ecoli [--seed 0]

writes ``OUTPUT/images/<kind>_<seed>.tif`` and ``OUTPUT/labels/<kind>_<seed>.tif``, the layout ``deepcolor train
--images OUTPUT/images --labels OUTPUT/labels`` reads. ``deepcolor train --synthetic KIND`` makes the same scenes in
memory instead (seeds 0..N-1).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import tifffile

from napari_deepcolor.io import write_labels
from napari_deepcolor.training.synthetic_scenes import GENERATORS, synthetic_pairs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("kind", choices=sorted(GENERATORS))
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--output", type=Path, required=True)
    parser.add_argument("--seed", type=int, default=0, help="seed of the first scene; the i-th gets seed + i")
    args = parser.parse_args()
    (args.output / "images").mkdir(parents=True, exist_ok=True)
    (args.output / "labels").mkdir(parents=True, exist_ok=True)
    for i, (image, labels) in enumerate(synthetic_pairs(args.kind, args.count, seed=args.seed)):
        name = f"{args.kind}_{args.seed + i:07d}.tif"
        tifffile.imwrite(args.output / "images" / name, image, compression="zlib")
        write_labels(args.output / "labels" / name, labels)
    print(f"wrote {args.count} {args.kind} pairs to {args.output}")


if __name__ == "__main__":
    main()
