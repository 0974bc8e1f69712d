import dataclasses

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from conftest import blobs_pair  # noqa: E402

from napari_deepcolor.checkpoint import Checkpoint, load_checkpoint, save_checkpoint  # noqa: E402
from napari_deepcolor.config import ConfigError, ModelConfig, TrainConfig  # noqa: E402
from napari_deepcolor.models import create_model  # noqa: E402
from napari_deepcolor.models.ensemble import Ensemble, flip, unflip  # noqa: E402
from napari_deepcolor.predict.ensemble import make_ensemble  # noqa: E402
from napari_deepcolor.predict.network import load_model, predict_probs, segment  # noqa: E402
from napari_deepcolor.training.dataset import make_sample  # noqa: E402
from napari_deepcolor.training.loop import train  # noqa: E402


def images(n=2, size=40):
    return [blobs_pair(seed, size=size)[0] for seed in range(n)]


def permuted_copy(path, tmp_path, order):
    """A checkpoint whose color channels are ``path``'s in the order ``order`` (background stays 0)."""
    checkpoint = load_checkpoint(path)
    state = dict(checkpoint.state_dict)
    state["head.weight"], state["head.bias"] = state["head.weight"][order], state["head.bias"][order]
    return save_checkpoint(tmp_path / "permuted.safetensors", Checkpoint(checkpoint.config, state, {}))


def test_the_eight_flips_are_distinct_and_unflip_inverts_each():
    x = torch.arange(2 * 3 * 5.0).reshape(1, 2, 3, 5)
    flipped = [flip(x, t) for t in range(8)]
    assert len({tuple(f.flatten().tolist()) + tuple(f.shape) for f in flipped}) == 8
    for t, f in enumerate(flipped):
        assert torch.equal(unflip(f, t), x)
    image = torch.arange(12.0).reshape(3, 4)
    assert torch.equal(flip(image, 5, dims=(0, 1)), flip(image[None, None], 5)[0, 0])


def test_an_ensemble_of_one_network_without_flips_predicts_like_it(spotty_model, tmp_path):
    path = save_checkpoint(tmp_path / "one.safetensors", make_ensemble([spotty_model], images()))
    image = images(1)[0]
    single = predict_probs(load_model(spotty_model, device="cpu"), image)
    ensemble = load_model(path, device="cpu")
    assert not isinstance(ensemble.network, Ensemble)  # nothing to average: the network itself
    np.testing.assert_allclose(predict_probs(ensemble, image), single, atol=1e-5)


def test_members_whose_colors_differ_are_aligned_to_the_first(spotty_model, tmp_path):
    order = [0, 2, 3, 1]
    other = permuted_copy(spotty_model, tmp_path, order)
    checkpoint = make_ensemble([spotty_model, other], images())
    permutation = checkpoint.state_dict["permutation"].numpy()
    # the copy's color d is the original's color order[d]: output color c must read the d with order[d] == c
    assert permutation[0, 0].tolist() == [0, 1, 2, 3]
    assert [order[d] for d in permutation[1, 0]] == [0, 1, 2, 3]
    path = save_checkpoint(tmp_path / "pair.safetensors", checkpoint)
    assert isinstance(load_model(path, device="cpu").network, Ensemble)
    image = images(1)[0]
    np.testing.assert_allclose(predict_probs(load_model(path, device="cpu"), image),
                               predict_probs(load_model(spotty_model, device="cpu"), image), atol=1e-5)
    assert load_model(path, device="cpu").config.members == 2


def test_flips_average_each_flipped_prediction_flipped_back(spotty_model):
    checkpoint = make_ensemble([spotty_model], images(), flips=8)
    config = checkpoint.config
    assert config.test_time_flips == 8 and config.members == 1
    ensemble = create_model(config).eval()
    ensemble.load_state_dict(checkpoint.state_dict)
    member = ensemble.members[0]
    x = torch.randn(1, 1, 24, 30)
    with torch.no_grad():
        expected = torch.stack([unflip(torch.softmax(member(flip(x, t)), 1), t)[:, ensemble.permutation[0, t]]
                                for t in range(8)]).mean(0)
        got = torch.softmax(ensemble(x), 1)
    torch.testing.assert_close(got, expected, atol=1e-6, rtol=1e-5)
    assert sorted(ensemble.permutation[0, 5].tolist()) == [0, 1, 2, 3]
    ensemble.train()  # fine-tuning: no test-time flips, the member as it is
    torch.testing.assert_close(torch.softmax(ensemble(x), 1), torch.softmax(member(x), 1), atol=1e-6, rtol=1e-5)


def test_an_ensemble_segments_and_stores_its_sources(spotty_model, tmp_path):
    checkpoint = make_ensemble([spotty_model, spotty_model], images(), flips=4)
    path = save_checkpoint(tmp_path / "e.safetensors", checkpoint)
    model = load_model(path, device="cpu")
    assert model.metadata["ensemble"]["sources"] == [str(spotty_model)] * 2
    assert model.metadata["ensemble"]["flips"] == 4
    instances, probs = segment(model, images(1, size=52)[0])
    assert probs.shape == (4, 52, 52)
    assert instances.labels.shape == (52, 52) and instances.labels.max() >= 1


def test_float16_members_load_into_a_float32_ensemble(spotty_model, tmp_path):
    checkpoint = make_ensemble([spotty_model], images(), flips=4)
    half = {k: v.half() if v.is_floating_point() else v for k, v in checkpoint.state_dict.items()}
    path = save_checkpoint(tmp_path / "half.safetensors", dataclasses.replace(checkpoint, state_dict=half))
    full = save_checkpoint(tmp_path / "full.safetensors", checkpoint)
    image = images(1)[0]
    np.testing.assert_allclose(predict_probs(load_model(path, device="cpu"), image),
                               predict_probs(load_model(full, device="cpu"), image), atol=2e-2)


def test_what_cannot_be_an_ensemble(spotty_model, tiny_mask_model, tiny_semiconv_model, tmp_path):
    with pytest.raises(ValueError, match="another network"):
        make_ensemble([spotty_model, tiny_mask_model], images())
    with pytest.raises(ValueError, match="semiconv model"):
        make_ensemble([tiny_semiconv_model], images())
    nested = save_checkpoint(tmp_path / "nested.safetensors", make_ensemble([spotty_model], images(), flips=4))
    with pytest.raises(ValueError, match="ensemble is made of single coloring networks"):
        make_ensemble([spotty_model, nested], images())
    with pytest.raises(ValueError, match="at least one model and one example image"):
        make_ensemble([spotty_model], [])
    # the decoding knobs may differ: the first member's are kept
    other = load_checkpoint(spotty_model)
    other = save_checkpoint(tmp_path / "tau.safetensors", Checkpoint(
        dataclasses.replace(other.config, min_size=50.0), other.state_dict, {}))
    assert make_ensemble([spotty_model, other], images()).config.min_size == 2.0


@pytest.mark.parametrize("kwargs, message", [({"members": 0}, "members must be at least 1"),
                                             ({"test_time_flips": 2}, "test_time_flips must be 1, 4 or 8"),
                                             ({"method": "semiconv", "members": 2}, "for coloring models")])
def test_invalid_ensemble_configs(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        ModelConfig(**kwargs)


def test_an_ensemble_can_be_fine_tuned(spotty_model, tmp_path):
    init = save_checkpoint(tmp_path / "e.safetensors", make_ensemble([spotty_model, spotty_model], images(),
                                                                     flips=4))
    config = load_checkpoint(init).config
    sample = make_sample(*blobs_pair(3), in_channels=1, percentiles=config.percentiles, scale=1.0)
    events = list(train([sample], model_config=config, train_config=TrainConfig(margin=2, patch_size=32,
                                                                                  batch_size=2, steps=2),
                        output=tmp_path / "run", init=init, device="cpu", log_every=1))
    assert [e.kind for e in events][-1] == "done"
    assert all(np.isfinite(e.loss) for e in events if e.kind == "step")
    tuned = load_checkpoint(tmp_path / "run" / "last.safetensors")
    assert tuned.config.members == 2 and tuned.config.test_time_flips == 4
    assert not torch.equal(tuned.state_dict["members.0.head.weight"], load_checkpoint(init).state_dict[
        "members.0.head.weight"])


def test_a_member_comes_out_of_its_ensemble_unchanged(spotty_model, tmp_path):
    from napari_deepcolor.predict.ensemble import member_checkpoint

    other = permuted_copy(spotty_model, tmp_path, [0, 2, 3, 1])
    ensemble = make_ensemble([spotty_model, other], images(), flips=4)
    second = member_checkpoint(ensemble, 1)
    assert second.config == load_checkpoint(other).config
    assert second.state_dict.keys() == load_checkpoint(other).state_dict.keys()
    assert all(torch.equal(second.state_dict[k], v) for k, v in load_checkpoint(other).state_dict.items())
    assert second.metadata["source"] == str(other)
    single = load_checkpoint(spotty_model)
    assert member_checkpoint(single) is single
    with pytest.raises(ValueError, match="has 2 members; member 2 does not exist"):
        member_checkpoint(ensemble, 2)


def test_resuming_or_fine_tuning_needs_the_same_number_of_members(spotty_model, tmp_path):
    init = save_checkpoint(tmp_path / "e.safetensors", make_ensemble([spotty_model, spotty_model], images()))
    single = load_checkpoint(spotty_model).config
    sample = make_sample(*blobs_pair(3), in_channels=1, percentiles=single.percentiles, scale=1.0)
    with pytest.raises(ConfigError, match="members=2 vs 1"):
        next(train([sample], model_config=single, train_config=TrainConfig(margin=2, patch_size=32, steps=1),
                   output=tmp_path / "run", init=init, device="cpu"))


def test_the_cli_writes_an_ensemble_and_refuses_what_it_cannot_do(spotty_model, tiny_semiconv_model, tmp_path,
                                                                  capsys):
    import tifffile

    from napari_deepcolor.cli import main

    folder = tmp_path / "images"
    folder.mkdir()
    for seed, image in enumerate(images(3)):
        tifffile.imwrite(folder / f"img{seed}.tif", image)
    output = tmp_path / "pair.safetensors"
    assert main(["ensemble", "--output", str(output), "--images", str(folder), "--first", "2", "--flips", "4",
                 "--half", str(spotty_model), str(spotty_model)]) == 0
    written = load_checkpoint(output)
    assert (written.config.members, written.config.test_time_flips) == (2, 4)
    assert written.state_dict["members.1.head.weight"].dtype == torch.float16
    assert written.metadata["ensemble"]["aligned_on"].startswith("2 images of")
    before = output.read_bytes()
    cases = [(["--output", str(output)], "exists; choose another --output"),  # never written over
             (["--output", str(tmp_path / "x.pt")], "must be a .safetensors file"),
             (["--output", str(tmp_path / "e.safetensors"), "--first", "0"], "--first must be >= 1")]
    for extra, message in cases:
        assert main(["ensemble", "--images", str(folder), *extra, str(spotty_model)]) == 2
        assert message in capsys.readouterr().err
    assert output.read_bytes() == before
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["ensemble", "--output", str(tmp_path / "e.safetensors"), "--images", str(empty),
                 str(spotty_model)]) == 2
    assert "no images in" in capsys.readouterr().err
    assert main(["ensemble", "--output", str(tmp_path / "e.safetensors"), "--images", str(folder),
                 str(tiny_semiconv_model)]) == 2
    err = capsys.readouterr().err
    assert "an ensemble is made of single coloring networks" in err and "Traceback" not in err
    assert not (tmp_path / "e.safetensors").exists()
