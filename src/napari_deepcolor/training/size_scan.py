"""The object size a fine-tuning trains at, read from the user's own annotations.

The starting model segments the annotated training planes at a ladder of object sizes, and the size at which it
matches the annotations best is the size the user's objects have for it. The estimate of
`napari_deepcolor.predict.object_size` reads one network's features and misses by 25-30 % on small or unusual
images (a strip of the E. coli colony the model was trained on read as 0.70x, and the fine-tuning then trained at
the wrong scale); the annotations say directly where the model works. Object size 1 wins unless another size
scores clearly better (by more than two objects' worth of AP50 and at least `MIN_GAIN`), since training at a wrong
scale costs more than at the model's own. When the model finds nothing at any size (a kind of image it never saw),
the scan cannot tell and the caller falls back to the feature estimate.

Only the training part of the annotations is read (not what `napari_deepcolor.training.holdout` holds out).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

#: Object sizes tried: 2^(k/4) from 0.5 to 2.83 (every 19 %).
LADDER = tuple(round(2 ** (k / 4), 3) for k in range(-4, 7))
#: Below this best AP50 the starting model works at no size: the scan says nothing.
MIN_AP50 = 0.1
#: Another size than 1 is chosen only when it scores better by more than two objects' worth of AP50 (2/n for n
#: annotated objects) and by at least this much.
MIN_GAIN = 0.05
#: Sizes scoring within this of the best count as equally good; the middle of them is chosen.
PLATEAU = 0.02
#: At most this many planes are segmented per size, each cropped to at most this side (pixels).
MAX_PLANES = 4
MAX_SIDE = 768


def scan_object_size(model: Any, pairs: Sequence[tuple[np.ndarray, np.ndarray]]) -> tuple[float, str] | None:
    """The object size at which ``model`` (a `napari_deepcolor.predict.network.LoadedModel` at size 1) best
    segments the annotated ``pairs`` (image, labels with -1 = not annotated), and a sentence saying how it was
    chosen; None when the model scores under `MIN_AP50` at every size."""
    from napari_deepcolor.predict.network import at_object_size

    planes = [_crop(image, labels) for image, labels in _spread(pairs, MAX_PLANES)]
    n_objects = sum(int(np.unique(labels[labels > 0]).size) for _, labels in planes)
    scores = {}
    for factor in LADDER:
        try:
            sized = at_object_size(model, factor)
        except ValueError:  # a size this network cannot be run at (it would resize the image too far)
            continue
        scores[factor] = float(np.mean([_ap50(sized, image, labels) for image, labels in planes]))
    if not scores or max(scores.values()) < MIN_AP50:
        return None
    best = max(scores, key=scores.get)
    plateau = [f for f, score in scores.items() if score >= scores[best] - PLATEAU]
    centre = round(math.sqrt(min(plateau) * max(plateau)), 2)  # the middle of the sizes that score about the best
    bar = max(2 / max(n_objects, 1), MIN_GAIN)
    ladder = ", ".join(f"{f:g}: {s:.2f}" for f, s in scores.items())
    if 1.0 in scores and scores[1.0] >= scores[best] - bar:
        return 1.0, (f"object size 1 (from your annotations: AP50 {scores[1.0]:.2f} at size 1, best {scores[best]:.2f} "
                     f"at {best:g}, within {bar:.2f}; sizes tried {ladder})")
    return centre, (f"object size {centre:g} (from your annotations: the starting model matches them best there, AP50 "
                    f"{scores[best]:.2f} against {scores.get(1.0, float('nan')):.2f} at size 1; sizes tried {ladder})")


def _ap50(model: Any, image: np.ndarray, labels: np.ndarray) -> float:
    from napari_deepcolor.metrics import evaluate
    from napari_deepcolor.predict.network import segment

    predicted = segment(model, image)[0].labels.copy()
    predicted[labels < 0] = 0  # not annotated: what the model finds there is neither right nor wrong
    return float(evaluate(np.maximum(labels, 0), predicted)["ap50"])


def _spread(pairs: Sequence[Any], count: int) -> list[Any]:
    pairs = list(pairs)
    if len(pairs) <= count:
        return pairs
    return [pairs[i] for i in np.linspace(0, len(pairs) - 1, count).round().astype(int)]


def _crop(image: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The `MAX_SIDE` square (at most) around the annotated objects' centre."""
    ys, xs = np.nonzero(labels > 0)
    window = []
    for centre, length in ((int(np.median(ys)), labels.shape[0]), (int(np.median(xs)), labels.shape[1])):
        start = int(np.clip(centre - MAX_SIDE // 2, 0, max(length - MAX_SIDE, 0)))
        window.append(slice(start, start + MAX_SIDE))
    return image[tuple(window)], labels[tuple(window)]
