import numpy as np
import pytest

torch = pytest.importorskip("torch")

from napari_deepcolor.checkpoint import CheckpointError  # noqa: E402
from napari_deepcolor.inference import _tiles, load_model, predict_probs, resolve_device  # noqa: E402


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
        for r0, r1, k0, k1 in _tiles(length, tile, overlap):
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
