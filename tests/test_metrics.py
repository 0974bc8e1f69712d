"""Tests for napari_deepcolor.metrics on small hand-built images whose metric values are worked out by hand."""

import numpy as np
import pytest

from napari_deepcolor.metrics import (
    THRESHOLDS,
    abs_diff_count,
    as_masks,
    average_precision,
    diff_count,
    evaluate,
    iou_matrix,
    masks_from_labels,
    match_instances,
    mean_average_precision,
    summarize,
    symmetric_best_dice,
)


def three_objects():
    """Label image (10, 12) with labels 2, 5 and 9 (non-consecutive on purpose)."""
    labels = np.zeros((10, 12), dtype=np.int32)
    labels[1:4, 1:4] = 2  # 9 px
    labels[5:9, 2:6] = 5  # 16 px
    labels[2:8, 8:11] = 9  # 18 px
    return labels


def brute_force_iou(gt_masks, pred_masks):
    iou = np.zeros((len(gt_masks), len(pred_masks)))
    for i, g in enumerate(gt_masks):
        for j, p in enumerate(pred_masks):
            union = np.count_nonzero(g | p)
            iou[i, j] = np.count_nonzero(g & p) / union if union else 0.0
    return iou


# ----------------------------------------------------------------------------------------------------------------
# Known values


def test_identical_labels_are_perfect():
    labels = three_objects()
    np.testing.assert_array_equal(iou_matrix(labels, labels), np.eye(3))
    np.testing.assert_array_equal(average_precision(labels, labels, thresholds=THRESHOLDS), np.ones(10))
    assert mean_average_precision(labels, labels) == 1.0
    assert symmetric_best_dice(labels, labels) == 1.0
    assert diff_count(labels, labels) == 0
    assert abs_diff_count(labels, labels) == 0
    assert evaluate(labels, labels) == {
        "ap50": 1.0, "ap75": 1.0, "mean_ap": 1.0, "sbd": 1.0, "abs_dic": 0, "dic": 0,
        "n_gt": 3, "n_pred": 3, "tp50": 3, "fp50": 0, "fn50": 0,
    }  # fmt: skip


def test_missing_instance():
    gt = three_objects()
    pred = gt.copy()
    pred[pred == 9] = 0
    # TP 2, FP 0, FN 1 at every threshold: AP = 2 / 3.
    np.testing.assert_array_equal(average_precision(gt, pred, thresholds=THRESHOLDS), np.full(10, 2 / 3))
    # BD(gt, pred) = (1 + 1 + 0) / 3, BD(pred, gt) = (1 + 1) / 2 = 1, SBD = min = 2/3.
    assert symmetric_best_dice(gt, pred) == pytest.approx(2 / 3, rel=1e-12)
    assert diff_count(gt, pred) == -1
    assert abs_diff_count(gt, pred) == 1
    result = evaluate(gt, pred)
    assert (result["tp50"], result["fp50"], result["fn50"]) == (2, 0, 1)
    assert result["ap50"] == 2 / 3


def test_shifted_square_iou_is_exactly_0_6():
    # Two 8 x 8 squares shifted by 2 columns: intersection 8 * 6 = 48, union 8 * 10 = 80, IoU = 0.6.
    gt = np.zeros((12, 14), dtype=np.uint16)
    pred = np.zeros_like(gt)
    gt[2:10, 2:10] = 1
    pred[2:10, 4:12] = 1
    assert iou_matrix(gt, pred)[0, 0] == 0.6
    ap = average_precision(gt, pred, thresholds=(0.5, 0.6, 0.65, 0.75))
    np.testing.assert_array_equal(ap, [1.0, 1.0, 0.0, 0.0])  # TP at 0.5 and 0.6; FP + FN above
    m = match_instances(iou_matrix(gt, pred), threshold=0.75)
    assert (m.tp, m.fp, m.fn) == (0, 1, 1)
    # 0.50, 0.55, 0.60 give 1, the other 7 thresholds 0: mean 3 / 10.
    assert mean_average_precision(gt, pred) == pytest.approx(0.3, rel=1e-12)
    # Dice = 2 * 48 / (64 + 64) = 0.75.
    assert symmetric_best_dice(gt, pred) == 0.75


def test_merged_prediction_of_two_objects():
    gt = np.zeros((6, 10), dtype=np.int64)
    gt[1:5, 1:7] = 1  # A: 4 x 6 = 24 px
    gt[1:5, 7:9] = 2  # B: 4 x 2 = 8 px
    pred = (gt > 0).astype(np.int64)  # A and B merged: 32 px
    # IoU(A, pred) = 24 / 32 = 0.75, IoU(B, pred) = 8 / 32 = 0.25.
    np.testing.assert_array_equal(iou_matrix(gt, pred), [[0.75], [0.25]])
    # Up to 0.75 A matches (TP 1, FN 1 for B, FP 0): 1 / 2. Above: TP 0, FP 1, FN 2: 0.
    expected = np.array([0.5] * 6 + [0.0] * 4)
    np.testing.assert_array_equal(average_precision(gt, pred, thresholds=THRESHOLDS), expected)
    assert mean_average_precision(gt, pred) == pytest.approx(0.3, rel=1e-12)
    # Dice(A, pred) = 2 * 24 / (24 + 32) = 6/7, Dice(B, pred) = 2 * 8 / (8 + 32) = 2/5.
    # BD(gt, pred) = (6/7 + 2/5) / 2 = 22/35; BD(pred, gt) = max(6/7, 2/5) = 6/7 = 30/35; SBD = 22/35.
    assert symmetric_best_dice(gt, pred) == pytest.approx(22 / 35, rel=1e-12)
    result = evaluate(gt, pred)
    assert result["ap50"] == 0.5
    assert result["ap75"] == 0.5
    assert result["dic"] == -1
    assert result["abs_dic"] == 1


def test_merge_of_equal_halves_matches_only_one():
    # Each half has IoU exactly 0.5 with the merged prediction: a one-to-one matching takes only one of them.
    gt = np.zeros((4, 8), dtype=np.int32)
    gt[:, :4] = 1
    gt[:, 4:] = 2
    pred = np.ones_like(gt)
    iou = iou_matrix(gt, pred)
    np.testing.assert_array_equal(iou, [[0.5], [0.5]])
    m = match_instances(iou, threshold=0.5)
    assert (m.tp, m.fp, m.fn) == (1, 0, 1)
    assert m.pairs.shape == (1, 2)
    assert average_precision(gt, pred)[0] == 0.5


def test_overlapping_gt_masks():
    # GT masks share column 4 (4 px lie in both), as worms do in BBBC010.
    gt = np.zeros((2, 4, 10), dtype=bool)
    gt[0, :, 0:5] = True  # 20 px
    gt[1, :, 4:9] = True  # 20 px
    pred = np.zeros((4, 10), dtype=np.int32)
    pred[:, 0:4] = 1  # 16 px
    pred[:, 4:9] = 2  # 20 px
    # IoU(m1, p1) = 16 / 20, IoU(m1, p2) = 4 / (20 + 20 - 4) = 1/9, IoU(m2, p1) = 0, IoU(m2, p2) = 20 / 20.
    expected = np.array([[0.8, 1 / 9], [0.0, 1.0]])
    np.testing.assert_allclose(iou_matrix(gt, pred), expected, rtol=1e-15)
    np.testing.assert_allclose(iou_matrix(gt, as_masks(pred)), expected, rtol=1e-15)
    # 0.50 ... 0.80 (7 thresholds): AP 1. 0.85, 0.90, 0.95: TP 1, FP 1, FN 1, AP 1/3. Mean (7 + 1) / 10 = 0.8.
    expected_ap = np.array([1.0] * 7 + [1 / 3] * 3)
    np.testing.assert_array_equal(average_precision(gt, pred, thresholds=THRESHOLDS), expected_ap)
    assert mean_average_precision(gt, pred) == pytest.approx(0.8, rel=1e-12)
    # Dice(m1, p1) = 32/36 = 8/9, Dice(m2, p2) = 1; Dice(m1, p2) = 8/40 = 1/5.
    # BD(gt, pred) = (8/9 + 1) / 2 = 17/18, BD(pred, gt) = (8/9 + 1) / 2 = 17/18.
    assert symmetric_best_dice(gt, pred) == pytest.approx(17 / 18, rel=1e-12)


def test_identical_overlapping_masks_match_one_to_one():
    gt = np.zeros((2, 5, 5), dtype=bool)
    gt[:, 1:4, 1:4] = True  # the same mask twice
    pred = gt[:1].copy()
    np.testing.assert_array_equal(iou_matrix(gt, pred), [[1.0], [1.0]])
    result = evaluate(gt, pred)
    assert (result["tp50"], result["fp50"], result["fn50"]) == (1, 0, 1)
    assert result["ap50"] == 0.5
    assert result["sbd"] == 1.0  # every instance has a perfect partner on both sides


def test_3d_label_images():
    gt = np.zeros((6, 5, 5), dtype=np.int32)
    gt[0:4, 1:4, 1:4] = 7  # 4 * 9 = 36 px
    pred = np.zeros_like(gt)
    pred[1:5, 1:4, 1:4] = 3  # shifted by one plane: intersection 27, union 45, IoU 0.6
    assert iou_matrix(gt, pred)[0, 0] == 0.6
    assert iou_matrix(as_masks(gt), pred)[0, 0] == 0.6
    np.testing.assert_array_equal(average_precision(gt, pred, thresholds=(0.6, 0.65)), [1.0, 0.0])


# ----------------------------------------------------------------------------------------------------------------
# Matching


def test_matching_maximizes_number_of_matches():
    # Greedy by IoU takes (0, 0) = 0.9 and leaves gt 1 alone; the optimal matching takes (0, 1) and (1, 0).
    iou = np.array([[0.9, 0.3], [0.3, 0.0]])
    m = match_instances(iou, threshold=0.3)
    assert (m.tp, m.fp, m.fn) == (2, 0, 0)
    np.testing.assert_array_equal(m.pairs, [[0, 1], [1, 0]])
    m = match_instances(iou, threshold=0.5)
    assert (m.tp, m.fp, m.fn) == (1, 1, 1)
    np.testing.assert_array_equal(m.pairs, [[0, 0]])


def test_matching_prefers_higher_iou_among_equal_counts():
    iou = np.array([[0.6, 0.9], [0.0, 0.0]])
    m = match_instances(iou, threshold=0.5)
    np.testing.assert_array_equal(m.pairs, [[0, 1]])
    assert (m.tp, m.fp, m.fn) == (1, 1, 1)


@pytest.mark.parametrize("shape", [(0, 0), (0, 3), (2, 0)])
def test_matching_empty(shape):
    m = match_instances(np.zeros(shape), threshold=0.5)
    assert (m.tp, m.fp, m.fn) == (0, shape[1], shape[0])
    assert m.pairs.shape == (0, 2)


@pytest.mark.parametrize("threshold", [0.0, -0.1, 1.5])
def test_matching_rejects_threshold(threshold):
    with pytest.raises(ValueError, match="threshold"):
        match_instances(np.eye(2), threshold=threshold)


def test_matching_rejects_non_matrix():
    with pytest.raises(ValueError, match=r"\(3,\)"):
        match_instances(np.ones(3), threshold=0.5)


# ----------------------------------------------------------------------------------------------------------------
# Empty images


def test_both_empty():
    empty = np.zeros((8, 8), dtype=np.int32)
    assert iou_matrix(empty, empty).shape == (0, 0)
    np.testing.assert_array_equal(average_precision(empty, empty, thresholds=THRESHOLDS), np.ones(10))
    assert symmetric_best_dice(empty, empty) == 1.0
    result = evaluate(empty, empty)
    assert result["ap50"] == result["mean_ap"] == result["sbd"] == 1.0
    assert result["n_gt"] == result["n_pred"] == result["abs_dic"] == 0
    empty_masks = np.zeros((0, 8, 8), dtype=bool)
    assert evaluate(empty_masks, empty) == result


def test_one_empty():
    labels = three_objects()
    empty = np.zeros_like(labels)
    assert iou_matrix(labels, empty).shape == (3, 0)
    assert iou_matrix(empty, labels).shape == (0, 3)
    for gt, pred in [(labels, empty), (empty, labels)]:
        np.testing.assert_array_equal(average_precision(gt, pred, thresholds=THRESHOLDS), np.zeros(10))
        assert symmetric_best_dice(gt, pred) == 0.0
        assert abs_diff_count(gt, pred) == 3
    assert diff_count(labels, empty) == -3
    assert diff_count(empty, labels) == 3


def test_all_false_mask_counts_as_unmatched_instance():
    gt = masks_from_labels(three_objects())
    pred = np.concatenate([gt, np.zeros((1, *gt.shape[1:]), dtype=bool)])
    np.testing.assert_array_equal(iou_matrix(gt, pred), np.eye(3, 4))
    assert average_precision(gt, pred)[0] == 3 / 4  # TP 3, FP 1


# ----------------------------------------------------------------------------------------------------------------
# Invariances and agreement between input forms


def test_label_permutation_invariance():
    gt = three_objects()
    pred = gt.copy()
    pred[5:9, 2:4] = 0  # shrink label 5: IoU 8/16 with its GT
    pred[2:8, 10] = 0  # shrink label 9: IoU 12/18
    remap = {2: 1000, 5: 3, 9: 77}  # new ids in a different order
    pred_perm = np.zeros_like(pred)
    for old, new in remap.items():
        pred_perm[pred == old] = new
    gt_perm = np.zeros_like(gt)
    gt_perm[gt == 2], gt_perm[gt == 5], gt_perm[gt == 9] = 40, 1, 6
    reference = evaluate(gt, pred)
    assert reference["ap50"] == 1.0 and reference["ap75"] == 1 / 5  # at 0.75 only label 2 matches: 1 / (1 + 2 + 2)
    assert evaluate(gt_perm, pred_perm) == reference
    assert evaluate(as_masks(gt_perm)[::-1], as_masks(pred_perm)[[2, 0, 1]]) == reference


def test_swapping_gt_and_pred():
    gt = three_objects()
    pred = np.roll(gt, 1, axis=1)
    pred[0:2, 0:2] = 12
    a, b = evaluate(gt, pred), evaluate(pred, gt)
    for key in ("ap50", "ap75", "mean_ap", "sbd", "abs_dic"):
        assert a[key] == b[key], key
    assert (a["fp50"], a["fn50"]) == (b["fn50"], b["fp50"])
    np.testing.assert_array_equal(iou_matrix(gt, pred), iou_matrix(pred, gt).T)


def test_all_input_forms_agree_with_brute_force():
    rng = np.random.default_rng(0)
    gt = rng.integers(0, 6, size=(30, 40)).astype(np.int32)
    pred = rng.integers(0, 4, size=(30, 40)).astype(np.uint8) * 11  # ids 0, 11, 22, 33
    reference = brute_force_iou(as_masks(gt), as_masks(pred))
    assert reference.shape == (5, 3)
    for g in (gt, as_masks(gt)):
        for p in (pred, as_masks(pred)):
            np.testing.assert_allclose(iou_matrix(g, p), reference, rtol=1e-15)


def test_large_label_ids_take_the_sorting_path():
    gt = three_objects().astype(np.int64)
    pred = gt.copy()
    pred[pred == 9] = 2**40
    np.testing.assert_array_equal(iou_matrix(gt, pred), np.eye(3))
    assert masks_from_labels(pred).shape == (3, 10, 12)


def test_masks_from_labels():
    labels = three_objects()
    masks = masks_from_labels(labels)
    assert masks.dtype == bool
    assert masks.shape == (3, 10, 12)
    for mask, label in zip(masks, (2, 5, 9), strict=True):
        np.testing.assert_array_equal(mask, labels == label)
    assert masks_from_labels(np.zeros((2, 3, 4), dtype=np.int32)).shape == (0, 2, 3, 4)
    assert as_masks(masks) is masks


# ----------------------------------------------------------------------------------------------------------------
# Summaries


def test_summarize_means_and_pooled_ap():
    labels = three_objects()
    empty = np.zeros_like(labels)
    two = labels.copy()
    two[two == 9] = 0
    results = [evaluate(labels, labels), evaluate(empty, two)]  # AP50 1 (TP 3) and 0 (FP 2)
    summary = summarize(results)
    assert summary["n_images"] == 2
    assert summary["ap50"] == 0.5
    assert summary["ap50_pooled"] == 3 / 5  # TP 3 / (3 + FP 2 + FN 0)
    assert summary["sbd"] == 0.5
    assert summary["abs_dic"] == 1.0  # (0 + 2) / 2
    assert summary["dic"] == 1.0
    assert (summary["n_gt"], summary["n_pred"]) == (3, 5)
    assert (summary["tp50"], summary["fp50"], summary["fn50"]) == (3, 2, 0)


def test_summarize_all_empty_and_no_results():
    empty = np.zeros((4, 4), dtype=np.int32)
    assert summarize([evaluate(empty, empty)])["ap50_pooled"] == 1.0
    with pytest.raises(ValueError, match="at least one"):
        summarize([])


# ----------------------------------------------------------------------------------------------------------------
# Errors


def test_mismatched_shapes_name_both():
    with pytest.raises(ValueError, match=r"\(10, 12\).*\(10, 13\)"):
        iou_matrix(np.zeros((10, 12), dtype=np.int32), np.zeros((10, 13), dtype=np.int32))
    with pytest.raises(ValueError, match=r"\(2, 10, 12\).*\(10, 13\)"):
        evaluate(np.zeros((2, 10, 12), dtype=bool), np.zeros((10, 13), dtype=np.int32))
    # A 3D label image is not a mask stack: (3, 10, 12) int has spatial shape (3, 10, 12).
    with pytest.raises(ValueError, match="different pixels"):
        symmetric_best_dice(np.zeros((3, 10, 12), dtype=np.int32), np.zeros((3, 10, 12), dtype=bool))


@pytest.mark.parametrize(
    ("array", "message"),
    [
        (np.zeros(5, dtype=np.int32), r"label image .*\(5,\)"),
        (np.zeros((2, 3, 4, 5), dtype=np.int32), r"label image .*\(2, 3, 4, 5\)"),
        (np.zeros((4, 5), dtype=bool), r"stack of masks .*\(4, 5\)"),
        (np.zeros((4, 5), dtype=np.float32), "dtype float32"),
        (np.full((4, 5), -1, dtype=np.int32), "negative"),
    ],
)
def test_rejects_bad_input(array, message):
    with pytest.raises(ValueError, match=message):
        evaluate(array, array)
    with pytest.raises(ValueError, match=message):
        diff_count(array, array)


def test_masks_from_labels_rejects_masks():
    with pytest.raises(ValueError, match="integer label image"):
        masks_from_labels(np.zeros((2, 4, 4), dtype=bool))
