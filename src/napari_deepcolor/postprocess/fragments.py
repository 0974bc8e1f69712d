"""Joining fragments below τ to a touching neighbour (``absorb_fragments``, not in the deep-coloring paper).

A component smaller than τ that touches other foreground components is not dropped but joins the neighbour it
shares the longest boundary with, smallest first, repeatedly (`fragment_absorbers`); `ColorComponents` and
`TileStitcher` give it the touching pairs and their contact lengths. Only numpy: no torch, Qt or napari.
"""

from __future__ import annotations

import heapq
import itertools

import numpy as np
import numpy.typing as npt

__all__ = ["fragment_absorbers"]


def fragment_absorbers(sizes: npt.ArrayLike, pairs: npt.ArrayLike, contacts: npt.ArrayLike, *,
                       min_size: float, order: npt.ArrayLike | None = None) -> np.ndarray:
    """Join every fragment smaller than ``min_size`` to the touching neighbour it shares the longest boundary with.

    Fragments are taken smallest first; a fragment that joined a neighbour makes one group with it (summed size,
    pooled boundaries), and that group is taken again while it is still below ``min_size``. Components of at least
    ``min_size`` never join another. A fragment with no neighbour stays alone (and is dropped by τ afterwards).
    Ties (equal sizes, equal boundaries) go to the node first in ``order``, so the result is deterministic.

    Parameters
    ----------
    sizes : ndarray, shape (n,), int
        Size of each node (component); node 0 is background and never joins or absorbs.
    pairs : ndarray, shape (E, 2), int
        Touching nodes ``(a, b)``, each pair once, ``a != b``, no 0.
    contacts : ndarray, shape (E,), int
        Boundary length of each pair (e.g. neighbouring pixel pairs, :meth:`ColorComponents.adjacency`).
    min_size : float
        τ: nodes (or groups) below it are fragments.
    order : ndarray, shape (n,), optional
        Tie-break rank of each node, smaller first (e.g. its first pixel in raster order); default: the node ids.

    Returns
    -------
    absorber : ndarray, shape (n,), intp
        For each node, the node of its group that was never absorbed (its own id if it was not absorbed).
    """
    sizes = np.asarray(sizes, dtype=np.float64)
    pairs = np.asarray(pairs, dtype=np.intp).reshape(-1, 2)
    contacts = np.asarray(contacts)
    n = len(sizes)
    parent = np.arange(n)
    rank = parent.tolist() if order is None else np.asarray(order).tolist()
    small = sizes < min_size
    small[0] = False
    # Only edges with a fragment at one end can ever be used: a component >= τ never joins, and a group that
    # reached τ stops joining.
    useful = small[pairs[:, 0]] | small[pairs[:, 1]]
    if not useful.any():
        return parent
    neighbours: dict[int, dict[int, int]] = {}
    for (a, b), c in zip(pairs[useful].tolist(), contacts[useful].tolist()):
        neighbours.setdefault(a, {})[b] = c
        neighbours.setdefault(b, {})[a] = c
    size = sizes.tolist()
    heap = [(size[i], rank[i], i) for i in np.flatnonzero(small).tolist() if i in neighbours]
    heapq.heapify(heap)
    while heap:
        s, _, i = heapq.heappop(heap)
        if parent[i] != i or s != size[i] or s >= min_size or not neighbours.get(i):
            continue  # absorbed meanwhile, stale entry, grown past τ, or isolated
        around = neighbours.pop(i)
        j = min(around, key=lambda k: (-around[k], rank[k]))
        parent[i] = j
        size[j] += size[i]
        into = neighbours[j]
        del into[i]
        for k, c in around.items():
            if k != j:
                del neighbours[k][i]
                neighbours[k][j] = neighbours[k].get(j, 0) + c
                into[k] = into.get(k, 0) + c
        if size[j] < min_size:
            heapq.heappush(heap, (size[j], rank[j], j))
    while True:  # path compression: parent of parent until every node points at its absorber
        up = parent[parent]
        if np.array_equal(up, parent):
            return parent
        parent = up


def _smallest_member(absorber: np.ndarray) -> np.ndarray:
    """Relabel groups ``absorber`` by their smallest node id."""
    smallest = np.full(len(absorber), len(absorber), dtype=np.intp)
    np.minimum.at(smallest, absorber, np.arange(len(absorber)))
    return smallest[absorber]


def _touching_pairs(components: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """``(pairs (E, 2), contacts (E,))`` of touching different components, full connectivity, over ``ndim``."""
    keys = []
    ndim = components.ndim
    for offset in itertools.product((-1, 0, 1), repeat=ndim):
        if next((o for o in offset if o), 0) <= 0:
            continue  # each neighbour direction once: the first nonzero step is +1
        a = components[tuple(slice(max(0, -o), components.shape[k] - max(0, o)) for k, o in enumerate(offset))]
        b = components[tuple(slice(max(0, o), components.shape[k] - max(0, -o)) for k, o in enumerate(offset))]
        touching = (a != b) & (a > 0) & (b > 0)
        u, v = a[touching].astype(np.int64), b[touching].astype(np.int64)
        keys.append(np.minimum(u, v) * n + np.maximum(u, v))
    unique, contacts = np.unique(np.concatenate(keys), return_counts=True)
    return np.stack([unique // n, unique % n], axis=1).astype(np.intp), contacts.astype(np.int64)
