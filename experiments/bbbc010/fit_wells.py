"""Link the 29 training wells that are not choice wells into a folder of their own, for fine-tuning runs that leave
the 10 choice wells (every 4th training well, `bbbc010_split.tuning_pairs`) out of their training data.

Usage::

    python experiments/bbbc010/fit_wells.py [--data ../shared/data/bbbc010/train] [--output runs/bbbc010-fit29]

Writes OUTPUT/images/<WELL>.tif and OUTPUT/masks/<WELL>_NN.png as symbolic links to the data (nothing is copied).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from bbbc010_split import DEFAULT_DATA, TRAINING_WELLS, all_pairs, tuning_pairs


def fit_pairs(data: Path) -> list[tuple[Path, list[Path]]]:
    """The training wells that are not choice wells (29 of 39)."""
    chosen = {image for image, _ in tuning_pairs(data)}
    return [pair for pair in all_pairs(data)[:TRAINING_WELLS] if pair[0] not in chosen]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--output", type=Path, default=Path("runs/bbbc010-fit29"))
    args = parser.parse_args()
    pairs = fit_pairs(args.data)
    for folder in ("images", "masks"):
        (args.output / folder).mkdir(parents=True, exist_ok=True)
    for image, masks in pairs:
        for source, folder in [(image, "images")] + [(mask, "masks") for mask in masks]:
            link = args.output / folder / source.name
            if not link.exists():
                link.symlink_to(source.resolve())
    print(f"{len(pairs)} wells in {args.output}: {', '.join(image.stem for image, _ in pairs)}")


if __name__ == "__main__":
    main()
