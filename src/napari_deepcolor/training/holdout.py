"""A held-out part of the user's own annotations, so every fine-tuning has a score (and a guard) without a
validation image.

How the annotated planes ``(image (Y, X[, C]), labels (Y, X) int32, -1 = not annotated)`` are split:

- **Four planes or more**: every fourth plane (the 4th, 8th, ...) is held out whole.
- **Fewer**: from each plane, the end strip along its longer axis that holds about a quarter of its annotated
  objects is held out. The network never sees the strip: training reads the rest of the plane only (the image is
  cut, not just its labels hidden), and objects crossing the cut are ignored (-1) in the training part; in the
  held-out strip they count as the parts that lie inside it, as they do for the prediction made on the strip alone.
- **Too few objects** (fewer than `MIN_HELD_OUT` whole objects would be held out, or fewer than `MIN_TRAINING` left
  to train on): nothing is held out, training uses everything, and there is no held-out score — so nothing can
  claim an improvement.

Nothing leaks: the held-out pixels and labels are not in any training patch, and the checkpoint kept (the best
held-out score) is chosen on them only, which is the purpose of holding them out.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from napari_deepcolor.preprocess import IGNORE

#: Fraction of the annotated objects held out.
FRACTION = 0.25
#: Fewest whole objects held out, and fewest left for training, for a held-out score to exist.
MIN_HELD_OUT = 2
MIN_TRAINING = 2

Pair = tuple[np.ndarray, np.ndarray]


@dataclass
class Split:
    """The training planes, the held-out planes (empty when there are too few objects), and a sentence saying how."""

    training: list[Pair]
    held_out: list[Pair] = field(default_factory=list)
    note: str = ""


def split_holdout(pairs: list[Pair], *, fraction: float = FRACTION) -> Split:
    """Split annotated planes into training and held-out parts (see the module docstring)."""
    if len(pairs) >= 4:
        held = [pair for i, pair in enumerate(pairs) if i % 4 == 3]
        training = [pair for i, pair in enumerate(pairs) if i % 4 != 3]
        n_held = sum(_count(labels) for _, labels in held)
        return Split(training, held, f"held out {len(held)} of {len(pairs)} annotated planes ({n_held} objects) "
                                     "for the score; training on the others")
    training, held, n_held, n_train = [], [], 0, 0
    for image, labels in pairs:
        cut = _strip(labels, fraction)
        if cut is None:
            training.append((image, labels))
            n_train += _count(labels)
            continue
        axis, start = cut
        train_pair, held_pair = _cut(image, labels, axis, start)
        whole = _whole_objects(labels, axis, start)
        if whole < 1:
            training.append((image, labels))
            n_train += _count(labels)
            continue
        training.append(train_pair)
        held.append(held_pair)
        n_held += whole
        n_train += _count(train_pair[1])
    total = sum(_count(labels) for _, labels in pairs)
    if n_held < MIN_HELD_OUT or n_train < MIN_TRAINING:
        return Split(list(pairs), [], f"no held-out score: {total} annotated object{'s' * (total != 1)} are too few to "
                                      "hold some out; training on all of them, so the result cannot be checked")
    return Split(training, held, f"held out the end strip of each annotated plane ({n_held} objects, about "
                                 f"{fraction:.0%}) for the score; the network never sees it")


def _count(labels: np.ndarray) -> int:
    return int(np.unique(labels[labels > 0]).size)


def _strip(labels: np.ndarray, fraction: float) -> tuple[int, int] | None:
    """(axis, start) of the end strip along the longer axis holding about ``fraction`` of the objects' centres."""
    ids = np.unique(labels[labels > 0])
    if ids.size < MIN_HELD_OUT + MIN_TRAINING:
        return None
    axis = int(np.argmax(labels.shape))
    coords = np.nonzero(labels > 0)
    order = np.argsort(labels[coords], kind="stable")
    sorted_ids = labels[coords][order]
    first = np.searchsorted(sorted_ids, ids)
    sums = np.add.reduceat(coords[axis][order].astype(np.float64), first)
    centres = sums / np.diff(np.r_[first, sorted_ids.size])
    start = int(np.quantile(centres, 1 - fraction))
    if not 0 < start < labels.shape[axis] - 8:
        return None
    return axis, start


def _halves(axis: int, start: int) -> tuple[tuple[slice, slice], tuple[slice, slice]]:
    """The (Y, X) slices before and from ``start`` along ``axis``."""
    before, after = [slice(None)] * 2, [slice(None)] * 2
    before[axis], after[axis] = slice(0, start), slice(start, None)
    return tuple(before), tuple(after)


def _cut(image: np.ndarray, labels: np.ndarray, axis: int, start: int) -> tuple[Pair, Pair]:
    """Training part (before ``start``, objects crossing the cut ignored) and held-out part (from ``start``)."""
    before, after = _halves(axis, start)
    train_labels = labels[before].copy()
    crossing = np.intersect1d(np.unique(labels[before]), np.unique(labels[after]))
    crossing = crossing[crossing > 0]
    train_labels[np.isin(train_labels, crossing)] = IGNORE
    held_labels = labels[after].copy()
    held_labels[held_labels < 0] = 0  # unannotated pixels count as background in a score, as for validation images
    return (image[before], train_labels), (image[after], held_labels)


def _whole_objects(labels: np.ndarray, axis: int, start: int) -> int:
    """Objects lying entirely at or after ``start``."""
    before, after = _halves(axis, start)
    inside = set(np.unique(labels[after])) - {0, IGNORE}
    return len(inside - set(np.unique(labels[before])))
