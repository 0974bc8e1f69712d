"""Automatic object size (`napari_deepcolor.predict.object_size`): the estimate, its fallbacks, and where it is used."""

import math
from importlib.resources import files

import numpy as np
import pytest
import tifffile

torch = pytest.importorskip("torch")

from skimage.transform import resize  # noqa: E402

from napari_deepcolor.cli import main  # noqa: E402
from napari_deepcolor.config import ModelConfig  # noqa: E402
from napari_deepcolor.predict.network import at_object_size, load_model, resize_objects  # noqa: E402
from napari_deepcolor.predict.object_size import (  # noqa: E402
    MAX_CV_ERROR,
    METADATA_KEY,
    SizeModel,
    decide,
    estimate_object_size,
    given_size,
    size_model_of,
)
from napari_deepcolor.predict.size_fit import fit_size_model  # noqa: E402
from napari_deepcolor.training.synthetic_scenes import ecoli_colony  # noqa: E402

#: A generated colony none of the bundled models trained on (their seeds are 0-399).
SEED = 12_345


def enlarged(image: np.ndarray, factor: float) -> np.ndarray:
    shape = tuple(round(s * factor) for s in image.shape)
    return resize(image.astype(np.float32), shape, order=1, anti_aliasing=factor < 1, preserve_range=True)


@pytest.fixture(scope="module")
def ecoli_model():
    return load_model("ecoli-semiconv", device="cpu")


@pytest.fixture(scope="module")
def colony():
    return ecoli_colony(SEED)[0]


@pytest.mark.parametrize("factor", [0.6, 1.0, 2.0, 3.0])
def test_the_bundled_model_estimates_the_size_of_a_colony_it_never_saw(ecoli_model, colony, factor):
    size = estimate_object_size(ecoli_model, enlarged(colony, factor))
    assert size.how == "auto"
    assert abs(size.factor / factor - 1) <= 0.2, size
    assert ("(auto" in size.note) and (f"{size.factor:.2f}" in size.note or size.factor == 1)


def test_an_estimate_near_one_is_one_and_far_ones_fall_back_with_a_reason():
    config = ModelConfig(scale=0.5)
    assert decide(1.04, 0.3, config).factor == 1.0
    assert decide(1.04, 0.3, config).estimate == pytest.approx(1.04)
    assert decide(1.6, 0.3, config).factor == 1.6
    empty = decide(1.6, 0.0, config)
    assert (empty.factor, empty.how) == (1.0, "fallback") and "no objects" in empty.note
    for wild in (0.1, 20.0):
        size = decide(wild, 0.3, config)
        assert (size.factor, size.how) == (1.0, "fallback") and "outside the supported" in size.note
    assert given_size(2.5).factor == 2.5 and given_size(2.5).how == "given"


def test_an_empty_image_falls_back_to_one(ecoli_model):
    size = estimate_object_size(ecoli_model, np.zeros((256, 256), np.float32))
    assert (size.factor, size.how) == (1.0, "fallback")


@pytest.mark.parametrize("shape", [(5, 5), (3, 200), (200, 2)])
def test_an_image_a_few_pixels_high_or_wide_falls_back_to_one(ecoli_model, shape):
    """Its view is a pixel or two high: turned, it kept a negative stride that torch refused (a traceback)."""
    image = np.random.default_rng(0).random(shape).astype(np.float32)
    size = estimate_object_size(ecoli_model, image)
    assert (size.factor, size.how) == (1.0, "fallback") and "too small" in size.note


def test_a_model_without_a_size_model_runs_at_one_and_says_why(tiny_model):
    model = load_model(tiny_model, device="cpu")
    assert size_model_of(model.metadata) is None
    size = estimate_object_size(model, np.random.default_rng(0).random((64, 64)).astype(np.float32))
    assert (size.factor, size.how) == (1.0, "unavailable") and "no usable size model" in size.note


def test_the_size_model_survives_json_and_an_inaccurate_one_is_not_used():
    model = SizeModel(np.ones(3), np.zeros(3), np.ones(3), 0.0, 1.0, 0.05, 4, 0.1)
    again = SizeModel.from_dict(model.to_dict())
    assert again.predict(np.zeros(3)) == pytest.approx(1.0) and again.snap == pytest.approx(1.1)
    assert size_model_of({METADATA_KEY: model.to_dict()}) is not None
    inaccurate = {**model.to_dict(), "cv_error": MAX_CV_ERROR + 0.1}
    assert size_model_of({METADATA_KEY: inaccurate}) is None
    assert size_model_of({METADATA_KEY: {"weights": [1.0], "mean": [0.0, 1.0]}}) is None


def test_fitting_learns_sizes_from_training_images_alone(ecoli_model):
    images = [ecoli_colony(seed)[0] for seed in range(4)]
    size_model = fit_size_model(ecoli_model, images)  # 16 views each
    assert size_model.n_images == 4 and math.isfinite(size_model.cv_error) and size_model.cv_error < 0.2
    view_scale = ecoli_model.config.scale * 0.5
    from napari_deepcolor.predict.object_size import pick_tiles, view_features
    from napari_deepcolor.preprocess import preprocess

    test = enlarged(ecoli_colony(SEED)[0], 2.0)
    x = preprocess(test, in_channels=1, percentiles=ecoli_model.config.percentiles, scale=view_scale)
    assert abs(size_model.predict(view_features(ecoli_model, pick_tiles(x))[0]) / 0.5 / 2.0 - 1) < 0.25


def test_a_random_crop_is_a_window_of_the_view_and_fitting_adds_crops_and_says_so(ecoli_model, monkeypatch):
    from napari_deepcolor.predict.size_fit import CROP_LOW, CROP_MIN, random_crop

    view = np.arange(3 * 100 * 60, dtype=np.float32).reshape(3, 100, 60)
    rng = np.random.default_rng(0)
    for _ in range(50):
        crop = random_crop(view, rng)
        (y, x), (h, w) = np.argwhere(view[0] == crop[0, 0, 0])[0], crop.shape[-2:]
        assert np.array_equal(crop, view[:, y:y + h, x:x + w])
        assert round(100 * CROP_LOW) <= h <= 100 and CROP_MIN <= w <= 60
    import napari_deepcolor.predict.size_fit as size_fit

    original = size_fit.view_features
    images = [ecoli_colony(seed)[0] for seed in range(2)]
    rows, reported = {}, {}
    for crops in (False, True):
        rows[crops] = 0

        def counting(*args, crops=crops, **kwargs):
            rows[crops] += 1
            return original(*args, **kwargs)

        monkeypatch.setattr(size_fit, "view_features", counting)
        size_model = fit_size_model(ecoli_model, images, views_per_image=4, crops=crops, blurs=False,
                                    progress=lambda *done_total, crops=crops: reported.__setitem__(crops, done_total))
        assert size_model.fit_crops == (0.35 if crops else 0.0)
    # 8 views, then each image as it is (the fit's spread); the crops are rows of their own
    assert rows[False] == 8 + len(images) and rows[True] > rows[False]
    assert reported[False] == reported[True] == (8, 8)  # progress counts views, crops or not
    assert SizeModel.from_dict(size_model.to_dict()).fit_crops == 0.35


def test_the_size_model_is_also_fitted_on_blurred_copies_of_its_views(ecoli_model, monkeypatch):
    """Each view gives a copy blurred by σ 0.3-1.5 view pixels with the same target (`random_blur`), so the regression
    reads objects rather than sharpness; not for a mask-input model."""
    import napari_deepcolor.predict.size_fit as size_fit
    from napari_deepcolor.predict.size_fit import BLUR, _fitting_parts, random_blur

    view = np.zeros((1, 40, 40), np.float32)
    view[0, 10:30, 18:22] = 1
    rng = np.random.default_rng(0)
    blurred = random_blur(view, rng)
    assert blurred.shape == view.shape and np.isclose(blurred.sum(), view.sum(), rtol=1e-3)
    assert 0 < blurred.max() < 1 and np.abs(np.diff(blurred, axis=-1)).max() < 1
    assert len(_fitting_parts(view, rng, crops=False, blurs=True)) == 2
    assert len(_fitting_parts(view, rng, crops=False, blurs=False)) == 1

    original, calls = size_fit.view_features, []
    monkeypatch.setattr(size_fit, "view_features", lambda *a, **k: calls.append(1) or original(*a, **k))
    images = [ecoli_colony(seed)[0] for seed in range(2)]
    size_model = fit_size_model(ecoli_model, images, views_per_image=4, crops=False)
    assert len(calls) == 2 * 8 + len(images)  # 8 views and their blurred copies, then each image (the fit's spread)
    assert size_model.fit_blur == BLUR[1] == SizeModel.from_dict(size_model.to_dict()).fit_blur
    assert SizeModel.from_dict({k: v for k, v in size_model.to_dict().items() if k != "fit_blur"}).fit_blur == 0.0


def test_a_turned_size_model_reads_every_orientation_of_an_image_alike(ecoli_model, colony):
    """A size model fitted on randomly turned views reads a view as the mean of its features over the eight
    orientations of the square (`turn`): a flipped or turned image reads as the same size, where one orientation alone
    read a colony as 1.46 and the same colony flipped as 1.0. Older size models keep their one orientation."""
    from napari_deepcolor.predict.object_size import TURNS, pick_tiles, turn, view_features
    from napari_deepcolor.preprocess import preprocess

    view = np.arange(2 * 3 * 5, dtype=np.float32).reshape(2, 3, 5)
    turned = [turn(view, k) for k in range(TURNS)]
    assert len({t.tobytes() + bytes(t.shape) for t in turned}) == TURNS  # eight different orientations
    assert all(t.shape[1:] in ((3, 5), (5, 3)) for t in turned)
    flipped = view[:, ::-1]
    assert {t.tobytes() for t in turned} == {turn(flipped, k).tobytes() for k in range(TURNS)}

    x = preprocess(colony[:256, :256], in_channels=1, percentiles=ecoli_model.config.percentiles, scale=0.5)
    assert x.shape[-2:] == (128, 128)
    every = tuple(range(TURNS))
    features, foreground = view_features(ecoli_model, pick_tiles(x), every)
    for other in (x[:, ::-1], x[:, :, ::-1], x.transpose(0, 2, 1), np.rot90(x, 1, axes=(1, 2))):
        again = view_features(ecoli_model, pick_tiles(np.ascontiguousarray(other)), every)[0]
        assert np.allclose(again, features, atol=1e-4)
    alone = view_features(ecoli_model, pick_tiles(x[:, ::-1].copy()))[0]
    assert not np.allclose(alone, view_features(ecoli_model, pick_tiles(x))[0], atol=1e-4)
    assert 0 < foreground < 1

    stored = SizeModel(np.ones(3), np.zeros(3), np.ones(3), 0.0, 1.0, 0.05, 4, 0.1, fit_turned=True)
    assert SizeModel.from_dict(stored.to_dict()).turns == every
    older = {k: v for k, v in stored.to_dict().items() if k != "fit_turned"}
    assert SizeModel.from_dict(older).turns == (0,)


def test_fitting_reads_each_view_in_a_random_orientation(ecoli_model, monkeypatch):
    import napari_deepcolor.predict.size_fit as size_fit

    original, orientations = size_fit.view_features, []
    monkeypatch.setattr(size_fit, "view_features",
                        lambda model, tiles, turns=(0,): orientations.append(tuple(turns)) or original(model, tiles,
                                                                                                      turns))
    images = [ecoli_colony(seed)[0] for seed in range(2)]
    size_model = fit_size_model(ecoli_model, images, views_per_image=6, crops=False, blurs=False)
    fitting, spread = orientations[:12], orientations[12:]
    assert all(len(t) == 1 for t in fitting) and len({t[0] for t in fitting}) > 2  # one orientation each, drawn
    assert size_model.fit_turned and spread == [tuple(range(8))] * len(images)  # the spread reads as estimates do
    orientations.clear()
    assert not fit_size_model(ecoli_model, images, views_per_image=6, crops=False, blurs=False, turns=False).fit_turned
    assert set(orientations) == {(0,)}


def test_ridge_reports_the_errors_of_the_scored_rows_only():
    from napari_deepcolor.predict.ridge import ridge_fit

    rng = np.random.default_rng(0)
    x = rng.normal(size=(80, 3))
    y = x @ [0.5, -0.2, 0.1]
    noisy = np.arange(80) % 2 == 1
    y[noisy] += rng.normal(0, 1, noisy.sum())
    groups = np.arange(80) // 4
    every = ridge_fit(x, y, groups)
    clean = ridge_fit(x, y, groups, scored=~noisy)
    assert clean["alpha"] == every["alpha"] and np.allclose(clean["weights"], every["weights"])
    assert clean["cv_error"] < 0.7 * every["cv_error"]


def test_at_object_size_resizes_the_config_and_keeps_the_base(ecoli_model):
    sized = at_object_size(ecoli_model, 2.0)
    assert sized.config == resize_objects(ecoli_model.base_config, 2.0)
    assert sized.object_size == pytest.approx(2.0) and sized.base_config is ecoli_model.base_config
    assert at_object_size(sized, 1.0).config == ecoli_model.base_config


def test_predict_estimates_per_image_says_so_and_a_given_size_wins(tmp_path, colony, capsys):
    tifffile.imwrite(tmp_path / "big.tif", enlarged(colony, 2.0))
    out = tmp_path / "out"
    assert main(["predict", "--model", "ecoli-semiconv", "--output", str(out), "--device", "cpu",
                 str(tmp_path / "big.tif")]) == 0
    err = capsys.readouterr().err
    line = next(line for line in err.splitlines() if line.startswith("big.tif: object size"))
    assert "(auto" in line and abs(float(line.split()[3]) / 2 - 1) <= 0.2
    assert main(["predict", "--model", "ecoli-semiconv", "--output", str(tmp_path / "given"), "--device", "cpu",
                 "--object-size", "1.5", str(tmp_path / "big.tif")]) == 0
    assert "big.tif: object size" not in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["predict", "--model", "ecoli-semiconv", "--output", str(out), "--object-size", "big", "x.tif"])
    assert "expected a number or 'auto'" in capsys.readouterr().err


def test_out_of_core_estimates_from_a_few_windows_like_in_memory(tmp_path, colony, ecoli_model):
    from napari_deepcolor.predict.large import estimate_object_size_large

    model = ecoli_model
    mosaic = enlarged(np.block([[colony, colony[:, ::-1]], [colony[::-1], colony.T]]), 2.0)  # 1024 x 1024
    tifffile.imwrite(tmp_path / "mosaic.tif", mosaic)
    from napari_deepcolor.predict.size_refine import segment_refined

    estimate = estimate_object_size(model, mosaic)  # the regression: a mosaic of one colony reads as 2.5 for 2
    in_memory = segment_refined(model, mosaic, estimate)[1]
    windows = estimate_object_size_large(model, tmp_path / "mosaic.tif")
    assert windows.how == in_memory.how == "auto"
    assert abs(windows.factor / in_memory.factor - 1) <= 0.1  # what this test is for: the windows stand for the whole
    assert abs(windows.factor / 2 - 1) <= 0.1 < abs(estimate.factor / 2 - 1)  # checked on the windows' objects
    assert "corrected to the size of the segmented objects" in windows.note and "of 1 window)" in windows.note


def test_fine_tuning_trains_at_the_estimated_size_and_records_it(ecoli_model, colony):
    from napari_deepcolor.training.finetune import sized_for_training

    config, metadata = sized_for_training("ecoli-semiconv", [enlarged(colony, 2.0)], ecoli_model.base_config)
    assert metadata["trained_object_size_how"] == "auto"
    factor = metadata["trained_object_size"]
    assert abs(factor / 2 - 1) <= 0.2 and config == resize_objects(ecoli_model.base_config, factor)


def test_typical_object_size_of_labels_and_of_a_mask_stack():
    from napari_deepcolor.predict.object_size import relative_object_sizes, typical_object_size

    labels = np.zeros((40, 40), np.int32)
    labels[:4, :4], labels[10:16, 10:16], labels[20:30, 20:30] = 1, 2, 3  # √area 4, 6, 10
    assert typical_object_size(labels) == 6.0
    stack = np.stack([labels == k for k in (1, 2, 3)])
    assert typical_object_size(stack) == 6.0 and math.isnan(typical_object_size(np.zeros((5, 5), int)))
    np.testing.assert_allclose(relative_object_sizes([labels, labels[:16, :16], np.zeros((5, 5), int)], 3),
                               [12 / 11, 10 / 11, 1.0])  # sizes 6 and 5 about their median 5.5; unknown: 1


def test_fitting_with_labels_learns_the_absolute_size_of_training_objects_that_differ(ecoli_model):
    """Colonies enlarged by 0.8 or 1.25 as training images: without labels each counts as size 1; with them the size
    model tells the large ones from the small ones, and knows the training objects' size in pixels."""
    from napari_deepcolor.predict.object_size import pick_tiles, typical_object_size, view_features
    from napari_deepcolor.preprocess import preprocess

    pairs = [ecoli_colony(seed) for seed in range(4)]
    images = [enlarged(image, f) for (image, _), f in zip(pairs, [0.8, 1.25, 0.8, 1.25])]
    labels = [resize(lab, im.shape, order=0, preserve_range=True, anti_aliasing=False).astype(np.int32)
              for (_, lab), im in zip(pairs, images)]

    def large_over_small(size_model):
        views = [preprocess(im, in_channels=1, percentiles=ecoli_model.config.percentiles,
                            scale=ecoli_model.config.scale * 0.5) for im in images]
        sizes = [size_model.predict(view_features(ecoli_model, pick_tiles(x))[0]) for x in views]
        return (sizes[1] + sizes[3]) / (sizes[0] + sizes[2])

    with_labels = fit_size_model(ecoli_model, images, labels=labels)
    assert with_labels.object_px == pytest.approx(np.median([typical_object_size(lab) for lab in labels]))
    assert large_over_small(with_labels) > 1.3  # the truth: 1.25 / 0.8 = 1.56
    without = fit_size_model(ecoli_model, images)
    assert math.isnan(without.object_px) and large_over_small(without) < 1.15


def test_an_image_far_larger_than_the_training_images_gets_a_warning_with_its_estimate(ecoli_model, colony):
    """The regression reads the extent of an image as part of its objects' size (docs/scale.md, other extents): the
    colony tiled 4 x 4 shows 16 times the scene of a training image, and its estimate says it may be off."""
    from napari_deepcolor.predict.object_size import FIELD_BAND

    plain = estimate_object_size(ecoli_model, colony)
    assert "field of view" not in plain.note
    tiled = estimate_object_size(ecoli_model, np.tile(colony, (4, 4)))
    assert tiled.how == "auto" and "field of view of the model's training images" in tiled.note
    assert "type the size" in tiled.note and FIELD_BAND[0] < 1 < FIELD_BAND[1]


def test_a_size_model_without_the_training_extent_gives_no_field_of_view_warning(ecoli_model, colony):
    import dataclasses

    stored = dict(ecoli_model.metadata[METADATA_KEY])
    assert np.isfinite(stored["fit_extent"])
    stored.pop("fit_extent")
    older = dataclasses.replace(ecoli_model, metadata={**ecoli_model.metadata, METADATA_KEY: stored})
    assert "field of view" not in estimate_object_size(older, np.tile(colony, (4, 4))).note


def _one_worm_mask(factor: float = 1.0) -> np.ndarray:
    labels = tifffile.imread(files("napari_deepcolor") / "samples" / "bbbc010_A01_labels.tif")
    ids, counts = np.unique(labels[labels > 0], return_counts=True)
    mask = (labels == ids[np.argmax(counts)]).astype(np.float32)
    if factor == 1:
        return mask
    shape = tuple(round(n * factor) for n in mask.shape)
    return (resize(mask, shape, order=1, preserve_range=True) > 0.5).astype(np.float32)


def test_a_mask_of_one_worm_falls_back_to_1_and_finds_it_with_a_size_model_of_before_the_mask_width():
    """worms-mask's regression reads a mask of one or two worms as 1.7-2.1x and decodes none there
    (few_objects.py): auto falls back to 1, where the worm is. (Size models without `mask_width`, as before
    2026-12-08.)"""
    from dataclasses import replace

    from napari_deepcolor.predict.object_size import METADATA_KEY
    from napari_deepcolor.predict.size_refine import segment_refined

    mask = _one_worm_mask()
    model = load_model("worms-mask", device="cpu")
    before = {k: v for k, v in model.metadata[METADATA_KEY].items() if k != "mask_width"}
    model = replace(model, metadata={**model.metadata, METADATA_KEY: before})
    estimate = estimate_object_size(model, mask)
    _, size, (instances, _) = segment_refined(model, mask, estimate)
    assert estimate.factor > 1.3  # the wild estimate this guards against
    assert size.factor == 1.0 and size.how == "fallback" and "no objects were segmented" in size.note
    assert instances.n_instances == 1


@pytest.mark.parametrize("factor", [1.0, 2.0])
def test_a_mask_model_reads_the_size_on_the_mask_itself_without_the_network(monkeypatch, factor):
    """worms-mask reads a mask of one worm, as it is and enlarged 2x, from the worm's width against its training
    masks' (experiments/object_size/mask_width.py), with no network pass, and finds the worm there."""
    from napari_deepcolor.predict import object_size
    from napari_deepcolor.predict.size_refine import segment_refined

    model = load_model("worms-mask", device="cpu")
    assert 6 < object_size.size_model_of(model.metadata).mask_width < 8  # px: BBBC010's worms, about 7 px wide
    mask = _one_worm_mask(factor)
    monkeypatch.setattr(object_size, "oriented_features", lambda *a, **k: pytest.fail("the network was run"))
    estimate = estimate_object_size(model, mask)
    monkeypatch.undo()
    assert estimate.how == "auto" and "width of the mask's objects" in estimate.note, estimate
    assert abs(estimate.factor / factor - 1) < 0.2, estimate
    _, size, (instances, _) = segment_refined(model, mask, estimate)
    assert abs(size.factor / factor - 1) < 0.2 and instances.n_instances == 1, size
    assert "width of the mask's objects" in size.note  # checked or corrected: the note still says what it read


def test_out_of_core_a_mask_model_reads_the_size_on_the_windows_own_pixels(tmp_path):
    from napari_deepcolor.predict.large import estimate_object_size_large

    tifffile.imwrite(tmp_path / "mask.tif", (_one_worm_mask(2.0) * 255).astype(np.uint8))
    size = estimate_object_size_large(load_model("worms-mask", device="cpu"), tmp_path / "mask.tif")
    assert size.how == "auto" and "width of the mask's objects" in size.note and abs(size.factor / 2 - 1) < 0.2, size


def test_the_width_of_a_mask_s_objects_does_not_depend_on_their_number():
    from napari_deepcolor.predict.label_sizes import mask_width, width_of

    band = np.zeros((100, 200), bool)
    band[20:28, 10:190] = True  # 8 px wide
    assert width_of(*mask_width(band)) == pytest.approx(8, rel=0.1)
    two = band.copy()
    two[60:68, 10:190] = True
    assert width_of(*mask_width(two)) == pytest.approx(width_of(*mask_width(band)), rel=1e-6)
    assert np.isnan(width_of(*mask_width(np.zeros((10, 10)))))


def test_a_mask_model_s_fit_records_its_masks_width():
    from napari_deepcolor.predict.size_fit import fit_mask_width

    config = ModelConfig(mask_input=True, scale=0.5)
    band = np.zeros((100, 200), np.float32)
    band[20:28, 10:190] = 1
    assert fit_mask_width(config, [band, band * 3]) == {"mask_width": pytest.approx(8, rel=0.1)}
    prescaled = resize(band, (50, 100), order=1)[None]  # a training sample: at the model's scale
    assert fit_mask_width(config, [prescaled], prescaled=True)["mask_width"] == pytest.approx(8, rel=0.15)
    assert fit_mask_width(ModelConfig(), [band]) == {}  # not a mask model


def test_a_fine_tuning_at_another_size_carries_the_mask_width_scaled(tmp_path):
    import shutil

    from napari_deepcolor.predict.network import model_info
    from napari_deepcolor.predict.object_size import METADATA_KEY
    from napari_deepcolor.predict.size_fit import carry_size_model
    from napari_deepcolor.zoo import bundled_models

    start, tuned = tmp_path / "start.safetensors", tmp_path / "tuned.safetensors"
    shutil.copy(bundled_models()["worms-mask"], start)
    shutil.copy(start, tuned)
    width = model_info(start)[1][METADATA_KEY]["mask_width"]
    assert carry_size_model(start, [tuned], factor=2.0)
    assert model_info(tuned)[1][METADATA_KEY]["mask_width"] == pytest.approx(2 * width)


def _recorded_passes(monkeypatch) -> list[tuple]:
    """The passes `object_size.oriented_features` runs from now on: (orientations, whole network, width read)."""
    from napari_deepcolor.predict import object_size

    calls, original = [], object_size.oriented_features

    def recording(model, tiles, turns, *, whole=True):
        calls.append((tuple(turns), whole, tiles[0].shape[-1]))
        return original(model, tiles, turns, whole=whole)

    monkeypatch.setattr(object_size, "oriented_features", recording)
    return calls


def test_the_estimate_stops_after_one_orientation_when_it_reads_about_1(monkeypatch):
    """early_exit.py: an image the first orientation reads within EARLY_EXIT of 1 skips the other seven. The view
    is read after a coarse pass (quick_large.py), which reads the foreground: the view's own passes are the
    encoder's."""
    from napari_deepcolor.predict import object_size

    model = load_model("ecoli-semiconv", device="cpu")
    size_model = object_size.size_model_of(model.metadata)
    image = tifffile.imread(files("napari_deepcolor") / "samples" / "ecoli_colony.tif")
    tiles = object_size.pick_tiles(object_size.network_view(model.base_config, image, object_size.VIEW_REDUCTION))
    width = tiles[0].shape[-1]
    first = size_model.predict(object_size.oriented_features(model, tiles, (0,))[0][0]) / object_size.VIEW_REDUCTION
    calls = _recorded_passes(monkeypatch)
    features, _, reduction = object_size.read_features(model, size_model, tiles)
    assert calls[0] == ((0,), True, round(width * object_size.COARSE)) and reduction == object_size.VIEW_REDUCTION
    if max(first, 1 / first) <= object_size.EARLY_EXIT:
        assert calls[1:] == [((0,), False, width)]
    else:
        assert calls[1:] == [((0,), False, width), (tuple(range(1, 8)), False, width)]
    monkeypatch.setattr(object_size, "EARLY_EXIT", 1.0)  # never within: all eight, as view_features reads them
    calls.clear()
    features, _, _ = object_size.read_features(model, size_model, tiles)
    assert [c[0] for c in calls[1:]] == [(0,), tuple(range(1, 8))]
    np.testing.assert_allclose(features, object_size.view_features(model, tiles, size_model.turns)[0], rtol=1e-5)


def test_large_objects_are_read_once_on_a_coarse_view_and_checked_on_the_segmented_objects(monkeypatch, ecoli_model,
                                                                                          colony):
    """quick_large.py: where the coarse pass reads objects of QUICK_ABOVE or larger, its reading is the estimate
    (one network pass on a sixteenth of a size-1 prediction's pixels), and the segmented objects check it."""
    from napari_deepcolor.predict import object_size
    from napari_deepcolor.predict.size_refine import segment_refined

    image = enlarged(colony, 3.0)
    calls = _recorded_passes(monkeypatch)
    size = estimate_object_size(ecoli_model, image)
    view = object_size.network_view(ecoli_model.base_config, image, object_size.VIEW_REDUCTION)
    assert calls == [((0,), True, round(view.shape[-1] * object_size.COARSE))]
    assert size.how == "auto" and abs(size.factor / 3 - 1) <= 0.25, size
    _, checked, _ = segment_refined(ecoli_model, image, size)
    assert abs(checked.factor / 3 - 1) <= 0.2, checked
    monkeypatch.setattr(object_size, "QUICK_ABOVE", math.inf)  # never: the view itself, as before
    calls.clear()
    assert abs(estimate_object_size(ecoli_model, image).factor / 3 - 1) <= 0.2
    assert [c[0] for c in calls] == [(0,), (0,), tuple(range(1, 8))]


def test_a_model_that_normalizes_sparse_fields_by_their_objects_reads_no_coarse_view(monkeypatch):
    """quick_large.py's third check: on a coarse view `nuclei` painted a sparse field's noise as large objects."""
    from napari_deepcolor.predict import object_size
    from napari_deepcolor.training.synthetic_nuclei import nuclei_field

    model = load_model("nuclei", device="cpu")
    assert model.base_config.sparse_percentile is not None
    image = enlarged(nuclei_field(7, shape=(256, 256))[0], 3.0)
    calls = _recorded_passes(monkeypatch)
    size = estimate_object_size(model, image)
    view = object_size.network_view(model.base_config, image, object_size.VIEW_REDUCTION)
    assert calls[0] == ((0,), True, view.shape[-1])  # the view itself, its first orientation whole, as before
    assert size.how == "auto" and size.factor > 2, size


@pytest.mark.parametrize("shape", [(2, 16, 37, 53), (1, 8, 1, 1), (1, 4, 1, 6)])
@pytest.mark.parametrize("channels_last", [False, True])
def test_the_features_moments_are_torchs_mean_and_standard_deviation(shape, channels_last):
    import torch

    from napari_deepcolor.predict.size_features import _moments

    activation = torch.relu(torch.randn(*shape, generator=torch.Generator().manual_seed(0)) * 2 + 1)
    if channels_last:
        activation = activation.contiguous(memory_format=torch.channels_last)
    flat = activation.flatten(2).double()
    mean, spread = _moments(activation)
    assert mean.dtype == spread.dtype == torch.float32 and mean.shape == spread.shape == shape[:2]
    np.testing.assert_allclose(mean.numpy(), flat.mean(dim=2).numpy(), rtol=1e-6, atol=1e-7)
    expected = flat.std(dim=2) if flat.shape[2] > 1 else torch.zeros(shape[:2], dtype=torch.float64)
    np.testing.assert_allclose(spread.numpy(), expected.numpy(), rtol=1e-5, atol=1e-6)


def _few_nuclei(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A 512 x 512 fluorescence field of one to three nuclei (try_one.py's sparser kind)."""
    from napari_deepcolor.training.synthetic_nuclei import nuclei_field

    return nuclei_field(seed, shape=(512, 512), coverage=(0.001, 0.003))


def test_a_field_of_few_nuclei_is_told_from_a_dense_one_and_its_nuclei_from_its_noise():
    from napari_deepcolor.predict.size_refine import object_contrast, sparse_field
    from napari_deepcolor.training.synthetic_nuclei import nuclei_field

    model = load_model("nuclei", device="cpu")
    image, labels = _few_nuclei(3)
    dense, _ = nuclei_field(1)
    assert sparse_field(model, image) and not sparse_field(model, dense)
    assert not sparse_field(load_model("ecoli-semiconv", device="cpu"), image)  # no sparse gate: never
    blobs = np.zeros_like(labels)
    blobs[::64, ::64] = 1  # single pixels on the background, numbered apart
    blobs = np.cumsum(blobs.ravel()).reshape(blobs.shape) * blobs
    assert object_contrast(model, image, labels) > 5 * object_contrast(model, image, blobs)
    assert object_contrast(model, image, np.zeros_like(labels)) == 0


def test_on_a_field_of_few_nuclei_read_too_large_size_1_is_kept_when_its_nuclei_stand_out(monkeypatch):
    """The regression reads such fields as 1.5-4x, where the shrunken noise decodes as blobs of the training size
    (experiments/object_size/sparse_contrast.py): given 3, the check keeps 1, and says why."""
    from napari_deepcolor.predict import size_refine
    from napari_deepcolor.predict.object_size import ObjectSize

    model = load_model("nuclei", device="cpu")
    image, labels = _few_nuclei(5)
    wrong = ObjectSize(3.0, "auto", "object size 3.00 (auto)", 3.0)
    _, size, (instances, _) = size_refine.segment_refined(model, image, wrong)
    assert size.factor == 1.0 and "stand out more" in size.note, size
    from napari_deepcolor.metrics import evaluate

    assert evaluate(labels, instances.labels)["ap50"] > 0.8
    monkeypatch.setattr(size_refine, "SPARSE_CONTRAST", None)  # off: the field stays at the wrong size
    assert size_refine.segment_refined(model, image, wrong)[1].factor != 1.0


def test_size_1_tried_and_not_kept_is_counted_and_said():
    """A dense field with a few very bright nuclei passes the sparse gate too: size 1 is tried, its nuclei do not
    stand out more, the size kept stays, and the note counts the extra prediction."""
    from napari_deepcolor.predict import size_refine
    from napari_deepcolor.predict.object_size import ObjectSize
    from napari_deepcolor.training.synthetic_nuclei import nuclei_field

    model = load_model("nuclei", device="cpu")
    image, _ = nuclei_field(3)
    assert size_refine.sparse_field(model, image)
    size = size_refine.segment_refined(model, image, ObjectSize(1.6, "auto", "object size 1.60 (auto)", 1.6))[1]
    assert size.factor != 1.0 and f"size 1 tried too on this field of few bright objects ({size.passes} " in size.note
