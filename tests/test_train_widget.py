"""The training widget, driven like a user would under Xvfb: pick layers, train, cancel, save, bad input."""

from __future__ import annotations

import subprocess
import sys
import threading
from unittest.mock import patch

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("napari")

from conftest import blobs_pair  # noqa: E402

from napari_deepcolor._widgets.train import TrainWidget  # noqa: E402
from napari_deepcolor.zoo import user as _user_models  # noqa: E402

pytestmark = pytest.mark.gui
TIMEOUT_MS = 120_000


@pytest.fixture
def widget(make_napari_viewer, tiny_model, tmp_path):
    _user_models.clear()
    viewer = make_napari_viewer()
    image, labels = blobs_pair(0)
    stack = np.stack([labels, np.zeros_like(labels)])  # only the first plane is annotated
    viewer.add_image(np.stack([image, image]), name="cells")
    viewer.add_labels(stack, name="corrected")
    viewer.add_image(blobs_pair(10)[0], name="val image")
    viewer.add_labels(blobs_pair(10)[1], name="val labels")
    widget = TrainWidget(viewer)
    viewer.window.add_dock_widget(widget)
    widget.model_file = str(tiny_model)
    widget.reset_choices()
    widget.image_combo.setCurrentText("cells")
    widget.labels_combo.setCurrentText("corrected")
    widget.start_combo.setCurrentText(str(tiny_model))
    values = {"n_colors": 4, "scale": 1.0, "margin": 2, "patch_size": 32, "batch_size": 2, "steps": 12,
              "learning_rate": 1e-2, "min_size": 4.0}
    for name, value in values.items():
        widget.knobs[name].setValue(value)
    widget.output_edit.setText(str(tmp_path / "runs"))
    widget.name_edit.setText("my cells")
    widget.stop_early_check.setChecked(False)  # every run goes its steps (an untrained score rarely improves)
    yield widget
    _user_models.clear()


def test_training_runs_in_the_background_and_offers_the_model(widget, qtbot, tmp_path):
    from napari_deepcolor._widgets.segment import SegmentWidget

    segment = SegmentWidget(widget.viewer)
    widget.viewer.window.add_dock_widget(segment)
    chosen_before = segment._model.value
    widget.val_image_combo.setCurrentText("val image")
    widget.val_labels_combo.setCurrentText("val labels")
    worker = widget.start()
    assert worker is not None and not widget.train_button.isEnabled()
    with qtbot.waitSignal(worker.finished, timeout=TIMEOUT_MS):
        pass
    assert "my cells" in _user_models.names()
    assert _user_models.path("my cells").is_file()
    assert widget.progress.value() == 12 and len(widget.plot.losses) == 12
    assert widget.metrics_label.text().startswith("validation at step 12: AP50 ")
    assert widget.train_button.isEnabled() and widget.save_button.isEnabled()
    assert "my cells" in [widget.start_combo.itemText(i) for i in range(widget.start_combo.count())]
    # the Segment widget offers the fine-tuned model at once, without changing what the user had chosen
    picker = segment._model
    offered = dict(zip([picker.native.itemText(i) for i in range(picker.native.count())], picker.choices))
    assert offered["my cells (trained)"] == str(_user_models.path("my cells"))
    assert list(offered)[-1] == "load file..."  # the trained model comes before it, not after
    assert segment._model.value == chosen_before

    saved = widget.save_model(tmp_path / "kept" / "cells_model")
    assert saved == tmp_path / "kept" / "cells_model.safetensors"
    from napari_deepcolor.predict.network import load_model

    assert load_model(saved, device="cpu").metadata["name"] == "my cells"


def test_cancel_keeps_the_last_checkpoint(widget, qtbot):
    widget.knobs["steps"].setValue(400)  # a checkpoint every 40 steps
    worker = widget.start()
    qtbot.waitUntil(lambda: widget.last_checkpoint is not None, timeout=TIMEOUT_MS)
    with qtbot.waitSignal(worker.finished, timeout=TIMEOUT_MS):
        widget.cancel()
    [name] = _user_models.names()
    assert name.startswith("my cells (step ") and widget.progress.value() < 400
    assert widget.train_button.isEnabled() and widget.worker is None


def test_cancel_before_the_first_checkpoint_saves_nothing_and_says_so(widget, qtbot):
    widget.knobs["steps"].setValue(400)  # the first checkpoint comes at step 40
    worker = widget.start()
    with patch("napari_deepcolor._widgets.train.show_warning") as warning:
        with qtbot.waitSignal(worker.finished, timeout=TIMEOUT_MS):
            widget.cancel()
    assert _user_models.names() == [] and widget.last_checkpoint is None
    assert "before its first checkpoint: no model was saved" in warning.call_args[0][0]
    assert widget.train_button.isEnabled()


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        (lambda w: w.viewer.add_labels(np.zeros((2, 40, 48), np.int32), name="bad"), "has shape (2, 40, 48)"),
        (lambda w: w.viewer.add_labels(np.zeros((2, 48, 48), np.int32), name="bad"), "has no objects"),
    ],
)
def test_bad_labels_are_a_notification_not_a_run(widget, setup, message):
    setup(widget)
    widget.labels_combo.setCurrentText("bad")
    with patch("napari_deepcolor._widgets.train.show_error") as error:
        assert widget.start() is None
    assert message in error.call_args[0][0]
    assert widget.train_button.isEnabled()


def test_fine_tuning_a_coloring_model_as_semiconv_is_refused(widget):
    widget.method_combo.setCurrentText("semiconv")
    with patch("napari_deepcolor._widgets.train.show_error") as error:
        assert widget.start() is None
    assert "cannot be fine-tuned as a semiconv model" in error.call_args[0][0]


def test_the_method_follows_the_starting_model(widget):
    from napari_deepcolor.training.finetune import SCRATCH

    widget.start_combo.setCurrentText("ecoli-semiconv")
    assert widget.method_combo.currentText() == "semiconv" and not widget.method_combo.isEnabled()
    widget.start_combo.setCurrentText("worms")
    assert widget.method_combo.currentText() == "coloring" and not widget.method_combo.isEnabled()
    widget.start_combo.setCurrentText(SCRATCH)
    assert widget.method_combo.isEnabled()
    widget.method_combo.setCurrentText("semiconv")
    assert widget.method_combo.currentText() == "semiconv"


def test_a_new_widget_shows_the_method_of_the_model_it_starts_from(make_napari_viewer):
    from napari_deepcolor.predict.network import model_info

    widget = TrainWidget(make_napari_viewer())
    widget.reset_choices()  # refills "start from" without a change signal
    start = widget.start_combo.currentText()
    assert widget.method_combo.currentText() == model_info(start)[0].method
    assert not widget.method_combo.isEnabled()


def test_a_new_widget_starts_from_its_presets_model_with_that_models_scale_and_tau(make_napari_viewer):
    from napari_deepcolor.predict.network import model_info
    from napari_deepcolor.training.finetune import start_training
    from napari_deepcolor.training.presets import FINETUNE_LEARNING_RATE

    widget = TrainWidget(make_napari_viewer())
    assert widget.preset_combo.currentText() == "C. elegans (worms)"
    assert widget.start_combo.currentText() == "worms"
    config = model_info("worms")[0]
    assert widget.knobs["scale"].value() == config.scale and widget.knobs["min_size"].value() == config.min_size
    assert widget.knobs["n_colors"].value() == config.n_colors and not widget.knobs["n_colors"].isEnabled()
    # the fine-tuning rate, or the lower one worms last trained at; its own loss knobs (contact patches)
    trained = start_training("worms")
    assert widget.knobs["learning_rate"].value() == pytest.approx(min(FINETUNE_LEARNING_RATE,
                                                                      trained["learning_rate"]))
    assert trained["contact_fraction"] > 0
    assert widget.knobs["contact_fraction"].value() == pytest.approx(trained["contact_fraction"])


def test_a_preset_starts_from_its_bundled_model_and_a_bundled_model_picks_its_preset(widget):
    from napari_deepcolor.training.finetune import SCRATCH, start_training
    from napari_deepcolor.training.presets import PRESETS

    widget.start_combo.setCurrentText("worms")
    widget.preset_combo.setCurrentText("E. coli (colony)")
    assert widget.start_combo.currentText() == "ecoli-semiconv"
    assert widget.method_combo.currentText() == "semiconv" and widget.knobs["scale"].value() == 1.0
    widget.start_combo.setCurrentText("leaves")
    assert widget.preset_combo.currentText() == "Leaves (rosette)" and widget.knobs["scale"].value() == 0.5
    assert widget.knobs["margin"].value() == start_training("leaves")["margin"]  # the margin it was trained with
    widget.start_combo.setCurrentText(SCRATCH)  # from scratch: the preset's own values, colors editable again
    assert widget.knobs["learning_rate"].value() == pytest.approx(PRESETS["Leaves (rosette)"].learning_rate)
    assert widget.knobs["n_colors"].isEnabled()
    widget.preset_combo.setCurrentText("C. elegans (worms)")
    assert widget.start_combo.currentText() == SCRATCH  # the user's own choice of start is kept
    assert widget.knobs["sparse_percentile"].value() == 0.0 and widget.knobs["sparse_percentile"].text() == "off"
    widget.preset_combo.setCurrentText("Fluorescent nuclei")  # from scratch: its sparse percentile
    assert widget.knobs["sparse_percentile"].value() == pytest.approx(99.99) and widget.preset().sparse_percentile
    widget.start_combo.setCurrentText("worms")  # a start's own value (none)
    assert widget.knobs["sparse_percentile"].value() == 0.0


def test_a_preset_keeps_a_model_of_the_users_own(widget, tiny_model):
    widget.start_combo.setCurrentText(str(tiny_model))
    widget.preset_combo.setCurrentText("Leaves (rosette)")
    assert widget.start_combo.currentText() == str(tiny_model)
    assert widget.knobs["scale"].value() == 1.0  # the model's, not the preset's 0.5


def test_an_unwritable_checkpoint_folder_is_refused(widget, tmp_path):
    (tmp_path / "a file").write_text("not a folder")
    widget.output_edit.setText(str(tmp_path / "a file" / "runs"))
    with patch("napari_deepcolor._widgets.train.show_error") as error:
        assert widget.start() is None
    assert "choose a writable location" in error.call_args[0][0]


def test_an_empty_validation_pair_is_refused(widget):
    widget.viewer.add_labels(np.zeros((48, 48), np.int32), name="empty val")
    widget.val_image_combo.setCurrentText("val image")
    widget.val_labels_combo.setCurrentText("empty val")
    with patch("napari_deepcolor._widgets.train.show_error") as error:
        assert widget.start() is None
    assert "validation labels 'empty val' has no objects" in error.call_args[0][0]


def test_a_region_layer_limits_training_to_what_was_annotated(widget):
    widget.viewer.add_shapes([np.array([[0, 0], [0, 24], [48, 24], [48, 0]])], shape_type="polygon", name="done")
    widget.region_combo.setCurrentText("done")
    widget.add_pair()
    [(_, labels)] = widget.training_planes()
    assert (labels[:, 26:] == -1).all() and (labels[:, :22] >= 0).all()


def test_an_unwritable_save_path_is_a_notification(widget, qtbot, tmp_path):
    worker = widget.start()
    with qtbot.waitSignal(worker.finished, timeout=TIMEOUT_MS):
        pass
    (tmp_path / "a file").write_text("not a folder")
    with patch("napari_deepcolor._widgets.train.show_error") as error:
        assert widget.save_model(tmp_path / "a file" / "model.safetensors") is None
    assert "could not save the model" in error.call_args[0][0]
    assert "my cells" in _user_models.names()  # the trained model is still there


def test_opening_the_widget_does_not_load_torch():
    code = "import sys, napari_deepcolor._widgets.train; assert 'torch' not in sys.modules, 'torch was imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_a_failure_in_the_worker_is_one_notification_and_the_widget_stays_usable(widget, qtbot, tmp_path, tiny_model):
    """Weights that do not fit their network fail in the worker: one clear error (no second one with a traceback,
    nothing re-raised in the event loop), a status that says so, and Train works again."""
    from napari_deepcolor.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
    from napari_deepcolor.config import ModelConfig

    checkpoint = load_checkpoint(tiny_model)
    mismatched = save_checkpoint(tmp_path / "mismatched.safetensors",
                                 Checkpoint(ModelConfig(n_colors=4, depth=3, width=4), checkpoint.state_dict, {}))
    widget.model_file = str(mismatched)
    widget.reset_choices()
    widget.start_combo.setCurrentText(str(mismatched))
    with patch("napari_deepcolor._widgets.train.show_error") as error:
        worker = widget.start()
        assert worker is not None
        with qtbot.waitSignal(worker.finished, timeout=TIMEOUT_MS):
            pass
    (message,) = [call.args[0] for call in error.call_args_list]
    assert "weights do not fit" in message and "tensors missing" in message and len(message) < 600
    assert widget.status.text().startswith("training failed") and widget.train_button.isEnabled()


def test_an_image_with_nan_is_refused_before_training_starts(widget):
    image = widget.viewer.layers["cells"].data.astype(np.float32)
    image[0, 3, 3] = np.nan
    widget.viewer.add_image(image, name="holes")
    widget.image_combo.setCurrentText("holes")
    with patch("napari_deepcolor._widgets.train.show_error") as error:
        assert widget.start() is None
    assert "contains NaN or infinite values" in error.call_args[0][0]


def test_the_preset_follows_the_image_until_the_user_picks_one(make_napari_viewer):
    viewer = make_napari_viewer()
    widget = TrainWidget(viewer)
    viewer.window.add_dock_widget(widget)
    viewer.open_sample("napari-deepcolor", "ecoli")
    widget.reset_choices()
    widget.image_combo.setCurrentText(viewer.layers[0].name)
    assert widget.preset_combo.currentText() == "E. coli (colony)"
    assert widget.start_combo.currentText() == "ecoli-semiconv"
    viewer.open_sample("napari-deepcolor", "worm_mask")  # a sample whose model is not its preset's
    widget.reset_choices()
    widget.image_combo.setCurrentText("worms BBBC010 A01 foreground")
    assert widget.preset_combo.currentText() == "C. elegans (worms)"
    assert widget.start_combo.currentText() == "worms-mask"
    viewer.add_image(np.zeros((32, 32, 3), np.uint8), name="my plant", rgb=True)  # not a sample: by its kind
    widget.reset_choices()
    widget.image_combo.setCurrentText("my plant")
    assert widget.preset_combo.currentText() == "Leaves (rosette)"
    from napari_deepcolor.training.synthetic_nuclei import nuclei_field

    viewer.add_image(nuclei_field(3)[0], name="my nuclei")  # gray, not a sample: by what it looks like
    widget.reset_choices()
    widget.image_combo.setCurrentText("my nuclei")
    assert widget.preset_combo.currentText() == "Fluorescent nuclei" and widget.start_combo.currentText() == "nuclei"
    widget.image_combo.setCurrentText("my plant")
    widget.preset_combo.setCurrentText("E. coli (colony)")
    widget.preset_combo.activated.emit(widget.preset_combo.currentIndex())  # what a user's click sends
    widget.image_combo.setCurrentText(viewer.layers[0].name)
    widget.image_combo.setCurrentText("my plant")
    assert widget.preset_combo.currentText() == "E. coli (colony)"


def test_the_widget_scrolls_instead_of_growing_past_a_laptop_screen(widget):
    widget.show_advanced(True)
    assert widget.minimumSizeHint().height() < 400  # its content is over 1000 px tall


def test_a_knob_the_user_set_survives_choosing_another_image(make_napari_viewer):
    viewer = make_napari_viewer()
    widget = TrainWidget(viewer)
    viewer.window.add_dock_widget(widget)
    viewer.add_image(np.zeros((32, 32), np.uint8), name="gray")
    viewer.add_image(np.zeros((32, 32, 3), np.uint8), name="plant", rgb=True)
    widget.reset_choices()
    widget.image_combo.setCurrentText("gray")
    widget.knobs["steps"].setValue(1234)
    widget.knobs["steps"].editingFinished.emit()  # what typing a value and leaving the box sends
    widget.image_combo.setCurrentText("plant")
    assert widget.knobs["steps"].value() == 1234 and widget.preset_combo.currentText() == "C. elegans (worms)"


def test_the_default_model_name_is_short(widget, qtbot):
    """It becomes part of every result layer's name in the Segment widget."""
    widget.name_edit.setText("")
    worker = widget.start()
    with qtbot.waitSignal(worker.finished, timeout=TIMEOUT_MS):
        pass
    assert widget.model_name == "tiny fine-tuned" and _user_models.names() == ["tiny fine-tuned"]


def test_closing_the_dock_with_its_x_stops_training(widget, qtbot):
    widget.knobs["steps"].setValue(400)
    dock = widget.parent()
    while dock is not None and not hasattr(dock, "destroyOnClose"):
        dock = dock.parent()
    worker = widget.start()
    qtbot.waitUntil(lambda: widget.progress.value() >= 2, timeout=TIMEOUT_MS)
    with qtbot.waitSignal(worker.finished, timeout=TIMEOUT_MS):
        widget.viewer.window.remove_dock_widget(dock)  # what the dock's "x" does
    assert widget.progress.value() < 400


def test_a_shapes_region_is_read_in_world_coordinates(widget):
    """Labels shown at scale 2: a rectangle drawn over their left half (world x 0-48) is their columns 0-24."""
    image, labels = blobs_pair(3)
    widget.viewer.add_image(image, name="big", scale=(2, 2))
    widget.viewer.add_labels(labels, name="big labels", scale=(2, 2))
    widget.viewer.add_shapes([np.array([[0, 0], [0, 48], [96, 48], [96, 0]])], shape_type="polygon", name="left")
    widget.reset_choices()
    widget.image_combo.setCurrentText("big")
    widget.labels_combo.setCurrentText("big labels")
    widget.region_combo.setCurrentText("left")
    [(_, kept)] = widget.training_planes()
    assert (kept[:, 26:] == -1).all() and (kept[:, :22] >= 0).all()


def test_a_multiscale_image_trains_at_full_resolution(widget):
    image, labels = blobs_pair(3)
    widget.viewer.add_image([image, image[::2, ::2]], name="pyramid", multiscale=True)
    widget.viewer.add_labels(labels, name="pyramid labels")
    widget.reset_choices()
    widget.image_combo.setCurrentText("pyramid")
    widget.labels_combo.setCurrentText("pyramid labels")
    [(plane, _)] = widget.training_planes()
    assert plane.shape == labels.shape


def test_a_pair_whose_layer_was_renamed_says_so(widget):
    widget.add_pair()
    widget.viewer.layers["corrected"].name = "corrected v2"
    with patch("napari_deepcolor._widgets.train.show_error") as error:
        assert widget.start() is None
    assert "was renamed or deleted: remove the pair and add it again" in error.call_args[0][0]


def test_names_do_not_chain_and_segment_outputs_are_not_offered_as_data(widget, tiny_model, qtbot):
    _user_models.add("cells fine-tuned (step 20)", tiny_model)
    widget.start_combo.setCurrentText("cells fine-tuned (step 20)")
    widget.name_edit.setText("")
    worker = widget.start()
    assert widget.model_name == "cells fine-tuned"
    with qtbot.waitSignal(worker.finished, timeout=TIMEOUT_MS):
        pass
    meta = {"napari_deepcolor": {"role": "probabilities", "source": "cells", "model": "m"}}
    widget.viewer.add_image(np.zeros((4, 48, 48), np.float32), name="cells (m) probabilities", metadata=meta)
    widget.viewer.add_labels(np.zeros((48, 48), np.int32), name="cells (m) instances",
                             metadata={"napari_deepcolor": {**meta["napari_deepcolor"], "role": "instances"}})
    widget.reset_choices()
    images = [widget.image_combo.itemText(i) for i in range(widget.image_combo.count())]
    labels = [widget.labels_combo.itemText(i) for i in range(widget.labels_combo.count())]
    assert "cells (m) probabilities" not in images and "cells (m) instances" in labels


def test_starting_from_an_ensemble_says_what_it_costs(widget):
    widget.start_combo.setCurrentText("worms-mask")  # three networks
    assert "ensemble of 3 networks: fine-tuning trains all 3" in widget.status.text()
    widget.start_combo.setCurrentText("worms")  # one network: the note goes
    assert widget.status.text() == ""


def test_the_dock_is_simple_until_advanced_is_unfolded(widget):
    """Image, labels, start model, time, name and Train in view; every other knob folded under Advanced, with a
    tooltip; the progress row with Cancel stays above the scrolling form."""
    simple = [widget.image_combo, widget.labels_combo, widget.start_combo, widget.minutes_spin, widget.name_edit,
              widget.train_button, widget.save_button]
    advanced = [*widget.knobs.values(), widget.method_combo, widget.preset_combo, widget.region_combo,
                widget.ignore_spin, widget.pair_list, widget.val_image_combo, widget.val_labels_combo,
                widget.output_edit, widget.stop_early_check, widget.freeze_encoder_check, widget.replay_spin,
                widget.plot]
    assert widget.advanced.isHidden() and not widget.advanced_button.isChecked()
    assert not any(widget.advanced.isAncestorOf(control) for control in simple)
    assert all(widget.advanced.isAncestorOf(control) for control in advanced)
    assert all(control.toolTip() for control in [*simple, *advanced])
    assert not widget._scroll.isAncestorOf(widget.progress) and not widget._scroll.isAncestorOf(widget.cancel_button)
    assert widget.progress.text() == "not training" and not widget.cancel_button.isEnabled()
    widget.advanced_button.click()
    assert not widget.advanced.isHidden()


def test_progress_time_left_and_the_activity_dock_follow_the_run(widget, qtbot, monkeypatch, tiny_model):
    """A stand-in for the training generator: the time limit reaches it, and the progress row (step, loss, time
    left) and napari's activity-dock bar follow its events, the number of steps included when the time limit
    changes it."""
    from napari.utils import progress

    from napari_deepcolor._widgets import train as train_module
    from napari_deepcolor.training.loop import TrainEvent

    given, gate = {}, threading.Event()

    def fake_finetune(planes, **kwargs):
        given.update(kwargs)
        yield TrainEvent("step", 1, 400, 0.5, 2.0)
        yield TrainEvent("step", 3, 400, 0.4, 6.0)
        gate.wait(30)
        yield TrainEvent("step", 4, 40, 0.3, 8.0)  # the time limit fits 40 steps
        yield TrainEvent("done", 40, 40, elapsed=80.0, path=str(tiny_model))

    monkeypatch.setattr(train_module, "finetune", fake_finetune)
    widget.minutes_spin.setValue(2)
    widget.replay_spin.setValue(0.25)
    widget.freeze_encoder_check.setChecked(False)
    worker = widget.start()
    qtbot.waitUntil(lambda: widget.progress.value() == 3, timeout=TIMEOUT_MS)
    assert widget.progress.text() == "step 3 / 400 · loss 0.4000 · 13 min left"  # 2 s a step, 397 steps
    [bar] = [bar for bar in progress._all_instances if bar.desc.startswith("Training my cells")]
    assert (bar.n, bar.total) == (3, 400)
    with qtbot.waitSignal(worker.finished, timeout=TIMEOUT_MS):
        gate.set()
    assert given["minutes"] == 2 and "patience" in given and given["patience"] is None  # stop early: unticked
    assert given["replay"] == 0.25 and given["freeze_encoder"] is False  # the Advanced knobs reach the training
    assert widget.progress.maximum() == 40 and (bar.n, bar.total) == (4, 40)
    assert bar not in progress._all_instances  # closed
    assert widget.progress.text() == "done: step 40 / 40"
    assert _user_models.names() == ["my cells"]


def test_the_labels_follow_the_image_until_the_user_picks_them(make_napari_viewer):
    """The labels you corrected are taken for the image: the Segment widget's instances of it that you edited,
    else a labels layer of its shape."""
    viewer = make_napari_viewer()
    widget = TrainWidget(viewer)
    viewer.window.add_dock_widget(widget)
    viewer.add_image(np.zeros((32, 32), np.float32), name="a")
    viewer.add_labels(np.zeros((32, 32), np.int32), name="mine")
    viewer.add_labels(np.zeros((16, 16), np.int32), name="small")
    viewer.add_image(np.zeros((16, 16), np.float32), name="b")
    viewer.add_labels(np.zeros((32, 32), np.int32), name="a (worms) instances (edited)")
    widget.reset_choices()
    widget.image_combo.setCurrentText("a")
    assert widget.labels_combo.currentText() == "a (worms) instances (edited)"
    widget.image_combo.setCurrentText("b")
    assert widget.labels_combo.currentText() == "small"
    widget.labels_combo.setCurrentText("mine")
    widget.labels_combo.activated.emit(widget.labels_combo.currentIndex())  # what a user's click sends
    widget.image_combo.setCurrentText("a")
    assert widget.labels_combo.currentText() == "mine"


def test_a_trained_model_is_kept_in_the_users_model_folder(widget, qtbot, user_models_in_tmp):
    worker = widget.start()
    with qtbot.waitSignal(worker.finished, timeout=TIMEOUT_MS):
        pass
    kept = _user_models.path("my cells")
    assert kept.parent == user_models_in_tmp and widget.model_path == kept
    assert kept.read_bytes() == widget.last_checkpoint.read_bytes()  # a copy of the run's checkpoint


def test_the_progress_row_says_how_the_run_ended(widget, qtbot):
    worker = widget.start()
    with qtbot.waitSignal(worker.finished, timeout=TIMEOUT_MS):
        pass
    assert widget.progress.text() == "done: step 12 / 12"
    assert widget.status.text().startswith("done in ") and "Your model 'my cells' is in the Segment" in \
        widget.status.text()
    widget.knobs["steps"].setValue(400)
    worker = widget.start()
    qtbot.waitUntil(lambda: widget.last_checkpoint is not None, timeout=TIMEOUT_MS)
    with qtbot.waitSignal(worker.finished, timeout=TIMEOUT_MS):
        widget.cancel()
    assert widget.progress.text().startswith("cancelled: step ")


def test_a_gain_too_small_to_count_is_said_as_such(widget, tiny_model, monkeypatch):
    from napari_deepcolor._widgets import train_run
    from napari_deepcolor.training.loop import TrainEvent

    warnings = []
    monkeypatch.setattr(train_run, "show_warning", warnings.append)
    monkeypatch.setattr(train_run, "show_info", lambda message: None)
    widget._reset_run(9)
    widget.model_name = "mine"
    done = dict(kind="done", step=9, total=9, path=str(tiny_model), improved=False,
                start_metrics={"ap50": 0.727, "sbd": 0.7})
    widget._on_done(TrainEvent(**done, metrics={"ap50": 0.784, "sbd": 0.7}, needed=0.793))
    assert "scores AP50 0.784 against its starting model's 0.727" in warnings[-1] and "0.793" in warnings[-1]
    widget._on_done(TrainEvent(**done, metrics={"ap50": 0.70, "sbd": 0.7}, needed=0.793))
    assert "does not score better than the model it started from (AP50 0.727)" in warnings[-1]


def test_a_new_kind_of_image_is_said_in_a_notification_with_the_bundled_model_made_for_it(widget, monkeypatch):
    """The status line moves on with the first steps: what the start cannot see, and which bundled model may need no
    training, stays in a notification."""
    from napari_deepcolor._widgets import train_run
    from napari_deepcolor.training.finetune import NEW_KIND
    from napari_deepcolor.training.loop import TrainEvent

    infos = []
    monkeypatch.setattr(train_run, "show_info", infos.append)
    widget._reset_run(9)
    note = NEW_KIND + "; ..., which the bundled nuclei model was made for: it may segment them without any training"
    widget._on_event(TrainEvent("new_kind", 0, 9, note=note))
    assert infos == [note] and widget.status.text() == note


def test_what_the_automatic_object_size_of_the_model_will_be_is_said_when_training_ends(widget, tiny_model,
                                                                                      monkeypatch):
    """A fine-tuned model may keep its start's size model (too few images, or its own not reliable): the status line
    says so when the run does, and the notification at the end repeats it."""
    from napari_deepcolor._widgets import train_run
    from napari_deepcolor.training.loop import TrainEvent

    infos = []
    monkeypatch.setattr(train_run, "show_info", infos.append)
    widget._reset_run(9)
    widget.model_name = "mine"
    widget._on_event(TrainEvent("size_model", 9, 9))
    assert widget.status.text().startswith("fitting the model's automatic object size")
    note = "the automatic object size fitted on the training images is not reliable (...), so the model keeps that of x"
    widget._on_event(TrainEvent("size_model", 9, 9, note=note))
    assert widget.status.text() == note
    widget._on_done(TrainEvent("done", 9, 9, path=str(tiny_model), metrics={"ap50": 0.5, "sbd": 0.5}))
    assert infos[-1].endswith(f"Object size: {note}")
    widget._reset_run(9)
    widget._on_done(TrainEvent("done", 9, 9, path=str(tiny_model)))
    assert "Object size" not in infos[-1]  # a run that said nothing of it
