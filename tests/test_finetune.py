"""Fine-tuning from painted layers: which pixels count, the run itself, the model registry and the presets."""

from __future__ import annotations

from dataclasses import fields

import numpy as np
import pytest
from conftest import blobs_pair

from napari_deepcolor.config import ConfigError
from napari_deepcolor.training.finetune import SCRATCH, annotated_planes, model_config_for
from napari_deepcolor.training.presets import PRESETS, TOOLTIPS, Preset
from napari_deepcolor.zoo import user as _user_models

TINY = Preset(n_colors=4, scale=1.0, margin=2, halo_weight=1.0, patch_size=32, batch_size=4, steps=40,
              learning_rate=1e-2, min_size=4.0)


def test_a_stack_keeps_only_its_annotated_planes():
    image, labels = blobs_pair(0)
    stack_image = np.stack([image, image + 1, image + 2])
    stack_labels = np.stack([np.zeros_like(labels), labels, np.zeros_like(labels)])
    planes = annotated_planes(stack_image, stack_labels)
    assert len(planes) == 1
    np.testing.assert_array_equal(planes[0][0], image + 1)
    np.testing.assert_array_equal(planes[0][1], labels)


def test_outside_the_region_and_the_ignore_label_are_ignored_not_background():
    image, labels = blobs_pair(0)
    labels = labels.copy()
    labels[:4] = 99  # "not annotated", painted with the ignore label
    region = np.zeros(labels.shape, bool)
    region[:, :24] = True
    [(_, masked)] = annotated_planes(image, labels, region=region, ignore_label=99)
    assert (masked[:, 24:] == -1).all() and (masked[:4] == -1).all()
    np.testing.assert_array_equal(masked[4:, :24], labels[4:, :24])
    # a 2D region applies to every plane of a stack
    planes = annotated_planes(np.stack([image, image]), np.stack([labels, labels]), region=region)
    assert len(planes) == 2 and all((p[1][:, 24:] == -1).all() for p in planes)


def test_rgb_images_and_their_labels_fit_together():
    image, labels = blobs_pair(0)
    [(plane, _)] = annotated_planes(np.stack([image] * 3, axis=-1), labels, rgb=True)
    assert plane.shape == (*labels.shape, 3)


@pytest.mark.parametrize(
    ("image_shape", "labels", "region", "match"),
    [
        ((48, 48), np.zeros((48, 40), np.int32), None, r"has shape \(48, 40\) but its image has shape \(48, 48\)"),
        ((48, 48), np.zeros((48, 48), np.int32), None, "has no objects: paint at least one"),
        ((48, 48), np.ones((48, 48), np.float32), None, "must hold integers"),
        ((48, 48), np.ones((48, 48), np.int32), np.zeros((48, 48), bool), "no objects inside the annotated region"),
        ((48, 48), np.ones((48, 48), np.int32), np.ones((10, 10), bool), "annotated region has shape"),
        ((48,), np.ones(48, np.int32), None, "at least 2 dimensions"),
    ],
)
def test_bad_pairs_are_refused_with_a_message(image_shape, labels, region, match):
    with pytest.raises(ValueError, match=match):
        annotated_planes(np.zeros(image_shape), labels, region=region)


def test_fine_tuning_keeps_the_starting_network_and_method(tiny_model):
    config = model_config_for(str(tiny_model), TINY, in_channels=1)
    assert (config.n_colors, config.depth, config.width, config.scale, config.min_size) == (4, 2, 4, 1.0, 4.0)
    assert model_config_for(SCRATCH, PRESETS["C. elegans (worms)"], in_channels=3).in_channels == 3
    with pytest.raises(ConfigError, match="cannot be fine-tuned as a semiconv model"):
        model_config_for(str(tiny_model), TINY, in_channels=1, method="semiconv")


def test_the_nuclei_preset_gives_a_new_model_the_sparse_percentile_and_a_start_keeps_its_own(tiny_model):
    """A nuclei model trained from scratch in the Train dock normalizes a field of few nuclei by its nuclei, as the
    bundled `nuclei` does (`ModelConfig.sparse_percentile`); 0 turns it off; a start model's own value fills it."""
    from dataclasses import replace

    from napari_deepcolor.training.finetune import preset_for_start

    nuclei = PRESETS["Fluorescent nuclei"]
    assert model_config_for(SCRATCH, nuclei, in_channels=1, method="semiconv").sparse_percentile == 99.99
    assert model_config_for(SCRATCH, replace(nuclei, sparse_percentile=0.0), in_channels=1).sparse_percentile is None
    assert model_config_for(SCRATCH, PRESETS["C. elegans (worms)"], in_channels=1).sparse_percentile is None
    assert preset_for_start(PRESETS["C. elegans (worms)"], "nuclei").sparse_percentile == 99.99
    assert preset_for_start(nuclei, str(tiny_model)).sparse_percentile == 0.0  # the tiny model has none
    assert model_config_for(str(tiny_model), nuclei, in_channels=1).sparse_percentile == 99.99  # set on purpose
    with pytest.raises(ConfigError, match="sparse_percentile"):
        model_config_for(SCRATCH, replace(nuclei, sparse_percentile=50.0), in_channels=1)


def test_a_few_fine_tuning_steps_lower_the_loss_and_the_model_reloads(tiny_model, tmp_path):
    pytest.importorskip("torch")
    from napari_deepcolor.predict.network import load_model, predict_probs
    from napari_deepcolor.training.finetune import finetune

    pairs = [p for seed in range(3) for p in annotated_planes(*blobs_pair(seed))]
    events = list(finetune(pairs, start=str(tiny_model), preset=TINY, output=tmp_path,
                           validation=annotated_planes(*blobs_pair(10)), log_every=5))
    losses = [e.loss for e in events if e.kind == "step"]
    assert np.mean(losses[-2:]) < 0.8 * np.mean(losses[:2])
    assert events[-1].kind == "done" and "ap50" in events[-1].metrics
    sizing = next(e for e in events if e.kind == "size_model")
    assert "too few to learn object sizes" in sizing.note  # 3 images: no size model, it runs at the size it learned
    model = load_model(events[-1].path, device="cpu")
    assert model.metadata["init"] == str(tiny_model) and "size_model" not in model.metadata
    assert predict_probs(model, blobs_pair(11)[0]).shape == (4, 48, 48)


def test_the_registry_names_paths_and_notifies(tmp_path):
    _user_models.clear()
    a, b = tmp_path / "a.safetensors", tmp_path / "b.safetensors"
    a.write_bytes(b"x")
    b.write_bytes(b"y")
    seen = []
    unsubscribe = _user_models.subscribe(lambda name, path: seen.append((name, path.name)))
    _user_models.subscribe(lambda name, path: 1 / 0)  # a broken subscriber does not stop the others
    assert _user_models.add("mine", a) == "mine"
    assert _user_models.add("mine", a) == "mine"  # same file again: nothing new
    assert _user_models.add("mine", b) == "mine (2)"
    assert _user_models.names() == ["mine", "mine (2)"]
    assert _user_models.path("mine (2)").read_bytes() == b"y"  # a copy kept in the user's model folder
    assert [name for name, _ in seen] == ["mine", "mine (2)"]
    unsubscribe()
    with pytest.raises(KeyError, match=r"user models: mine, mine \(2\)"):
        _user_models.path("other")
    with pytest.raises(FileNotFoundError):
        _user_models.add("gone", tmp_path / "missing.safetensors")
    _user_models.clear()


def test_every_preset_knob_has_a_tooltip():
    assert set(TOOLTIPS) == {f.name for f in fields(Preset)}
    assert {"C. elegans (worms)", "E. coli (colony)", "Leaves (rosette)"} <= set(PRESETS)


def test_frozen_norm_keeps_the_running_statistics_and_the_anchor_keeps_the_weights_near_the_start(tiny_model,
                                                                                                   tmp_path,
                                                                                                   familiar_start):
    pytest.importorskip("torch")
    from napari_deepcolor.checkpoint import load_checkpoint
    from napari_deepcolor.training.finetune import finetune

    start = load_checkpoint(tiny_model).state_dict
    pairs = [p for seed in range(2) for p in annotated_planes(*blobs_pair(seed))]

    def tuned(name, **options):
        events = list(finetune(pairs, start=str(tiny_model), preset=TINY, output=tmp_path / name,
                               validation=annotated_planes(*blobs_pair(10)), patience=None, **options))
        return load_checkpoint(tmp_path / name / "last.safetensors").state_dict, events[-1]

    def drift(state):
        return sum(float(((state[k].float() - start[k].float()) ** 2).sum()) for k in start
                   if "running" not in k and "num_batches" not in k)

    plain, _ = tuned("plain", freeze_norm=False, anchor_weight=0.0)
    frozen, _ = tuned("frozen", freeze_norm=True, anchor_weight=0.0)
    anchored, done = tuned("anchored", freeze_norm=False, anchor_weight=10.0)
    running = [k for k in start if k.endswith("running_mean")]
    assert running
    assert all(not np.allclose(plain[k], start[k]) for k in running[:1])
    assert all(np.array_equal(frozen[k], start[k]) for k in running)
    assert drift(anchored) < 0.5 * drift(plain)
    assert done.kind == "done"
    decoder_only, _ = tuned("decoder", freeze_encoder=True)
    encoder = [k for k in start if k.startswith("down.")]
    assert encoder and all(np.array_equal(decoder_only[k], start[k]) for k in encoder)
    assert not np.allclose(decoder_only["head.weight"], start["head.weight"])


def test_fine_tuning_goes_on_with_the_loss_and_knobs_the_starting_model_was_trained_with(tmp_path):
    torch = pytest.importorskip("torch")
    from napari_deepcolor.checkpoint import Checkpoint, read_header, save_checkpoint
    from napari_deepcolor.config import ModelConfig, TrainConfig
    from napari_deepcolor.models import create_model
    from napari_deepcolor.training.finetune import finetune, preset_for_start

    torch.manual_seed(0)
    config = ModelConfig(n_colors=4, depth=2, width=4, min_size=3.0, scale=1.0)
    trained = TrainConfig(margin=3, contact_fraction=0.25, background_weight=0.6, learning_rate=1e-4)
    start = save_checkpoint(tmp_path / "start.safetensors", Checkpoint(config, create_model(config).state_dict(),
                                                                       {"train_config": trained.to_dict()}))
    preset = preset_for_start(TINY, str(start))
    assert (preset.margin, preset.contact_fraction, preset.learning_rate, preset.min_size) == (3, 0.25, 1e-4, 3.0)
    assert preset_for_start(TINY, str(start)).halo_weight == trained.halo_weight
    untrained = save_checkpoint(tmp_path / "bare.safetensors", Checkpoint(config, create_model(config).state_dict(), {}))
    assert preset_for_start(TINY, str(untrained)).margin == TINY.margin  # nothing recorded: the preset's own

    pairs = [p for seed in range(2) for p in annotated_planes(*blobs_pair(seed))]
    events = list(finetune(pairs, start=str(start), preset=preset, output=tmp_path / "out",
                           validation=annotated_planes(*blobs_pair(10))))
    recorded = read_header(events[-1].path)[1]["train_config"]
    assert recorded["background_weight"] == 0.6 and recorded["contact_fraction"] == 0.25 and recorded["margin"] == 3


def test_a_fine_tuning_on_too_few_images_for_a_size_model_keeps_the_starting_models(tiny_model, tmp_path,
                                                                                    familiar_start):
    pytest.importorskip("torch")
    from napari_deepcolor.checkpoint import read_header
    from napari_deepcolor.predict.network import load_model
    from napari_deepcolor.predict.object_size import estimate_object_size, size_model_of
    from napari_deepcolor.predict.size_fit import fit_size_model, store_size_model
    from napari_deepcolor.training.finetune import finetune

    # a start with a usable size model: the untrained tiny network's regression passes MAX_CV_ERROR on sharp views
    # only (with their blurred copies it cannot tell these blobs' sizes apart)
    images = [blobs_pair(seed)[0] for seed in range(3)]
    store_size_model(tiny_model, fit_size_model(load_model(tiny_model), images, blurs=False).to_dict())
    start_size_model = read_header(tiny_model)[1]["size_model"]
    pairs = [p for seed in range(2) for p in annotated_planes(*blobs_pair(seed))]
    events = list(finetune(pairs, start=str(tiny_model), preset=TINY, output=tmp_path,
                           validation=annotated_planes(*blobs_pair(10))))
    assert "keeps the automatic object size" in next(e.note for e in events if e.kind == "size_model")
    for path in {events[-1].path, str(tmp_path / "last.safetensors")}:
        carried = read_header(path)[1]["size_model"]
        assert carried["weights"] == start_size_model["weights"] and carried["carried_from"] == str(tiny_model)
    model = load_model(events[-1].path)
    assert size_model_of(model.metadata) is not None
    assert estimate_object_size(model, blobs_pair(11)[0]).how in ("auto", "fallback")  # it estimates, as the start


def test_a_kept_history_ends_with_the_model_as_kept_its_carried_size_model_too(tiny_model, tmp_path):
    """``--keep-history`` on too few images for a size model of its own: the history's last step is the final file,
    the start's size model carried into it, so any history step loaded later is what the run says it is."""
    pytest.importorskip("torch")
    from napari_deepcolor.checkpoint import load_checkpoint, read_header
    from napari_deepcolor.config import TrainConfig
    from napari_deepcolor.predict.network import load_model
    from napari_deepcolor.predict.size_fit import fit_size_model, store_size_model
    from napari_deepcolor.training.dataset import make_sample
    from napari_deepcolor.training.loop import train

    images = [blobs_pair(seed)[0] for seed in range(3)]
    store_size_model(tiny_model, fit_size_model(load_model(tiny_model), images, blurs=False).to_dict())
    samples = [make_sample(*blobs_pair(seed), in_channels=1, percentiles=(1, 99.8), scale=1.0) for seed in range(2)]
    config = TrainConfig(margin=2, patch_size=32, batch_size=2, steps=4, checkpoint_every=2)
    events = list(train(samples, model_config=load_checkpoint(tiny_model).config, train_config=config,
                        output=tmp_path, device="cpu", init=str(tiny_model), keep_history=True))
    assert "keeps the automatic object size" in next(e.note for e in events if e.kind == "size_model")
    last = tmp_path / "history" / "step-4.safetensors"
    assert last.read_bytes() == (tmp_path / "last.safetensors").read_bytes()
    assert read_header(last)[1]["size_model"]["carried_from"] == str(tiny_model)


@pytest.mark.parametrize("reliable", [True, False])
def test_a_fine_tuning_on_many_images_keeps_the_starting_size_model_when_its_own_is_unreliable(
        tiny_model, tmp_path, familiar_start, monkeypatch, reliable):
    """On 8 images or more the fine-tuned model fits a size model of its own; one whose cross-validated error is
    above `MAX_CV_ERROR` would not be used, so the start's is carried instead (the encoder kept the start's weights,
    so its regression reads the same features)."""
    pytest.importorskip("torch")
    from napari_deepcolor.checkpoint import read_header
    from napari_deepcolor.predict import object_size
    from napari_deepcolor.predict.network import load_model
    from napari_deepcolor.predict.size_fit import fit_size_model, store_size_model
    from napari_deepcolor.training.finetune import finetune

    images = [blobs_pair(seed)[0] for seed in range(3)]
    store_size_model(tiny_model, fit_size_model(load_model(tiny_model), images, blurs=False).to_dict())
    start_size_model = read_header(tiny_model)[1]["size_model"]
    monkeypatch.setattr(object_size, "MAX_CV_ERROR", np.inf if reliable else -1.0)
    pairs = [p for seed in range(8) for p in annotated_planes(*blobs_pair(seed))]
    events = list(finetune(pairs, start=str(tiny_model), preset=TINY, output=tmp_path, replay=0.0,
                           validation=annotated_planes(*blobs_pair(10))))
    notes = [e.note for e in events if e.kind == "size_model" and e.note]
    size_model = read_header(events[-1].path)[1]["size_model"]
    if reliable:
        assert not notes and "carried_from" not in size_model  # its own, fitted on the 8 images
    else:
        assert "is not reliable (cross-validated error" in notes[0] and "keeps that of" in notes[0]
        assert size_model["weights"] == start_size_model["weights"] and size_model["carried_from"] == str(tiny_model)


def test_a_new_kind_of_image_is_fine_tuned_at_its_own_pixels(tiny_model):
    """A start that finds none of the annotated objects at any size has no size for them: the network learns them at
    the images' own pixels (scale 1), whatever the start's scale, and the metadata says how the size was chosen."""
    pytest.importorskip("torch")
    from dataclasses import replace

    from napari_deepcolor.checkpoint import load_checkpoint
    from napari_deepcolor.training.finetune import sized_for_training

    config = replace(load_checkpoint(tiny_model).config, scale=0.5)  # as a half-resolution start trains
    image, labels = blobs_pair(0, size=96, n=10)
    resized, metadata = sized_for_training(str(tiny_model), [image], config, labels=[labels])
    assert metadata["start_fits"] is False  # untrained: it finds nothing at any size
    assert resized.scale == pytest.approx(1.0) and metadata["trained_object_size"] == 0.5
    assert metadata["trained_object_size_how"] == "new kind" and "own pixels" in metadata["trained_object_size_note"]


def test_a_start_that_finds_nothing_at_any_size_trains_the_whole_network_without_replay(tiny_model, tmp_path):
    """An untrained start matches no annotated object at any size: a new kind of image for it, so nothing holds it
    back (whole network, no replay) and it keeps no size model of the start's."""
    pytest.importorskip("torch")
    from napari_deepcolor.checkpoint import load_checkpoint, read_header
    from napari_deepcolor.predict.size_fit import attach_size_model
    from napari_deepcolor.training.finetune import NEW_KIND, finetune

    attach_size_model(tiny_model, [blobs_pair(seed)[0] for seed in range(3)])
    start = load_checkpoint(tiny_model).state_dict
    pairs = [p for seed in range(2) for p in annotated_planes(*blobs_pair(seed))]
    events = list(finetune(pairs, start=str(tiny_model), preset=TINY, output=tmp_path,
                           validation=annotated_planes(*blobs_pair(10)), patience=None))
    note = next(e.note for e in events if e.kind == "new_kind")
    assert note.startswith(NEW_KIND) and "the bundled nuclei model was made for" in note  # bright blobs on dark
    assert not any(e.kind == "replay" for e in events)
    tuned = load_checkpoint(tmp_path / "last.safetensors").state_dict
    assert not np.allclose(tuned["down.0.0.weight"], start["down.0.0.weight"])  # the encoder learned too
    assert "size_model" not in read_header(tmp_path / "last.safetensors")[1]
