"""The project's BBBC010 split, one definition for every script (docs/accuracy.md).

Of the 49 distributed wells sorted by name, the first 39 (A01 … D07) train and the last 10 (D09 … E03) validate;
every 4th training well (A01, A09, …, D03; 10 wells) is where τ, decodings and checkpoints are chosen, so the
validation wells stay out of every choice. Imported by the scripts beside it (``python scripts/NAME.py`` puts this
folder on ``sys.path``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from skimage.measure import label

from napari_deepcolor.io import find_pairs, read_image

TRAINING_WELLS, VALIDATION_WELLS = 39, 10
DEFAULT_DATA = Path("../shared/data/bbbc010/train")


def all_pairs(data: Path) -> list[tuple[Path, list[Path]]]:
    """(image, per-worm mask files) of every well, sorted by name."""
    return find_pairs(data / "images", data / "masks")


def tuning_pairs(data: Path) -> list[tuple[Path, list[Path]]]:
    """Every 4th training well: where choices are made."""
    return all_pairs(data)[:TRAINING_WELLS:4]


def validation_pairs(data: Path) -> list[tuple[Path, list[Path]]]:
    """The last 10 wells."""
    return all_pairs(data)[-VALIDATION_WELLS:]


def both_sets(data: Path) -> dict[str, list[tuple[Path, list[Path]]]]:
    """``{"training wells": tuning_pairs, "validation wells": validation_pairs}``."""
    return {"training wells": tuning_pairs(data), "validation wells": validation_pairs(data)}


def read_input(image: Path, *, mask_input: bool) -> np.ndarray:
    """What a model takes for the well of ``image`` (a path from the pairs above): the bright-field image, or,
    for a `ModelConfig.mask_input` model, the well's human foreground annotation (``foreground/<WELL>.png``: the
    binary segmentation the published BBBC010 results start from)."""
    if mask_input:
        return read_image(image.parent.parent / "foreground" / f"{image.stem}.png")
    return read_image(image)


def foreground_pieces(image: Path) -> np.ndarray:
    """The 8-connected pieces of the well's human foreground annotation as a label image ``(Y, X)`` int32: the
    project's trivial floor, and the targets of ``experiments/bbbc010/recipes/worms-foreground.toml``."""
    return label(read_input(image, mask_input=True)[..., 0] > 0, connectivity=2).astype(np.int32)
