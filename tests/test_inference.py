from pathlib import Path

import numpy as np
import pytest
import tifffile

torch = pytest.importorskip("torch")

from napari_deepcolor.checkpoint import CheckpointError  # noqa: E402
from napari_deepcolor.predict.network import load_model, predict_probs, resolve_device  # noqa: E402
from napari_deepcolor.predict.tiles import axis_spans  # noqa: E402

SAMPLES = Path(__file__).resolve().parents[1] / "src" / "napari_deepcolor" / "samples"


def test_probabilities_have_the_image_size_and_sum_to_one(tiny_model):
    model = load_model(tiny_model, device="cpu")
    for image in (np.random.default_rng(0).integers(0, 4096, (37, 50), dtype=np.uint16),
                  np.random.default_rng(1).integers(0, 255, (30, 20, 3), dtype=np.uint8)):
        probs = predict_probs(model, image)
        assert probs.shape == (4, *image.shape[:2]) and probs.dtype == np.float32
        np.testing.assert_allclose(probs.sum(axis=0), 1, atol=1e-5)


def test_tiled_and_untiled_agree(tiny_model):
    model = load_model(tiny_model, device="cpu")
    image = np.random.default_rng(0).random((90, 70)).astype(np.float32)
    whole = predict_probs(model, image, tile_size=4096)
    calls = []
    tiled = predict_probs(model, image, tile_size=48, overlap=12, progress=lambda d, t: calls.append((d, t)))
    assert calls[-1][0] == calls[-1][1] > 1
    # a depth-2 U-Net sees about 20 px around a pixel; 12 px overlap keeps the difference small, not zero
    assert np.abs(whole - tiled).max() < 0.05
    assert (whole.argmax(0) == tiled.argmax(0)).mean() > 0.97


def test_tiles_cover_every_pixel_once():
    for length, tile, overlap in ((100, 40, 8), (40, 40, 8), (41, 40, 8), (1000, 256, 32)):
        kept = np.zeros(length, int)
        for r0, r1, k0, k1 in axis_spans(length, tile, overlap, fixed=True):
            assert 0 <= r0 <= k0 < k1 <= r1 <= length and r1 - r0 <= tile
            kept[k0:k1] += 1
        assert (kept == 1).all()


def test_devices():
    assert resolve_device("cpu") == "cpu"
    assert resolve_device("auto") in ("cpu", "cuda", "mps")
    with pytest.raises(ValueError, match="unknown device"):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="no CUDA GPU"):
            resolve_device("cuda")


def test_unknown_model_name():
    with pytest.raises(CheckpointError, match="neither a bundled model"):
        load_model("no-such-model")


def test_bad_images_are_errors(tiny_model):
    model = load_model(tiny_model, device="cpu")
    with pytest.raises(ValueError, match=r"got shape \(2, 3, 16, 16\)"):
        predict_probs(model, np.zeros((2, 3, 16, 16)))
    with pytest.raises(ValueError, match="NaN"):
        predict_probs(model, np.full((16, 16), np.nan))


def test_fixed_limits_equal_to_the_image_percentiles_change_nothing(tiny_model):
    from napari_deepcolor.preprocess import intensity_limits, to_channels_first

    model = load_model(tiny_model, device="cpu")
    image = np.random.default_rng(2).integers(0, 4096, (40, 52), dtype=np.uint16)
    limits = intensity_limits(to_channels_first(image, 1), percentiles=model.config.percentiles)
    np.testing.assert_array_equal(predict_probs(model, image, limits=limits), predict_probs(model, image))
    assert not np.array_equal(predict_probs(model, image, limits=(0.0, 1.0)), predict_probs(model, image))


def test_a_semiconvolutional_model_takes_intensity_limits_too():
    from napari_deepcolor.predict.network import predict_embeddings
    from napari_deepcolor.preprocess import intensity_limits, to_channels_first

    model = load_model("ecoli-semiconv", device="cpu")
    image = np.random.default_rng(2).integers(0, 4096, (40, 52), dtype=np.uint16)
    limits = intensity_limits(to_channels_first(image, 1), percentiles=model.config.percentiles)
    same, own = predict_embeddings(model, image, limits=limits), predict_embeddings(model, image)
    np.testing.assert_array_equal(same.embeddings, own.embeddings)
    assert not np.array_equal(predict_embeddings(model, image, limits=(0.0, 1.0)).embeddings, own.embeddings)


def test_cuda_speed_options_leave_cpu_results_unchanged_or_are_refused(tiny_model):
    image = np.random.default_rng(3).random((40, 52)).astype(np.float32)
    plain = load_model(tiny_model, device="cpu")
    auto = load_model(tiny_model, device="cpu", precision="auto")
    assert (auto.precision, auto.channels_last, auto.compiled) == ("float32", True, None)  # channels-last on CPU
    np.testing.assert_array_equal(predict_probs(auto, image), predict_probs(plain, image))
    asked = load_model(tiny_model, device="cpu", channels_last=True)  # on the CPU anyway: nothing to refuse
    np.testing.assert_array_equal(predict_probs(asked, image), predict_probs(plain, image))
    for options, message in (({"precision": "bfloat16"}, "precision bfloat16 is a CUDA option"),
                             ({"precision": "float16"}, "precision float16 is a CUDA option"),
                             ({"compile": True}, "compile is a CUDA option"),
                             ({"compile": True, "channels_last": True}, "compile is a CUDA option")):
        with pytest.raises(ValueError, match=message):
            load_model(tiny_model, device="cpu", **options)
    with pytest.raises(ValueError, match="unknown precision"):
        load_model(tiny_model, device="cpu", precision="int8")


def test_the_cpu_runs_channels_last_with_the_default_formats_results():
    """On the CPU the network runs in channels-last memory format (1.3-2x faster on this project's CPU,
    benchmarks/bench_inference.py): the same float32 arithmetic in another order, so the logits agree to rounding."""
    from dataclasses import replace

    model = load_model("worms", device="cpu")
    first = next(model.network.parameters())
    assert model.channels_last and first.is_contiguous(memory_format=torch.channels_last)
    default = replace(load_model("worms", device="cpu"), channels_last=False)
    default.network.to(memory_format=torch.contiguous_format)
    image = tifffile.imread(SAMPLES / "bbbc010_A01.tif")[:200, :240]
    fast, slow = predict_probs(model, image), predict_probs(default, image)
    assert np.abs(fast - slow).max() < 1e-3 and (fast.argmax(0) == slow.argmax(0)).mean() > 0.999


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_speed_options_agree_with_float32(tiny_model):
    image = np.random.default_rng(4).random((256, 320)).astype(np.float32)
    reference = predict_probs(load_model(tiny_model, device="cuda"), image)
    for options in ({"precision": "bfloat16"}, {"precision": "float16"}, {"channels_last": True},
                    {"compile": True}):
        probs = predict_probs(load_model(tiny_model, device="cuda", **options), image)
        assert probs.dtype == np.float32
        assert np.abs(probs - reference).max() < 0.05, options


def test_object_size_resizes_the_network_input_and_the_recommended_knobs(tiny_model):
    from napari_deepcolor.predict.network import OBJECT_SIZES, resize_objects

    config = load_model(tiny_model, device="cpu").config
    assert resize_objects(config, 1.0) is config
    bigger = load_model(tiny_model, device="cpu", object_size=2).config
    assert bigger.scale == config.scale / 2
    assert bigger.min_size == config.min_size * 4 and bigger.merge_distance == config.merge_distance * 2
    for bad in (OBJECT_SIZES[0] / 2, OBJECT_SIZES[1] * 2, 0.2):  # 0.2: the image would be enlarged 5 times
        with pytest.raises(ValueError, match="object size"):
            load_model(tiny_model, device="cpu", object_size=bad)


def test_worms_imaged_twice_as_large_are_segmented_like_the_original_at_object_size_2():
    from skimage.transform import resize

    from napari_deepcolor._sample_data import SAMPLES_DIR
    from napari_deepcolor.io import read_image
    from napari_deepcolor.metrics import evaluate
    from napari_deepcolor.predict.network import segment

    image = read_image(SAMPLES_DIR / "bbbc010_A01.tif").astype(np.float32)
    original = segment(load_model("worms", device="cpu"), image)[0].labels
    enlarged = resize(image, (2 * image.shape[0], 2 * image.shape[1]), order=1, preserve_range=True)

    def back(labels):
        return labels[::2, ::2]

    at_2 = back(segment(load_model("worms", device="cpu", object_size=2), enlarged)[0].labels)
    at_1 = back(segment(load_model("worms", device="cpu"), enlarged)[0].labels)
    assert evaluate(original, at_2)["ap50"] >= 0.7  # the network saw nearly the same pixels (0.79)
    assert evaluate(original, at_1)["ap50"] <= 0.3  # without it, worms twice the trained size are lost
