"""The generated fluorescence images of nuclei the ``nuclei`` model trains on."""

import numpy as np
import pytest

from napari_deepcolor.training.synthetic_nuclei import nuclei_field
from napari_deepcolor.training.synthetic_scenes import synthetic_pairs


def test_same_seed_same_image_other_seed_other_image():
    a, la = nuclei_field(3)
    b, lb = nuclei_field(3)
    c, _ = nuclei_field(4)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(la, lb)
    assert a.shape != c.shape or not np.array_equal(a, c)


@pytest.mark.parametrize("seed", range(6))
def test_labels_are_consecutive_nuclei_brighter_than_background(seed):
    image, labels = nuclei_field(seed, shape=(128, 160))
    assert image.shape == labels.shape == (128, 160)
    assert image.dtype in (np.uint8, np.uint16) and labels.dtype == np.int32
    ids = np.unique(labels)
    assert ids[0] == 0 and np.array_equal(ids, np.arange(ids.size))
    assert ids.size > 1
    # fluorescence: the nuclei are brighter than the background around them
    assert np.median(image[labels > 0]) > np.median(image[labels == 0])


def test_nucleus_size_follows_diameter():
    def median_diameter(diameter):
        sizes = []
        for seed in range(4):
            _, labels = nuclei_field(seed, diameter=diameter, coverage=(0.1, 0.15))
            counts = np.bincount(labels.ravel())[1:]
            sizes.append(np.median(counts))
        return 2 * np.sqrt(np.median(sizes) / np.pi)

    small, large = median_diameter((12.0, 12.0)), median_diameter((36.0, 36.0))
    assert 8 < small < 15 and 28 < large < 42


def test_both_bit_depths_and_the_registry():
    dtypes = {nuclei_field(seed, shape=(64, 64))[0].dtype for seed in range(20)}
    assert dtypes == {np.dtype(np.uint8), np.dtype(np.uint16)}
    pairs = list(synthetic_pairs("nuclei", 2, seed=5))
    np.testing.assert_array_equal(pairs[1][1], nuclei_field(6)[1])


def test_artefacts_change_the_image_not_the_labels_and_leave_the_plain_images_as_they_were():
    from napari_deepcolor.training.nuclei_artefacts import jpeg_like

    changed, eight_bit = 0, 0
    for seed in range(12):
        plain, plain_labels = nuclei_field(seed)
        image, labels = nuclei_field(seed, artefacts=True)
        np.testing.assert_array_equal(labels, plain_labels)  # what is a nucleus does not change
        np.testing.assert_array_equal(nuclei_field(seed, artefacts=False)[0], plain)
        changed += not np.array_equal(image, plain)
        eight_bit += image.dtype == np.uint8
    assert changed >= 6 and eight_bit >= 1
    image, labels = next(synthetic_pairs("nuclei-artefacts", 1, seed=3))
    np.testing.assert_array_equal(labels, nuclei_field(3)[1])
    # JPEG's lossy step: lossless enough at quality 100, blocky at 10
    ramp = np.tile(np.linspace(0, 255, 70), (50, 1)).astype(np.uint8)
    assert np.abs(jpeg_like(ramp, 100).astype(int) - ramp).max() <= 2
    assert np.abs(jpeg_like(ramp, 10).astype(int) - ramp).mean() > 0.5
