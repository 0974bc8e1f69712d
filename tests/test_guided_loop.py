"""The Segment widget's guided loop under Xvfb: Correct, Fine-tune on my corrections, Segment again with the new
model, driven by their buttons with a tiny model and a short training."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("napari")

from conftest import blobs_pair

from napari_deepcolor.zoo import user as _user_models

pytestmark = pytest.mark.gui
TIMEOUT_MS = 120_000


@pytest.fixture
def segmented(qtbot, make_napari_viewer, tiny_model):
    """A viewer with a "cells" image segmented by the tiny model: ``(viewer, segment widget, image layer)``."""
    _user_models.clear()
    viewer = make_napari_viewer()
    _, segment = viewer.window.add_plugin_dock_widget("napari-deepcolor", "Segment")
    segment._device.value = "cpu"
    image = viewer.add_image(blobs_pair(0)[0], name="cells")
    segment._image.value = image
    segment.add_model_file(tiny_model)
    segment._min_size.value = 0
    guided = segment._guided  # in view from the start, waiting for a result
    assert not guided.container.native.isHidden() and "Run first" in guided.hint.value
    assert not any(b.enabled for b in (guided.correct_button, guided.fine_tune_button, guided.again_button))
    run_and_settle(qtbot, segment)
    yield viewer, segment, image
    _user_models.clear()


def run_and_settle(qtbot, segment):
    segment.run()
    qtbot.waitUntil(lambda: not segment.running and not segment._results.pending, timeout=60_000)


def instances_of(viewer, model):
    """The result instances layer of ``model`` (a picker value), or None."""
    return next((layer for layer in viewer.layers if layer.metadata.get("napari_deepcolor", {}).get("role") ==
                 "instances" and layer.metadata["napari_deepcolor"]["model"] == model), None)


def quick_train_dock(viewer, tmp_path):
    """The Train dock opened beforehand with knobs for a few seconds of training (the user's choices: kept)."""
    _, train = viewer.window.add_plugin_dock_widget("napari-deepcolor", "Train / fine-tune")
    for name, value in {"patch_size": 32, "batch_size": 2, "steps": 8, "margin": 2}.items():
        train.knobs[name].setValue(value)
    train._user_chose()
    train.minutes_spin.setValue(0)
    train.stop_early_check.setChecked(False)
    train.output_edit.setText(str(tmp_path / "runs"))
    return train


def test_three_clicks_correct_fine_tune_and_segment_again(qtbot, segmented, tiny_model, tmp_path):
    viewer, segment, image = segmented
    guided = segment._guided
    assert not guided.container.native.isHidden()
    assert guided.correct_button.enabled and not guided.fine_tune_button.enabled and not guided.again_button.enabled

    # 1. Correct: the result's instances layer, selected, painting with a new id
    instances = instances_of(viewer, str(tiny_model))
    viewer.layers.selection.active = image
    guided.correct_button.native.click()
    assert viewer.layers.selection.active is instances and instances.mode == "paint"
    assert instances.selected_label == instances.data.max() + 1
    assert guided.hint.value == "paint over mistakes with a new id, erase with 0; then press Fine-tune"
    instances.paint((10, 10), instances.selected_label)  # the first stroke: the layer becomes the user's
    instances.data = blobs_pair(0)[1]  # ... and the rest of the corrections
    assert instances.name.endswith("(edited)") and guided.fine_tune_button.enabled
    assert guided.hint.value == "Corrected: press Fine-tune when you are done."
    corrected, image_data = instances.data.copy(), image.data.copy()

    # 2. Fine-tune: the Train dock filled with the image, the corrections and the model, and training
    train = quick_train_dock(viewer, tmp_path)
    guided.fine_tune_button.native.click()
    assert train.worker is not None
    assert (train.image_combo.currentText(), train.labels_combo.currentText(), train.start_combo.currentText()) == (
        "cells", instances.name, str(tiny_model))
    assert not guided.fine_tune_button.enabled and not guided.again_button.enabled
    assert "in the Train / fine-tune dock" in guided.hint.value
    qtbot.waitUntil(lambda: train.worker is None, timeout=TIMEOUT_MS)
    assert train.model_path is not None and guided.again_button.enabled
    assert train.model_path_name in guided.hint.value

    # 3. Segment again: the new model on the same image, into new layers; the corrections stay as they were
    guided.again_button.native.click()
    qtbot.waitUntil(lambda: not segment.running and not segment._results.pending, timeout=60_000)
    assert segment._model.value == str(train.model_path)
    again = instances_of(viewer, str(train.model_path))
    assert again is not None and again is not instances
    assert again.name == f"cells ({train.model_path_name}) instances"
    np.testing.assert_array_equal(instances.data, corrected)
    np.testing.assert_array_equal(image.data, image_data)
    assert not guided.again_button.enabled  # until another fine-tuning
    assert guided.correct_button.enabled and not guided.fine_tune_button.enabled  # the loop is about the new result


def test_fine_tune_asks_for_corrections_first_and_opens_the_train_dock_once(qtbot, segmented, notes, tmp_path):
    from napari_deepcolor._widgets.dock import find_dock
    from napari_deepcolor._widgets.train import TrainWidget

    viewer, segment, _ = segmented
    guided = segment._guided
    assert guided.fine_tune() is None  # nothing corrected yet
    assert ("warning", "correct the result first: press Correct and paint over its mistakes") in notes
    assert find_dock(viewer, TrainWidget) is None  # nothing opened
    guided.correct()
    layer = viewer.layers.selection.active
    layer.paint((5, 5), layer.selected_label)
    layer.data = blobs_pair(0)[1]
    train = guided.fine_tune()  # no Train dock yet: it is opened from the manifest
    assert train is not None and find_dock(viewer, TrainWidget) is train
    train.cancel()
    qtbot.waitUntil(lambda: train.worker is None, timeout=TIMEOUT_MS)
    assert guided.fine_tune_button.enabled  # to try again
    train.output_edit.setText(str(tmp_path / "runs"))
    assert guided.fine_tune() is train  # the same dock, not a second one
    assert [type(w) for w in viewer.window.dock_widgets.values()].count(TrainWidget) == 1
    train.cancel()
    qtbot.waitUntil(lambda: train.worker is None, timeout=TIMEOUT_MS)


def test_a_deleted_correction_or_image_is_a_notification(qtbot, segmented, notes):
    viewer, segment, image = segmented
    guided = segment._guided
    guided.correct()
    layer = viewer.layers.selection.active
    layer.paint((5, 5), layer.selected_label)
    viewer.layers.remove(layer)
    assert guided.fine_tune() is None
    assert notes[-1] == ("warning", f"your corrected layer '{layer.name}' was deleted: correct a result again")
    guided._layer = viewer.add_labels(np.ones((48, 48), np.int32), name="mine")
    viewer.layers.remove(image)
    assert guided.fine_tune() is None
    assert notes[-1] == ("warning", "the image 'cells' was deleted: open it again to fine-tune on it")
