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


def test_a_field_of_few_nuclei_is_normalized_by_its_nuclei_not_its_noise():
    """sparse_limits.py: a field whose nuclei cover under ~0.2 % has its 99.8th percentile in the background noise;
    `ModelConfig.sparse_percentile` (the bundled nuclei: 99.99) maps the nuclei to 1 instead, and a dense field keeps
    its limits."""
    from napari_deepcolor.preprocess import intensity_limits

    sparse, labels = nuclei_field(50_008, shape=(512, 512), coverage=(0.001, 0.003))
    x = sparse[None].astype(np.float32)
    low, high = intensity_limits(x)
    raised = intensity_limits(x, sparse=99.99)
    assert raised[0] == low and raised[1] > 2 * high  # the noise's top was the high limit
    assert high < np.median(x[0][labels > 0]) < raised[1] * 1.5  # now the nuclei's level
    dense = nuclei_field(50_000, shape=(256, 256))[0][None].astype(np.float32)
    assert intensity_limits(dense, sparse=99.99) == intensity_limits(dense)


def test_the_bundled_nuclei_model_finds_the_few_nuclei_of_a_sparse_field():
    from napari_deepcolor.metrics import evaluate
    from napari_deepcolor.predict.network import load_model, segment

    from napari_deepcolor.predict.object_size import estimate_object_size
    from napari_deepcolor.predict.size_refine import segment_refined

    image, labels = nuclei_field(50_008, shape=(512, 512), coverage=(0.001, 0.003))
    model = load_model("nuclei", device="cpu")
    assert model.config.sparse_percentile == 99.99
    instances, _ = segment(model, image)
    assert evaluate(labels, instances.labels)["ap50"] == 1.0  # 0.016 without the raised limit: noise blobs
    _, size, (instances, _) = segment_refined(model, image, estimate_object_size(model, image))
    assert size.factor == 1.0 and evaluate(labels, instances.labels)["ap50"] == 1.0  # auto read 2.98 without it


def test_hot_pixels_do_not_raise_a_dense_fields_high_limit():
    """A dense field with 30 saturated single pixels: without `despeckled` they were its 99.99th percentile and its
    nuclei came out dim (AP50 0.95 -> 0.73 on ten held-out fields); the limits stay those of the field."""
    from napari_deepcolor.preprocess import intensity_limits, limits_of

    image = nuclei_field(10_001, shape=(512, 512))[0].copy()
    image.flat[np.random.default_rng(0).integers(0, image.size, 30)] = np.iinfo(image.dtype).max
    x = image[None].astype(np.float32)
    assert limits_of(x, (1.0, 99.8), 99.99) != intensity_limits(x)  # read on the raw pixels: the hot ones
    assert intensity_limits(x, sparse=99.99) == intensity_limits(x)


def test_out_of_core_limits_read_the_sparse_percentile_as_in_memory():
    from napari_deepcolor.predict.large import image_limits
    from napari_deepcolor.preprocess import intensity_limits

    image = nuclei_field(50_008, shape=(512, 512), coverage=(0.001, 0.003))[0]
    expected = intensity_limits(image[None].astype(np.float32), sparse=99.99)
    assert expected != intensity_limits(image[None].astype(np.float32))
    assert image_limits(image, percentiles=(1.0, 99.8), in_channels=1, sparse=99.99) == pytest.approx(expected)
