import numpy as np
import pytest
from scipy import ndimage as ndi

from napari_deepcolor.config import ConfigError, ModelConfig, TrainConfig
from napari_deepcolor.io import find_pairs, masks_to_labels, read_annotation, write_labels
from napari_deepcolor.preprocess import check_mask, normalize, preprocess, to_channels_first
from napari_deepcolor.training.dataset import (
    FADE_KEEP,
    PatchSampler,
    Sample,
    contact_pixels,
    fade_objects,
    make_sample,
    model_sample,
)


def test_gray_rgb_and_rgba_become_channels_first():
    gray = np.zeros((10, 12), np.uint16)
    rgb = np.zeros((10, 12, 3), np.uint8)
    rgba = np.zeros((10, 12, 4), np.uint8)
    assert to_channels_first(gray, 1).shape == (1, 10, 12)
    assert to_channels_first(gray, 3).shape == (3, 10, 12)
    assert to_channels_first(rgb, 1).shape == (1, 10, 12)
    assert to_channels_first(rgba, 3).shape == (3, 10, 12)
    assert to_channels_first(np.zeros((3, 10, 12)), 3, channel_axis=0).shape == (3, 10, 12)


@pytest.mark.parametrize("shape", [(5,), (2, 3, 10, 12), (10, 12, 7)])
def test_unexpected_dimensions_are_an_error_naming_the_shape(shape):
    with pytest.raises(ValueError, match=r"got shape \(" + ", ".join(map(str, shape))):
        to_channels_first(np.zeros(shape), 1)


def test_nan_is_an_error():
    image = np.zeros((8, 8), np.float32)
    image[2, 2] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        preprocess(image, in_channels=1, percentiles=(1, 99), scale=1.0)


def test_normalize_maps_percentiles_and_survives_constant_images():
    image = np.arange(100, dtype=np.float32).reshape(1, 10, 10)
    out = normalize(image, percentiles=(0, 100))
    assert out.min() == 0 and out.max() == 1
    assert np.all(normalize(np.full((1, 4, 4), 7.0), percentiles=(1, 99)) == 0)


def test_intensity_max_clips_bright_pixels_and_keeps_faint_contrast():
    # a dim background with a faint object (+2) and a few pixels 100 times brighter, like BBBC010's live and dead
    # worms: with the 98th percentile mapped to 1 and values clipped at 3, the faint object stays well visible
    image = np.full((1, 50, 50), 100.0, dtype=np.float32)
    image[0, :, :4] = 102.0
    image[0, 0, :10] += np.arange(10) * 100.0
    out = normalize(image, percentiles=(0, 98), clip_max=3)
    assert out.max() == 3
    assert out[0, 20, 0] == out[0, 20, 3] > out[0, 20, 20] == 0
    assert out[0, 20, 0] == 1  # the 98th percentile is the faint object's level
    unclipped = normalize(image, percentiles=(0, 98))
    assert unclipped.max() > 400 and np.array_equal(unclipped[0, 1:], out[0, 1:])
    assert preprocess(image[0], in_channels=1, percentiles=(0, 98), scale=1, clip_max=3).max() == 3
    sample = make_sample(image[0], np.zeros((50, 50), np.int32), in_channels=1, percentiles=(0, 98), scale=1,
                         clip_max=3)
    assert sample.image.max() == 3
    from_config = model_sample(image[0], np.zeros((50, 50), np.int32),
                               ModelConfig(percentiles=(0.0, 98.0), intensity_max=3.0))
    assert np.array_equal(from_config.image, sample.image)


def test_mask_input_sees_any_nonzero_pixel_as_foreground_whatever_its_value():
    # a label image, a 0/255 RGBA annotation and a 0/1 float mask of the same objects look the same to the network,
    # and intensity options (which would map a label image's highest label to 1) play no part
    labels = np.zeros((20, 30), np.int32)
    labels[2:8, 3:9], labels[10:18, 5:25] = 1, 7
    rgba = np.zeros((20, 30, 4), np.uint8)
    rgba[labels > 0, :3], rgba[..., 3] = 255, 255
    expected = (labels > 0).astype(np.float32)[None]
    config = ModelConfig(mask_input=True, percentiles=(1.0, 98.0), intensity_max=0.5)
    for image in (labels, rgba, (labels > 0).astype(np.float32)):
        assert np.array_equal(preprocess(image, in_channels=1, percentiles=(1, 98), scale=1, clip_max=0.5,
                                         mask_input=True), expected)
        assert np.array_equal(model_sample(image, labels, config).image, expected)
    assert np.array_equal(preprocess(rgba, in_channels=3, percentiles=(1, 99), scale=1, mask_input=True),
                          np.repeat(expected, 3, axis=0))
    assert not np.array_equal(preprocess(labels, in_channels=1, percentiles=(1, 98), scale=1), expected)


def test_a_mask_is_anti_aliased_as_in_training_at_any_object_size():
    """A mask-input model trained at scale 0.5 and run on objects three times as large (scale 1/6): its mask is
    smoothed by the training's 0.25 network pixels (`rescale_mask`), where `rescale_image` smoothed it by 0.42, so its
    edges are steeper; at the training scale the two resizes are the same."""
    from napari_deepcolor.preprocess import rescale_image, rescale_mask

    def steepest(resize, scale):  # the largest step across a straight edge, mean over 9 sub-pixel positions
        steps = []
        for edge in np.linspace(118, 122, 9):
            mask = (np.arange(240)[None, None, :] < edge).astype(np.float32).repeat(24, axis=1)
            row = resize(mask, scale)[0, int(round(12 * scale))]
            steps.append(np.abs(np.diff(row)).max())
        return float(np.mean(steps))

    def as_trained(mask, scale):
        return rescale_mask(mask, scale, train_scale=0.5)

    binary = (np.random.default_rng(0).random((1, 40, 50)) > 0.5).astype(np.float32)
    assert np.array_equal(rescale_mask(binary, 0.5, train_scale=0.5), rescale_image(binary, 0.5))
    assert steepest(as_trained, 1 / 6) > steepest(rescale_image, 1 / 6) + 0.05
    assert steepest(as_trained, 0.5) == steepest(rescale_image, 0.5)
    image = (np.arange(600).reshape(20, 30) % 7 > 2).astype(np.uint8)
    assert np.array_equal(preprocess(image, in_channels=1, percentiles=(1, 99), scale=0.25, mask_input=True,
                                     train_scale=0.5)[0],
                          rescale_mask((image > 0).astype(np.float32)[None], 0.25, train_scale=0.5)[0])


def test_a_microscope_image_given_to_a_mask_input_model_is_a_clear_error():
    image = np.random.default_rng(0).integers(100, 4000, (20, 30)).astype(np.uint16)
    with pytest.raises(ValueError, match=r"100.0% of this image is nonzero: it looks like a microscope image"):
        check_mask(image)
    with pytest.raises(ValueError, match="threshold it first"):
        model_sample(image, np.zeros((20, 30), np.int32), ModelConfig(mask_input=True))
    # the network's input itself is not checked: one tile or plane of a large mask may lie inside an object
    assert np.all(preprocess(image, in_channels=1, percentiles=(1, 99), scale=1, mask_input=True) == 1)
    nearly_all = np.where(np.arange(600).reshape(20, 30) < 3, 0, image)  # 3 zeros in 600 pixels
    with pytest.raises(ValueError, match=r"99.5% of the stack is nonzero"):
        check_mask(nearly_all, what="the stack")
    check_mask(np.where(np.arange(600).reshape(20, 30) < 6, 0, image))  # 1 % background: a mask


def test_make_sample_rescales_image_and_labels_together():
    image = np.random.default_rng(0).random((40, 60))
    labels = np.zeros((40, 60), np.int32)
    labels[10:20, 10:30] = 3
    sample = make_sample(image, labels, in_channels=1, percentiles=(1, 99), scale=0.5)
    assert sample.image.shape == (1, 20, 30) and sample.labels.shape == (20, 30)
    assert set(np.unique(sample.labels)) == {0, 3}


def test_mismatched_shapes_and_float_labels_are_errors():
    with pytest.raises(ValueError, match=r"labels of shape \(5, 5\) do not match image of shape \(6, 6\)"):
        make_sample(np.zeros((6, 6)), np.zeros((5, 5), np.int32), in_channels=1, percentiles=(1, 99), scale=1)
    with pytest.raises(ValueError, match="integers"):
        make_sample(np.zeros((6, 6)), np.zeros((6, 6)), in_channels=1, percentiles=(1, 99), scale=1)


def test_empty_labels_cannot_train():
    sample = make_sample(np.zeros((32, 32)), np.zeros((32, 32), np.int32), in_channels=1, percentiles=(1, 99),
                         scale=1)
    with pytest.raises(ValueError, match="no objects"):
        PatchSampler([sample], patch_size=16)


def test_patches_keep_image_and_labels_aligned():
    image = np.zeros((50, 40), np.float32)
    labels = np.zeros((50, 40), np.int32)
    image[5:15, 5:35] = 1.0
    labels[5:15, 5:35] = 1
    sample = make_sample(image, labels, in_channels=1, percentiles=(0, 100), scale=1)
    sampler = PatchSampler([sample], patch_size=24, augment_intensity=False, seed=3)
    for _ in range(20):
        patch, patch_labels = sampler.patch()
        assert patch.shape == (1, 24, 24) and patch_labels.shape == (24, 24)
        assert np.array_equal(patch[0] > 0.5, patch_labels > 0)


def test_zoomed_patches_show_the_objects_smaller_and_larger_and_stay_aligned():
    image = np.zeros((120, 120), np.float32)
    labels = np.zeros((120, 120), np.int32)
    for i, y in enumerate(range(10, 110, 20)):  # bars 10 pixels high, a 10-pixel gap between them
        image[y : y + 10, 10:110] = 1.0
        labels[y : y + 10, 10:110] = i + 1
    sample = make_sample(image, labels, in_channels=1, percentiles=(0, 100), scale=1)
    sampler = PatchSampler([sample], patch_size=40, augment_intensity=False, seed=1, zoom=2.0)
    heights = []
    for _ in range(40):
        patch, patch_labels = sampler.patch()
        assert patch.shape == (1, 40, 40) and patch_labels.shape == (40, 40)
        assert set(np.unique(patch_labels)) <= set(range(6))  # ids kept, none invented by interpolation
        inside, outside = (ndi.binary_erosion(m, border_value=1) for m in (patch_labels > 0, patch_labels == 0))
        assert (patch[0][inside] > 0.5).all() and (patch[0][outside] < 0.5).all()  # aligned up to the edges
        for i in range(1, 6):  # a bar's thickness: its bounding box's short side, where not cut by the border
            ys, xs = np.nonzero(patch_labels == i)
            if ys.size:
                (y0, y1), (x0, x1) = (ys.min(), ys.max()), (xs.min(), xs.max())
                if y1 - y0 < x1 - x0 and y0 > 0 and y1 < 39:
                    heights.append(int(y1 - y0 + 1))
                elif x1 - x0 < y1 - y0 and x0 > 0 and x1 < 39:
                    heights.append(int(x1 - x0 + 1))
    # 10-pixel bars, shown 1/2 to 2 times as large: both smaller and larger ones occur
    assert min(heights) <= 8 and max(heights) >= 12


def test_zoom_one_cuts_the_same_patches_as_before():
    image, labels = np.random.default_rng(0).random((60, 60)).astype(np.float32), np.zeros((60, 60), np.int32)
    labels[10:30, 10:30] = 1
    sample = make_sample(image, labels, in_channels=1, percentiles=(0, 100), scale=1)
    plain, zoom1 = (PatchSampler([sample], patch_size=24, seed=5, **kw) for kw in ({}, {"zoom": 1.0}))
    for _ in range(5):
        assert all(np.array_equal(a, b) for a, b in zip(plain.patch(), zoom1.patch()))


@pytest.mark.parametrize("zoom", [0.5, 5.0, float("nan")])
def test_a_zoom_outside_one_to_four_is_refused(zoom):
    with pytest.raises(ConfigError, match="zoom"):
        TrainConfig(zoom=zoom)


def _dark_objects_on_a_ramp():
    """Ten dark squares on a background that rises from left to right, one channel."""
    labels = np.zeros((64, 128), np.int32)
    for index in range(10):
        y, x = 8 + 30 * (index % 2), 6 + 12 * index
        labels[y : y + 8, x : x + 8] = index + 1
    image = np.broadcast_to(np.linspace(0.3, 0.9, 128, dtype=np.float32), labels.shape).copy()
    image[labels > 0] -= 0.4
    return image[None], labels


def test_faded_objects_keep_part_of_their_contrast_against_the_local_background():
    image, labels = _dark_objects_on_a_ramp()
    faded = fade_objects(image, labels, np.random.default_rng(0))
    assert faded.shape == image.shape and faded.dtype == np.float32
    removed = []  # the share of each object's contrast taken away
    for index in range(1, 11):
        core = ndi.binary_erosion(labels == index, iterations=2)
        removed.append(float(np.mean(faded[0][core] - image[0][core])) / 0.4)
    faded_ones = [1 - r for r in removed if r > 0.01]
    assert 2 <= len(faded_ones) <= 8  # about half, at random
    # what a faded object keeps lies in the range, measured against its own stretch of the ramp
    assert all(FADE_KEEP[0] - 0.05 <= k <= FADE_KEEP[1] + 0.05 for k in faded_ones)
    far = ndi.distance_transform_edt(labels == 0) > 4
    np.testing.assert_allclose(faded[0][far], image[0][far], atol=1e-5)  # the background stays


def test_fading_leaves_an_image_without_objects_or_background_as_it_is():
    image, labels = _dark_objects_on_a_ramp()
    rng = np.random.default_rng(1)
    np.testing.assert_array_equal(fade_objects(image, np.zeros_like(labels), rng), image)
    np.testing.assert_array_equal(fade_objects(image, np.ones_like(labels), rng), image)


def test_fade_objects_is_a_probability_per_patch():
    image, labels = _dark_objects_on_a_ramp()
    plain, faded = (PatchSampler([Sample(image, labels)], patch_size=64, augment_intensity=False, seed=2, fade=p)
                    for p in (0.0, 1.0))
    changed = [not np.array_equal(a[0], b[0]) for a, b in ((plain.patch(), faded.patch()) for _ in range(8))]
    assert sum(changed) >= 6  # every faded patch differs unless no object was drawn (or none was in view)
    with pytest.raises(ConfigError, match="fade_objects"):
        TrainConfig(fade_objects=1.5)


def test_small_images_are_padded_with_ignore():
    sample = make_sample(np.ones((10, 10)), np.ones((10, 10), np.int32), in_channels=1, percentiles=(0, 100),
                         scale=1)
    images, labels = PatchSampler([sample], patch_size=16, seed=0).batch(2)
    assert images.shape == (2, 1, 16, 16)
    assert (labels == -1).sum() == 2 * (16 * 16 - 100)


def test_overlapping_masks_become_ignore():
    masks = np.zeros((2, 4, 4), bool)
    masks[0, :, :2] = True
    masks[1, :, 1:3] = True
    labels = masks_to_labels(masks)
    assert labels[0].tolist() == [1, -1, 2, 0]


def test_pairs_are_found_for_label_images_and_mask_folders(tmp_path):
    import imageio.v3 as iio

    (tmp_path / "img").mkdir()
    (tmp_path / "lab").mkdir()
    (tmp_path / "masks").mkdir()
    for stem in ("a", "b"):
        iio.imwrite(tmp_path / "img" / f"{stem}.png", np.zeros((8, 8), np.uint8))
    labels = np.zeros((8, 8), np.int32)
    labels[:3, :3] = 5
    write_labels(tmp_path / "lab" / "a_labels.tif", labels)
    for i in (1, 2):
        mask = np.zeros((8, 8), np.uint8)
        mask[i * 3 : i * 3 + 2, :] = 255
        iio.imwrite(tmp_path / "masks" / f"b_{i:02d}.png", mask)
    pairs = find_pairs(tmp_path / "img", tmp_path / "lab")
    assert [(p.name, [a.name for a in ann]) for p, ann in pairs] == [("a.png", ["a_labels.tif"])]
    assert np.array_equal(read_annotation(pairs[0][1]), labels)
    pairs = find_pairs(tmp_path / "img", tmp_path / "masks")
    assert [a.name for a in pairs[0][1]] == ["b_01.png", "b_02.png"]
    assert sorted(np.unique(read_annotation(pairs[0][1]))) == [0, 1, 2]
    with pytest.raises(ValueError, match="no image"):
        find_pairs(tmp_path / "lab", tmp_path / "img")



def test_find_pairs_in_one_folder_of_images_and_labels(tmp_path):
    import imageio.v3 as iio

    labels = np.zeros((8, 8), np.int32)
    labels[:3, :3] = 5
    for stem in ("a", "b"):
        iio.imwrite(tmp_path / f"{stem}.png", np.full((8, 8), 7, np.uint8))
        write_labels(tmp_path / f"{stem}_labels.tif", labels)
    pairs = find_pairs(tmp_path, tmp_path)
    assert [(p.name, [a.name for a in ann]) for p, ann in pairs] == [("a.png", ["a_labels.tif"]),
                                                                      ("b.png", ["b_labels.tif"])]

def test_palette_and_color_coded_label_images_give_one_id_per_object(tmp_path):
    """What annotation tools export: an indexed-color PNG (its palette indices are the ids; imageio would give the
    palette's colors) and an RGB image with one color per object on black. A photograph is still refused."""
    from PIL import Image

    from napari_deepcolor.io import read_labels

    labels = np.zeros((40, 50), np.uint8)
    labels[5:15, 5:15], labels[20:30, 10:40], labels[32:38, 2:8] = 1, 2, 7
    indexed = Image.fromarray(labels, mode="P")
    indexed.putpalette([0, 0, 0, 255, 0, 0, 0, 255, 0] + [9, 9, 9] * 253)
    indexed.save(tmp_path / "indexed.png")
    np.testing.assert_array_equal(read_labels(tmp_path / "indexed.png"), labels)
    palette = np.array([[0, 0, 0], [250, 10, 10], [10, 250, 10], *([[0, 0, 0]] * 4), [10, 10, 250]], np.uint8)
    Image.fromarray(palette[labels]).save(tmp_path / "colors.png")
    coded = read_labels(tmp_path / "colors.png")
    assert coded.dtype == np.int32 and np.unique(coded).tolist() == [0, 1, 2, 3]
    for k in (1, 2, 7):  # each object one id, the background 0
        assert len(np.unique(coded[labels == k])) == 1 and coded[labels == k][0] > 0
    assert (coded[labels == 0] == 0).all()
    photo = np.random.default_rng(0).integers(1, 255, (100, 100, 3)).astype(np.uint8)
    Image.fromarray(photo[:40, :50]).save(tmp_path / "photo.png")  # 2,000 colors, none black
    with pytest.raises(ValueError, match=r"no black background\); expected a label image with one integer id"):
        read_labels(tmp_path / "photo.png")
    photo[0, 0] = 0
    Image.fromarray(photo).save(tmp_path / "photo.png")
    with pytest.raises(ValueError, match=r"\(\d+ colors\); expected a label image"):
        read_labels(tmp_path / "photo.png")


def test_write_labels_refuses_an_unwritable_folder(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    with pytest.raises(PermissionError, match="cannot create output directory"):
        write_labels(blocker / "out" / "x.tif", np.zeros((2, 2), np.int32))
    assert blocker.read_text() == "not a folder"


def test_contact_pixels_lie_between_instances_closer_than_the_margin():
    labels = np.zeros((20, 30), dtype=np.int32)
    labels[5:10, 2:8] = 1
    labels[5:10, 9:15] = 2  # one pixel from 1
    labels[5:10, 25:29] = 3  # far from both
    contact = contact_pixels(labels, 1)
    assert contact[5:10, 8].all()
    ys, xs = np.nonzero(contact)
    assert xs.min() >= 7 and xs.max() <= 9 and ys.min() >= 4 and ys.max() <= 10
    assert not contact_pixels(labels, 1)[:, 16:].any()
    assert contact_pixels(labels, 6)[:, 15:25].any()  # instances 2 and 3 are 10 px apart: within 2 × 6
    assert not contact_pixels((labels == 3).astype(np.int32), 3).any()  # one instance alone touches nothing


def test_contact_patches_are_centred_where_instances_touch():
    labels = np.zeros((200, 200), dtype=np.int32)
    labels[100:104, 20:100] = 1
    labels[104:108, 20:100] = 2  # touching the first
    labels[20:24, 150:190] = 3  # alone
    image = np.zeros((1, 200, 200), dtype=np.float32)
    sampler = PatchSampler([Sample(image, labels)], patch_size=32, augment_intensity=False, contact_fraction=1.0,
                           margin=2)
    for _ in range(20):
        _, patch = sampler.patch()
        assert {1, 2} <= set(np.unique(patch))


def test_orientation_prior_fades_out_over_its_steps():
    config = TrainConfig(orientation_prior=4.0, prior_steps=100)
    assert config.prior_weight(1) == 4.0
    assert config.prior_weight(51) == pytest.approx(2.0)
    assert config.prior_weight(101) == 0.0 and config.prior_weight(500) == 0.0
    assert TrainConfig(orientation_prior=4.0).prior_weight(10_000) == 4.0
    with pytest.raises(ConfigError, match="contact_fraction"):
        TrainConfig(contact_fraction=1.5)
    with pytest.raises(ConfigError, match="orientation_prior"):
        TrainConfig(orientation_prior=-1)


def test_sparse_percentile_lies_above_the_upper_percentile():
    assert ModelConfig(sparse_percentile=99.99).sparse_percentile == 99.99
    for bad in (99.5, 99.8, 100.5, float("nan")):
        with pytest.raises(ConfigError, match="sparse_percentile"):
            ModelConfig(sparse_percentile=bad)
