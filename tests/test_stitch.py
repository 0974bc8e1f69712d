"""Tile-by-tile decoding: stitched instances equal the whole-map decoding of colors_to_labels."""

import subprocess
import sys

import numpy as np
import pytest
from scipy import ndimage as ndi

from napari_deepcolor.postprocess.coloring import ColorComponents, colors_to_labels
from napari_deepcolor.postprocess.stitch import TileStitcher


def random_probs(shape=(150, 210), n_colors=5, seed=0, smooth=3.0):
    """Probabilities of C colors from smoothed noise: blobs of every size, many touching, many crossing tiles."""
    rng = np.random.default_rng(seed)
    logits = ndi.gaussian_filter(rng.normal(size=(n_colors, *shape)), sigma=(0, smooth, smooth)) * 40
    logits[0] += 0.3  # some more background
    probs = np.exp(logits - logits.max(axis=0))
    return (probs / probs.sum(axis=0)).astype(np.float32)


def stitch(probs, tile, *, min_size, merge_distance=None, max_merge_pixels=2**25, absorb_fragments=False):
    """Decode ``probs`` in a grid of ``tile`` (rows, cols) tiles, added in a shuffled order."""
    height, width = probs.shape[1:]
    stitcher = TileStitcher((height, width), adjacency=absorb_fragments)
    ids = np.zeros((height, width), np.uint32)
    origins = [(y, x) for y in range(0, height, tile[0]) for x in range(0, width, tile[1])]
    for k in np.random.default_rng(1).permutation(len(origins)):
        y, x = origins[k]
        window = (slice(y, y + tile[0]), slice(x, x + tile[1]))
        ids[window] = stitcher.add_tile((y, x), ColorComponents.from_probs(probs[(slice(None), *window)]))
    result = stitcher.finish(min_size=min_size, merge_distance=merge_distance, read_ids=lambda region: ids[region],
                             max_merge_pixels=max_merge_pixels, absorb_fragments=absorb_fragments)
    return result.lut[ids], result


@pytest.mark.parametrize("tile", [(16, 16), (37, 50), (150, 64), (200, 300)])
@pytest.mark.parametrize(("min_size", "merge_distance"), [(0, None), (15, None), (10, 12.0), (3, 25.0)])
def test_stitched_labels_equal_the_whole_map_decoding(tile, min_size, merge_distance):
    probs = random_probs()
    whole = colors_to_labels(probs, min_size=min_size, merge_distance=merge_distance)
    labels, result = stitch(probs, tile, min_size=min_size, merge_distance=merge_distance)
    assert whole.n_instances > 20
    np.testing.assert_array_equal(labels, whole.labels)  # numbering included
    np.testing.assert_array_equal(result.colors, whole.colors)
    np.testing.assert_allclose(result.scores, whole.scores, rtol=1e-6)
    np.testing.assert_array_equal(result.sizes, np.bincount(whole.labels.ravel())[1:])


@pytest.mark.parametrize("tile", [(16, 16), (37, 50), (150, 64), (200, 300)])
@pytest.mark.parametrize(("min_size", "merge_distance"), [(15, None), (60, None), (40, 12.0)])
def test_stitched_absorption_equals_the_whole_map_decoding(tile, min_size, merge_distance):
    probs = random_probs(n_colors=6, smooth=2.0)  # many small pieces touching across tile borders and corners
    whole = colors_to_labels(probs, min_size=min_size, merge_distance=merge_distance, absorb_fragments=True)
    labels, result = stitch(probs, tile, min_size=min_size, merge_distance=merge_distance, absorb_fragments=True)
    assert whole.n_instances > 10
    assert whole.n_instances < colors_to_labels(probs, min_size=0).n_instances
    np.testing.assert_array_equal(labels, whole.labels)
    np.testing.assert_array_equal(result.colors, whole.colors)
    np.testing.assert_allclose(result.scores, whole.scores, rtol=1e-6)


def test_absorption_needs_a_stitcher_that_records_contacts():
    stitcher = TileStitcher((10, 10))
    stitcher.add_tile((0, 0), ColorComponents.from_probs(random_probs((10, 10))))
    with pytest.raises(ValueError, match="adjacency=True"):
        stitcher.finish(min_size=5, absorb_fragments=True)


def one_object_probs(mask, color=1, n_colors=3):
    probs = np.full((n_colors, *mask.shape), 0.05, np.float32)
    probs[0] = 0.9
    probs[0][mask], probs[color][mask] = 0.05, 0.9
    return probs


def test_an_object_crossing_tile_borders_gets_one_label():
    mask = np.zeros((40, 40), bool)
    mask[5:35, 18:22] = True  # a bar across the horizontal seam at y = 20
    mask[18:22, 5:35] = True  # and across the vertical seam at x = 20: a cross over four tiles
    labels, result = stitch(one_object_probs(mask), (20, 20), min_size=0)
    assert result.n_instances == 1
    np.testing.assert_array_equal(labels, mask.astype(np.int32))


def test_pixels_touching_only_by_a_corner_across_a_tile_corner_join():
    mask = np.zeros((40, 40), bool)
    mask[10:20, 10:20] = True  # top-left tile, last pixel (19, 19)
    mask[20:30, 20:30] = True  # bottom-right tile, first pixel (20, 20): diagonal neighbours
    labels, result = stitch(one_object_probs(mask), (20, 20), min_size=0)
    assert result.n_instances == 1 == colors_to_labels(one_object_probs(mask), min_size=0).n_instances


def test_different_colors_touching_across_a_border_stay_apart():
    probs = one_object_probs(np.zeros((20, 40), bool))
    probs[:, 5:15, 10:20] = np.array([0.05, 0.9, 0.05])[:, None, None]  # color 1 left of the seam at x = 20
    probs[:, 5:15, 20:30] = np.array([0.05, 0.05, 0.9])[:, None, None]  # color 2 right of it
    labels, result = stitch(probs, (20, 20), min_size=0)
    assert result.n_instances == 2 and list(result.colors) == [1, 2]


def test_size_threshold_applies_to_the_joined_object():
    mask = np.zeros((20, 40), bool)
    mask[8:11, 15:25] = True  # 30 pixels, 15 on each side of the seam at x = 20
    labels, result = stitch(one_object_probs(mask), (20, 20), min_size=20)
    assert result.n_instances == 1 and result.sizes.tolist() == [30]


def test_pairs_too_large_to_read_are_counted_not_merged():
    probs = random_probs()
    merged = colors_to_labels(probs, min_size=10, merge_distance=25.0)
    unmerged = colors_to_labels(probs, min_size=10)
    assert merged.n_instances < unmerged.n_instances
    labels, result = stitch(probs, (40, 40), min_size=10, merge_distance=25.0, max_merge_pixels=1)
    assert result.skipped_pairs > 0
    np.testing.assert_array_equal(labels, unmerged.labels)


def test_errors():
    stitcher = TileStitcher((20, 20))
    cc = ColorComponents.from_probs(random_probs((10, 10)))
    with pytest.raises(ValueError, match="does not fit"):
        stitcher.add_tile((15, 0), cc)
    stitcher.add_tile((0, 0), cc)
    with pytest.raises(ValueError, match="cover 100 of the 400 pixels"):
        stitcher.finish(min_size=0)
    for origin in ((0, 10), (10, 0), (10, 10)):
        stitcher.add_tile(origin, cc)
    with pytest.raises(ValueError, match="needs read_ids"):
        stitcher.finish(min_size=0, merge_distance=5.0)
    with pytest.raises(ValueError, match="min_size >= 0"):
        stitcher.finish(min_size=-1)
    with pytest.raises(ValueError, match="2D map"):
        TileStitcher((0, 5))


def test_stitch_imports_neither_torch_nor_qt():
    code = ("import sys, napari_deepcolor.postprocess.stitch; "
            "heavy = sorted(m for m in ('torch', 'napari', 'PyQt6', 'qtpy') if m in sys.modules); "
            "assert not heavy, heavy")
    subprocess.run([sys.executable, "-c", code], check=True)
