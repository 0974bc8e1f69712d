"""Label images of BBBC010's human foreground annotation: one label per connected piece of ``foreground/<WELL>.png``.

Usage::

    python experiments/bbbc010/bbbc010_foreground_labels.py [--data ../shared/data/bbbc010/train] [--output runs/bbbc010-foreground]

Writes ``<WELL>_labels.tif`` (int32, 0 = background) for every well. They are the targets of
``experiments/bbbc010/recipes/worms-foreground.toml``: a bright-field network trained on them learns the foreground that ``worms-mask``
takes as its input (the binary segmentation of the published BBBC010 protocol), without having to tell worms apart.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from bbbc010_split import DEFAULT_DATA, all_pairs, foreground_pieces

from napari_deepcolor.io import write_labels


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--output", type=Path, default=Path("runs/bbbc010-foreground"))
    args = parser.parse_args()
    args.output.mkdir(parents=True, exist_ok=True)
    pairs = all_pairs(args.data)
    for image, _ in pairs:
        write_labels(args.output / f"{image.stem}_labels.tif", foreground_pieces(image))
    print(f"{len(pairs)} label images in {args.output}")


if __name__ == "__main__":
    main()
