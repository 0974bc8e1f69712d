"""Deep-coloring decoding tile by tile: components stitched across tile borders, then τ and ρ on whole objects.

A color map too large for memory is decoded one tile of a grid at a time. Each tile's connected components
(`ColorComponents`) get provisional ids, unique over the whole image; only their statistics (size, probability
sum, color, bounding box, first pixel) and the pixels on the tile's four borders stay in memory. `TileStitcher.finish`
then joins provisional components that touch across a tile border in the same color (union-find), which gives
exactly the connected components of the whole color map (full connectivity, like `colors_to_labels`), applies the
size threshold τ to the joined sizes, merges same-color instances closer than ρ, and returns a lookup table from
provisional ids to final labels. With ``absorb_fragments`` (a stitcher made with ``adjacency=True``), joined
components below τ join their touching neighbour as in `ColorComponents.to_labels`: the contacts between components
of different colors are counted inside each tile and across its borders.

Exactness: with the same color map and probabilities, the labels equal ``colors_to_labels(probs, ...)`` on the whole
map, numbering included (instances in raster order of their first pixel); scores agree up to float rounding of the
sums. ρ needs the pixels of both instances: `finish` reads the union bounding box of each candidate pair through
``read_ids``; a pair whose box holds more than ``max_merge_pixels`` pixels is not tested (and not merged), and
`Stitched.skipped_pairs` counts them.

Only numpy, scipy and scikit-image are imported here: no torch, Qt or napari.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi
from scipy import sparse
from scipy.sparse.csgraph import connected_components

from napari_deepcolor.postprocess.coloring import (  # the private two: the same ρ test as ColorComponents'
    ColorComponents,
    _hausdorff_in,
    _same_color_candidates,
    fragment_absorbers,
)

__all__ = ["Stitched", "TileStitcher"]

#: dtype of provisional ids (and of the arrays `TileStitcher.add_tile` returns).
ID_DTYPE = np.uint32


@dataclass(frozen=True, eq=False)
class Stitched:
    """The decoded instances of a stitched color map, as a relabelling of provisional ids.

    Attributes
    ----------
    lut : ndarray, shape (n_provisional + 1,), int32
        ``labels = lut[provisional_ids]``: 0 = background, instances ``1..N`` in raster order of their first pixel.
    scores : ndarray, shape (N,), float32
        Mean probability of each instance's color over its pixels.
    colors : ndarray, shape (N,), int32
        Color (``>= 1``) of each instance.
    sizes : ndarray, shape (N,), int64
        Pixels of each instance.
    skipped_pairs : int
        Same-color pairs that may lie closer than ρ but were not tested because their union bounding box exceeds
        ``max_merge_pixels`` (0 when ρ is off).
    """

    lut: np.ndarray
    scores: np.ndarray
    colors: np.ndarray
    sizes: np.ndarray
    skipped_pairs: int = 0

    @property
    def n_instances(self) -> int:
        """Number of instances ``N``."""
        return int(self.scores.shape[0])


class TileStitcher:
    """Collects the tiles of a 2D color map, then decodes the whole map (see the module docstring).

    Parameters
    ----------
    shape : (int, int)
        ``(Y, X)`` of the whole map. Tiles must form a grid covering it, each added once, in any order.
    adjacency : bool
        Also record which components of different colors touch (needed by ``finish(absorb_fragments=True)``).

    Notes
    -----
    Memory: per provisional component a few dozen bytes, plus the border pixels of every tile; the tiles themselves
    are not kept (the caller stores the provisional ids that `add_tile` returns, e.g. on disk).
    """

    def __init__(self, shape: tuple[int, int], *, adjacency: bool = False) -> None:
        if len(shape) != 2 or min(shape) < 1:
            raise ValueError(f"expected the (Y, X) shape of a non-empty 2D map, got {shape}")
        self.shape = (int(shape[0]), int(shape[1]))
        self.adjacency = adjacency
        self._touching: list[tuple[np.ndarray, np.ndarray]] = []  # per tile: provisional id pairs, contacts
        self._n = 0  # provisional ids handed out so far
        self._stats: list[tuple[np.ndarray, ...]] = []  # per tile: sizes, prob sums, colors, first pixel, boxes
        self._borders: dict[str, dict[int, list[tuple[int, np.ndarray]]]] = {
            "top": {}, "bottom": {}, "left": {}, "right": {}}
        self._covered = 0

    @property
    def n_provisional(self) -> int:
        """Provisional components so far."""
        return self._n

    def add_tile(self, origin: tuple[int, int], components: ColorComponents) -> np.ndarray:
        """Record one tile's components.

        Parameters
        ----------
        origin : (int, int)
            ``(y, x)`` of the tile's first pixel in the whole map.
        components : ColorComponents
            Of the tile's color map (2D).

        Returns
        -------
        ids : ndarray, shape of the tile, uint32
            Provisional ids, unique over the whole map; 0 = background. Keep them: `finish` gives their labels.

        Raises
        ------
        ValueError
            If the tile leaves the map, or ids would overflow uint32.
        """
        local = components.components
        y0, x0 = (int(v) for v in origin)
        h, w = local.shape
        if local.ndim != 2 or y0 < 0 or x0 < 0 or y0 + h > self.shape[0] or x0 + w > self.shape[1]:
            raise ValueError(f"a tile of shape {local.shape} at {origin} does not fit in a map of shape {self.shape}")
        n = components.n_components
        if self._n + n >= np.iinfo(ID_DTYPE).max:
            raise ValueError(f"more than {np.iinfo(ID_DTYPE).max} components in one image; use larger tiles")
        ids = local.astype(ID_DTYPE)
        ids[local > 0] += self._n
        # First pixel in raster order of the whole map and bounding box, per local component.
        slices = ndi.find_objects(local)
        boxes = np.array([[s[0].start + y0, s[1].start + x0, s[0].stop - 1 + y0, s[1].stop - 1 + x0]
                          for s in slices], dtype=np.int64).reshape(n, 4)
        flat = local.ravel()
        pixels = np.flatnonzero(flat)
        first_local = np.full(n + 1, flat.size, dtype=np.int64)
        np.minimum.at(first_local, flat[pixels], pixels)
        # raster order within the tile is raster order in the map: convert the first pixel to map coordinates
        first = (first_local[1:] // w + y0) * self.shape[1] + first_local[1:] % w + x0
        self._stats.append((np.asarray(components.sizes, dtype=np.int64), np.asarray(components.prob_sums),
                            np.asarray(components.component_colors, dtype=np.int32), first, boxes))
        if self.adjacency:
            pairs, contacts = components.adjacency()
            self._touching.append((pairs.astype(np.int64) + self._n, contacts))
        self._n += n
        for side, key, strip in (("top", y0, ids[0]), ("bottom", y0 + h, ids[-1]),
                                 ("left", x0, ids[:, 0]), ("right", x0 + w, ids[:, -1])):
            start = x0 if side in ("top", "bottom") else y0
            self._borders[side].setdefault(key, []).append((start, strip.copy()))
        self._covered += h * w
        return ids

    def finish(self, *, min_size: float, merge_distance: float | None = None,
               read_ids: Callable[[tuple[slice, slice]], np.ndarray] | None = None,
               max_merge_pixels: int = 2**25, absorb_fragments: bool = False) -> Stitched:
        """Join components across tile borders, then apply τ and ρ to the joined instances.

        Parameters
        ----------
        min_size : float
            τ in pixels: joined components with fewer pixels become background.
        merge_distance : float or None
            ρ in pixels: kept same-color instances whose symmetric Hausdorff distance is below it are merged,
            transitively; None or 0 merges nothing.
        read_ids : callable((slice, slice)) -> ndarray, optional
            Reads the provisional ids of a region of the map (as `add_tile` returned them); needed when ρ > 0.
        max_merge_pixels : int
            Largest union bounding box (pixels) read to test a pair for ρ; larger pairs are skipped and counted.
        absorb_fragments : bool
            Joined components below τ join the touching neighbour they share the longest boundary with
            (`postprocess.fragment_absorbers`) instead of being dropped; needs ``adjacency=True``.

        Returns
        -------
        Stitched

        Raises
        ------
        ValueError
            If the tiles do not cover the map, a threshold is negative, ρ > 0 without ``read_ids``, or
            ``absorb_fragments`` without ``adjacency``.
        """
        self._check_finish(min_size, merge_distance, read_ids, absorb_fragments)
        n = self._n + 1  # node 0 is background
        sizes, prob_sums, colors, first, boxes = self._concatenated()

        # 1. components touching across a tile border in the same color are one object
        edges, touching = self._seam_edges(colors)
        groups = _union(n, edges)
        n_groups = int(groups.max()) + 1
        g_colors = np.zeros(n_groups, np.int32)
        g_colors[groups] = colors
        g_sizes, g_sums, g_first, g_boxes = _group_stats(groups, n_groups, sizes, prob_sums, first, boxes)

        # 2. τ on the joined sizes, after joining fragments below τ to a neighbour if asked
        if absorb_fragments:
            pairs, contacts = self._touching_groups(groups, n_groups, touching)
            absorber = fragment_absorbers(g_sizes, pairs, contacts, min_size=min_size, order=g_first)
            groups = absorber[groups]  # an absorbed group keeps its absorber's id, hence its color
            g_sizes, g_sums, g_first, g_boxes = _group_stats(groups, n_groups, sizes, prob_sums, first, boxes)
        keep = (g_sizes >= min_size) & (g_sizes > 0)
        keep[groups[0]] = False  # background

        # 3. ρ between kept objects of the same color
        skipped = 0
        instance = np.arange(n_groups)
        if merge_distance and keep.sum() > 1:
            merged, skipped = self._merge_pairs(float(merge_distance), keep, g_colors, g_boxes, groups, read_ids,
                                                max_merge_pixels)
            if len(merged):
                instance = _union(n_groups, merged)

        # 4. number instances in raster order of their first pixel
        return _numbered(keep, instance, groups, g_first, g_sizes, g_sums, g_colors, skipped)

    def _check_finish(self, min_size: float, merge_distance: float | None,
                      read_ids: Callable[[tuple[slice, slice]], np.ndarray] | None, absorb_fragments: bool) -> None:
        """The errors `finish` raises before any work."""
        if self._covered != self.shape[0] * self.shape[1]:
            raise ValueError(f"the tiles added cover {self._covered} of the {self.shape[0] * self.shape[1]} pixels "
                             f"of the {self.shape} map; add every tile of the grid once")
        if not min_size >= 0 or (merge_distance is not None and not merge_distance >= 0):
            raise ValueError(f"expected min_size >= 0 and merge_distance >= 0 (pixels), got {min_size} and "
                             f"{merge_distance}")
        if merge_distance and read_ids is None:
            raise ValueError("merging with merge_distance > 0 needs read_ids to read the pixels of the instances")
        if absorb_fragments and not self.adjacency:
            raise ValueError("absorb_fragments needs the contacts between components: make the stitcher with "
                             "TileStitcher(shape, adjacency=True)")

    # -- internals -------------------------------------------------------------------------------------------------

    def _concatenated(self) -> tuple[np.ndarray, ...]:
        """Per provisional id (index 0 = background): sizes, prob sums, colors, first pixel, boxes."""
        parts = list(zip(*self._stats)) if self._stats else [[] for _ in range(5)]
        background = (np.zeros(1, np.int64), np.zeros(1), np.zeros(1, np.int32), np.zeros(1, np.int64),
                      np.zeros((1, 4), np.int64))
        return tuple(np.concatenate([bg, *part]) for bg, part in zip(background, parts))

    def _seam_edges(self, colors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Pairs of provisional ids that touch across a tile border (8-connectivity): ``(same (E, 2), other (F, 2))``.

        ``same``: one color, unique pairs. ``other``: different colors, one row per neighbouring pixel pair (empty
        unless the stitcher records adjacency).
        """
        found = [np.empty((0, 2), np.int64)]
        across = [np.empty((0, 2), np.int64)]
        row_starts = np.zeros(self.shape[0] + 1, bool)  # rows where a tile begins: horizontal seams
        row_starts[list(self._borders["top"])] = True
        for before, after, length in (("bottom", "top", self.shape[1]), ("right", "left", self.shape[0])):
            for line, strips in self._borders[before].items():
                if line not in self._borders[after]:
                    continue  # the map's own edge
                a = _assemble(strips, length)
                b = _assemble(self._borders[after][line], length)
                for d in (-1, 0, 1):  # b[i + d] touches a[i]
                    lo, hi = max(0, -d), length - max(0, d)
                    u, v = a[lo:hi].astype(np.int64), b[lo + d : hi + d].astype(np.int64)
                    both = (u > 0) & (v > 0)
                    same = both & (colors[u] == colors[v])
                    found.append(np.stack([u[same], v[same]], axis=1))
                    if self.adjacency:
                        other = both & ~same
                        if before == "right" and d:
                            # a diagonal step that also crosses a horizontal seam was counted on that seam's line
                            i = np.arange(lo, hi)
                            other &= ~row_starts[np.maximum(i, i + d)]
                        across.append(np.stack([u[other], v[other]], axis=1))
        return np.unique(np.concatenate(found), axis=0), np.concatenate(across)

    def _touching_groups(self, groups: np.ndarray, n_groups: int,
                         across: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Pairs of touching joined components ``(a < b)`` and their contacts, inside tiles and across borders."""
        pairs = groups[np.concatenate([*(pairs for pairs, _ in self._touching), across]).astype(np.int64)]
        contacts = np.concatenate([*(contacts for _, contacts in self._touching), np.ones(len(across), np.int64)])
        keys = np.minimum(pairs[:, 0], pairs[:, 1]) * n_groups + np.maximum(pairs[:, 0], pairs[:, 1])
        unique, inverse = np.unique(keys, return_inverse=True)
        summed = np.bincount(inverse.ravel(), weights=contacts, minlength=len(unique)).astype(np.int64)
        return np.stack([unique // n_groups, unique % n_groups], axis=1), summed

    def _merge_pairs(self, radius: float, keep: np.ndarray, colors: np.ndarray, boxes: np.ndarray,
                     groups: np.ndarray, read_ids: Callable[[tuple[slice, slice]], np.ndarray],
                     max_pixels: int) -> tuple[np.ndarray, int]:
        """Pairs of kept same-color groups at Hausdorff distance ``< radius``; pairs too large to read are counted.

        Candidates by the bounding-box lower bound of `ColorComponents` (Chebyshev distance of the box corners,
        gap between the boxes); the distance itself from distance transforms in the union box, exactly.
        """
        pairs, _ = _same_color_candidates(boxes, colors, np.flatnonzero(keep), radius, self.shape)
        merged, skipped = [], 0
        for g, h in pairs:
            lo = np.minimum(boxes[g, :2], boxes[h, :2])
            hi = np.maximum(boxes[g, 2:], boxes[h, 2:])
            if np.prod(hi - lo + 1) > max_pixels:
                skipped += 1
                continue
            window = groups[read_ids((slice(lo[0], hi[0] + 1), slice(lo[1], hi[1] + 1))).astype(np.int64)]
            if _hausdorff_in(window, g, h) < radius:
                merged.append((g, h))
        return np.asarray(merged, np.int64).reshape(-1, 2), skipped


def _assemble(strips: list[tuple[int, np.ndarray]], length: int) -> np.ndarray:
    line = np.zeros(length, ID_DTYPE)
    for start, strip in strips:
        line[start : start + len(strip)] = strip
    return line


def _group_stats(groups: np.ndarray, n_groups: int, sizes: np.ndarray, prob_sums: np.ndarray, first: np.ndarray,
                 boxes: np.ndarray) -> tuple[np.ndarray, ...]:
    """Size, probability sum, first pixel and bounding box of each group of provisional ids."""
    g_sizes = np.bincount(groups, weights=sizes, minlength=n_groups).astype(np.int64)
    g_sums = np.bincount(groups, weights=prob_sums, minlength=n_groups)
    g_first = np.full(n_groups, np.iinfo(np.int64).max, np.int64)
    np.minimum.at(g_first, groups, first)
    g_boxes = np.empty((n_groups, 4), np.int64)
    g_boxes[:, :2], g_boxes[:, 2:] = np.iinfo(np.int64).max, -1
    np.minimum.at(g_boxes[:, 0], groups, boxes[:, 0])
    np.minimum.at(g_boxes[:, 1], groups, boxes[:, 1])
    np.maximum.at(g_boxes[:, 2], groups, boxes[:, 2])
    np.maximum.at(g_boxes[:, 3], groups, boxes[:, 3])
    return g_sizes, g_sums, g_first, g_boxes


def _union(n: int, edges: np.ndarray) -> np.ndarray:
    """Connected-component index of each of ``n`` nodes joined by ``edges (E, 2)``; 0..K-1, by smallest member."""
    if len(edges) == 0:
        return np.arange(n)
    graph = sparse.coo_matrix((np.ones(len(edges), np.int8), (edges[:, 0], edges[:, 1])), shape=(n, n))
    return connected_components(graph, directed=False)[1]


def _numbered(keep: np.ndarray, instance: np.ndarray, groups: np.ndarray, g_first: np.ndarray, g_sizes: np.ndarray,
              g_sums: np.ndarray, g_colors: np.ndarray, skipped: int) -> Stitched:
    """The kept groups' instances (``instance``: a group's instance after ρ) numbered 1.. in raster order of their
    first pixel, with their sizes, scores and colors."""
    n_groups = len(instance)
    kept = np.flatnonzero(keep)
    inst = instance[kept]
    n_inst = int(inst.max()) + 1 if len(inst) else 0
    i_first = np.full(n_inst, np.iinfo(np.int64).max, np.int64)
    np.minimum.at(i_first, inst, g_first[kept])
    present = np.flatnonzero(i_first < np.iinfo(np.int64).max)
    rank = np.zeros(n_inst, np.int64)
    rank[present[np.argsort(i_first[present], kind="stable")]] = np.arange(1, len(present) + 1)
    group_label = np.zeros(n_groups, np.int32)
    group_label[kept] = rank[inst]
    n_final = len(present)
    final_sizes = np.bincount(group_label[kept] - 1, weights=g_sizes[kept], minlength=n_final).astype(np.int64)
    final_sums = np.bincount(group_label[kept] - 1, weights=g_sums[kept], minlength=n_final)
    final_colors = np.zeros(n_final, np.int32)
    final_colors[group_label[kept] - 1] = g_colors[kept]
    scores = (final_sums / np.maximum(final_sizes, 1)).astype(np.float32)
    return Stitched(lut=group_label[groups], scores=scores, colors=final_colors, sizes=final_sizes,
                    skipped_pairs=skipped)
