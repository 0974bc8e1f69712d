"""Tests for napari_deepcolor.postprocess: color probabilities -> instance labels."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest
from scipy.spatial.distance import directed_hausdorff
from skimage.measure import label as sk_label

from napari_deepcolor.postprocess.coloring import ColorComponents, colors_to_labels, restrict_to_foreground
from napari_deepcolor.postprocess.instances import Instances


def probs_from_colors(colors, n_colors=4, confidence=0.9):
    """probs (C, *colors.shape) float32 whose argmax is ``colors``; ``confidence`` may be an array like ``colors``."""
    colors = np.asarray(colors)
    confidence = np.broadcast_to(np.asarray(confidence, dtype=np.float32), colors.shape)
    rest = (1 - confidence) / (n_colors - 1)
    probs = np.broadcast_to(rest, (n_colors, *colors.shape)).copy()
    np.put_along_axis(probs, colors[None], confidence[None], axis=0)
    return probs


def canonical(labels):
    """Relabel so that instances are numbered in raster order of their first pixel."""
    ids, first = np.unique(labels.ravel(), return_index=True)
    ids, first = ids[ids > 0], first[ids > 0]
    lut = np.zeros(labels.max() + 1, dtype=np.int64)
    lut[ids[np.argsort(first)]] = np.arange(1, len(ids) + 1)
    return lut[labels]


def reference_labels(probs, min_size, merge_distance):
    """Brute force: per-color labelling, size filter, all-pairs directed_hausdorff, union-find."""
    colors = probs.argmax(0)
    pieces = []  # (color, coords)
    for c in range(1, probs.shape[0]):
        components = sk_label(colors == c, connectivity=colors.ndim)
        for i in range(1, components.max() + 1):
            coords = np.argwhere(components == i)
            if len(coords) >= min_size:
                pieces.append((c, coords))
    parent = list(range(len(pieces)))

    def find(i):
        while parent[i] != i:
            i = parent[i]
        return i

    for i in range(len(pieces)):
        for j in range(i + 1, len(pieces)):
            (ci, u), (cj, v) = pieces[i], pieces[j]
            if ci == cj and merge_distance:
                h = max(directed_hausdorff(u, v)[0], directed_hausdorff(v, u)[0])
                if h < merge_distance:
                    parent[find(i)] = find(j)
    labels = np.zeros(colors.shape, dtype=np.int64)
    for i, (_, coords) in enumerate(pieces):
        labels[tuple(coords.T)] = find(i) + 1
    return canonical(labels)


def blob_colors(shape, n_blobs, n_colors, seed):
    """Color map with random overlapping discs (later ones occlude earlier ones), some split in pieces."""
    rng = np.random.default_rng(seed)
    colors = np.zeros(shape, dtype=np.int64)
    grid = np.indices(shape)
    for _ in range(n_blobs):
        centre = rng.uniform(0, shape, size=len(shape))
        radius = rng.uniform(2, 7)
        inside = sum((g - c) ** 2 for g, c in zip(grid, centre)) < radius**2
        colors[inside] = rng.integers(1, n_colors)
    return colors


# -- size threshold and connectivity ---------------------------------------------------------------------------------


def test_min_size_drops_small_components_and_keeps_big_ones():
    colors = np.zeros((8, 12), dtype=int)
    colors[1:3, 1:3] = 1  # 4 pixels
    colors[1:4, 6:9] = 1  # 9 pixels
    probs = probs_from_colors(colors)

    kept = colors_to_labels(probs, min_size=5).labels
    expected = np.zeros_like(colors)
    expected[1:4, 6:9] = 1
    np.testing.assert_array_equal(kept, expected)

    both = colors_to_labels(probs, min_size=4).labels  # a component of exactly min_size pixels is kept
    expected[1:3, 1:3] = 1
    expected[1:4, 6:9] = 2
    np.testing.assert_array_equal(both, expected)

    assert colors_to_labels(probs, min_size=10).labels.max() == 0


def test_touching_components_of_different_colors_are_separate():
    colors = np.zeros((5, 8), dtype=int)
    colors[1:4, 1:4] = 1
    colors[1:4, 4:7] = 2
    result = colors_to_labels(probs_from_colors(colors), min_size=1)
    np.testing.assert_array_equal(result.labels[2], [0, 1, 1, 1, 2, 2, 2, 0])
    np.testing.assert_array_equal(result.colors, [1, 2])


def test_same_color_connectivity_is_full_and_far_pieces_stay_separate():
    colors = np.zeros((6, 12), dtype=int)
    colors[1, 1] = colors[2, 2] = 3  # diagonal neighbours: one component (8-connectivity)
    colors[1, 8] = colors[2, 9] = 3
    result = colors_to_labels(probs_from_colors(colors), min_size=1)
    assert result.labels[1, 1] == result.labels[2, 2] == 1
    assert result.labels[1, 8] == result.labels[2, 9] == 2
    np.testing.assert_array_equal(result.colors, [3, 3])


def test_labels_are_consecutive_int32_with_zero_background():
    colors = np.zeros((10, 10), dtype=int)
    colors[0:2, 0:2] = 1  # 4 px, kept
    colors[0, 5] = 2  # 1 px, dropped
    colors[4:7, 4:7] = 2  # 9 px, kept
    colors[9, 0] = 3  # 1 px, dropped
    colors[8:10, 7:10] = 3  # 6 px, kept
    labels = colors_to_labels(probs_from_colors(colors), min_size=2).labels
    assert labels.dtype == np.int32
    assert labels.shape == colors.shape
    np.testing.assert_array_equal(np.unique(labels), [0, 1, 2, 3])
    assert labels[0, 5] == labels[9, 0] == 0
    assert labels[0, 0] == 1 and labels[5, 5] == 2 and labels[9, 9] == 3  # raster order of first pixel
    dropped = np.zeros_like(colors, dtype=bool)
    dropped[0, 5] = dropped[9, 0] = True
    np.testing.assert_array_equal(labels > 0, (colors > 0) & ~dropped)


# -- merging -----------------------------------------------------------------------------------------------------------


def test_merge_uses_hausdorff_distance_strictly_below_merge_distance():
    # A: 3x3 square at rows 0-2, cols 0-2; B: one pixel at (1, 6).
    # h(A, B) = |(0, 0) - (1, 6)| = sqrt(37) ~ 6.083; h(B, A) = |(1, 6) - (1, 2)| = 4; H = sqrt(37).
    colors = np.zeros((3, 8), dtype=int)
    colors[0:3, 0:3] = 2
    colors[1, 6] = 2
    a, b = np.argwhere(colors[:, :4] == 2), np.array([[1, 6]])
    assert max(directed_hausdorff(a, b)[0], directed_hausdorff(b, a)[0]) == pytest.approx(math.sqrt(37))

    probs = probs_from_colors(colors)
    assert colors_to_labels(probs, min_size=1, merge_distance=6.09).labels.max() == 1
    assert colors_to_labels(probs, min_size=1, merge_distance=math.sqrt(37)).labels.max() == 2  # not strictly below
    assert colors_to_labels(probs, min_size=1, merge_distance=6.08).labels.max() == 2
    # 4.5 > the gap between the pieces (4) but < H: a closest-point rule would merge, Hausdorff does not.
    assert colors_to_labels(probs, min_size=1, merge_distance=4.5).labels.max() == 2
    assert colors_to_labels(probs, min_size=1, merge_distance=None).labels.max() == 2


def test_merge_includes_interior_points_of_nested_components():
    # A disc A of radius 2 inside a thin ring B (radius 7.5 to 8.5), same color. The pixel of A farthest from B is
    # its centre, an interior pixel: a Hausdorff distance between boundary pixels only would be too small.
    yy, xx = np.mgrid[:21, :21]
    r = np.hypot(yy - 10, xx - 10)
    colors = np.where((r <= 2) | ((r >= 7.5) & (r < 8.5)), 1, 0)
    a, b = np.argwhere(r <= 2), np.argwhere((r >= 7.5) & (r < 8.5))
    expected = max(directed_hausdorff(a, b)[0], directed_hausdorff(b, a)[0])
    a_edge = np.argwhere((r <= 2) & (r > 1))  # A without its interior pixels
    boundary_only = max(directed_hausdorff(a_edge, b)[0], directed_hausdorff(b, a_edge)[0])
    assert (boundary_only, expected) == pytest.approx((math.sqrt(50), math.sqrt(58)))  # (5, 5) and (7, 3) offsets

    probs = probs_from_colors(colors)
    assert colors_to_labels(probs, min_size=1, merge_distance=7.3).n_instances == 2  # boundary_only < 7.3 < H
    assert colors_to_labels(probs, min_size=1, merge_distance=expected).n_instances == 2
    assert colors_to_labels(probs, min_size=1, merge_distance=expected + 1e-6).n_instances == 1


def test_merge_is_transitive_and_never_joins_different_colors():
    colors = np.zeros((3, 20), dtype=int)
    colors[1, [0, 4, 8]] = 1  # neighbours at distance 4, ends at distance 8
    colors[1, 2] = 2  # different color in between: never merged with color 1
    colors[1, 15] = 1  # 7 away from the chain
    result = colors_to_labels(probs_from_colors(colors), min_size=1, merge_distance=5)
    np.testing.assert_array_equal(result.labels[1, [0, 4, 8, 2, 15]], [1, 1, 1, 2, 3])
    np.testing.assert_array_equal(result.colors, [1, 2, 1])


def test_small_components_are_dropped_before_merging():
    colors = np.zeros((3, 20), dtype=int)
    colors[0:3, 0:3] = 1
    colors[1, 5] = 1  # 1 px bridge, dropped by min_size=2
    colors[0:3, 8:11] = 1
    result = colors_to_labels(probs_from_colors(colors), min_size=2, merge_distance=9)
    assert result.labels[1, 5] == 0
    assert result.n_instances == 1  # the squares are 8 apart (translation), so H = 8 < 9
    result = colors_to_labels(probs_from_colors(colors), min_size=2, merge_distance=8)
    assert result.n_instances == 2


def test_merge_distance_infinite_merges_each_color():
    colors = blob_colors((40, 50), n_blobs=30, n_colors=4, seed=3)
    result = colors_to_labels(probs_from_colors(colors), min_size=1, merge_distance=math.inf)
    present = np.unique(colors[colors > 0])
    assert result.n_instances == len(present)
    np.testing.assert_array_equal(np.sort(result.colors), present)


# -- scores -----------------------------------------------------------------------------------------------------------


def test_scores_are_mean_probability_of_the_color_over_each_instance():
    colors = np.zeros((4, 10), dtype=int)
    colors[0:2, 0:2] = 1
    colors[0:2, 5:7] = 2
    colors[3, 5:7] = 2
    confidence = np.linspace(0.5, 0.99, colors.size, dtype=np.float32).reshape(colors.shape)
    probs = probs_from_colors(colors, confidence=confidence)

    result = colors_to_labels(probs, min_size=1, merge_distance=3.5)  # the two color-2 pieces: H = 3
    assert result.n_instances == 2
    assert result.scores.dtype == np.float32 and result.scores.shape == (2,)
    expected = [probs[1][colors == 1].mean(), probs[2][colors == 2].mean()]
    np.testing.assert_allclose(result.scores, expected, rtol=1e-6)

    split = colors_to_labels(probs, min_size=1)
    expected = [probs[1][0:2, 0:2].mean(), probs[2][0:2, 5:7].mean(), probs[2][3, 5:7].mean()]
    np.testing.assert_allclose(split.scores, expected, rtol=1e-6)


# -- cache, constructors, 3D ------------------------------------------------------------------------------------------


def test_cached_components_match_fresh_calls_and_brute_force():
    colors = blob_colors((48, 64), n_blobs=60, n_colors=5, seed=0)
    rng = np.random.default_rng(1)
    probs = probs_from_colors(colors, n_colors=5, confidence=rng.uniform(0.5, 1, colors.shape))
    cached = ColorComponents.from_probs(probs)
    for min_size, merge_distance in [(1, None), (5, 3.0), (5, 12.0), (2, 1.5), (10, 20.0), (0, 6.0), (5, 12.0)]:
        got = cached.to_labels(min_size=min_size, merge_distance=merge_distance)
        fresh = colors_to_labels(probs, min_size=min_size, merge_distance=merge_distance)
        np.testing.assert_array_equal(got.labels, fresh.labels)
        np.testing.assert_array_equal(got.scores, fresh.scores)
        np.testing.assert_array_equal(got.colors, fresh.colors)
        np.testing.assert_array_equal(got.labels, reference_labels(probs, min_size, merge_distance))
    assert cached.n_components == len(cached.sizes) == len(cached.component_colors)
    assert cached.sizes.sum() == np.count_nonzero(colors)


def test_hausdorff_distances_are_computed_once_and_only_when_needed(monkeypatch):
    colors = blob_colors((48, 64), n_blobs=60, n_colors=3, seed=4)
    cached = ColorComponents.from_probs(probs_from_colors(colors, n_colors=3))
    calls = []
    original = ColorComponents._hausdorff
    monkeypatch.setattr(ColorComponents, "_hausdorff", lambda self, a, b: calls.append((a, b)) or original(self, a, b))

    cached.to_labels(min_size=5, merge_distance=20)
    first = len(calls)
    assert first > 0
    for min_size, merge_distance in [(5, 20), (5, 4), (8, 20), (20, 2), (5, None)]:
        cached.to_labels(min_size=min_size, merge_distance=merge_distance)
    assert len(calls) == first  # nothing new: same or stricter thresholds
    cached.to_labels(min_size=1, merge_distance=30)  # looser: only the new pairs
    assert len(calls) > first
    assert len(set(calls)) == len(calls)


def test_module_imports_neither_torch_nor_qt_nor_napari():
    code = (
        "import sys, napari_deepcolor.postprocess; "
        "print(sorted(m for m in ('torch', 'qtpy', 'PyQt5', 'PyQt6', 'napari') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_from_probs_breaks_ties_like_argmax():
    rng = np.random.default_rng(0)
    probs = rng.integers(0, 3, size=(4, 16, 16)).astype(np.float32)  # many ties
    np.testing.assert_array_equal(ColorComponents.from_probs(probs).colors, probs.argmax(0))


def test_from_colors_and_constructor_match_from_probs():
    colors = blob_colors((30, 30), n_blobs=20, n_colors=4, seed=5)
    probs = probs_from_colors(colors, confidence=np.random.default_rng(2).uniform(0.4, 1, colors.shape))
    expected = colors_to_labels(probs, min_size=3, merge_distance=5)
    for components in [
        ColorComponents.from_colors(colors, probs),
        ColorComponents(colors, probs.max(0)),
    ]:
        result = components.to_labels(min_size=3, merge_distance=5)
        np.testing.assert_array_equal(result.labels, expected.labels)
        np.testing.assert_allclose(result.scores, expected.scores, rtol=1e-6)


def test_3d_uses_26_connectivity_and_merges_by_distance():
    colors = np.zeros((6, 5, 5), dtype=int)
    colors[0, 0, 0] = colors[1, 1, 1] = 1  # corner neighbours: one component
    colors[4, 0, 0] = 1  # 3 planes below (1, 1, 1): H({(0,0,0), (1,1,1)}, {(4,0,0)}) = 4
    colors[2:4, 3:5, 3:5] = 2
    probs = probs_from_colors(colors, n_colors=3)
    assert probs.shape == (3, 6, 5, 5)

    result = colors_to_labels(probs, min_size=1)
    assert result.labels.shape == (6, 5, 5) and result.labels.dtype == np.int32
    assert result.labels[0, 0, 0] == result.labels[1, 1, 1] == 1
    assert result.labels[2, 3, 3] == 2 and result.labels[4, 0, 0] == 3
    np.testing.assert_array_equal(result.colors, [1, 2, 1])
    assert colors_to_labels(probs, min_size=1, merge_distance=4).n_instances == 3
    merged = colors_to_labels(probs, min_size=1, merge_distance=4.01)
    assert merged.n_instances == 2 and merged.labels[4, 0, 0] == 1
    assert colors_to_labels(probs, min_size=2).colors.tolist() == [1, 2]  # the 1-voxel piece is dropped
    assert colors_to_labels(probs, min_size=3).colors.tolist() == [2]  # the 8-voxel block survives alone


def test_all_background_gives_empty_instances():
    result = colors_to_labels(probs_from_colors(np.zeros((5, 5), dtype=int)), min_size=0, merge_distance=3)
    assert isinstance(result, Instances)
    assert result.labels.dtype == np.int32 and not result.labels.any()
    assert result.scores.shape == (0,) and result.colors.shape == (0,)


# -- errors -----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(5, 5), (2, 1, 3, 5, 5)])
def test_probs_with_wrong_ndim_are_rejected(shape):
    with pytest.raises(ValueError, match=r"\(C, Y, X\) or \(C, Z, Y, X\), got shape " + re_shape(shape)):
        colors_to_labels(np.full(shape, 0.5, dtype=np.float32), min_size=1)


def test_probs_with_fewer_than_two_colors_are_rejected():
    with pytest.raises(ValueError, match=r"at least 2 colors.*got shape \(1, 4, 4\)"):
        colors_to_labels(np.ones((1, 4, 4), dtype=np.float32), min_size=1)


def test_probs_with_nan_are_rejected():
    probs = probs_from_colors(np.zeros((4, 4), dtype=int))
    probs[2, 1, 1] = np.nan
    with pytest.raises(ValueError, match=r"probs of shape \(4, 4, 4\) contain NaN"):
        colors_to_labels(probs, min_size=1)


def test_integer_probs_are_rejected():
    with pytest.raises(ValueError, match=r"floating-point probs.*got dtype int64 with shape \(3, 4, 4\)"):
        ColorComponents.from_probs(np.zeros((3, 4, 4), dtype=np.int64))


@pytest.mark.parametrize(
    ("knobs", "message"),
    [
        ({"min_size": -1}, r"min_size >= 0 \(in pixels\), got -1"),
        ({"min_size": float("nan")}, r"min_size >= 0"),
        ({"min_size": 1, "merge_distance": -0.5}, r"merge_distance >= 0 \(in pixels\), got -0.5; use 0 to disable"),
        ({"min_size": "5"}, r"expected a number for min_size"),
    ],
)
def test_bad_thresholds_are_rejected(knobs, message):
    probs = probs_from_colors(np.eye(4, dtype=int))
    with pytest.raises(ValueError, match=message):
        colors_to_labels(probs, **knobs)
    with pytest.raises(ValueError, match=message):
        ColorComponents.from_probs(probs).to_labels(**knobs)


def test_from_colors_rejects_mismatched_or_out_of_range_colors():
    probs = probs_from_colors(np.zeros((4, 4), dtype=int), n_colors=3)
    with pytest.raises(ValueError, match=r"colors of shape \(4, 4\) to match probs \(3, 4, 4\), got shape \(4, 5\)"):
        ColorComponents.from_colors(np.zeros((4, 5), dtype=int), probs)
    with pytest.raises(ValueError, match=r"colors in 0..2 .* got values in 3..3"):
        ColorComponents.from_colors(np.full((4, 4), 3), probs)
    with pytest.raises(ValueError, match=r"integer color map"):
        ColorComponents.from_colors(np.zeros((4, 4)), probs)


def test_constructor_rejects_bad_color_maps():
    with pytest.raises(ValueError, match=r"\(Y, X\) or \(Z, Y, X\), got shape \(5,\)"):
        ColorComponents(np.zeros(5, dtype=int), np.zeros(5))
    with pytest.raises(ValueError, match=r"colors >= 0"):
        ColorComponents(-np.ones((3, 3), dtype=int), np.zeros((3, 3)))
    with pytest.raises(ValueError, match=r"same shape as colors \(3, 3\), got shape \(3, 4\)"):
        ColorComponents(np.zeros((3, 3), dtype=int), np.zeros((3, 4)))


def re_shape(shape):
    return r"\(" + r", ".join(str(s) for s in shape) + r"\)"


# -- joining fragments below τ to a neighbour (absorb_fragments) -----------------------------------------------------


def reference_absorbed(probs, min_size):
    """Brute force of absorb_fragments: redo the contact counts on the image after every join."""
    colors = probs.argmax(0)
    groups = sk_label(colors, background=0, connectivity=colors.ndim)  # ids in raster order, like ColorComponents
    offsets = [o for o in np.ndindex(*(3,) * colors.ndim) if next((v - 1 for v in o if v != 1), 0) > 0]
    while True:
        sizes = np.bincount(groups.ravel())
        contacts = {}
        for o in offsets:
            step = [v - 1 for v in o]
            a = groups[tuple(slice(max(0, -s), n - max(0, s)) for s, n in zip(step, groups.shape))]
            b = groups[tuple(slice(max(0, s), n - max(0, -s)) for s, n in zip(step, groups.shape))]
            for u, v in zip(a.ravel(), b.ravel()):
                if u and v and u != v:
                    for p, q in ((u, v), (v, u)):
                        contacts.setdefault(p, {}).setdefault(q, 0)
                        contacts[p][q] += 1
        fragments = [g for g in contacts if sizes[g] < min_size]
        if not fragments:
            break
        g = min(fragments, key=lambda k: (sizes[k], k))
        target = min(contacts[g], key=lambda k: (-contacts[g][k], k))
        groups[groups == g] = target
    sizes = np.bincount(groups.ravel())
    groups[sizes[groups] < min_size] = 0
    return canonical(groups)


def test_absorb_fragments_joins_an_object_split_between_colors():
    colors = np.zeros((6, 40), dtype=int)
    colors[2:4, 2:12], colors[2:4, 12:24], colors[2:4, 24:38] = 1, 2, 3  # a bar in three colors: 20, 24, 28 px
    colors[0, 0] = 2  # an isolated speck
    probs = probs_from_colors(colors)
    assert colors_to_labels(probs, min_size=30).n_instances == 0  # every piece is below τ

    joined = colors_to_labels(probs, min_size=30, absorb_fragments=True)
    expected = np.zeros_like(colors)
    expected[2:4, 2:38] = 1  # one instance; the speck touches nothing and is dropped
    np.testing.assert_array_equal(joined.labels, expected)
    # smallest first: 1 (20 px) joins 2, whose group (44 px) is past τ: the instance has color 2
    assert list(joined.colors) == [2]
    np.testing.assert_allclose(joined.scores, [0.9], rtol=1e-6)
    # with a τ the middle piece already reaches, only the first piece joins; the last piece stays itself
    assert colors_to_labels(probs, min_size=24, absorb_fragments=True).labels[2, [2, 20, 30]].tolist() == [1, 1, 2]


def test_absorb_fragments_never_joins_two_objects_above_tau():
    colors = np.zeros((20, 20), dtype=int)
    colors[9:11, :] = 1  # a horizontal worm
    colors[:, 9:11] = 2  # crossing a vertical one
    colors[9:11, 9:11] = 3  # the crossing in a third color, 4 px: four arms of 18 px remain
    labels = colors_to_labels(probs_from_colors(colors), min_size=10, absorb_fragments=True).labels
    arms = [labels[9:11, :9], labels[9:11, 11:], labels[:9, 9:11], labels[11:, 9:11]]
    assert labels.max() == 4 and sorted(int(np.unique(arm)[0]) for arm in arms) == [1, 2, 3, 4]
    assert all(len(np.unique(arm)) == 1 for arm in arms)  # no arm lost a pixel or joined another
    assert len(np.unique(labels[colors == 3])) == 1 and labels[9, 9] > 0  # the crossing joined one arm


def test_fragment_absorbers_prefers_the_longest_boundary_and_breaks_ties_by_order():
    from napari_deepcolor.postprocess.coloring import fragment_absorbers

    sizes = [0, 5, 100, 100, 3]
    pairs = [(1, 2), (1, 3), (3, 4)]
    absorber = fragment_absorbers(sizes, pairs, [2, 7, 1], min_size=10)
    assert absorber.tolist() == [0, 3, 2, 3, 3]
    tie = fragment_absorbers(sizes, pairs, [4, 4, 1], min_size=10)
    assert tie[1] == 2
    assert fragment_absorbers(sizes, pairs, [4, 4, 1], min_size=10, order=[0, 1, 3, 2, 4])[1] == 3
    assert fragment_absorbers(sizes, pairs, [2, 7, 1], min_size=3).tolist() == [0, 1, 2, 3, 4]  # none below τ


@pytest.mark.parametrize(("shape", "seed"), [((40, 50), 0), ((40, 50), 1), ((40, 50), 2), ((9, 14, 16), 3)])
@pytest.mark.parametrize("min_size", [5, 30, 80])
def test_absorb_fragments_matches_brute_force(shape, seed, min_size):
    colors = blob_colors(shape, n_blobs=40, n_colors=5, seed=seed)
    probs = probs_from_colors(colors, n_colors=5)
    components = ColorComponents.from_probs(probs)
    got = components.to_labels(min_size=min_size, absorb_fragments=True)
    np.testing.assert_array_equal(got.labels, reference_absorbed(probs, min_size))
    assert got.n_instances > 0
    # the plain decoding is unchanged by the cached adjacency
    np.testing.assert_array_equal(components.to_labels(min_size=min_size).labels,
                                  reference_labels(probs, min_size, None))


def test_absorb_fragments_then_merge_uses_the_joined_pixels():
    colors = np.zeros((10, 60), dtype=int)
    colors[2:5, 2:20], colors[2:5, 20:23] = 1, 2  # a piece of color 1 with a fragment of color 2 at its end
    colors[2:5, 30:48] = 1  # a second piece of color 1, 10 px further
    probs = probs_from_colors(colors)
    components = ColorComponents.from_probs(probs)
    # Hausdorff from the first joined piece (2..22) to the second (30..47): 28 px at x = 2 -> 30 ... both ways 28
    assert components.to_labels(min_size=20, merge_distance=28.5, absorb_fragments=True).n_instances == 1
    assert components.to_labels(min_size=20, merge_distance=27.5, absorb_fragments=True).n_instances == 2
    # without joining, the fragment is dropped and the first piece ends at x = 19
    assert components.to_labels(min_size=20, merge_distance=28.5).labels[3, 21] == 0


def test_restrict_to_foreground_gives_every_given_pixel_its_best_color_and_no_other_pixel_any():
    rng = np.random.default_rng(0)
    probs = rng.random((4, 6, 7)).astype(np.float32)
    probs /= probs.sum(axis=0)
    probs[:, 0, 0] = (1.0, 0.0, 0.0, 0.0)  # the network's sure background, inside the given foreground
    colors = probs[1:].copy()
    foreground = np.zeros((6, 7), bool)
    foreground[:, :4] = True
    out = restrict_to_foreground(probs, foreground)
    assert out is probs and np.allclose(out.sum(axis=0), 1)
    assert np.all(out[0][foreground] == 0) and np.all(out[0][~foreground] == 1) and np.all(out[1:, ~foreground] == 0)
    inside = foreground.copy()
    inside[0, 0] = False
    assert np.array_equal(out[1:].argmax(axis=0)[inside], colors.argmax(axis=0)[inside])
    assert np.argmax(out, axis=0)[0, 0] != 0  # still a color: the foreground is given
    with pytest.raises(ValueError, match=r"foreground of shape \(6, 6\)"):
        restrict_to_foreground(probs, foreground[:, :6])
