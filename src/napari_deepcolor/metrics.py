"""Instance segmentation metrics: average precision at IoU thresholds, symmetric best Dice, count difference.

Every function takes a ground truth ``gt`` and a prediction ``pred``, each in one of two forms, told apart by dtype:

- an **integer** array is a label image, shape ``(Y, X)`` or ``(Z, Y, X)``, 0 = background, one instance per
  distinct nonzero value (values need not be consecutive);
- a **bool** array is a stack of masks, shape ``(K, Y, X)`` or ``(K, Z, Y, X)``, one instance per mask; masks may
  overlap (BBBC010 gives one mask per worm and some pixels lie in two worms).

The dtype decides because a 3D label image and a 2D mask stack have the same ``ndim``. Convert with
:func:`masks_from_labels` or :func:`as_masks` when needed. Instances are numbered in a fixed order, used by the rows
and columns of :func:`iou_matrix` and by :attr:`Matching.pairs`: for a label image the i-th smallest nonzero label,
for a mask stack the i-th mask. An all-False mask in a stack still counts as an instance; it matches nothing.

All overlaps come from one sparse intersection matrix, holding only the pairs that share pixels: counted from the
pixels when both inputs are label images, a sparse product of the flattened masks otherwise. :func:`evaluate`
computes it once per image pair, and its memory grows with pixels + instances, never instances squared (a dense
matrix of 60,000 x 60,000 instances would be 27 GiB); matching works on connected groups of candidate pairs.
Only :func:`iou_matrix` returns a dense ``(K_gt, K_pred)`` matrix.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import NamedTuple

import numpy as np
import numpy.typing as npt
from scipy import sparse
from scipy.optimize import linear_sum_assignment
from scipy.sparse.csgraph import connected_components

__all__ = [
    "THRESHOLDS",
    "Matching",
    "abs_diff_count",
    "as_masks",
    "average_precision",
    "diff_count",
    "evaluate",
    "iou_matrix",
    "masks_from_labels",
    "match_instances",
    "mean_average_precision",
    "summarize",
    "symmetric_best_dice",
]

#: IoU thresholds 0.50:0.05:0.95 averaged by :func:`mean_average_precision`.
THRESHOLDS = (0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95)

_MEAN_KEYS = ("ap50", "ap75", "mean_ap", "sbd", "abs_dic", "dic")
_SUM_KEYS = ("n_gt", "n_pred", "tp50", "fp50", "fn50")


class Matching(NamedTuple):
    """One-to-one matching of ground-truth and predicted instances at one IoU threshold.

    Attributes
    ----------
    tp : int
        Matched pairs (true positives).
    fp : int
        Predicted instances left unmatched (false positives).
    fn : int
        Ground-truth instances left unmatched (false negatives).
    pairs : ndarray, shape (tp, 2), intp
        ``(gt_index, pred_index)`` of each match, sorted by ``gt_index``.
    """

    tp: int
    fp: int
    fn: int
    pairs: np.ndarray


class _Overlap(NamedTuple):
    intersection: sparse.csr_matrix  # (K_gt, K_pred) int64, pixels shared by each pair; only overlapping pairs stored
    area_gt: np.ndarray  # (K_gt,) int64
    area_pred: np.ndarray  # (K_pred,) int64


# ----------------------------------------------------------------------------------------------------------------
# Inputs


def _check_instances(x: npt.ArrayLike, name: str) -> np.ndarray:
    """Return ``x`` as an array after checking that it is a label image or a mask stack."""
    arr = np.asarray(x)
    if arr.dtype == bool:
        if arr.ndim not in (3, 4):
            raise ValueError(
                f"{name}: a bool array is read as a stack of masks (K, Y, X) or (K, Z, Y, X), got shape "
                f"{arr.shape}; pass a single mask as mask[None], or a label image as an integer array"
            )
    elif np.issubdtype(arr.dtype, np.integer):
        if arr.ndim not in (2, 3):
            raise ValueError(
                f"{name}: expected a label image (Y, X) or (Z, Y, X), got shape {arr.shape}; "
                "pass a stack of masks as a bool array"
            )
        if arr.size and np.issubdtype(arr.dtype, np.signedinteger) and arr.min() < 0:
            raise ValueError(f"{name}: label images must not contain negative values, got minimum {arr.min()} "
                             "(negative ids mean 'ignore' in training); set them to 0 (background) or give each "
                             "object its own positive id")
    else:
        raise ValueError(
            f"{name}: expected an integer label image or a bool mask stack, got dtype {arr.dtype}; "
            "convert labels with .astype(np.int32) or masks with .astype(bool)"
        )
    return arr


def _spatial_shape(arr: np.ndarray) -> tuple[int, ...]:
    return arr.shape[1:] if arr.dtype == bool else arr.shape


def _check_pair(gt: npt.ArrayLike, pred: npt.ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    gt = _check_instances(gt, "gt")
    pred = _check_instances(pred, "pred")
    if _spatial_shape(gt) != _spatial_shape(pred):
        raise ValueError(
            f"gt and pred cover different pixels: gt has shape {gt.shape} (spatial {_spatial_shape(gt)}), "
            f"pred has shape {pred.shape} (spatial {_spatial_shape(pred)}); bool arrays are mask stacks (K, ...)"
        )
    return gt, pred


def _dense_index(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Renumber a label image.

    Returns
    -------
    index : ndarray, shape (N,), intp
        Flattened labels renumbered so that 0 stays background and the nonzero labels become 1..K in sorted order.
    ids : ndarray, shape (K,)
        The original nonzero labels, sorted.
    """
    flat = labels.ravel()
    if flat.size == 0:
        return np.zeros(0, dtype=np.intp), np.zeros(0, dtype=labels.dtype)
    top = int(flat.max())
    if top <= 4 * flat.size + 1024:
        # Small labels: a lookup table costs one pass, where np.unique would sort.
        flat = flat.astype(np.intp, copy=False)
        present = np.bincount(flat, minlength=top + 1) > 0
        present[0] = False
        rank = np.cumsum(present)  # rank[v] = 1-based position of label v among the present nonzero labels
        return rank[flat], np.flatnonzero(present).astype(labels.dtype)
    values, index = np.unique(flat, return_inverse=True)
    index = index.reshape(-1).astype(np.intp, copy=False)
    if values[0] != 0:  # no background pixel: shift so that 0 stays free for background
        index = index + 1
        return index, values
    return index, values[1:]


def _indicator(arr: np.ndarray) -> sparse.csr_matrix:
    """Sparse ``(K, N)`` int64 matrix with a 1 where instance k covers flattened pixel n."""
    if arr.dtype == bool:
        n_instances, n_pixels = arr.shape[0], int(np.prod(arr.shape[1:]))
        # flatnonzero is sorted by mask then pixel, which is CSR order already (and 10x faster than 2D nonzero).
        positions = np.flatnonzero(arr)
        counts = np.count_nonzero(arr.reshape(n_instances, n_pixels), axis=1)
        indptr = np.zeros(n_instances + 1, dtype=np.int64)
        np.cumsum(counts, out=indptr[1:])
        cols = positions - np.repeat(np.arange(n_instances, dtype=np.int64), counts) * n_pixels
        data = np.ones(cols.size, dtype=np.int64)
        return sparse.csr_matrix((data, cols, indptr), shape=(n_instances, n_pixels))
    index, ids = _dense_index(arr)
    cols = np.flatnonzero(index)
    rows = index[cols] - 1
    data = np.ones(rows.size, dtype=np.int64)
    return sparse.csr_matrix((data, (rows, cols)), shape=(ids.size, index.size))


def _overlap(gt: np.ndarray, pred: np.ndarray) -> _Overlap:
    """Sparse intersection matrix and areas of two checked inputs: O(pixels + instances) memory."""
    if gt.dtype != bool and pred.dtype != bool:
        gt_index, gt_ids = _dense_index(gt)
        pred_index, pred_ids = _dense_index(pred)
        both = np.flatnonzero((gt_index > 0) & (pred_index > 0))
        ones = np.ones(both.size, dtype=np.int64)
        # duplicates (the pixels of one pair) are summed by the conversion
        intersection = sparse.coo_matrix((ones, (gt_index[both] - 1, pred_index[both] - 1)),
                                         shape=(gt_ids.size, pred_ids.size)).tocsr()
        area_gt = np.bincount(gt_index, minlength=gt_ids.size + 1)[1:].astype(np.int64, copy=False)
        area_pred = np.bincount(pred_index, minlength=pred_ids.size + 1)[1:].astype(np.int64, copy=False)
        return _Overlap(intersection, area_gt, area_pred)
    a = _indicator(gt)
    b = _indicator(pred)
    intersection = sparse.csr_matrix(a @ b.T, dtype=np.int64)
    intersection.eliminate_zeros()
    area_gt = np.asarray(a.sum(axis=1), dtype=np.int64).reshape(-1)
    area_pred = np.asarray(b.sum(axis=1), dtype=np.int64).reshape(-1)
    return _Overlap(intersection, area_gt, area_pred)


def _pairwise(ov: _Overlap, values: np.ndarray) -> sparse.csr_matrix:
    """A sparse matrix of ``values``, one per stored pair of ``ov.intersection``, with its sparsity."""
    inter = ov.intersection
    return sparse.csr_matrix((values, inter.indices, inter.indptr), shape=inter.shape)


def _pair_areas(ov: _Overlap) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    inter = ov.intersection
    rows = np.repeat(np.arange(inter.shape[0]), np.diff(inter.indptr))
    return inter.data.astype(np.int64, copy=False), ov.area_gt[rows], ov.area_pred[inter.indices]


def _iou(ov: _Overlap) -> sparse.csr_matrix:
    """IoU of every overlapping pair (sparse; pairs not stored have IoU 0)."""
    inter, area_gt, area_pred = _pair_areas(ov)
    union = area_gt + area_pred - inter
    return _pairwise(ov, np.divide(inter, union, out=np.zeros(union.shape), where=union > 0))


def _dice(ov: _Overlap) -> sparse.csr_matrix:
    """Dice of every overlapping pair (sparse; pairs not stored have Dice 0)."""
    inter, area_gt, area_pred = _pair_areas(ov)
    total = area_gt + area_pred
    return _pairwise(ov, np.divide(2 * inter, total, out=np.zeros(total.shape), where=total > 0))


def masks_from_labels(labels: npt.ArrayLike) -> np.ndarray:
    """Split a label image into one mask per instance.

    Parameters
    ----------
    labels : ndarray, shape (Y, X) or (Z, Y, X), integer
        Label image, 0 = background.

    Returns
    -------
    masks : ndarray, shape (K, Y, X) or (K, Z, Y, X), bool
        One mask per distinct nonzero label, in increasing label order. ``K`` is 0 for an all-background image.
    """
    arr = np.asarray(labels)
    if arr.dtype == bool or not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"labels: expected an integer label image, got dtype {arr.dtype}")
    arr = _check_instances(arr, "labels")
    index, ids = _dense_index(arr)
    masks = np.zeros(ids.size * index.size, dtype=bool)
    pixels = np.flatnonzero(index)
    masks[(index[pixels] - 1) * index.size + pixels] = True
    return masks.reshape((ids.size, *arr.shape))


def as_masks(x: npt.ArrayLike) -> np.ndarray:
    """Return a mask stack, converting an integer label image with :func:`masks_from_labels`.

    Parameters
    ----------
    x : ndarray
        Integer label image ``(Y, X)`` / ``(Z, Y, X)``, or bool mask stack ``(K, Y, X)`` / ``(K, Z, Y, X)``,
        which is returned unchanged.

    Returns
    -------
    masks : ndarray, shape (K, ...), bool
    """
    arr = _check_instances(x, "x")
    return arr if arr.dtype == bool else masks_from_labels(arr)


# ----------------------------------------------------------------------------------------------------------------
# Metrics


def iou_matrix(gt: npt.ArrayLike, pred: npt.ArrayLike) -> np.ndarray:
    """Intersection over union of every ground-truth instance with every predicted instance.

    Parameters
    ----------
    gt, pred : ndarray
        Integer label image ``(Y, X)`` / ``(Z, Y, X)`` or bool mask stack ``(K, Y, X)`` / ``(K, Z, Y, X)``
        (see the module docstring); the spatial shapes must agree. The two may be of different forms.

    Returns
    -------
    iou : ndarray, shape (K_gt, K_pred), float64
        Rows follow the instance order of ``gt``, columns that of ``pred``. A pair of empty masks has IoU 0.
        Dense: 8 bytes per pair of instances (:func:`evaluate` and the other metrics keep only overlapping pairs).

    Raises
    ------
    ValueError
        On a wrong ``ndim`` or dtype, or when the spatial shapes differ.
    """
    return _iou(_overlap(*_check_pair(gt, pred))).toarray()


def match_instances(iou: npt.ArrayLike, *, threshold: float = 0.5) -> Matching:
    """Match ground-truth and predicted instances one to one.

    Only pairs with ``iou >= threshold`` may match. The matching is optimal
    (``scipy.optimize.linear_sum_assignment``): it maximizes the number of matches, then the summed IoU of the
    matches. Above 0.5 each instance of a label image has at most one candidate, but overlapping masks or
    ``threshold <= 0.5`` can give several, and greedy matching would then undercount.

    Parameters
    ----------
    iou : ndarray or scipy.sparse matrix, shape (K_gt, K_pred), float
        As returned by :func:`iou_matrix`; a sparse matrix holds the overlapping pairs only (the others have IoU 0).
        Pairs are matched within each connected group of candidate pairs, so the memory grows with the
        candidates, not with ``K_gt x K_pred``.
    threshold : float
        Lowest IoU of a match, in (0, 1].

    Returns
    -------
    Matching
        ``tp``, ``fp``, ``fn`` counts and the matched ``pairs``.
    """
    if not 0 < threshold <= 1:
        raise ValueError(f"threshold must lie in (0, 1], got {threshold}")
    if sparse.issparse(iou):
        candidates = sparse.coo_matrix(iou, dtype=np.float64)
        if candidates.ndim != 2:
            raise ValueError(f"iou: expected a matrix (K_gt, K_pred), got shape {candidates.shape}")
        keep = candidates.data >= threshold
        rows, cols, values = candidates.row[keep], candidates.col[keep], candidates.data[keep]
    else:
        dense = np.asarray(iou, dtype=np.float64)
        if dense.ndim != 2:
            raise ValueError(f"iou: expected a matrix (K_gt, K_pred), got shape {dense.shape}")
        rows, cols = np.nonzero(dense >= threshold)
        values = dense[rows, cols]
    n_gt, n_pred = iou.shape
    pairs = _match(rows.astype(np.intp), cols.astype(np.intp), values, n_gt, n_pred)
    tp = len(pairs)
    return Matching(tp=tp, fp=n_pred - tp, fn=n_gt - tp, pairs=pairs)


def _match(rows: np.ndarray, cols: np.ndarray, values: np.ndarray, n_gt: int, n_pred: int) -> np.ndarray:
    """Optimal one-to-one matching of candidate pairs ``(rows[i], cols[i])`` with IoU ``values[i]``: the most
    matches, then the largest summed IoU; ``(tp, 2)`` pairs sorted by row.

    A candidate alone in its row and column is a match. The others form connected groups (a row and a column
    sharing a candidate are connected); each group is matched on its own with ``linear_sum_assignment``, which
    gives the same optimum as one assignment over all of them, since no candidate links two groups.
    """
    if rows.size == 0:
        return np.zeros((0, 2), dtype=np.intp)
    row_count = np.bincount(rows, minlength=n_gt)
    col_count = np.bincount(cols, minlength=n_pred)
    alone = (row_count[rows] == 1) & (col_count[cols] == 1)
    found = [np.stack([rows[alone], cols[alone]], axis=1)]
    rest = ~alone
    if rest.any():
        r, c, v = rows[rest], cols[rest], values[rest]
        graph = sparse.coo_matrix((np.ones(r.size), (r, n_gt + c)), shape=(n_gt + n_pred, n_gt + n_pred))
        _, component = connected_components(graph, directed=False)
        group = component[r]
        order = np.argsort(group, kind="stable")
        bounds = np.flatnonzero(np.diff(group[order])) + 1
        for members in np.split(order, bounds):
            group_rows, row_at = np.unique(r[members], return_inverse=True)
            group_cols, col_at = np.unique(c[members], return_inverse=True)
            # each match is worth 1 plus iou / (2 n): at most n matches, so the IoU terms add up to less than one
            n = min(group_rows.size, group_cols.size)
            score = np.zeros((group_rows.size, group_cols.size))
            score[row_at, col_at] = 1.0 + v[members] / (2 * n)
            ok = np.zeros(score.shape, dtype=bool)
            ok[row_at, col_at] = True
            i, j = linear_sum_assignment(score, maximize=True)
            chosen = ok[i, j]
            found.append(np.stack([group_rows[i[chosen]], group_cols[j[chosen]]], axis=1))
    pairs = np.concatenate(found).astype(np.intp)
    return pairs[np.argsort(pairs[:, 0], kind="stable")]


def _ap_from_counts(tp: int, fp: int, fn: int) -> float:
    total = tp + fp + fn
    return 1.0 if total == 0 else tp / total


def _ap(iou: np.ndarray | sparse.csr_matrix, thresholds: npt.ArrayLike) -> np.ndarray:
    thresholds = np.atleast_1d(np.asarray(thresholds, dtype=np.float64))
    if thresholds.ndim != 1:
        raise ValueError(f"thresholds: expected a sequence of floats, got shape {thresholds.shape}")
    aps = np.empty(thresholds.size)
    for i, threshold in enumerate(thresholds):
        m = match_instances(iou, threshold=float(threshold))
        aps[i] = _ap_from_counts(m.tp, m.fp, m.fn)
    return aps


def average_precision(
    gt: npt.ArrayLike, pred: npt.ArrayLike, *, thresholds: Sequence[float] | float = (0.5,)
) -> np.ndarray:
    """Average precision ``TP / (TP + FP + FN)`` at each IoU threshold.

    This is the definition of the 2018 Data Science Bowl, StarDist and Cellpose (sometimes called "accuracy"),
    not COCO's area under a precision-recall curve: a prediction here carries no score to rank by.
    Both images empty gives 1.0; one of them empty gives 0.0.

    Parameters
    ----------
    gt, pred : ndarray
        Integer label images or bool mask stacks, see :func:`iou_matrix`.
    thresholds : sequence of float or float
        IoU thresholds in (0, 1]; a pair matches when its IoU is at least the threshold.

    Returns
    -------
    ap : ndarray, shape (T,), float64
        One value per threshold (``T = 1`` for a single float).
    """
    return _ap(_iou(_overlap(*_check_pair(gt, pred))), thresholds)


def mean_average_precision(gt: npt.ArrayLike, pred: npt.ArrayLike) -> float:
    """Mean of :func:`average_precision` over the IoU thresholds 0.50:0.05:0.95 (:data:`THRESHOLDS`).

    Parameters
    ----------
    gt, pred : ndarray
        Integer label images or bool mask stacks, see :func:`iou_matrix`.

    Returns
    -------
    float
    """
    return float(np.mean(average_precision(gt, pred, thresholds=THRESHOLDS)))


def _sbd(dice: sparse.csr_matrix) -> float:
    n_gt, n_pred = dice.shape
    if n_gt == 0 and n_pred == 0:
        return 1.0
    if n_gt == 0 or n_pred == 0:
        return 0.0
    # pairs not stored do not overlap: Dice 0, and every Dice is >= 0, so the stored maxima (or 0) are the best
    best_for_gt = np.asarray(dice.max(axis=1).toarray()).mean()
    best_for_pred = np.asarray(dice.max(axis=0).toarray()).mean()
    return float(min(best_for_gt, best_for_pred))


def symmetric_best_dice(gt: npt.ArrayLike, pred: npt.ArrayLike) -> float:
    """Symmetric best Dice (SBD) of the CVPPP leaf segmentation challenge (Scharr et al., 2016).

    ``BD(a, b)`` is the mean, over the instances of ``a``, of the best Dice ``2 |a_i & b_j| / (|a_i| + |b_j|)``
    with any instance of ``b``; ``SBD = min(BD(gt, pred), BD(pred, gt))``. Both images empty gives 1.0; exactly one
    empty gives 0.0 (no instance of the other finds a partner).

    Parameters
    ----------
    gt, pred : ndarray
        Integer label images or bool mask stacks, see :func:`iou_matrix`.

    Returns
    -------
    float
        In [0, 1].
    """
    return _sbd(_dice(_overlap(*_check_pair(gt, pred))))


def _count(arr: np.ndarray) -> int:
    return arr.shape[0] if arr.dtype == bool else _dense_index(arr)[1].size


def diff_count(gt: npt.ArrayLike, pred: npt.ArrayLike) -> int:
    """Difference in count ``K_pred - K_gt`` (DiC of the CVPPP challenge): positive when over-segmenting.

    Parameters
    ----------
    gt, pred : ndarray
        Integer label images or bool mask stacks, see :func:`iou_matrix`.

    Returns
    -------
    int
    """
    gt, pred = _check_pair(gt, pred)
    return _count(pred) - _count(gt)


def abs_diff_count(gt: npt.ArrayLike, pred: npt.ArrayLike) -> int:
    """Absolute difference in count ``|K_pred - K_gt|`` (|DiC|), see :func:`diff_count`."""
    return abs(diff_count(gt, pred))


def evaluate(gt: npt.ArrayLike, pred: npt.ArrayLike) -> dict[str, float | int]:
    """All metrics of one image pair, from one intersection matrix.

    Parameters
    ----------
    gt, pred : ndarray
        Integer label images or bool mask stacks, see :func:`iou_matrix`.

    Returns
    -------
    dict
        ``"ap50"``, ``"ap75"``, ``"mean_ap"`` (float): :func:`average_precision` at IoU 0.5, 0.75 and its mean over
        :data:`THRESHOLDS`; ``"sbd"`` (float): :func:`symmetric_best_dice`; ``"abs_dic"``, ``"dic"`` (int):
        :func:`abs_diff_count`, :func:`diff_count`; ``"n_gt"``, ``"n_pred"`` (int): instance counts;
        ``"tp50"``, ``"fp50"``, ``"fn50"`` (int): matching counts at IoU 0.5, which :func:`summarize` pools.
    """
    ov = _overlap(*_check_pair(gt, pred))
    iou = _iou(ov)
    aps = _ap(iou, THRESHOLDS)
    m50 = match_instances(iou, threshold=0.5)
    n_gt, n_pred = iou.shape
    return {
        "ap50": float(aps[THRESHOLDS.index(0.5)]),
        "ap75": float(aps[THRESHOLDS.index(0.75)]),
        "mean_ap": float(aps.mean()),
        "sbd": _sbd(_dice(ov)),
        "abs_dic": abs(n_pred - n_gt),
        "dic": n_pred - n_gt,
        "n_gt": n_gt,
        "n_pred": n_pred,
        "tp50": m50.tp,
        "fp50": m50.fp,
        "fn50": m50.fn,
    }


def summarize(results: Sequence[Mapping[str, float | int]]) -> dict[str, float | int]:
    """Combine the :func:`evaluate` results of several images.

    Parameters
    ----------
    results : sequence of dict
        One :func:`evaluate` result per image.

    Returns
    -------
    dict
        ``"n_images"`` (int); ``"ap50"``, ``"ap75"``, ``"mean_ap"``, ``"sbd"``, ``"abs_dic"``, ``"dic"`` (float):
        means over images, every image weighing the same whatever its number of instances; ``"n_gt"``,
        ``"n_pred"``, ``"tp50"``, ``"fp50"``, ``"fn50"`` (int): sums over images; ``"ap50_pooled"`` (float):
        ``TP / (TP + FP + FN)`` at IoU 0.5 from the summed counts, so every instance weighs the same (1.0 when
        every image is empty).
    """
    if len(results) == 0:
        raise ValueError("results: expected at least one evaluate() result, got none")
    summary: dict[str, float | int] = {"n_images": len(results)}
    for key in _MEAN_KEYS:
        summary[key] = float(np.mean([r[key] for r in results]))
    for key in _SUM_KEYS:
        summary[key] = int(sum(int(r[key]) for r in results))
    summary["ap50_pooled"] = _ap_from_counts(summary["tp50"], summary["fp50"], summary["fn50"])
    return summary
