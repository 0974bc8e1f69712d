"""Replay: images of the kind a starting model learned from, mixed into its fine-tuning so that a few images of one
kind do not erase what it knew (docs/finetuning.md, "No forgetting").

A bundled model's training images come from a generator (`napari_deepcolor.training.synthetic_scenes.GENERATORS`)
or, for `worms`, from BBBC010 wells, four of which are bundled for this (``zoo/replay/``, CC BY 3.0, attribution
in its README). A model fine-tuned here records its start's source (``replay_source`` in its metadata), so a model
of a model replays the same kind. Models trained from scratch on a user's images have none and fine-tune without
replay.

No torch at import.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

#: The images each bundled model was trained on: a generator's name, or "bbbc010" (the bundled replay wells).
#: `worms-mask` reads foreground masks, which the replay wells do not hold, so it has none.
BUNDLED_SOURCES = {"worms": "bbbc010", "ecoli": "ecoli", "ecoli-semiconv": "ecoli", "leaves": "rosette-plain",
                   "leaves-semiconv": "rosette", "nuclei": "nuclei"}
REPLAY_DIR = Path(__file__).resolve().parents[1] / "zoo" / "replay"
#: Replay images drawn from a generator per fine-tuning (as many as the bundled wells), from seeds no bundled
#: model trained, validated or was tested on.
REPLAY_IMAGES = 4
REPLAY_SEED = 7_000_000


def replay_source(start: str, metadata: dict[str, Any]) -> str | None:
    """Where ``start`` (a model's name or checkpoint, with its checkpoint ``metadata``) learned from: a bundled
    model's source, else the ``replay_source`` its fine-tuning recorded; None when unknown."""
    recorded = metadata.get("replay_source")
    if isinstance(recorded, str) and recorded:
        return recorded
    return BUNDLED_SOURCES.get(str(start))


def replay_pairs(source: str, count: int = REPLAY_IMAGES, *, seed: int = REPLAY_SEED
                 ) -> list[tuple[np.ndarray, np.ndarray]]:
    """``count`` (image, labels) pairs of ``source`` (`replay_source`): generated ones, or the bundled wells."""
    if source == "bbbc010":
        return _bundled_wells()[:count]
    from napari_deepcolor.training.synthetic_scenes import synthetic_pairs

    return list(synthetic_pairs(source, count, seed=seed))


def _bundled_wells() -> list[tuple[np.ndarray, np.ndarray]]:
    import tifffile

    images = sorted(p for p in REPLAY_DIR.glob("bbbc010_*.tif") if not p.stem.endswith("_labels"))
    return [(tifffile.imread(p), tifffile.imread(p.with_name(f"{p.stem}_labels.tif")).astype(np.int32))
            for p in images]


def mixed(user: Sequence[Any], replay: Sequence[Any], fraction: float) -> list[Any]:
    """``user`` and ``replay`` samples in one list from which a uniformly drawn sample is a replay one with about
    ``fraction`` probability (the user's samples are repeated; `napari_deepcolor.training.dataset.PatchSampler`
    draws samples uniformly)."""
    if not replay or fraction <= 0:
        return list(user)
    if not 0 < fraction < 1:
        raise ValueError(f"the replay fraction must be in [0, 1), got {fraction}")
    ratio = (1 - fraction) / fraction * len(replay) / len(user)  # user repeats per replay repeat
    if ratio >= 1:
        return list(user) * round(ratio) + list(replay)
    return list(user) + list(replay) * round(1 / ratio)
