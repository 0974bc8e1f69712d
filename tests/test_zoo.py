"""The model registry: one table of bundled models, checked against the files shipped."""

from napari_deepcolor.training.presets import PRESETS, preset_for_model
from napari_deepcolor.zoo import BUNDLED_KINDS, DEFAULT_FOR_KIND, bundled_models, kind_of, model_for_image


def test_every_bundled_file_is_in_the_registry_and_back():
    assert set(bundled_models()) == set(BUNDLED_KINDS)


def test_every_kind_has_a_preset_and_a_bundled_default():
    assert set(BUNDLED_KINDS.values()) == set(PRESETS) == set(DEFAULT_FOR_KIND)
    for kind, model in DEFAULT_FOR_KIND.items():
        assert kind_of(model) == kind == preset_for_model(model)
    assert kind_of("my-own-model") is None


def test_model_for_image_follows_samples_then_rgb():
    bundled = set(BUNDLED_KINDS)
    assert model_for_image("ecoli", rgb=False, current_takes_rgb=False, bundled=bundled) == "ecoli"
    leaves = DEFAULT_FOR_KIND["Leaves (rosette)"]
    assert model_for_image(None, rgb=True, current_takes_rgb=False, bundled=bundled) == leaves
    assert model_for_image(None, rgb=False, current_takes_rgb=False, bundled=bundled) is None
