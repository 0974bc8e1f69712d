"""The decoded result shared by both methods, and the argument checks of the decoders."""

from __future__ import annotations

from dataclasses import dataclass
from numbers import Real

import numpy as np


@dataclass(frozen=True, eq=False)
class Instances:
    """Instances decoded from a color map.

    Attributes
    ----------
    labels : ndarray, shape (Y, X) or (Z, Y, X), int32
        Label image: 0 = background, instances numbered ``1..N`` consecutively, in raster order of their first pixel.
    scores : ndarray, shape (N,), float32
        ``scores[i]`` is the mean probability of instance ``i + 1``'s color over its pixels (for embeddings: the mean
        kernel value K_σ(seed, u) over its pixels).
    colors : ndarray, shape (N,), int32
        ``colors[i]`` is the color (``>= 1``) of instance ``i + 1``; 0 for instances decoded from embeddings, which
        have no colors.
    """

    labels: np.ndarray
    scores: np.ndarray
    colors: np.ndarray

    @property
    def n_instances(self) -> int:
        """Number of instances ``N``."""
        return int(self.scores.shape[0])



def _check_threshold(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, Real):
        raise ValueError(f"expected a number for {name}, got {value!r}")
    if not value >= 0:  # also rejects NaN
        raise ValueError(f"expected {name} >= 0 (in pixels), got {value}; use 0 to disable it")
    return float(value)


def _readonly(array: np.ndarray) -> np.ndarray:
    view = array.view()
    view.flags.writeable = False
    return view
