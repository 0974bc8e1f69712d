import numpy as np
import pytest

torch = pytest.importorskip("torch")

from conftest import blobs_pair  # noqa: E402

from napari_deepcolor.checkpoint import load_checkpoint  # noqa: E402
from napari_deepcolor.config import ConfigError, ModelConfig, TrainConfig  # noqa: E402
from napari_deepcolor.predict.network import load_model, predict_probs  # noqa: E402
from napari_deepcolor.training.dataset import make_sample  # noqa: E402
from napari_deepcolor.training.loop import ValidationPair, train  # noqa: E402

MODEL = ModelConfig(n_colors=4, depth=2, width=8, min_size=4.0)


def samples(n=3):
    return [make_sample(*blobs_pair(seed), in_channels=1, percentiles=(1, 99.8), scale=1.0) for seed in range(n)]


def test_keep_history_keeps_every_checkpoint_as_written(tmp_path, monkeypatch):
    import shutil
    from pathlib import Path

    copied, copy = [], shutil.copyfile
    monkeypatch.setattr(shutil, "copyfile", lambda src, dst, **kw: copied.append(Path(src).name) or copy(src, dst))
    config = TrainConfig(margin=2, patch_size=32, batch_size=2, steps=5, checkpoint_every=2)
    events = list(train(samples(1), model_config=MODEL, train_config=config, output=tmp_path, device="cpu",
                        keep_history=True))
    assert copied.count("last.safetensors") == 3  # once a step: the last step once, after its size model
    history = tmp_path / "history"
    assert sorted(p.name for p in history.iterdir()) == ["step-2.safetensors", "step-4.safetensors",
                                                          "step-5.safetensors"]
    assert (history / "step-5.safetensors").read_bytes() == (tmp_path / "last.safetensors").read_bytes()
    assert [load_checkpoint(history / f"step-{n}.safetensors").metadata["step"] for n in (2, 4, 5)] == [2, 4, 5]
    assert events[-1].kind == "done"


def test_a_few_steps_lower_the_loss_and_save_a_model_that_reloads(tmp_path):
    config = TrainConfig(margin=2, halo_weight=1.0, patch_size=32, batch_size=4, steps=40, learning_rate=1e-2,
                         validate_every=40, checkpoint_every=20)
    validation = [ValidationPair(*blobs_pair(10))]
    events = list(train(samples(), model_config=MODEL, train_config=config, output=tmp_path,
                        validation=validation, device="cpu", log_every=5))
    losses = [e.loss for e in events if e.kind == "step"]
    assert len(losses) == 8
    assert np.mean(losses[-2:]) < 0.8 * np.mean(losses[:2])
    kinds = [e.kind for e in events]
    assert kinds.count("checkpoint") == 1 and kinds.count("validation") == 1 and kinds[-1] == "done"
    assert set(events[-1].metrics) >= {"ap50", "mean_ap", "sbd", "colors_used", "touching_same_color"}
    checkpoint = load_checkpoint(tmp_path / "last.safetensors")
    assert checkpoint.metadata["step"] == 40 and checkpoint.config == MODEL
    model = load_model(tmp_path / "best.safetensors", device="cpu")
    assert predict_probs(model, blobs_pair(11)[0]).shape == (4, 48, 48)


def test_cancelling_keeps_the_last_checkpoint_and_resume_continues(tmp_path):
    config = TrainConfig(margin=2, patch_size=32, batch_size=2, steps=10, checkpoint_every=3)
    run = train(samples(1), model_config=MODEL, train_config=config, output=tmp_path, device="cpu", log_every=1)
    for event in run:
        if event.step == 4:
            break
    run.close()  # what a Cancel button does
    assert load_checkpoint(tmp_path / "last.safetensors").metadata["step"] == 3
    events = list(train(samples(1), model_config=MODEL, train_config=config, output=tmp_path, device="cpu",
                        resume=True, log_every=1))
    assert [e.step for e in events if e.kind == "step"] == list(range(4, 11))


def test_fine_tuning_needs_the_same_network(tmp_path):
    config = TrainConfig(patch_size=32, batch_size=2, steps=1)
    list(train(samples(1), model_config=MODEL, train_config=config, output=tmp_path / "a", device="cpu"))
    other = ModelConfig(n_colors=6, depth=2, width=8)
    with pytest.raises(ConfigError, match="n_colors=4 vs 6"):
        next(train(samples(1), model_config=other, train_config=config, output=tmp_path / "b",
                   init=tmp_path / "a" / "last.safetensors", device="cpu"))


def test_labels_without_objects_are_refused(tmp_path):
    empty = make_sample(np.zeros((32, 32)), np.zeros((32, 32), np.int32), in_channels=1, percentiles=(1, 99),
                        scale=1.0)
    with pytest.raises(ValueError, match="no objects"):
        next(train([empty], model_config=MODEL, train_config=TrainConfig(patch_size=16, steps=1), output=tmp_path,
                   device="cpu"))


def test_done_reports_the_validation_of_the_model_it_keeps(tmp_path):
    """The model is the best checkpoint: "done" carries its validation and step, not the last validation's."""
    from napari_deepcolor.checkpoint import read_header

    config = TrainConfig(margin=2, halo_weight=1.0, patch_size=32, batch_size=2, steps=16, learning_rate=1e-2,
                         validate_every=4, checkpoint_every=8)
    events = list(train(samples(), model_config=MODEL, train_config=config, output=tmp_path,
                        validation=[ValidationPair(*blobs_pair(10))], device="cpu", log_every=4))
    done = events[-1]
    kept = read_header(done.path)[1]
    assert done.metrics == kept["validation"]
    best = max((e for e in events if e.kind == "validation"), key=lambda e: e.metrics["ap50"])
    assert kept["step"] == best.step


def test_resuming_a_mask_run_on_images_is_refused(tmp_path):
    from napari_deepcolor.config import ConfigError, ModelConfig, TrainConfig
    from napari_deepcolor.training.dataset import model_sample
    from napari_deepcolor.training.loop import train

    image, labels = blobs_pair(0)
    masks = ModelConfig(n_colors=3, depth=2, width=4, mask_input=True)
    train_config = TrainConfig(patch_size=32, batch_size=2, steps=1, margin=2)
    list(train([model_sample(labels, labels, masks)], model_config=masks, train_config=train_config,
               output=tmp_path, device="cpu"))
    images = ModelConfig(n_colors=3, depth=2, width=4)
    with pytest.raises(ConfigError, match="was trained on masks; resuming it on images"):
        list(train([model_sample(image, labels, images)], model_config=images, train_config=train_config,
                   output=tmp_path, device="cpu", resume=True))


def test_mask_input_is_for_coloring_models():
    from napari_deepcolor.config import ConfigError, ModelConfig

    with pytest.raises(ConfigError, match="mask_input is for coloring models"):
        ModelConfig(method="semiconv", mask_input=True)


def test_a_start_records_which_version_of_a_bundled_model_it_was(tmp_path, monkeypatch):
    """A bundled model's file is replaced when a newer one is bundled: a model started from it says which it was;
    a file is recorded as given, and a resumed run keeps what its start recorded."""
    import shutil

    from napari_deepcolor import zoo

    config = TrainConfig(patch_size=32, batch_size=2, steps=1)
    list(train(samples(1), model_config=MODEL, train_config=config, output=tmp_path / "a", device="cpu"))
    (tmp_path / "zoo").mkdir()
    shutil.copy(tmp_path / "a" / "last.safetensors", tmp_path / "zoo" / "tiny.safetensors")
    monkeypatch.setattr(zoo, "zoo_dir", lambda: tmp_path / "zoo")
    list(train(samples(1), model_config=MODEL, train_config=config, output=tmp_path / "b", init="tiny", device="cpu"))
    recorded = "tiny (the bundled tiny as installed then: step 1, started from random weights)"
    assert load_checkpoint(tmp_path / "b" / "last.safetensors").metadata["init"] == recorded
    longer = TrainConfig(patch_size=32, batch_size=2, steps=2)
    list(train(samples(1), model_config=MODEL, train_config=longer, output=tmp_path / "b", init="tiny",
               device="cpu", resume=True))
    assert load_checkpoint(tmp_path / "b" / "last.safetensors").metadata["init"] == recorded
    start = tmp_path / "a" / "last.safetensors"
    list(train(samples(1), model_config=MODEL, train_config=config, output=tmp_path / "c", init=start, device="cpu"))
    assert load_checkpoint(tmp_path / "c" / "last.safetensors").metadata["init"] == str(start)


def test_the_cpu_trains_channels_last_and_saves_plain_weights(tmp_path):
    """On the CPU the network trains in channels-last format, as it predicts (1.3-1.5x faster steps here,
    benchmarks/bench_memory_format.py); the checkpoint holds ordinary contiguous tensors."""
    from napari_deepcolor.training.loop import _Run

    config = TrainConfig(margin=2, patch_size=32, batch_size=2, steps=2)
    run = _Run(samples(1), MODEL, config, tmp_path, (), None, "cpu", False, None)
    run.restore(False)
    convolutions = [p for p in run.network.parameters() if p.ndim == 4]
    assert convolutions and all(p.is_contiguous(memory_format=torch.channels_last) for p in convolutions)
    assert list(train(samples(1), model_config=MODEL, train_config=config, output=tmp_path / "t", device="cpu"))
    weights = load_checkpoint(tmp_path / "t" / "last.safetensors").state_dict
    assert all(w.is_contiguous() for w in weights.values())
