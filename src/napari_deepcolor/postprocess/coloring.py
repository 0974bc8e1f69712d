"""Deep-coloring post-processing: color probabilities ``probs (C, *spatial)`` → instance ``labels``, 0 = background.

Section 3.1 of the deep-coloring paper: every pixel takes its most probable color (color 0 is background); the
connected components of each color ``>= 1`` are instance candidates; components smaller than the size threshold
``τ = min_size`` become background; optionally, components of the same color whose symmetric Hausdorff distance is
below the proximity threshold ``ρ = merge_distance`` are merged (transitively), which reunites objects split by an
occluder.

Optionally (``absorb_fragments=True``, not in the paper) a component smaller than τ that touches other foreground
components is not dropped but joins the neighbour it shares the longest boundary with (smallest first, repeatedly,
see :func:`fragment_absorbers`); only isolated fragments are dropped. This reunites an object whose pixels the network
split between several colors, each piece below τ (thin worms at 4 colors, docs/accuracy.md).

The same code handles 2D ``(C, Y, X)`` and 3D ``(C, Z, Y, X)`` maps. Connectivity is full: 8-connectivity in 2D,
26-connectivity in 3D (pixels touching by a corner belong to one component when they have the same color; pixels of
different colors never do). Distances are Euclidean, in pixels, between pixel centres.

For live tuning, :class:`ColorComponents` does the expensive work once (argmax, one labelling pass, per-component
size, color and probability sum) and :meth:`ColorComponents.to_labels` is cheap for any ``min_size`` and
``merge_distance``. Hausdorff distances are computed lazily, once per pair, and only for same-color pairs whose
bounding boxes allow a distance below the largest ``merge_distance`` asked so far. :func:`colors_to_labels` is the
one-shot wrapper.

Only numpy, scipy and scikit-image are imported here: no torch, Qt or napari.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
from scipy import ndimage as ndi
from scipy import sparse
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree
from skimage.measure import label as _label

from napari_deepcolor.postprocess.fragments import _smallest_member, _touching_pairs, fragment_absorbers
from napari_deepcolor.postprocess.instances import Instances, _check_threshold, _readonly

__all__ = ["ColorComponents", "colors_to_labels", "fragment_absorbers"]

_PROBS_SHAPES = "(C, Y, X) or (C, Z, Y, X)"
_COLORS_SHAPES = "(Y, X) or (Z, Y, X)"


class ColorComponents:
    """Connected components of a color map, computed once and decoded cheaply for any ``min_size`` / ``merge_distance``.

    Build it with :meth:`from_probs` (softmax output of the coloring network) or :meth:`from_colors` (a color map
    plus the probabilities); the constructor takes a color map plus the probability of each pixel's own color.

    Parameters
    ----------
    colors : ndarray, shape (Y, X) or (Z, Y, X), integer
        Color of every pixel, 0 = background.
    color_probs : ndarray, same shape as ``colors``, float
        Probability of each pixel's own color, ``probs[colors[p], p]``; averaged into the instance scores.

    Notes
    -----
    Components use full connectivity (8 neighbours in 2D, 26 in 3D) and never join pixels of different colors.
    The object caches Hausdorff distances between same-color components as they are needed; it is not meant to be
    shared between threads.
    """

    def __init__(self, colors: npt.ArrayLike, color_probs: npt.ArrayLike) -> None:
        colors = np.asarray(colors)
        color_probs = np.asarray(color_probs)
        if colors.ndim not in (2, 3) or colors.size == 0:
            raise ValueError(f"expected a non-empty color map of shape {_COLORS_SHAPES}, got shape {colors.shape}")
        if not np.issubdtype(colors.dtype, np.integer):
            raise ValueError(
                f"expected an integer color map (0 = background), got dtype {colors.dtype} with shape {colors.shape}; "
                "for probabilities use ColorComponents.from_probs"
            )
        if color_probs.shape != colors.shape:
            raise ValueError(
                f"expected color_probs of the same shape as colors {colors.shape}, got shape {color_probs.shape}"
            )
        if not np.issubdtype(color_probs.dtype, np.floating):
            raise ValueError(f"expected floating-point color_probs, got dtype {color_probs.dtype}")
        if colors.min() < 0:
            raise ValueError(f"expected colors >= 0 (0 = background), got a minimum of {colors.min()}")
        if np.isnan(color_probs).any():
            raise ValueError(
                f"color_probs of shape {color_probs.shape} contain NaN values; check the network output"
            )
        self._colors = colors
        # intp ids: np.bincount, np.take and fancy indexing are markedly slower with int32 indices.
        components, n = _label(colors, background=0, return_num=True, connectivity=colors.ndim)
        self._components = components.astype(np.intp, copy=False)
        # Per-component statistics from the foreground pixels only (one compression, then small passes).
        foreground = colors.ravel() != 0
        ids = self._components.ravel()[foreground]
        self._sizes = np.bincount(ids, minlength=n + 1)
        self._prob_sums = np.bincount(ids, weights=color_probs.ravel()[foreground], minlength=n + 1)
        self._component_colors = np.zeros(n + 1, dtype=np.int32)
        self._component_colors[ids] = colors.ravel()[foreground]
        # Filled by _extend_candidates(): bounding boxes, candidate pairs and their (lazy) Hausdorff distances.
        self._boxes: np.ndarray | None = None
        self._pair_radius = 0.0
        self._pairs = np.empty((0, 2), dtype=np.intp)
        self._pair_bounds = np.empty(0)
        self._pair_dists = np.empty(0)
        # Filled by adjacency(): touching pairs of components (different colors) and their contact counts.
        self._adjacency: tuple[np.ndarray, np.ndarray] | None = None

    @classmethod
    def from_probs(cls, probs: npt.ArrayLike) -> ColorComponents:
        """Components of the argmax of color probabilities.

        Parameters
        ----------
        probs : ndarray, shape (C, Y, X) or (C, Z, Y, X), float
            Per-pixel probabilities of the ``C >= 2`` colors (softmax output); color 0 is background.

        Returns
        -------
        ColorComponents

        Raises
        ------
        ValueError
            If ``probs`` is not floating point, has the wrong number of axes, fewer than 2 colors, or NaN values.
        """
        probs = _check_probs(probs)
        color_probs = np.maximum.reduce(probs, axis=0)
        if np.isnan(color_probs).any():  # NaN propagates through the max
            raise ValueError(f"probs of shape {probs.shape} contain NaN values; check the network output")
        # Equivalent to probs.argmax(0) (the first color wins ties) but several times faster: argmax over the
        # leading axis of a C-ordered array is strided.
        colors = np.zeros(probs.shape[1:], dtype=np.min_scalar_type(probs.shape[0] - 1))
        for c in range(probs.shape[0] - 1, -1, -1):
            np.copyto(colors, c, where=probs[c] == color_probs, casting="unsafe")
        return cls(colors, color_probs)

    @classmethod
    def from_colors(cls, colors: npt.ArrayLike, probs: npt.ArrayLike) -> ColorComponents:
        """Components of a given color map, scored with ``probs``.

        Parameters
        ----------
        colors : ndarray, shape (Y, X) or (Z, Y, X), integer
            Color of every pixel in ``0..C-1``, 0 = background; usually ``probs.argmax(0)``, but any map works.
        probs : ndarray, shape (C, Y, X) or (C, Z, Y, X), float
            Per-pixel color probabilities; only ``probs[colors[p], p]`` is used (for the scores).

        Returns
        -------
        ColorComponents

        Raises
        ------
        ValueError
            If the shapes disagree, ``colors`` is out of ``0..C-1``, or ``probs`` fails the checks of
            :meth:`from_probs`.
        """
        probs = _check_probs(probs)
        colors = np.asarray(colors)
        if colors.shape != probs.shape[1:]:
            raise ValueError(f"expected colors of shape {probs.shape[1:]} to match probs {probs.shape}, "
                             f"got shape {colors.shape}")
        if not np.issubdtype(colors.dtype, np.integer):
            raise ValueError(f"expected an integer color map, got dtype {colors.dtype}")
        if colors.min() < 0 or colors.max() >= probs.shape[0]:
            raise ValueError(f"expected colors in 0..{probs.shape[0] - 1} for probs of shape {probs.shape}, "
                             f"got values in {colors.min()}..{colors.max()}")
        color_probs = np.take_along_axis(probs, colors[None].astype(np.intp, copy=False), axis=0)[0]
        return cls(colors, color_probs)

    # -- read-only views -------------------------------------------------------------------------------------------

    @property
    def colors(self) -> np.ndarray:
        """ndarray, shape (Y, X) or (Z, Y, X), integer: the color map, 0 = background."""
        return _readonly(self._colors)

    @property
    def components(self) -> np.ndarray:
        """ndarray, shape (Y, X) or (Z, Y, X), intp: component ids ``1..n_components``, 0 = background."""
        return _readonly(self._components)

    @property
    def n_components(self) -> int:
        """Number of connected components of colors ``>= 1``, before any size filter."""
        return len(self._sizes) - 1

    @property
    def sizes(self) -> np.ndarray:
        """ndarray, shape (n_components,), int: pixel count of each component (id ``i + 1`` at index ``i``)."""
        return _readonly(self._sizes[1:])

    @property
    def prob_sums(self) -> np.ndarray:
        """ndarray, shape (n_components,), float64: sum over each component's pixels of its color's probability."""
        return _readonly(self._prob_sums[1:])

    @property
    def component_colors(self) -> np.ndarray:
        """ndarray, shape (n_components,), int32: color of each component (id ``i + 1`` at index ``i``)."""
        return _readonly(self._component_colors[1:])

    def __repr__(self) -> str:
        return f"{type(self).__name__}(shape={self._components.shape}, n_components={self.n_components})"

    # -- decoding ----------------------------------------------------------------------------------------------------

    def adjacency(self) -> tuple[np.ndarray, np.ndarray]:
        """Pairs of touching components (full connectivity) and how many neighbouring pixel pairs join them.

        Touching components always have different colors (same-colored touching pixels are one component).
        Computed once, on first use.

        Returns
        -------
        pairs : ndarray, shape (E, 2), intp
            Component ids ``(a, b)`` with ``a < b``, sorted.
        contacts : ndarray, shape (E,), int64
            Number of pixel pairs ``(p in a, q in b)`` that are neighbours: a measure of the shared boundary.
        """
        if self._adjacency is None:
            self._adjacency = _touching_pairs(self._components, len(self._sizes))
        return self._adjacency

    def to_labels(self, *, min_size: float, merge_distance: float | None = None,
                  absorb_fragments: bool = False) -> Instances:
        """Label image for a size threshold and an optional merge distance.

        Parameters
        ----------
        min_size : float
            Size threshold ``τ`` in pixels (voxels in 3D): components with fewer pixels become background.
        merge_distance : float or None
            Proximity threshold ``ρ`` in pixels: kept components of the same color whose symmetric Hausdorff distance
            is strictly below it are merged into one instance, transitively. ``None`` or 0 merges nothing.
        absorb_fragments : bool
            If True, a component smaller than ``min_size`` that touches others joins the one it shares the longest
            boundary with (:func:`fragment_absorbers`) instead of being dropped; the instance takes the color of the
            component that absorbed it, and ``min_size`` then applies to the joined sizes. Not in the paper.

        Returns
        -------
        Instances
            ``labels`` int32 of the map's shape, numbered ``1..N`` in raster order; ``scores`` and ``colors`` (N,).

        Raises
        ------
        ValueError
            If ``min_size`` or ``merge_distance`` is negative or NaN.
        """
        min_size = _check_threshold("min_size", min_size)
        merge_distance = 0.0 if merge_distance is None else _check_threshold("merge_distance", merge_distance)
        n_nodes = len(self._sizes)
        if absorb_fragments:
            # group[i]: the smallest id of i's group (smallest id = first in raster order); colors of the absorbers
            pairs, contacts = self.adjacency()
            absorber = fragment_absorbers(self._sizes, pairs, contacts, min_size=min_size)
            group = _smallest_member(absorber)
            node_colors = np.zeros(n_nodes, dtype=np.int32)
            node_colors[group] = self._component_colors[absorber]
            sizes = np.bincount(group, weights=self._sizes, minlength=n_nodes)
            prob_sums = np.bincount(group, weights=self._prob_sums, minlength=n_nodes)
            keep = (sizes >= min_size) & (group == np.arange(n_nodes))
        else:
            group, node_colors, sizes, prob_sums = None, self._component_colors, self._sizes, self._prob_sums
            keep = sizes >= min_size
        keep[0] = False
        kept = np.flatnonzero(keep)

        merged = None
        if merge_distance > 0 and len(kept) > 1:
            merged = (self._merged_pairs(merge_distance, keep) if group is None
                      else self._merged_groups(merge_distance, keep, group, node_colors))
        if merged is None or len(merged) == 0:
            new_ids = np.arange(1, len(kept) + 1)
        else:
            graph = sparse.coo_matrix(
                (np.ones(len(merged), dtype=np.int8), (merged[:, 0], merged[:, 1])), shape=(n_nodes, n_nodes)
            )
            linked = connected_components(graph, directed=False)[1][kept]
            # Number groups by their first (smallest-id, hence first in raster order) component.
            _, first, inverse = np.unique(linked, return_index=True, return_inverse=True)
            rank = np.empty(len(first), dtype=np.intp)
            rank[np.argsort(first)] = np.arange(len(first))
            new_ids = rank[inverse] + 1

        n = int(new_ids.max()) if len(new_ids) else 0
        lut = np.zeros(n_nodes, dtype=np.int32)
        lut[kept] = new_ids
        if group is not None:
            lut = lut[group]
        labels = np.take(lut, self._components)
        sizes = np.bincount(new_ids - 1, weights=sizes[kept], minlength=n)
        sums = np.bincount(new_ids - 1, weights=prob_sums[kept], minlength=n)
        colors = np.zeros(n, dtype=np.int32)
        colors[new_ids - 1] = node_colors[kept]
        scores = (sums / np.maximum(sizes, 1)).astype(np.float32)
        return Instances(labels=labels, scores=scores, colors=colors)

    def _merged_groups(self, radius: float, keep: np.ndarray, group: np.ndarray,
                       node_colors: np.ndarray) -> np.ndarray:
        """Pairs of kept same-color groups (after absorption) with Hausdorff distance ``< radius``; not cached.

        Groups change with τ, so their distances are computed for each call, pruned by the same bounding-box bound
        as `_extend_candidates`.
        """
        self._ensure_boxes()
        ndim = self._components.ndim
        boxes = np.empty_like(self._boxes)
        boxes[:, :ndim], boxes[:, ndim:] = np.inf, -np.inf
        np.minimum.at(boxes[:, :ndim], group, self._boxes[:, :ndim])
        np.maximum.at(boxes[:, ndim:], group, self._boxes[:, ndim:])
        pairs, _ = _same_color_candidates(boxes, node_colors, np.flatnonzero(keep), radius, self._components.shape)
        merged = [(a, b) for a, b in pairs
                  if _hausdorff_in(group[self._components[_union_box(boxes[a], boxes[b], ndim)]], a, b) < radius]
        return np.asarray(merged, dtype=np.intp).reshape(-1, 2)

    def _merged_pairs(self, radius: float, keep: np.ndarray) -> np.ndarray:
        """Pairs ``(i, j)``, shape (M, 2), of kept same-color components with Hausdorff distance ``< radius``."""
        self._extend_candidates(radius)
        i, j = self._pairs[:, 0], self._pairs[:, 1]
        wanted = (self._pair_bounds < radius) & keep[i] & keep[j]
        for k in np.flatnonzero(wanted & np.isnan(self._pair_dists)):
            self._pair_dists[k] = self._hausdorff(i[k], j[k])
        return self._pairs[wanted & (self._pair_dists < radius)]

    def _extend_candidates(self, radius: float) -> None:
        """Make the candidate pairs cover every same-color pair that may lie at Hausdorff distance ``< radius``.

        Lower bound used for pruning, from the bounding boxes ``[lo, hi]`` of A and B: every point of A lies at least
        the box gap away from B, and the point of A with the smallest coordinate on axis ``k`` lies at least
        ``lo_B[k] - lo_A[k]`` away from B (same for the largest). Hence ``H(A, B) >= max(|gap|, max|lo_A - lo_B|,
        max|hi_A - hi_B|)``; the last two are a Chebyshev distance, searched with a k-d tree on ``(lo, hi)``.
        """
        if radius <= self._pair_radius:
            return
        self._ensure_boxes()
        pairs, bounds = _same_color_candidates(self._boxes, self._component_colors, np.arange(1, len(self._sizes)),
                                              radius, self._components.shape)
        # Carry over the distances already computed (the old candidates are a subset of the new ones).
        keys = pairs[:, 0].astype(np.int64) * len(self._sizes) + pairs[:, 1]
        order = np.argsort(keys)
        pairs, bounds, keys = pairs[order], bounds[order], keys[order]
        dists = np.full(len(pairs), np.nan)
        if len(self._pairs):
            old_keys = self._pairs[:, 0].astype(np.int64) * len(self._sizes) + self._pairs[:, 1]
            dists[np.searchsorted(keys, old_keys)] = self._pair_dists
        self._pairs, self._pair_bounds, self._pair_dists = pairs, bounds, dists
        self._pair_radius = radius

    def _ensure_boxes(self) -> None:
        """Bounding boxes ``(lo..., hi...)`` of every component, float64, row 0 (background) unused."""
        if self._boxes is None:
            slices = ndi.find_objects(self._components)
            boxes = np.zeros((len(self._sizes), 2 * self._components.ndim), dtype=np.float64)
            boxes[1:] = [[s.start for s in sl] + [s.stop - 1 for s in sl] for sl in slices]
            self._boxes = boxes

    def _hausdorff(self, a: int, b: int) -> float:
        """Exact symmetric Hausdorff distance, in pixels, between the pixel sets of components ``a`` and ``b``."""
        window = self._components[_union_box(self._boxes[a], self._boxes[b], self._components.ndim)]
        return _hausdorff_in(window, a, b)


def _same_color_candidates(boxes: np.ndarray, colors: np.ndarray, ids: np.ndarray, radius: float,
                          shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Pairs among ``ids`` of one color whose Hausdorff distance may be ``< radius``, judged by bounding boxes.

    ``boxes`` ``(n, 2 * ndim)`` are ``(lo..., hi...)`` per id and ``colors`` ``(n,)`` the color per id; ``shape`` is
    the map's. Candidates come from a k-d tree on the boxes (Chebyshev distance, see `_extend_candidates`), then the
    lower bound `_hausdorff_lower_bound`. Returns ``pairs (M, 2)`` with ``a < b`` and their bounds ``(M,)``.
    """
    # No Hausdorff distance exceeds the image diagonal: a radius beyond it selects every same-color pair.
    search = min(radius, math.hypot(*(s - 1 for s in shape)) + 1.0)
    found = [np.empty((0, 2), dtype=np.intp)]
    for c in np.unique(colors[ids]):
        same = ids[colors[ids] == c]
        if len(same) > 1:
            found.append(same[cKDTree(np.asarray(boxes[same], dtype=np.float64)).query_pairs(
                search, p=np.inf, output_type="ndarray")])
    pairs = np.sort(np.concatenate(found), axis=1)
    bounds = _hausdorff_lower_bound(boxes[pairs[:, 0]].astype(np.float64), boxes[pairs[:, 1]].astype(np.float64),
                                    len(shape))
    return pairs[bounds < radius], bounds[bounds < radius]


def _hausdorff_lower_bound(boxes_a: np.ndarray, boxes_b: np.ndarray, ndim: int) -> np.ndarray:
    """Lower bound of the Hausdorff distance from bounding boxes ``(lo..., hi...)`` (see `_extend_candidates`)."""
    gap = np.maximum(0.0, np.maximum(boxes_b[:, :ndim] - boxes_a[:, ndim:], boxes_a[:, :ndim] - boxes_b[:, ndim:]))
    return np.maximum(np.abs(boxes_a - boxes_b).max(axis=1), np.sqrt((gap**2).sum(axis=1)))


def _union_box(box_a: np.ndarray, box_b: np.ndarray, ndim: int) -> tuple[slice, ...]:
    lo = np.minimum(box_a[:ndim], box_b[:ndim]).astype(int)
    hi = np.maximum(box_a[ndim:], box_b[ndim:]).astype(int)
    return tuple(slice(l, h + 1) for l, h in zip(lo, hi))


def _hausdorff_in(window: np.ndarray, a: int, b: int) -> float:
    """Exact symmetric Hausdorff distance between the pixels ``== a`` and ``== b`` of a window holding both sets.

    Euclidean distance transforms inside the window; it holds both sets, so the distances to each set are exact
    there. Interior pixels are included: with nested shapes they can be the farthest ones.
    """
    in_a, in_b = window == a, window == b
    a_to_b = ndi.distance_transform_edt(~in_b)[in_a].max()
    b_to_a = ndi.distance_transform_edt(~in_a)[in_b].max()
    return float(max(a_to_b, b_to_a))


def restrict_to_foreground(probs: np.ndarray, foreground: npt.ArrayLike) -> np.ndarray:
    """Color probabilities of a network that was given the foreground (`ModelConfig.mask_input`), made to agree
    with it, in place: background probability 1 outside ``foreground`` and 0 inside, where the colors are
    renormalized to sum to 1, so every foreground pixel takes its most likely color and no other pixel does
    (where every color is 0, they become equal).

    Parameters
    ----------
    probs : ndarray, shape (C, Y, X), float32
    foreground : ndarray of bool, shape (Y, X)

    Returns
    -------
    probs : ndarray, shape (C, Y, X), float32, the same array.
    """
    foreground = np.asarray(foreground, dtype=bool)
    if foreground.shape != probs.shape[1:]:
        raise ValueError(f"foreground of shape {foreground.shape} does not match probabilities of shape "
                         f"{probs.shape}")
    colors = probs[1:]
    total = colors.sum(axis=0)
    empty = total == 0  # the network's certain background, its colors all rounded to 0: any color will do
    colors[:, empty], total[empty] = 1, len(colors)
    np.divide(colors, total, out=colors)
    colors *= foreground
    probs[0] = ~foreground
    return probs


def colors_to_labels(probs: npt.ArrayLike, *, min_size: float, merge_distance: float | None = None,
                     absorb_fragments: bool = False) -> Instances:
    """Decode color probabilities into instances (deep coloring, section 3.1).

    Argmax over colors, connected components per color ``>= 1`` (full connectivity: 8 in 2D, 26 in 3D), components
    smaller than ``min_size`` dropped, same-color components closer than ``merge_distance`` (symmetric Hausdorff
    distance) merged. For repeated decoding with different thresholds use :class:`ColorComponents`.

    Parameters
    ----------
    probs : ndarray, shape (C, Y, X) or (C, Z, Y, X), float
        Per-pixel probabilities of the ``C >= 2`` colors (softmax output); color 0 is background.
    min_size : float
        Size threshold ``τ`` in pixels: components with fewer pixels become background.
    merge_distance : float or None
        Proximity threshold ``ρ`` in pixels; ``None`` or 0 merges nothing.
    absorb_fragments : bool
        Fragments below ``min_size`` join their touching neighbour instead of being dropped (not in the paper; see
        :meth:`ColorComponents.to_labels`).

    Returns
    -------
    Instances
        ``labels`` (Y, X) or (Z, Y, X) int32 with 0 = background and instances ``1..N``; ``scores`` (N,) float32, the
        mean probability of each instance's color over its pixels; ``colors`` (N,) int32.

    Raises
    ------
    ValueError
        If ``probs`` is malformed (see :meth:`ColorComponents.from_probs`) or a threshold is negative.
    """
    min_size = _check_threshold("min_size", min_size)
    if merge_distance is not None:
        merge_distance = _check_threshold("merge_distance", merge_distance)
    return ColorComponents.from_probs(probs).to_labels(min_size=min_size, merge_distance=merge_distance,
                                                       absorb_fragments=absorb_fragments)


def _check_probs(probs: npt.ArrayLike) -> np.ndarray:
    probs = np.asarray(probs)
    if probs.ndim not in (3, 4):
        raise ValueError(f"expected probs of shape {_PROBS_SHAPES}, got shape {probs.shape}; "
                         "drop any batch axis and put the colors first")
    if probs.shape[0] < 2:
        raise ValueError(f"expected probs with at least 2 colors (background + 1) on axis 0 of {_PROBS_SHAPES}, "
                         f"got shape {probs.shape}")
    if probs.size == 0:
        raise ValueError(f"expected a non-empty image, got probs of shape {probs.shape}")
    if not np.issubdtype(probs.dtype, np.floating):
        raise ValueError(f"expected floating-point probs of shape {_PROBS_SHAPES}, got dtype {probs.dtype} with "
                         f"shape {probs.shape}; to decode a color map use ColorComponents.from_colors")
    return probs
