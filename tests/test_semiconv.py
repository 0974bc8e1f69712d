"""The semi-convolutional method through the shared stack: config, model, training, checkpoint, inference, CLI."""

import dataclasses

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from conftest import blobs_pair  # noqa: E402

from napari_deepcolor.checkpoint import Checkpoint, load_checkpoint, read_header, save_checkpoint  # noqa: E402
from napari_deepcolor.cli import main  # noqa: E402
from napari_deepcolor.config import ConfigError, ModelConfig, TrainConfig  # noqa: E402
from napari_deepcolor.io import read_image, read_labels, write_labels  # noqa: E402
from napari_deepcolor.models import create_model  # noqa: E402
from napari_deepcolor.models.semiconv import SemiConvNet  # noqa: E402
from napari_deepcolor.postprocess.display import displacement_vectors, embedding_rgb, offset_image, vectors_on_target  # noqa: E402
from napari_deepcolor.predict.network import (  # noqa: E402
    Embeddings,
    load_model,
    predict_embeddings,
    predict_probs,
    segment,
)
from napari_deepcolor.training.dataset import make_sample  # noqa: E402
from napari_deepcolor.training.loop import (  # noqa: E402
    ValidationPair,
    evaluate_coloring,
    evaluate_model,
    evaluate_semiconv,
    train,
)

SEMICONV = ModelConfig(method="semiconv", embedding_dims=4, depth=2, width=4, coordinate_scale=8.0, min_size=2.0)


@pytest.fixture
def semiconv_model(tmp_path):
    torch.manual_seed(0)
    network = create_model(SEMICONV)
    with torch.no_grad():
        network.log_sigma.fill_(np.log(0.25))
    return save_checkpoint(tmp_path / "semiconv.safetensors", Checkpoint(SEMICONV, network.state_dict(), {}))


def test_config_channels_defaults_and_validation():
    assert SEMICONV.out_channels == 6 and ModelConfig(n_colors=5).out_channels == 5
    old = ModelConfig(n_colors=4).to_dict()
    for key in ("embedding_dims", "coordinate_scale", "kernel_threshold", "foreground_threshold"):
        old.pop(key)
    assert ModelConfig.from_dict(old) == ModelConfig(n_colors=4)  # configs saved before semiconv still load
    for kwargs, message in (({"embedding_dims": 1}, "embedding_dims"), ({"coordinate_scale": 0}, "coordinate_scale"),
                            ({"kernel_threshold": 1.0}, "kernel_threshold")):
        with pytest.raises(ConfigError, match=message):
            ModelConfig(method="semiconv", **kwargs)
    with pytest.raises(ConfigError, match="loss weights"):
        TrainConfig(kernel_weight=-1)


def test_the_network_keeps_sigma_in_its_weights():
    network = create_model(SEMICONV)
    assert isinstance(network, SemiConvNet) and "log_sigma" in network.state_dict()
    out = network.eval()(torch.randn(2, 1, 21, 30))
    assert out.shape == (2, 6, 21, 30)
    assert network.sigma.item() == pytest.approx(0.5)


def test_predict_embeddings_shapes_sigma_and_units(semiconv_model):
    model = load_model(semiconv_model, device="cpu")
    image = blobs_pair(1)[0]
    result = predict_embeddings(model, image)
    assert isinstance(result, Embeddings)
    assert result.embeddings.shape == (4, 48, 48) and result.embeddings.dtype == np.float32
    assert result.foreground.shape == result.seeds.shape == (48, 48)
    assert 0 <= result.foreground.min() and result.foreground.max() <= 1
    assert result.sigma == pytest.approx(0.25) and result.unit == 8.0
    # the positional dimensions hold the positions: Ψ − Φ is a ramp of slope 1 / coordinate_scale
    raw = model.network(torch.from_numpy(np.ascontiguousarray(
        _preprocessed(model, image)))[None]).detach().numpy()[0]
    np.testing.assert_allclose(result.embeddings[0] - raw[0], np.arange(48)[:, None] / 8.0 + 0 * raw[0], atol=1e-5)
    np.testing.assert_allclose(result.embeddings[2], raw[2], atol=1e-6)


def _preprocessed(model, image):
    from napari_deepcolor.preprocess import preprocess

    c = model.config
    return preprocess(image, in_channels=c.in_channels, percentiles=c.percentiles, scale=c.scale)


def test_tiling_adds_the_positions_of_the_whole_image(semiconv_model):
    model = load_model(semiconv_model, device="cpu")
    image = np.random.default_rng(0).random((80, 70)).astype(np.float32)
    whole = predict_embeddings(model, image, tile_size=4096)
    tiled = predict_embeddings(model, image, tile_size=40, overlap=10)
    assert np.abs(whole.embeddings - tiled.embeddings).max() < 0.05


def test_each_method_refuses_the_other_methods_model(semiconv_model, tiny_model):
    semiconv, coloring = load_model(semiconv_model, device="cpu"), load_model(tiny_model, device="cpu")
    image = blobs_pair(0)[0]
    with pytest.raises(ValueError, match="predict_probs needs a coloring model.*is a semiconv model; use "
                                         "predict_embeddings"):
        predict_probs(semiconv, image)
    with pytest.raises(ValueError, match="predict_embeddings needs a semiconv model.*use predict_probs"):
        predict_embeddings(coloring, image)
    with pytest.raises(ConfigError, match="evaluate_coloring needs a coloring model"):
        evaluate_coloring(semiconv, [ValidationPair(*blobs_pair(0))])
    with pytest.raises(ConfigError, match="evaluate_semiconv needs a semiconv model"):
        evaluate_semiconv(coloring, [ValidationPair(*blobs_pair(0))])
    with pytest.raises(ValueError, match="merge_distance and absorb_fragments are decoding knobs of coloring"):
        segment(semiconv, image, merge_distance=5)
    with pytest.raises(ValueError, match="merge_distance and absorb_fragments are decoding knobs of coloring"):
        segment(semiconv, image, absorb_fragments=True)
    with pytest.raises(ValueError, match="threshold and foreground_threshold are decoding knobs of semi"):
        segment(coloring, image, threshold=0.5)


def test_bad_images_are_errors(semiconv_model):
    model = load_model(semiconv_model, device="cpu")
    with pytest.raises(ValueError, match=r"got shape \(2, 3, 16, 16\)"):
        predict_embeddings(model, np.zeros((2, 3, 16, 16)))
    with pytest.raises(ValueError, match="NaN"):
        predict_embeddings(model, np.full((16, 16), np.nan))


def test_segment_decodes_either_method(semiconv_model, tiny_model):
    image = blobs_pair(0)[0]
    instances, result = segment(load_model(semiconv_model, device="cpu"), image, foreground_threshold=0.01)
    assert instances.labels.shape == image.shape and isinstance(result, Embeddings)
    instances, probs = segment(load_model(tiny_model, device="cpu"), image)
    assert probs.shape == (4, 48, 48)


def samples(n=3):
    return [make_sample(*blobs_pair(seed), in_channels=1, percentiles=(1, 99.8), scale=1.0) for seed in range(n)]


def test_training_lowers_the_loss_saves_sigma_and_resumes(tmp_path):
    model_config = dataclasses.replace(SEMICONV, width=8)
    config = TrainConfig(patch_size=32, batch_size=4, steps=30, learning_rate=1e-2, validate_every=30,
                         checkpoint_every=10)
    events = list(train(samples(), model_config=model_config, train_config=config, output=tmp_path,
                        validation=[ValidationPair(*blobs_pair(10))], device="cpu", log_every=5))
    losses = [e.loss for e in events if e.kind == "step"]
    assert np.mean(losses[-2:]) < 0.8 * np.mean(losses[:2])
    assert set(events[-1].metrics) >= {"ap50", "mean_ap", "sbd", "sigma", "foreground_iou"}
    checkpoint = load_checkpoint(tmp_path / "last.safetensors")
    sigma = float(checkpoint.state_dict["log_sigma"].exp())
    assert checkpoint.config == model_config and checkpoint.metadata["sigma"] == pytest.approx(sigma)
    assert sigma != pytest.approx(0.5)  # it was trained
    model = load_model(tmp_path / "last.safetensors", device="cpu")
    assert predict_embeddings(model, blobs_pair(3)[0]).sigma == pytest.approx(sigma)
    more = TrainConfig(patch_size=32, batch_size=4, steps=32, learning_rate=1e-2, checkpoint_every=10)
    resumed = list(train(samples(), model_config=model_config, train_config=more, output=tmp_path, device="cpu",
                         resume=True, log_every=1))
    assert [e.step for e in resumed if e.kind == "step"] == [31, 32]


def test_fine_tuning_refuses_a_model_of_the_other_method(tmp_path, tiny_model):
    with pytest.raises(ConfigError, match="method='coloring' vs 'semiconv'"):
        next(train(samples(1), model_config=SEMICONV, train_config=TrainConfig(patch_size=32, steps=1),
                   output=tmp_path, init=tiny_model, device="cpu"))


def test_evaluate_model_dispatches_on_the_method(semiconv_model):
    metrics = evaluate_model(load_model(semiconv_model, device="cpu"), [ValidationPair(*blobs_pair(0))])
    assert metrics["sigma"] == pytest.approx(0.25) and 0 <= metrics["ap50"] <= 1


def test_cli_train_save_reload_predict_round_trip(tmp_path, capsys):
    import tifffile

    for name in ("images", "labels"):
        (tmp_path / name).mkdir()
    for seed in range(3):
        image, labels = blobs_pair(seed)
        tifffile.imwrite(tmp_path / "images" / f"s{seed}.tif", image)
        write_labels(tmp_path / "labels" / f"s{seed}.tif", labels)
    run = tmp_path / "run"
    assert main(["train", "--method", "semiconv", "--images", str(tmp_path / "images"), "--labels",
                 str(tmp_path / "labels"), "--val-last", "1", "--output", str(run), "--steps", "4",
                 "--patch-size", "32", "--batch-size", "2", "--depth", "2", "--width", "4", "--embedding-dims", "3",
                 "--coordinate-scale", "16", "--threshold", "0.4", "--validate-every", "2", "--device", "cpu"]) == 0
    config, metadata = read_header(run / "best.safetensors")
    assert config.method == "semiconv" and config.embedding_dims == 3 and config.kernel_threshold == 0.4
    assert metadata["sigma"] > 0
    out = tmp_path / "out"
    assert main(["predict", "--model", str(run / "last.safetensors"), "--output", str(out), "--threshold", "0.5",
                 "--foreground-threshold", "0.3", "--save-probs", str(tmp_path / "images" / "s2.tif")]) == 0
    assert read_labels(out / "s2_labels.tif").shape == (48, 48)
    assert read_image(out / "s2_embeddings.tif").shape == (3, 48, 48)
    assert read_image(out / "s2_foreground.tif").shape == (48, 48)
    assert main(["evaluate", str(out), str(tmp_path / "labels")]) == 0
    assert capsys.readouterr().out.splitlines()[-1].startswith("mean")
    code = main(["predict", "--model", str(run / "last.safetensors"), "--output", str(out), "--merge-distance", "3",
                 str(tmp_path / "images" / "s2.tif")])
    assert code == 2 and "--merge-distance is for coloring models" in capsys.readouterr().err


def test_cli_refuses_semiconv_knobs_for_a_coloring_model(tmp_path, tiny_model, capsys):
    import tifffile

    image = tmp_path / "a.tif"
    tifffile.imwrite(image, blobs_pair(0)[0])
    code = main(["predict", "--model", str(tiny_model), "--output", str(tmp_path / "o"), "--threshold", "0.5",
                 str(image)])
    assert code == 2 and "are for semiconv models" in capsys.readouterr().err


def test_display_arrays_for_napari():
    unit = 4.0
    yy, xx = np.indices((12, 16), dtype=np.float32)
    centre = np.array([6.0, 8.0], np.float32)
    embeddings = np.zeros((3, 12, 16), np.float32)
    embeddings[0], embeddings[1] = centre[0] / unit, centre[1] / unit  # every pixel votes for the centre
    embeddings[2] = 0.5
    offsets = offset_image(embeddings, unit=unit)
    np.testing.assert_allclose(offsets[0], centre[0] - yy)
    np.testing.assert_allclose(offsets[1], centre[1] - xx)
    np.testing.assert_allclose(offsets[2], 0.5)
    vectors = displacement_vectors(embeddings, unit=unit, step=4)
    assert vectors.shape == (3 * 4, 2, 2) and vectors.dtype == np.float32
    np.testing.assert_allclose(vectors[:, 0] + vectors[:, 1], np.broadcast_to(centre, (12, 2)))
    fg = np.zeros((12, 16), bool)
    fg[:6] = True
    assert len(displacement_vectors(embeddings, unit=unit, step=4, foreground=fg)) == 4
    assert np.all(offset_image(embeddings, unit=unit, foreground=fg)[:, 6:] == 0)
    rgb = embedding_rgb(embeddings + np.random.default_rng(0).normal(0, 0.1, embeddings.shape).astype(np.float32),
                        foreground=fg)
    assert rgb.shape == (12, 16, 3) and rgb.min() >= 0 and rgb.max() <= 1 and np.all(rgb[6:] == 0)
    with pytest.raises(ValueError, match="unit > 0"):
        offset_image(embeddings, unit=0)
    with pytest.raises(ValueError, match="expected float embeddings"):
        offset_image(embeddings[0], unit=1)


def test_vectors_on_target_counts_arrows_ending_in_their_own_instance():
    labels = np.zeros((20, 20), np.int32)
    labels[2:8, 2:8], labels[12:18, 12:18] = 1, 2
    vectors = np.array([[[3, 3], [2, 2]],      # 1 -> 1: on target
                        [[13, 13], [2, 2]],    # 2 -> 2: on target
                        [[4, 4], [10, 10]],    # 1 -> 2: off
                        [[3, 3], [-3, -3]],    # 1 -> background (0, 0): off
                        [[10, 10], [1, 1]]],   # starts on background: not counted
                       np.float32)
    assert vectors_on_target(vectors, labels) == 0.5
    assert np.isnan(vectors_on_target(vectors[4:], labels))
