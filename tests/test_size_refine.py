"""The second step of the automatic object size (`napari_deepcolor.predict.size_refine`): the decoded objects checked
against the training objects' size, and the image predicted again at the size they say."""

import dataclasses
import math

import numpy as np
import pytest

from napari_deepcolor.config import ModelConfig
from napari_deepcolor.predict.network import LoadedModel
from napari_deepcolor.predict.object_size import METADATA_KEY, ObjectSize, SizeModel, given_size
from napari_deepcolor.predict.size_refine import MAX_REFINEMENTS, TOLERANCE, refine

#: The training objects decode to squares of 10 x 10 network pixels; the model runs at scale 0.5.
DECODED_PX, SCALE = 10.0, 0.5


def fake_model(**fields) -> LoadedModel:
    size_model = SizeModel(np.zeros(2), np.zeros(2), np.ones(2), 0.0, 1.0, 0.05, 8,
                           **{"decoded_px": DECODED_PX, "decoded_tolerance": 1.05, **fields})
    return LoadedModel(None, ModelConfig(scale=SCALE), {METADATA_KEY: size_model.to_dict()}, "cpu", "fake")


def squares(side: float, n: int = 6) -> np.ndarray:
    """Labels: ``n`` squares of ``side`` pixels."""
    side = max(1, round(side))
    labels = np.zeros((side + 10, (side + 10) * n), np.int32)
    for i in range(n):
        labels[5:5 + side, (side + 10) * i + 5:(side + 10) * i + 5 + side] = i + 1
    return labels


def estimated(factor: float) -> ObjectSize:
    return ObjectSize(factor, "auto", f"object size {factor:.2f} (auto)", factor)


class Segmenter:
    """A fake prediction: objects of ``image_px`` image pixels, found whole at any size; counts its runs."""

    def __init__(self, image_px: float | None) -> None:
        self.image_px, self.factors = image_px, []

    def run(self, sized: LoadedModel):
        self.factors.append(round(sized.object_size, 2))
        return squares(self.image_px) if self.image_px else np.zeros((8, 8), np.int32)

    @staticmethod
    def labels_of(sized, result):
        return result


def test_an_estimate_the_decoded_objects_confirm_runs_once():
    # objects of 20 image px at scale 0.5 / 1 are 10 network px: the training size
    segmenter = Segmenter(20)
    _, size, _ = refine(fake_model(), estimated(1.0), segmenter.run, segmenter.labels_of)
    assert segmenter.factors == [1.0] and size.factor == 1.0 and size.passes == 1
    assert "checked on the segmented objects" in size.note and not size.warning


def test_an_estimate_the_decoded_objects_contradict_is_corrected_and_says_so():
    # the regression read 1.6 (an image larger than the training images); the objects are 20 image px: size 1
    segmenter = Segmenter(20)
    sized, size, result = refine(fake_model(), estimated(1.6), segmenter.run, segmenter.labels_of)
    assert segmenter.factors == [1.6, 1.0]
    assert size.factor == 1.0 and size.passes == 2 and sized.object_size == pytest.approx(1.0)
    assert "estimated 1.60, corrected to the size of the segmented objects, 2 predictions" in size.note
    assert size.as_metadata()["object_size_passes"] == 2 and size.estimate == 1.6
    assert result.max() == 6


def test_the_field_of_view_warning_goes_once_the_objects_agree():
    warning = "this image shows about 2.0x the field of view ..."
    size = dataclasses.replace(estimated(1.6), note=f"object size 1.60 (auto); but {warning}", warning=warning)
    segmenter = Segmenter(20)
    _, refined, _ = refine(fake_model(), size, segmenter.run, segmenter.labels_of)
    assert not refined.warning and "field of view" not in refined.note


def test_objects_that_never_agree_keep_the_closest_pass_and_warn():
    class Drifting(Segmenter):  # decodes objects 1.5x the training size whatever the size it runs at
        def run(self, sized):
            super().run(sized)
            return squares(1.5 * DECODED_PX / sized.config.scale)

    segmenter = Drifting(None)
    _, size, _ = refine(fake_model(), estimated(1.0), segmenter.run, segmenter.labels_of)
    assert len(segmenter.factors) == 1 + MAX_REFINEMENTS and size.passes == 1 + MAX_REFINEMENTS
    assert "1.50x the size of the model's training objects" in size.warning and size.warning in size.note


@pytest.mark.parametrize("size", [given_size(1.6), ObjectSize(1.0, "fallback", "no objects", 9.0)])
def test_a_given_size_or_a_fallback_runs_once_unchecked(size):
    segmenter = Segmenter(20)
    measured = []
    _, kept, _ = refine(fake_model(), size, segmenter.run, lambda s, r: measured.append(r) or r)
    assert segmenter.factors == [size.factor] and not measured and kept == size


def test_a_checkpoint_without_the_decoded_size_runs_once_as_before():
    segmenter = Segmenter(20)
    _, size, _ = refine(fake_model(decoded_px=math.nan), estimated(1.6), segmenter.run, segmenter.labels_of)
    assert segmenter.factors == [1.6] and size == estimated(1.6)


def test_nothing_segmented_at_the_estimate_falls_back_to_1_and_says_so():
    class OnlyAtOne(Segmenter):  # a sparse mask read as larger objects: nothing decoded at the estimate
        def run(self, sized):
            super().run(sized)
            return squares(20) if sized.object_size == 1 else np.zeros((8, 8), np.int32)

    segmenter = OnlyAtOne(None)
    sized, size, result = refine(fake_model(), estimated(1.6), segmenter.run, segmenter.labels_of)
    assert segmenter.factors == [1.6, 1.0] and sized.object_size == pytest.approx(1.0) and result.max() == 6
    assert size.factor == 1.0 and size.how == "fallback" and size.passes == 2 and size.estimate == 1.6
    assert "no objects were segmented at the estimated 1.60" in size.note and "type the size" in size.note


def test_the_fallback_to_1_is_corrected_once_by_its_objects():
    """recheck_one.py: masks of a few worms twice the training size decoded nothing at the estimate and kept 1; the
    objects segmented at 1 now correct it, once (objects of 40 image px at 1 are 2x the training size)."""
    class NothingAtEstimate(Segmenter):
        def run(self, sized):
            super().run(sized)
            return np.zeros((8, 8), np.int32) if sized.object_size == pytest.approx(3.0) else squares(40)

    segmenter = NothingAtEstimate(None)
    sized, size, result = refine(fake_model(), estimated(3.0), segmenter.run, segmenter.labels_of)
    assert segmenter.factors == [3.0, 1.0, 2.0] and size.factor == 2.0 and sized.object_size == pytest.approx(2.0)
    assert size.passes == 3 and not size.warning and result.max() == 6
    assert "no objects were segmented at the estimated 3.00; from 1, corrected to the size of the segmented " \
           "objects (3 predictions)" in size.note


def test_nothing_segmented_at_any_size_ends_at_1():
    segmenter = Segmenter(None)
    _, size, _ = refine(fake_model(), estimated(1.6), segmenter.run, segmenter.labels_of)
    assert segmenter.factors == [1.6, 1.0] and size.factor == 1.0 and size.how == "fallback"
    assert "none at 1 either" in size.note
    segmenter = Segmenter(None)  # at 1 already: nothing more to try
    _, size, _ = refine(fake_model(), estimated(1.0), segmenter.run, segmenter.labels_of)
    assert segmenter.factors == [1.0] and size.how == "auto" and size.passes == 1


def test_a_correction_stays_in_the_supported_range():
    segmenter = Segmenter(2000)  # objects 100x the training size: 100 is not supported
    _, size, _ = refine(fake_model(), estimated(4.0), segmenter.run, segmenter.labels_of)
    # size 1 is tried too (the objects never agreed), and is further off: 4 is kept
    assert segmenter.factors == [4.0, 1.0] and size.factor == 4.0 and "type the size" in size.warning


def test_objects_that_never_agree_try_size_1_and_keep_it_when_closer():
    class NoiseWhenShrunk(Segmenter):  # a sparse field read as 3x: small noise blobs there; the nuclei at 1
        def run(self, sized):
            super().run(sized)
            return squares(4, n=40) if sized.object_size > 1.5 else squares(20, n=2)

    segmenter = NoiseWhenShrunk(None)
    _, size, result = refine(fake_model(), estimated(3.0), segmenter.run, segmenter.labels_of)
    assert segmenter.factors[0] == 3.0 and segmenter.factors[-1] == 1.0 and size.factor == 1.0
    assert result.max() == 2 and size.passes == len(segmenter.factors)


def test_a_stack_plane_starts_where_the_plane_before_ended():
    from napari_deepcolor.predict.size_refine import carried

    config = ModelConfig(scale=SCALE)
    start = carried(estimated(1.6), 1 / 1.6, config)
    assert start.factor == 1.0 and "corrected as the plane before" in start.note and not start.warning
    assert carried(estimated(1.6), 1.0, config) == estimated(1.6)
    assert carried(given_size(1.6), 0.5, config) == given_size(1.6)
    assert carried(estimated(4.0), 100.0, config) == estimated(4.0)  # not a size it may run at
    segmenter = Segmenter(20)
    _, size, _ = refine(fake_model(), start, segmenter.run, segmenter.labels_of)
    assert segmenter.factors == [1.0] and size.passes == 1


def test_the_tolerance_is_bounded():
    segmenter = Segmenter(20 * 1.08)  # 8 % off: within the smallest tolerance, however tight the training spread
    _, size, _ = refine(fake_model(decoded_tolerance=1.01), estimated(1.0), segmenter.run, segmenter.labels_of)
    assert segmenter.factors == [1.0] and size.factor == 1.0 and TOLERANCE[0] > 1.08


def test_a_model_trained_here_takes_its_reference_from_its_training_annotations():
    from napari_deepcolor.predict.size_fit import decoded_reference

    samples = [np.zeros((1, 64, 64), np.float32)] * 3  # prescaled: the raw images are gone
    labels = [squares(8), squares(10), squares(12)]  # network pixels already
    assert decoded_reference(None, samples, prescaled=True, labels=labels) == {"decoded_px": 10.0,
                                                                                "decoded_tolerance": TOLERANCE[0]}
    assert decoded_reference(None, samples, prescaled=True) == {}  # nothing to measure against: no second step


# -- with a bundled model ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiled_colony():
    """A generated colony none of the bundled models trained on, tiled 3 x 3: nine times the scene of a training
    image, at the training size. The regression reads the larger extent as larger objects (docs/scale.md)."""
    from napari_deepcolor.training.synthetic_scenes import ecoli_colony

    return np.tile(ecoli_colony(12_345)[0], (3, 3))


def test_the_segmented_objects_correct_the_estimate_of_an_image_larger_than_the_training_images(tiled_colony):
    pytest.importorskip("torch")
    from napari_deepcolor.predict.network import load_model, segment
    from napari_deepcolor.predict.object_size import estimate_object_size

    model = load_model("ecoli-semiconv", device="cpu")
    estimate = estimate_object_size(model, tiled_colony)
    assert estimate.factor > 1.25 and estimate.warning  # the regression alone (fitted on crops: 1.28; before: 1.87)
    _, size, (instances, _) = refine(model, estimate, lambda sized: segment(sized, tiled_colony),
                                     lambda _, run: run[0].labels)
    assert abs(size.factor - 1) <= 0.15 and size.passes >= 2 and not size.warning
    assert "corrected to the size of the segmented objects" in size.note and instances.n_instances > 50


def test_a_stack_plane_and_predict_use_the_corrected_size(tiled_colony, tmp_path, capsys):
    pytest.importorskip("torch")
    import tifffile

    from napari_deepcolor.cli import main
    from napari_deepcolor.predict.stack import PlaneDone, segment_stack

    # the second plane the same scene moved (a flipped one the regression reads otherwise: 1.0 against 1.46)
    stack = np.stack([tiled_colony, np.roll(tiled_colony, 100, axis=0)])
    planes = [e.object_size for e in segment_stack("ecoli-semiconv", stack, device="cpu", object_size=None)
              if isinstance(e, PlaneDone)]
    assert abs(planes[0].factor - 1) <= 0.15 and planes[0].passes >= 2
    # the second plane starts where the first ended: its objects confirm it, in one prediction
    assert abs(planes[1].factor - 1) <= 0.15 and planes[1].passes == 1
    assert "corrected as the plane before), checked on the segmented objects" in planes[1].note
    tifffile.imwrite(tmp_path / "tiled.tif", tiled_colony)
    assert main(["predict", "--model", "ecoli-semiconv", "--output", str(tmp_path / "out"),
                 str(tmp_path / "tiled.tif")]) == 0
    assert "corrected to the size of the segmented objects" in capsys.readouterr().err


def test_a_size_checked_on_few_objects_says_it_may_be_off():
    class Two(Segmenter):  # two objects, 1.6x the training size: they agree with the estimate
        def run(self, sized):
            super().run(sized)
            return squares(20 * 1.6, n=2)

    segmenter = Two(None)
    _, size, _ = refine(fake_model(), estimated(1.6), segmenter.run, segmenter.labels_of)
    assert segmenter.factors == [1.6] and size.factor == 1.6 and size.how == "auto"
    assert "only 2 objects segmented to check the size on" in size.warning and size.warning in size.note
    segmenter = Segmenter(20)  # six objects: no warning
    _, size, _ = refine(fake_model(), estimated(1.0), segmenter.run, segmenter.labels_of)
    assert not size.warning
