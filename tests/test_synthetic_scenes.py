import numpy as np
import pytest

from napari_deepcolor.training.synthetic_scenes import GENERATORS, ecoli_cells, ecoli_colony, rosette, synthetic_pairs


@pytest.mark.parametrize("kind", sorted(GENERATORS))
def test_same_seed_same_scene_other_seed_other_scene(kind):
    a_image, a_labels = GENERATORS[kind](7)
    b_image, b_labels = GENERATORS[kind](7)
    c_image, _ = GENERATORS[kind](8)
    assert np.array_equal(a_image, b_image) and np.array_equal(a_labels, b_labels)
    assert not np.array_equal(a_image, c_image)


@pytest.mark.parametrize("seed", range(3))
def test_ecoli_colony_shapes_sizes_and_contrast(seed):
    image, labels = ecoli_colony(seed, shape=(192, 160))
    assert image.shape == labels.shape == (192, 160)
    assert image.dtype == np.uint16 and labels.dtype == np.int32
    ids = np.unique(labels)
    assert ids[0] == 0 and np.array_equal(ids, np.arange(ids.size))  # every label 1..N present
    assert ids.size - 1 >= 10
    sizes = np.bincount(labels.ravel())[1:]
    assert sizes.min() >= 60 and np.median(sizes) < 400  # cells of ~100-300 px², like the real colony
    # phase contrast: cells darker than the background far away
    assert np.median(image[labels > 0]) < np.median(image[labels == 0])


@pytest.mark.parametrize("seed", range(4))
def test_ecoli_cells_are_a_few_separate_dark_rods_and_the_same_for_a_seed(seed):
    from scipy import ndimage as ndi

    image, labels = ecoli_cells(seed)
    assert image.dtype == np.uint16 and labels.dtype == np.int32 and image.shape == labels.shape == (256, 256)
    ids = np.unique(labels)
    assert np.array_equal(ids, np.arange(ids.size)) and 1 <= ids.size - 1 <= 4  # 1-3 rods, one maybe dividing
    assert np.bincount(labels.ravel())[1:].min() >= 60
    assert ndi.label(ndi.binary_dilation(labels > 0, iterations=3))[1] <= 3  # separate, bar a dividing pair
    assert np.median(image[labels > 0]) < np.median(image[labels == 0])  # phase contrast: cells darker
    assert np.array_equal(ecoli_cells(seed)[0], image)


@pytest.mark.parametrize("seed", range(3))
def test_rosette_shapes_and_every_leaf_visible(seed):
    image, labels = rosette(seed, shape=(160, 160), min_visible=40)
    assert image.shape == (160, 160, 3) and image.dtype == np.uint8
    assert labels.shape == (160, 160) and labels.dtype == np.int32
    ids = np.unique(labels)
    assert np.array_equal(ids, np.arange(ids.size)) and ids.size - 1 >= 3
    assert np.bincount(labels.ravel())[1:].min() >= 40
    # leaves are greener than the soil
    green = image[..., 1].astype(float) - image[..., 0]
    assert green[labels > 0].mean() > green[labels == 0].mean() + 10


def test_synthetic_pairs_count_seeds_and_errors():
    pairs = list(synthetic_pairs("rosette", 2, seed=5))
    assert len(pairs) == 2 and np.array_equal(pairs[1][0], rosette(6)[0])
    with pytest.raises(ValueError, match="valid kinds are"):
        next(synthetic_pairs("tulips", 1))
    with pytest.raises(ValueError, match="count must be >= 0"):
        next(synthetic_pairs("ecoli", -1))
