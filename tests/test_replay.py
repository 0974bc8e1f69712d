"""Replay of a starting model's own kind of images during fine-tuning (`napari_deepcolor.training.replay`)."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import blobs_pair

from napari_deepcolor.training.replay import BUNDLED_SOURCES, mixed, replay_pairs, replay_source


def test_the_source_is_the_bundled_models_or_what_a_fine_tuning_recorded():
    assert replay_source("worms", {}) == "bbbc010" and replay_source("nuclei", {}) == "nuclei"
    assert replay_source("/some/run/last.safetensors", {"replay_source": "rosette"}) == "rosette"
    assert replay_source("/some/run/last.safetensors", {}) is None
    assert replay_source("worms-mask", {}) is None  # it reads foreground masks, which the replay wells are not


@pytest.mark.parametrize(("n_user", "n_replay", "fraction", "expected"), [
    (1, 4, 0.5, 0.5), (2, 4, 0.25, 0.25), (4, 4, 0.75, 0.75), (3, 4, 0.0, 0.0)])
def test_mixing_gives_about_the_fraction_of_replayed_samples(n_user, n_replay, fraction, expected):
    user, replay = [("user", i) for i in range(n_user)], [("replay", i) for i in range(n_replay)]
    samples = mixed(user, replay, fraction)
    share = sum(kind == "replay" for kind, _ in samples) / len(samples)
    assert share == pytest.approx(expected, abs=0.1)
    assert set(user) <= set(samples)
    with pytest.raises(ValueError, match="replay fraction"):
        mixed(user, replay, 1.0)


def test_the_bundled_wells_and_generated_images_come_with_their_labels():
    wells = replay_pairs("bbbc010")
    assert len(wells) == 4
    for image, labels in wells:
        assert image.shape == labels.shape == (520, 696) and image.dtype == np.uint16
        assert labels.max() >= 10 and labels.min() == -1  # one id per worm, -1 where two overlap
    (image, labels), = replay_pairs("nuclei", 1)
    assert image.shape == labels.shape and labels.max() > 5
    assert BUNDLED_SOURCES["leaves-semiconv"] == "rosette"


def test_fine_tuning_replays_the_recorded_source_and_passes_it_on(tmp_path, familiar_start):
    torch = pytest.importorskip("torch")
    from napari_deepcolor.checkpoint import Checkpoint, read_header, save_checkpoint
    from napari_deepcolor.config import ModelConfig
    from napari_deepcolor.models import create_model
    from napari_deepcolor.training.finetune import annotated_planes, finetune
    from napari_deepcolor.training.presets import Preset

    torch.manual_seed(0)
    config = ModelConfig(n_colors=4, depth=2, width=4, min_size=2.0)
    weights = create_model(config).state_dict()
    start = save_checkpoint(tmp_path / "start.safetensors", Checkpoint(config, weights, {"replay_source": "nuclei"}))
    bare = save_checkpoint(tmp_path / "bare.safetensors", Checkpoint(config, weights, {}))
    preset = Preset(n_colors=4, scale=1.0, margin=2, halo_weight=1.0, patch_size=32, batch_size=2, steps=4,
                    learning_rate=1e-3, min_size=4.0)
    pairs = [p for seed in range(2) for p in annotated_planes(*blobs_pair(seed))]
    validation = annotated_planes(*blobs_pair(10))

    events = list(finetune(pairs, start=str(start), preset=preset, output=tmp_path / "a", validation=validation,
                           replay=0.5))
    note = next(e.note for e in events if e.kind == "replay")
    assert "50% of the patches" in note and "nuclei" in note
    assert read_header(events[-1].path)[1]["replay_source"] == "nuclei"  # a fine-tuning of it replays nuclei too

    events = list(finetune(pairs, start=str(bare), preset=preset, output=tmp_path / "b", validation=validation,
                           replay=0.5))
    assert "no replay" in next(e.note for e in events if e.kind == "replay")
    assert "replay_source" not in read_header(events[-1].path)[1]
    events = list(finetune(pairs, start=str(start), preset=preset, output=tmp_path / "c", validation=validation,
                           replay=0.0))
    assert not any(e.kind == "replay" for e in events)
