"""Semi-convolutional post-processing: embeddings ``(D, *spatial)`` + a foreground map → instance ``labels``.

Seeded growing with the steered kernel K_σ of eq. 10 of Novotny et al. 2018, into the same
:class:`~napari_deepcolor.postprocess.instances.Instances` as the coloring decoder. Only numpy and scipy: no torch,
Qt or napari.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property
from numbers import Real

import numpy as np
import numpy.typing as npt
from scipy.spatial import cKDTree

from napari_deepcolor.postprocess.instances import Instances, _check_threshold


def cluster_embeddings(
    embeddings: npt.ArrayLike,
    foreground: npt.ArrayLike,
    *,
    sigma: float,
    threshold: float = 0.5,
    min_size: float = 0.0,
    seeds: npt.ArrayLike | None = None,
    foreground_threshold: float = 0.5,
) -> Instances:
    """Decode semi-convolutional embeddings into instances by seeded growing with the steered kernel.

    Repeatedly: the most confident foreground pixel not yet assigned is a seed ``s``; every unassigned foreground
    pixel ``u`` with ``K_σ(s, u) = exp(-‖Ψ_u − Ψ_s‖ / σ) >= threshold`` (eq. 10), i.e. within embedding distance
    ``-σ log(threshold)`` of the seed, joins its instance; until no foreground pixel is left. Instances smaller than
    ``min_size`` become background (their pixels are used up all the same). An instance need not be connected in
    the image (a worm crossed by another is two pieces).

    Cost: one k-d tree over the foreground embeddings, then one ball query per seed, so about
    ``O(N log N + sum of ball sizes)`` for ``N`` foreground pixels.

    Parameters
    ----------
    embeddings : ndarray, shape (D, Y, X) or (D, Z, Y, X), float
        Ψ of every pixel, in embedding units (the same units as ``sigma``).
    foreground : ndarray, shape (Y, X) or (Z, Y, X), float probabilities or bool
        Where objects are: pixels with probability ``>= foreground_threshold`` (or True) are segmented.
    sigma : float
        σ > 0 of the kernel, embedding units (the model's trained value).
    threshold : float
        Kernel threshold in (0, 1).
    min_size : float
        Size threshold ``τ`` in pixels (voxels in 3D).
    seeds : ndarray, same shape as ``foreground``, float, optional
        Seed confidence; seeds are taken in decreasing order of it (ties: raster order). Default: the foreground
        probabilities (raster order for a bool foreground).
    foreground_threshold : float
        In (0, 1]; ignored for a bool foreground.

    Returns
    -------
    Instances
        ``labels`` int32 of the spatial shape, 0 = background, instances ``1..N`` in raster order of their first
        pixel; ``scores`` (N,) float32, the mean ``K_σ(seed, u)`` over each instance; ``colors`` (N,) int32, all 0.

    Raises
    ------
    ValueError
        Wrong shapes or dtypes, NaN or infinite values, ``sigma <= 0``, a threshold outside its range, or a negative
        ``min_size``.
    """
    min_size = _check_threshold("min_size", min_size)
    clustering = seeded_clusters(embeddings, foreground, sigma=sigma, threshold=threshold, seeds=seeds,
                                 foreground_threshold=foreground_threshold)
    return clustering.instances(min_size)


@dataclass(frozen=True)
class Clustering:
    """`cluster_embeddings` before τ: every foreground pixel's cluster, each cluster's size and kernel sum.

    τ only drops small clusters at the end (their pixels are used up all the same), so one clustering serves every
    τ: the Segment widget's τ slider re-numbers it instead of clustering again.
    """

    shape: tuple[int, ...]
    pixels: np.ndarray  # (N,) flat indices of the foreground pixels, raster order
    cluster: np.ndarray  # (N,) intp, the cluster of each foreground pixel
    sizes: np.ndarray  # (K,) float64
    kernel_sums: np.ndarray  # (K,) float64, the sum of K_σ(seed, u) over each cluster

    @cached_property
    def raster_order(self) -> np.ndarray:
        """Cluster ids in raster order of their first pixel (the same for every τ: computed once)."""
        ids, first = np.unique(self.cluster, return_index=True)
        return ids[np.argsort(first, kind="stable")]

    def instances(self, min_size: float = 0.0) -> Instances:
        """Clusters of at least ``min_size`` pixels, numbered 1..N in raster order of their first pixel."""
        min_size = _check_threshold("min_size", min_size)
        ids = self.raster_order[(self.sizes >= min_size)[self.raster_order]]
        lut = np.zeros(len(self.sizes), dtype=np.int32)  # every foreground pixel has a cluster (a seed joins its ball)
        lut[ids] = np.arange(1, len(ids) + 1, dtype=np.int32)
        labels = np.zeros(self.shape, dtype=np.int32)
        labels.ravel()[self.pixels] = lut[self.cluster]
        scores = (self.kernel_sums[ids] / np.maximum(self.sizes[ids], 1)).astype(np.float32)
        return Instances(labels=labels, scores=scores, colors=np.zeros(len(ids), dtype=np.int32))


#: Seeds are looked for in chunks of the confidence order: one numpy test per chunk skips the pixels that earlier
#: balls took, instead of one Python iteration per foreground pixel.
_SEED_CHUNK = 4096


class SeedSearch:
    """What `cluster_embeddings` needs that does not depend on σ or the kernel threshold: the foreground pixels,
    their embeddings in a k-d tree, and the seed order. Built once per foreground threshold, it clusters at any
    σ and threshold (`clusters`), so those sliders do not rebuild the tree."""

    def __init__(self, embeddings: npt.ArrayLike, foreground: npt.ArrayLike, *, seeds: npt.ArrayLike | None = None,
                 foreground_threshold: float = 0.5) -> None:
        emb, mask, confidence = _check_embeddings(embeddings, foreground, seeds, foreground_threshold)
        self.shape = mask.shape
        self.pixels = np.flatnonzero(mask)
        self.points = np.ascontiguousarray(emb.reshape(emb.shape[0], -1)[:, self.pixels].T, dtype=np.float64)
        self.order = np.argsort(-confidence.ravel()[self.pixels], kind="stable")
        self.tree = cKDTree(self.points) if len(self.pixels) else None

    def clusters(self, *, sigma: float, threshold: float) -> Clustering:
        """Seeded growing (`cluster_embeddings`) at this σ and kernel threshold, before τ."""
        if isinstance(sigma, bool) or not isinstance(sigma, Real) or not 0 < sigma < math.inf:
            raise ValueError(f"expected sigma > 0 (embedding units; a trained model stores it), got {sigma!r}")
        if isinstance(threshold, bool) or not isinstance(threshold, Real) or not 0 < threshold < 1:
            raise ValueError(f"expected a kernel threshold in (0, 1), got {threshold!r}")
        radius = -float(sigma) * math.log(threshold)
        points, order = self.points, self.order
        cluster = np.full(len(self.pixels), -1, dtype=np.intp)
        kernel_sums, sizes = [], []
        for start in range(0, len(order), _SEED_CHUNK):
            chunk = order[start : start + _SEED_CHUNK]
            for seed in chunk[cluster[chunk] == -1]:
                if cluster[seed] != -1:  # taken by a ball grown from an earlier seed of this chunk
                    continue
                ball = np.asarray(self.tree.query_ball_point(points[seed], radius, p=2.0), dtype=np.intp)
                members = ball[cluster[ball] == -1]
                cluster[members] = len(sizes)
                distance = np.sqrt(((points[members] - points[seed]) ** 2).sum(axis=1))
                kernel_sums.append(float(np.exp(-distance / sigma).sum()))
                sizes.append(len(members))
        return Clustering(shape=self.shape, pixels=self.pixels, cluster=cluster,
                          sizes=np.asarray(sizes, dtype=np.float64),
                          kernel_sums=np.asarray(kernel_sums, dtype=np.float64))


def seeded_clusters(embeddings: npt.ArrayLike, foreground: npt.ArrayLike, *, sigma: float, threshold: float = 0.5,
                    seeds: npt.ArrayLike | None = None, foreground_threshold: float = 0.5) -> Clustering:
    """The seeded growing of `cluster_embeddings` (same parameters but τ), kept for any τ (`Clustering`)."""
    search = SeedSearch(embeddings, foreground, seeds=seeds, foreground_threshold=foreground_threshold)
    return search.clusters(sigma=sigma, threshold=threshold)


def _check_embeddings(embeddings: npt.ArrayLike, foreground: npt.ArrayLike, seeds: npt.ArrayLike | None,
                      foreground_threshold: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    emb = np.asarray(embeddings)
    if emb.ndim not in (3, 4) or emb.shape[0] < 1 or emb.size == 0:
        raise ValueError(f"expected embeddings of shape (D, Y, X) or (D, Z, Y, X) with the embedding dimensions "
                         f"first, got shape {emb.shape}")
    if not np.issubdtype(emb.dtype, np.floating):
        raise ValueError(f"expected floating-point embeddings, got dtype {emb.dtype}")
    if not np.isfinite(emb).all():
        raise ValueError(f"embeddings of shape {emb.shape} contain NaN or infinite values; check the network output")
    fg = np.asarray(foreground)
    if fg.shape != emb.shape[1:]:
        raise ValueError(f"expected a foreground of shape {emb.shape[1:]} to match embeddings {emb.shape}, got shape "
                         f"{fg.shape}")
    if fg.dtype == bool:
        mask = fg
        default_seeds = np.zeros(fg.shape, np.float32)
    elif np.issubdtype(fg.dtype, np.floating):
        if np.isnan(fg).any():
            raise ValueError("foreground contains NaN values; check the network output")
        if isinstance(foreground_threshold, bool) or not 0 < foreground_threshold <= 1:
            raise ValueError(f"expected foreground_threshold in (0, 1], got {foreground_threshold!r}")
        mask = fg >= foreground_threshold
        default_seeds = fg
    else:
        raise ValueError(f"expected foreground probabilities (float) or a bool mask, got dtype {fg.dtype}")
    if seeds is None:
        return emb, mask, default_seeds
    conf = np.asarray(seeds)
    if conf.shape != fg.shape:
        raise ValueError(f"expected seeds of shape {fg.shape} (like foreground), got shape {conf.shape}")
    if not np.issubdtype(conf.dtype, np.floating) or np.isnan(conf).any():
        raise ValueError(f"expected float seed confidences without NaN, got dtype {conf.dtype}")
    return emb, mask, conf
