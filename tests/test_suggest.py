"""Telling the kind of an image, and so its default model, from its intensities (`napari_deepcolor.zoo.suggest`)."""

import numpy as np
import pytest
import tifffile

from napari_deepcolor._sample_data import SAMPLES_DIR
from napari_deepcolor.training.synthetic_nuclei import nuclei_field
from napari_deepcolor.zoo import BUNDLED_KINDS
from napari_deepcolor.zoo.suggest import ECOLI, LEAVES, NUCLEI, WORMS, suggest_kind, suggest_model

SHIPPED = set(BUNDLED_KINDS) - {"nuclei"}  # the bundled models before nuclei (being trained) lands
WITH_NUCLEI = SHIPPED | {"nuclei"}


def nuclei_16bit(seed=3):
    image = nuclei_field(seed)[0]
    return image if image.dtype == np.uint16 else image.astype(np.uint16) * 200


@pytest.mark.parametrize(("file", "rgb", "kind", "words"), [
    ("bbbc010_A01.tif", False, WORMS, "round well"),
    ("ecoli_colony.tif", False, ECOLI, "bright halos"),
    ("rosette.tif", True, LEAVES, "color image"),
    ("nuclei.tif", False, "Fluorescent nuclei", "bright spots"),
])
def test_the_bundled_samples_are_told_right(file, rgb, kind, words):
    found, reason = suggest_kind(tifffile.imread(SAMPLES_DIR / file), rgb=rgb)
    assert found == kind and words in reason


def test_generated_fluorescent_nuclei_are_told_in_every_dtype_and_from_a_stack_plane():
    image = nuclei_16bit()
    assert image.dtype == np.uint16
    low, high = np.percentile(image, (0.1, 99.9))
    variants = {
        "uint16": image,
        "uint8": np.clip((image - low) / (high - low) * 255, 0, 255).astype(np.uint8),
        "float32 in [0, 1]": ((image - low) / (high - low)).astype(np.float32),
        "float64 counts": image.astype(np.float64) * 3.5 + 100,
        "large": np.kron(image, np.ones((8, 8), np.uint16)),  # 2048 x 2048, read on a grid
    }
    for name, variant in variants.items():
        kind, reason = suggest_kind(variant)
        assert kind == NUCLEI, name
        assert reason == "gray image with a dark background and bright spots: looks like fluorescent nuclei"
    # a stack (T, Y, X) is judged by its middle plane
    stack = np.stack([np.zeros_like(image), image, np.zeros_like(image)])
    assert suggest_kind(stack)[0] == NUCLEI
    assert suggest_kind(stack[:1])[0] is None


def test_a_simple_blob_image_with_photon_noise_is_nuclei_too():
    """Not only the generator the nuclei model learns from: Gaussian blobs on a dark background, Poisson noise."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:300, :300]
    light = np.full((300, 300), 20.0)
    for y, x in rng.uniform(10, 290, (40, 2)):
        light += 800 * np.exp(-((yy - y) ** 2 + (xx - x) ** 2) / (2 * 6.0**2))
    image = (rng.poisson(light) + 100).astype(np.uint16)
    assert suggest_kind(image)[0] == NUCLEI


def test_a_micro_colony_on_a_larger_canvas_is_phase_contrast():
    """Few cells on much background, barely darker than it: rule 4 looks at how deep the darkest pixels lie below
    the background, not how many lie 0.1 below it (the rule before read seed 105 as fluorescent nuclei)."""
    from napari_deepcolor.training.synthetic_scenes import ecoli_colony

    for seed in range(100, 112):
        assert suggest_kind(ecoli_colony(seed, shape=(512, 512))[0])[0] == ECOLI, seed


def test_nuclei_under_uneven_illumination_are_nuclei_and_a_colony_filling_the_image_is_phase_contrast():
    """An illumination ramp darkens one side of a fluorescence field below its background: one dark region, not
    dark objects (the rule before read such images as E. coli). A colony that fills the image has the cells' level as
    its commonest: its dark pixels are separate cells, not one background (the rule before read seed 42 as nuclei)."""
    from napari_deepcolor.training.synthetic_scenes import ecoli_colony

    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:300, :300]
    light = np.full((300, 300), 20.0) + 600 * xx / 300  # the right side 30 times brighter than the left
    for y, x in rng.uniform(10, 290, (40, 2)):
        light += 800 * np.exp(-((yy - y) ** 2 + (xx - x) ** 2) / (2 * 6.0**2))
    assert suggest_kind((rng.poisson(light) + 100).astype(np.uint16))[0] == NUCLEI
    for seed in (42, 71):
        assert suggest_kind(ecoli_colony(seed)[0])[0] == ECOLI, seed


def test_a_gray_image_saved_as_rgb_is_judged_as_gray():
    image = nuclei_16bit()
    blue = np.zeros((*image.shape, 3), np.uint16)
    blue[..., 2] = image  # a DAPI image exported in the blue channel
    kind, reason = suggest_kind(blue, rgb=True)
    assert kind == NUCLEI and reason.startswith("RGB image without color, judged as gray: ")
    assert suggest_kind(np.stack([image] * 3, axis=-1), rgb=True)[0] == NUCLEI


@pytest.mark.parametrize(("image", "words"), [
    (np.zeros((64, 64)), "one value nearly everywhere"),
    (np.full((40, 50), 7, np.uint16), "one value nearly everywhere"),
    (np.full((64, 64), np.nan, np.float32), "one value nearly everywhere"),
    (np.random.default_rng(0).normal(100, 10, (256, 256)), "noise without objects"),
    (tifffile.imread(SAMPLES_DIR / "bbbc010_A01_foreground.tif"), "only two values, like a mask"),
    (np.ones((8, 300), np.uint8), "too small (8 x 300 pixels)"),
])
def test_an_image_with_nothing_to_judge_by_has_no_kind_and_gets_the_default_model_with_the_reason(image, words):
    kind, reason = suggest_kind(image)
    assert kind is None and words in reason
    model, why = suggest_model(image, SHIPPED)
    assert model == "worms" and why == f"{reason}; worms is the default for gray images"
    model, why = suggest_model(np.zeros((32, 32, 3), np.uint8), SHIPPED, rgb=True)
    assert model == "leaves-semiconv" and why.endswith("; leaves-semiconv is the default for RGB images")


def test_the_suggested_model_is_the_kinds_default_else_the_fallback_says_why():
    image = nuclei_16bit()
    assert suggest_model(image, WITH_NUCLEI) == ("nuclei", suggest_kind(image)[1])
    model, reason = suggest_model(image, SHIPPED)
    assert model == "worms"
    assert reason.endswith("looks like fluorescent nuclei, but the nuclei model is not installed yet, so worms runs "
                           "instead, which was not made for such images")
    ecoli = tifffile.imread(SAMPLES_DIR / "ecoli_colony.tif")
    assert suggest_model(ecoli, SHIPPED)[0] == "ecoli-semiconv"
    assert suggest_model(ecoli, SHIPPED - {"ecoli-semiconv"})[0] == "worms"
    assert suggest_model(ecoli, {"leaves"})[0] == "leaves"  # whatever is there, rather than nothing
    assert suggest_model(ecoli, set())[0] is None


def test_a_samples_own_model_wins_over_its_looks():
    foreground = tifffile.imread(SAMPLES_DIR / "bbbc010_A01_foreground.tif")
    assert suggest_model(foreground, SHIPPED, sample_model="worms-mask") == ("worms-mask",
                                                                             "the model made for this sample image")
    assert suggest_model(nuclei_16bit(), SHIPPED, sample_model="gone")[0] == "worms"  # not bundled: by its looks


def test_an_image_read_row_by_row_is_judged_without_loading_it(tmp_path):
    """`deepcolor predict` passes `predict.large.open_image`'s readers, which read contiguous rows only."""
    from napari_deepcolor.predict.regions import RawTiff, open_image

    tifffile.imwrite(tmp_path / "cells.tif", nuclei_16bit())
    image = open_image(tmp_path / "cells.tif")
    assert isinstance(image, RawTiff)
    with pytest.raises(IndexError):
        image[::2]
    assert suggest_kind(image)[0] == NUCLEI


def test_a_stack_read_row_by_row_is_judged_by_its_middle_plane(tmp_path):
    """`deepcolor predict` without --model on a stack's TIFF: the middle plane is read by index (an AttributeError
    before)."""
    from napari_deepcolor.predict.regions import RawTiff, open_image

    planes = np.stack([np.zeros_like(nuclei_16bit()), nuclei_16bit(), np.zeros_like(nuclei_16bit())])
    tifffile.imwrite(tmp_path / "stack.tif", planes)
    image = open_image(tmp_path / "stack.tif")
    assert isinstance(image, RawTiff) and image.shape == planes.shape
    assert suggest_kind(image)[0] == NUCLEI


def test_shapes_that_are_not_images_are_refused():
    with pytest.raises(ValueError, match=r"expected an RGB\(A\) image \(..., Y, X, 3\|4\), got shape \(64, 64\)"):
        suggest_kind(np.zeros((64, 64)), rgb=True)
    with pytest.raises(ValueError, match="at least two axes"):
        suggest_kind(np.zeros(64))


def test_nuclei_under_illumination_rising_to_saturation_are_told_on_a_second_look(monkeypatch):
    """The field's commonest level is the bright side of its background, so steps 4-5 match no kind (`worms` would
    run and find nothing); with the background flattened they see nuclei (experiments/zoo/flattened_retry.py)."""
    from napari_deepcolor.training.synthetic_scenes import synthetic_pairs
    from napari_deepcolor.zoo import suggest

    image = next(iter(synthetic_pairs("nuclei-artefacts", 1, seed=70_005)))[0]
    monkeypatch.setattr(suggest, "FLATTENED_RETRY", False)
    assert suggest_kind(image)[0] is None
    monkeypatch.setattr(suggest, "FLATTENED_RETRY", True)
    kind, reason = suggest_kind(image)
    assert kind == NUCLEI and "uneven illumination" in reason
    assert suggest_model(image, WITH_NUCLEI)[0] == "nuclei"


def test_the_second_look_leaves_dark_worms_on_an_uneven_bright_field_unmatched(monkeypatch):
    """Dark lines on a bright field that brightens to one side: no kind at the first look, and none at the second
    (flattened, the lines are still darker than their background)."""
    from skimage.draw import line_aa

    from napari_deepcolor.zoo import suggest

    rng = np.random.default_rng(0)
    image = 0.8 + rng.normal(0, 0.01, (256, 256))
    for _ in range(12):
        rows, cols, value = line_aa(*(int(v) for v in rng.integers(10, 246, 4)))
        for offset in range(-2, 3):
            image[np.clip(rows + offset, 0, 255), cols] -= 0.4 * value
    image = (image + 0.3 * np.linspace(0, 1, 256)[None, :]).astype(np.float32)
    monkeypatch.setattr(suggest, "FLATTENED_RETRY", False)
    assert suggest_kind(image)[0] is None
    monkeypatch.setattr(suggest, "FLATTENED_RETRY", True)
    assert suggest_kind(image) == (None, "gray image that matches none of the known kinds clearly")


def test_packed_nuclei_whose_dark_gaps_look_like_phase_contrast_are_nuclei(monkeypatch):
    """A dense clump of nuclei: its dark gaps pass for dark objects and the nuclei around them for halos; but its
    brightest pixels are the nuclei's centres, far from the gaps, where halos hug their cells
    (experiments/zoo/packed_nuclei.py)."""
    from napari_deepcolor.training.synthetic_scenes import synthetic_pairs
    from napari_deepcolor.zoo import suggest

    image = next(iter(synthetic_pairs("nuclei-artefacts", 1, seed=70_013)))[0]
    monkeypatch.setattr(suggest, "BRIGHT_FROM_DARK_TEST", False)
    assert suggest_kind(image)[0] == ECOLI
    monkeypatch.setattr(suggest, "BRIGHT_FROM_DARK_TEST", True)
    kind, reason = suggest_kind(image)
    assert kind == NUCLEI and "packed closely" in reason
    colony = tifffile.imread(SAMPLES_DIR / "ecoli_colony.tif")  # the real phase-contrast image stays E. coli
    assert suggest_kind(colony)[0] == ECOLI


def test_a_crop_inside_a_worm_well_reads_as_worms_and_nuclei_stay_nuclei():
    """No dark corners for the well test: the thin bright lines say worms (step 7), round spots stay nuclei."""
    import tifffile

    from napari_deepcolor._sample_data import SAMPLES_DIR
    from napari_deepcolor.zoo.suggest import NUCLEI, WORMS, suggest_kind

    well = tifffile.imread(SAMPLES_DIR / "bbbc010_A01.tif")
    kind, reason = suggest_kind(well[80:440, 140:560])
    assert kind == WORMS and "thin bright lines" in reason
    assert suggest_kind(well[184:440, 304:560])[0] == WORMS
    assert suggest_kind(tifffile.imread(SAMPLES_DIR / "nuclei.tif"))[0] == NUCLEI
