"""Fine-tuning always has a score: part of the user's annotations held out, the starting model scored first, a guard
when the result is not better, a time budget and an early stop."""

from __future__ import annotations

import dataclasses
import re

import numpy as np
import pytest
from conftest import blobs_pair

from napari_deepcolor.preprocess import IGNORE
from napari_deepcolor.training.finetune import annotated_planes
from napari_deepcolor.training.holdout import MIN_HELD_OUT, split_holdout
from napari_deepcolor.training.loop import improvement_bar
from napari_deepcolor.training.presets import Preset

TINY = Preset(n_colors=4, scale=1.0, margin=2, halo_weight=1.0, patch_size=32, batch_size=4, steps=40,
              learning_rate=1e-2, min_size=4.0)


def many_blobs(seed: int = 0, size: int = 96, n: int = 16) -> tuple[np.ndarray, np.ndarray]:
    return blobs_pair(seed, size=size, n=n)


def test_one_plane_gives_an_end_strip_the_network_never_sees():
    image, labels = many_blobs()
    split = split_holdout([(image, labels)])
    assert len(split.training) == 1 and len(split.held_out) == 1 and "never sees" in split.note
    (train_image, train_labels), (held_image, held_labels) = split.training[0], split.held_out[0]
    axis = 1 if train_image.shape[0] == image.shape[0] else 0
    assert train_image.shape[axis] + held_image.shape[axis] == image.shape[axis]  # cut, not hidden
    held_ids = set(np.unique(held_labels)) - {0}
    whole = held_ids - set(np.unique(train_labels))
    assert len(whole) >= MIN_HELD_OUT
    crossing = held_ids - whole  # objects cut by the strip are ignored in training, never learned from
    assert all((train_labels[np.isin(labels[:, :train_image.shape[1]] if axis == 1 else
                                     labels[:train_image.shape[0]], [i])] == IGNORE).all() for i in crossing)
    assert held_labels.min() >= 0


def test_four_planes_or_more_hold_out_every_fourth_whole():
    pairs = [blobs_pair(seed) for seed in range(8)]
    split = split_holdout(pairs)
    assert len(split.held_out) == 2 and len(split.training) == 6
    assert split.held_out[0][0] is pairs[3][0] and split.held_out[1][0] is pairs[7][0]


def test_too_few_objects_hold_nothing_out_and_say_so():
    image, labels = blobs_pair(0)
    labels[labels > 2] = 0  # two objects
    split = split_holdout([(image, labels)])
    assert split.held_out == [] and split.training[0][1] is labels
    assert "no held-out score" in split.note and "cannot be checked" in split.note


def test_fine_tuning_without_validation_scores_the_start_and_says_if_it_helped(tiny_model, tmp_path):
    pytest.importorskip("torch")
    from napari_deepcolor.training.finetune import finetune

    pairs = annotated_planes(*many_blobs(1))
    events = list(finetune(pairs, start=str(tiny_model), preset=TINY, output=tmp_path, log_every=5))
    assert events[0].kind == "holdout" and "held out" in events[0].note
    start = next(e for e in events if e.kind == "validation")
    assert start.step == 0 and start.note == "starting model" and "ap50" in start.metrics
    done = events[-1]
    assert done.kind == "done" and done.improved is not None and done.start_metrics == start.metrics
    best = max([e.metrics["ap50"] for e in events if e.kind == "validation" and e.step > 0])
    n_held = int(re.search(r"\((\d+) objects", events[0].note).group(1))
    assert done.improved == (best >= start.metrics["ap50"] + improvement_bar(n_held))


def test_an_improvement_must_clear_the_noise_of_the_held_out_objects():
    assert improvement_bar(4) == 0.5 and improvement_bar(100) == pytest.approx(0.1)
    assert improvement_bar(0) == 1.0  # nothing held out: nothing can clear it


def test_too_few_objects_train_anyway_and_never_claim_an_improvement(tiny_model, tmp_path):
    pytest.importorskip("torch")
    from napari_deepcolor.training.finetune import finetune

    image, labels = blobs_pair(0)
    labels[labels > 2] = 0
    events = list(finetune(annotated_planes(image, labels), start=str(tiny_model), preset=TINY, output=tmp_path))
    assert "no held-out score" in events[0].note
    assert events[-1].kind == "done" and events[-1].improved is None
    assert not any(e.kind == "validation" for e in events)


def test_a_time_budget_sets_the_steps_and_patience_stops_early(tiny_model, tmp_path):
    pytest.importorskip("torch")
    from napari_deepcolor.config import TrainConfig
    from napari_deepcolor.predict.network import model_info
    from napari_deepcolor.training.dataset import model_sample
    from napari_deepcolor.training.loop import ValidationPair, train

    config = model_info(tiny_model)[0]
    samples = [model_sample(*blobs_pair(seed), config) for seed in range(2)]
    schedule = TrainConfig(margin=2, patch_size=32, batch_size=2, steps=100_000, validate_every=1)
    events = list(train(samples, model_config=config, train_config=schedule, output=tmp_path / "budget",
                        init=str(tiny_model), time_budget=2.0, size_model=False))
    assert events[-1].kind == "done" and events[-1].total < 100_000
    validation = [ValidationPair(*blobs_pair(9))]
    events = list(train(samples, model_config=config, train_config=dataclasses.replace(schedule, steps=200),
                        output=tmp_path / "patience", validation=validation, init=str(tiny_model), patience=2,
                        size_model=False))
    stops = [e for e in events if e.kind == "early_stop"]
    assert stops and events[-1].total == stops[0].step < 200


def test_the_cli_holds_out_scores_and_guards(tiny_model, tmp_path, caplog):
    pytest.importorskip("torch")
    import tifffile

    from napari_deepcolor.cli import main

    (tmp_path / "images").mkdir()
    (tmp_path / "labels").mkdir()
    image, labels = many_blobs(2)
    tifffile.imwrite(tmp_path / "images" / "a.tif", image)
    tifffile.imwrite(tmp_path / "labels" / "a.tif", labels)
    caplog.set_level("INFO", logger="napari_deepcolor")
    assert main(["train", "--images", str(tmp_path / "images"), "--labels", str(tmp_path / "labels"),
                 "--init", str(tiny_model), "--output", str(tmp_path / "run"), "--steps", "6", "--patch-size", "32",
                 "--batch-size", "2", "--validate-every", "3", "--device", "cpu"]) == 0
    assert "held out the end strip" in caplog.text and "(starting model)" in caplog.text
    assert "fine-tuning helped" in caplog.text or "did NOT beat the starting model" in caplog.text


def test_the_cli_says_when_a_gain_is_too_small_to_count(caplog):
    from napari_deepcolor.cli.train import _guard
    from napari_deepcolor.training.loop import TrainEvent

    caplog.set_level("INFO", logger="napari_deepcolor")
    done = dict(kind="done", step=9, total=9, path="run/last.safetensors", improved=False)
    _guard(TrainEvent(**done, start_metrics={"ap50": 0.727}, metrics={"ap50": 0.784}, needed=0.793))
    assert "by enough to count: AP50 0.727 -> 0.784, 0.793 needed" in caplog.text
    caplog.clear()
    _guard(TrainEvent(**done, start_metrics={"ap50": 0.727}, metrics={"ap50": 0.70}, needed=0.793))
    assert ("did NOT beat the starting model on the held-out annotations (AP50 0.727, the new model's 0.700)"
            in caplog.text)


def test_a_named_model_that_did_not_beat_its_start_is_kept_with_a_warning_naming_the_start(tmp_path, caplog,
                                                                                          monkeypatch):
    """``deepcolor train --init START --name NAME`` keeps what it trained as NAME either way; when the guard fired,
    the last line says again that START is the better choice for these images."""
    from napari_deepcolor.cli.train import _keep_as_user_model
    from napari_deepcolor.zoo import user

    monkeypatch.setenv("NAPARI_DEEPCOLOR_MODELS", str(tmp_path / "models"))
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "last.safetensors").write_bytes(b"weights")
    caplog.set_level("INFO", logger="napari_deepcolor")
    _keep_as_user_model("mine", tmp_path / "run", start="nuclei")
    assert user.names() == ["mine"]
    assert ("'mine' did not beat nuclei, the model it started from, on the held-out annotations: for these images "
            "nuclei is the better choice (deepcolor predict --model nuclei)") in caplog.text
    caplog.clear()
    _keep_as_user_model("mine again", tmp_path / "run")  # it helped, or nothing to compare: no warning
    assert "did not beat" not in caplog.text
