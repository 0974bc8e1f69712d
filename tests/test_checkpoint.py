import json
import os
import pickle

import pytest

torch = pytest.importorskip("torch")

from napari_deepcolor.checkpoint import (  # noqa: E402
    Checkpoint,
    CheckpointError,
    average_checkpoints,
    half_precision,
    load_checkpoint,
    read_header,
    save_checkpoint,
)
from napari_deepcolor.config import ModelConfig  # noqa: E402
from napari_deepcolor.models import create_model  # noqa: E402
from napari_deepcolor.predict.network import load_model  # noqa: E402

CONFIG = ModelConfig(n_colors=4, depth=2, width=4, scale=0.5, min_size=12.0)


def saved(tmp_path):
    network = create_model(CONFIG)
    path = save_checkpoint(tmp_path / "model.safetensors", Checkpoint(CONFIG, network.state_dict(), {"step": 7}))
    return network, path


def test_round_trip_rebuilds_the_same_network(tmp_path):
    network, path = saved(tmp_path)
    checkpoint = load_checkpoint(path)
    assert checkpoint.config == CONFIG
    assert checkpoint.metadata == {"step": 7}
    rebuilt = create_model(checkpoint.config)
    rebuilt.load_state_dict(checkpoint.state_dict)
    x = torch.randn(1, 1, 20, 24)
    with torch.no_grad():
        assert torch.equal(network.eval()(x), rebuilt.eval()(x))
    loaded = load_model(path, device="cpu")
    assert loaded.config == CONFIG and loaded.device == "cpu"


def test_header_is_read_without_the_weights(tmp_path):
    _, path = saved(tmp_path)
    config, metadata = read_header(path)
    assert config.min_size == 12.0 and metadata["step"] == 7


def test_save_is_atomic_and_leaves_no_temporary_file(tmp_path):
    _, path = saved(tmp_path)
    before = path.read_bytes()

    class Broken(dict):
        def items(self):
            raise KeyboardInterrupt  # interrupted in the middle of a save

    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(path, Checkpoint(CONFIG, Broken(), {}))
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["model.safetensors"]


class RunsCode:
    def __reduce__(self):
        return (os.system, ("touch pwned",))


def test_a_pickle_is_refused_without_running_it(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    raw = tmp_path / "evil.pkl"
    raw.write_bytes(pickle.dumps(RunsCode()))
    zipped = tmp_path / "evil.pt"
    torch.save({"x": RunsCode()}, zipped)
    for path in (raw, zipped):
        with pytest.raises(CheckpointError, match="pickle"):
            load_checkpoint(path)
        with pytest.raises(CheckpointError, match="pickle"):
            load_model(path)
    assert not (tmp_path / "pwned").exists()


def test_corrupt_and_foreign_files(tmp_path):
    _, path = saved(tmp_path)
    truncated = tmp_path / "truncated.safetensors"
    truncated.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])
    with pytest.raises(CheckpointError, match="corrupt"):
        load_checkpoint(truncated)
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(b"hello, this is not a model")
    with pytest.raises(CheckpointError, match="not a napari-deepcolor checkpoint"):
        load_checkpoint(garbage)
    from safetensors.torch import save_file

    foreign = tmp_path / "foreign.safetensors"
    save_file({"w": torch.zeros(2)}, foreign)
    with pytest.raises(CheckpointError, match="not a napari-deepcolor checkpoint"):
        load_checkpoint(foreign)
    with pytest.raises(CheckpointError, match="no checkpoint file"):
        load_checkpoint(tmp_path / "missing.safetensors")


def test_weights_that_do_not_fit_the_config(tmp_path):
    other = create_model(ModelConfig(n_colors=4, depth=2, width=8))
    path = save_checkpoint(tmp_path / "m.safetensors", Checkpoint(CONFIG, other.state_dict(), {}))
    with pytest.raises(CheckpointError, match="do not fit"):
        load_model(path)


def test_invalid_config_in_header(tmp_path):
    from safetensors.torch import save_file

    path = tmp_path / "bad.safetensors"
    save_file({"w": torch.zeros(2)}, path, metadata={"format": "napari-deepcolor", "format_version": "1",
                                                    "config": json.dumps({"n_colors": 1})})
    with pytest.raises(CheckpointError, match="invalid model config"):
        load_checkpoint(path)


def test_header_sizes_whose_first_byte_looks_like_a_pickle_still_load(tmp_path):
    # a safetensors header of 0x..80 bytes starts the file with 0x80, like a pickle
    for pad in range(0, 300, 7):
        network = create_model(CONFIG)
        path = save_checkpoint(tmp_path / "m.safetensors", Checkpoint(CONFIG, network.state_dict(), {"p": "x" * pad}))
        if path.read_bytes()[:1] == b"\x80":
            assert load_checkpoint(path).metadata["p"] == "x" * pad
            return
    pytest.fail("no header size starting with 0x80 was produced")


def test_average_of_checkpoints_is_the_mean_of_their_weights(tmp_path):
    paths, nets = [], []
    for step in (10, 20, 30):
        torch.manual_seed(step)
        nets.append(create_model(CONFIG))
        paths.append(save_checkpoint(tmp_path / f"s{step}.safetensors",
                                     Checkpoint(CONFIG, nets[-1].state_dict(), {"step": step, "validation": {}})))
    mean = average_checkpoints(paths)
    for name, tensor in mean.state_dict.items():
        stacked = torch.stack([n.state_dict()[name].float() for n in nets])
        expected = stacked.mean(0) if tensor.is_floating_point() else nets[-1].state_dict()[name]
        assert torch.allclose(tensor.float(), expected.float(), atol=1e-6), name
    assert mean.config == CONFIG and [a["step"] for a in mean.metadata["averaged"]] == [10, 20, 30]
    assert "validation" not in mean.metadata
    other = save_checkpoint(tmp_path / "other.safetensors",
                            Checkpoint(ModelConfig(n_colors=3, depth=2, width=4), create_model(
                                ModelConfig(n_colors=3, depth=2, width=4)).state_dict()))
    with pytest.raises(CheckpointError, match="same network"):
        average_checkpoints([paths[0], other])
    with pytest.raises(ValueError, match="at least one"):
        average_checkpoints([])


def test_weights_without_batch_norm_step_counters_load_as_torch_allows(tmp_path):
    state = {k: v for k, v in create_model(CONFIG).state_dict().items() if not k.endswith("num_batches_tracked")}
    path = save_checkpoint(tmp_path / "m.safetensors", Checkpoint(CONFIG, state, {}))
    load_model(path)  # torch's strict load fills the counters in; so does load_weights
    broken = dict(state)
    broken.pop(next(iter(broken)))
    path = save_checkpoint(tmp_path / "broken.safetensors", Checkpoint(CONFIG, broken, {}))
    with pytest.raises(CheckpointError, match="1 tensors missing"):
        load_model(path)


def test_float16_weights_load_into_a_float32_network(tmp_path):
    # bundled models may store their weights as float16 (scripts/bundle_model.py --half) to halve the package
    network = create_model(CONFIG).eval()
    half = half_precision(Checkpoint(CONFIG, network.state_dict(), {}))
    assert {v.dtype for v in half.state_dict.values() if v.is_floating_point()} == {torch.float16}
    path = save_checkpoint(tmp_path / "half.safetensors", half)
    loaded = load_model(path, device="cpu")
    assert all(p.dtype == torch.float32 for p in loaded.network.parameters())
    x = torch.randn(1, 1, 20, 24)
    with torch.no_grad():
        assert torch.allclose(loaded.network(x), network(x), atol=1e-2)


def test_weights_beyond_float16s_range_stay_float32():
    state = create_model(CONFIG).state_dict()
    name = next(k for k, v in state.items() if v.is_floating_point())
    state[name] = state[name] * 0 + 1e5
    with pytest.raises(ValueError, match=f"{name} has values beyond float16's range"):
        half_precision(Checkpoint(CONFIG, state, {}))
