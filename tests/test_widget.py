"""The Segment dock widget in a real napari viewer (Xvfb): runs, result layers, live tuning, cancel, bad input."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import numpy as np
import pytest

pytest.importorskip("napari")
torch = pytest.importorskip("torch")

from conftest import blobs_pair  # noqa: E402

from napari_deepcolor.predict import network as inference  # noqa: E402
from napari_deepcolor.zoo import bundled_models  # noqa: E402

pytestmark = pytest.mark.gui


@pytest.fixture
def network_calls(monkeypatch):
    """Counts network runs (tiles) and can slow them down (``calls.delay``, seconds)."""

    class Calls(list):
        delay = 0.0

    calls = Calls()
    run_tiled = inference._run_tiled

    def counting(*args, **kwargs):
        calls.append(1)
        time.sleep(calls.delay)
        return run_tiled(*args, **kwargs)

    monkeypatch.setattr(inference, "_run_tiled", counting)
    return calls


@pytest.fixture
def viewer_and_widget(make_napari_viewer):
    viewer = make_napari_viewer()
    _, widget = viewer.window.add_plugin_dock_widget("napari-deepcolor", "Segment")
    widget._device.value = "cpu"
    return viewer, widget


def hold_network(monkeypatch):
    """From now on the network runs once freely, then waits until ``gate.set()``: a deterministic moment to cancel or
    close. Returns ``(gate, calls)``, ``calls`` growing by one per network run (tile)."""
    gate, calls, run_tiled = threading.Event(), [], inference._run_tiled

    def gated(*args, **kwargs):
        calls.append(1)
        if len(calls) > 1:
            gate.wait(timeout=30)
        return run_tiled(*args, **kwargs)

    monkeypatch.setattr(inference, "_run_tiled", gated)
    return gate, calls


def segment_cells(qtbot, viewer, widget, model):
    """A "cells" image (blobs_pair(0)), segmented with ``model`` at τ = 0, waited for."""
    widget._image.value = viewer.add_image(blobs_pair(0)[0], name="cells")
    widget.add_model_file(model)
    widget._min_size.value = 0
    run_and_wait(qtbot, widget)


def run_and_wait(qtbot, widget, timeout=60_000):
    widget.run()
    settle(qtbot, widget, timeout=timeout)


def settle(qtbot, widget, timeout=30_000):
    """Wait for the run's end and its hidden result layers (made one per event-loop pass after the run)."""
    qtbot.waitUntil(lambda: not widget.running and not widget._results.pending, timeout=timeout)


def result_layers(viewer):
    """Role -> result layer (for the probabilities, one color's layer: `probability_layers` has them all)."""
    return {layer.metadata["napari_deepcolor"]["role"]: layer for layer in viewer.layers
            if "napari_deepcolor" in layer.metadata}


def probability_layers(viewer):
    """The color probabilities' layers, one per color, in color order."""
    layers = [layer for layer in viewer.layers
              if layer.metadata.get("napari_deepcolor", {}).get("role") == "probabilities"]
    return sorted(layers, key=lambda layer: layer.metadata["napari_deepcolor"]["color"])


def probabilities(viewer):
    """The probabilities ``(C, *leading, Y, X)`` the result layers show."""
    return np.stack([np.asarray(layer.data) for layer in probability_layers(viewer)])


def test_the_widget_comes_from_the_manifest(viewer_and_widget):
    from napari_deepcolor._widgets.pickers import LOAD_FILE
    from napari_deepcolor._widgets.segment import SegmentWidget

    viewer, widget = viewer_and_widget
    assert isinstance(widget, SegmentWidget)
    assert [value for value in widget._model.choices] == [*bundled_models(), LOAD_FILE]
    assert widget._device.choices == ("auto", "cpu", "cuda", "mps")
    assert widget._run.text == "Run"



def test_a_long_status_or_hint_wraps_to_the_dock_instead_of_widening_it(viewer_and_widget):
    """magicgui's labels are Fixed: a long wrapped status line used to hold the dock at least 700 px wide."""
    _, widget = viewer_and_widget
    status, hint = widget._status.native, widget._guided.hint.native
    widget._guided.hint.value = "Done."
    guided_width = hint.parentWidget().minimumSizeHint().width()
    widget._status.value = "object size 1 (auto: estimated 1.05), checked on the segmented objects; " * 4
    widget._guided.hint.value = "Fine-tuning a model with a long name in the Train / fine-tune dock; " * 3
    assert status.sizeHint().width() > 500  # what a Fixed label would hold its row to
    assert status.parentWidget().minimumSizeHint().width() < 300
    assert hint.parentWidget().minimumSizeHint().width() == guided_width
    for label in (status, hint):
        assert label.heightForWidth(300) > label.heightForWidth(1200)  # it wraps to the width it gets


def test_a_run_imports_what_the_first_result_layer_needs_on_its_worker_thread(qtbot, viewer_and_widget, tiny_model,
                                                                             monkeypatch):
    from napari_deepcolor._widgets import runs

    threads = []
    monkeypatch.setattr(runs, "import_ahead", lambda: threads.append(threading.current_thread()))
    viewer, widget = viewer_and_widget
    segment_cells(qtbot, viewer, widget, tiny_model)
    assert len(threads) == 1 and threads[0] is not threading.main_thread()


def test_the_model_follows_the_sample_image_until_the_user_picks_one(viewer_and_widget):
    viewer, widget = viewer_and_widget
    assert widget._model.value == "worms"  # a new widget: the C. elegans model, not the first name in the list
    for sample, model in (("ecoli", "ecoli-semiconv"), ("leaves", "leaves-semiconv"), ("worm_mask", "worms-mask"),
                          ("worms", "worms")):
        viewer.open_sample("napari-deepcolor", sample)
        widget._image.value = viewer.layers[-2]
        assert widget._model.value == model, sample
    viewer.add_image(np.zeros((64, 64, 3), np.uint8), name="my plant", rgb=True)  # not a sample: by its kind
    widget._image.value = viewer.layers["my plant"]
    assert widget._model.value == "leaves-semiconv"
    widget._model.value = "ecoli"  # the user's choice stays, whatever image comes next
    widget._image.value = viewer.layers["worms BBBC010 A01"]
    assert widget._model.value == "ecoli"

def test_a_run_on_the_sample_creates_the_result_layers_and_a_second_run_updates_them(qtbot, viewer_and_widget,
                                                                                      notes):
    viewer, widget = viewer_and_widget
    viewer.open_sample("napari-deepcolor", "worms")
    image, truth = viewer.layers
    image.scale, image.translate = (0.5, 0.25), (10.0, -4.0)
    truth_before = truth.data.copy()
    widget._image.value = image
    widget._model.value = "worms"
    run_and_wait(qtbot, widget)
    assert set(result_layers(viewer)) == {"instances"}  # the network's output layers only when asked for
    widget._outputs.value = True  # ... which makes them for the result on screen
    settle(qtbot, widget)
    layers = result_layers(viewer)
    assert set(layers) == {"probabilities", "colors", "instances"}
    n_colors = inference.model_info("worms")[0].n_colors
    assert probabilities(viewer).shape == (n_colors, 520, 696)
    assert layers["instances"].data.shape == layers["colors"].data.shape == (520, 696)
    assert layers["instances"].name == "worms BBBC010 A01 (worms) instances"
    np.testing.assert_array_equal(layers["instances"].scale, image.scale)
    np.testing.assert_array_equal(layers["instances"].translate, image.translate)
    for layer in probability_layers(viewer):  # one hidden layer per color, on the image's own axes
        np.testing.assert_array_equal(layer.scale, image.scale)
        np.testing.assert_array_equal(layer.translate, image.translate)
        assert not layer.visible and tuple(layer.axis_labels) == tuple(image.axis_labels)
    assert viewer.dims.ndim == 2
    assert "worms on cpu: 1 of 1 plane" in widget._status.value
    assert widget._run.text == "Run" and not [n for n in notes if n[0] == "error"]

    n_layers = len(viewer.layers)
    run_and_wait(qtbot, widget)
    assert len(viewer.layers) == n_layers
    assert result_layers(viewer)["instances"] is layers["instances"]
    np.testing.assert_array_equal(truth.data, truth_before)
    assert [layer.name for layer in viewer.layers][:2] == ["worms BBBC010 A01", "worms BBBC010 A01 labels"]


def test_a_new_instances_layer_is_shown_in_stages_and_never_left_hidden(qtbot, viewer_and_widget, tiny_model):
    """napari makes a Labels layer, its editing overlays and their first paint in one stretch: the instances layer
    is made with the run's result, added (hidden, without them) on the next event-loop pass, the window paints it on
    the pass after, then it is shown, then each overlay, on later passes."""
    from napari.layers import Labels

    from napari_deepcolor._widgets.result_layers import EDITING_OVERLAYS

    viewer, widget = viewer_and_widget
    widget._image.value = viewer.add_image(blobs_pair(0)[0], name="cells")
    widget.add_model_file(tiny_model)
    results = widget._results
    results._timer.setInterval(60_000)  # the later passes wait: the stages can be looked at
    widget.run()
    qtbot.waitUntil(lambda: not widget.running, timeout=60_000)
    assert "instances" not in result_layers(viewer) and results.pending == 1
    made_layer = widget._guided._layer  # the loop knows it already
    assert made_layer is not None and made_layer not in viewer.layers
    results._make_next()
    instances = result_layers(viewer)["instances"]
    assert instances is made_layer
    overlays = [instances._overlays[name] for name in EDITING_OVERLAYS]
    assert not instances.visible and not any(overlay.visible for overlay in overlays)
    assert results.pending == 2 + len(EDITING_OVERLAYS)
    made = viewer.window._qt_viewer.canvas._layer_overlay_to_visual[instances]  # napari's overlay visuals
    assert not set(overlays) & set(made)
    window = widget.native.window()
    assert not window.updatesEnabled()  # the window paints the added layer on a pass of its own
    results._make_next()
    assert window.updatesEnabled() and not instances.visible
    results._make_next()
    assert instances.visible and not any(overlay.visible for overlay in overlays)
    results.flush()
    assert instances.visible and all(overlay.visible for overlay in overlays) and results.pending == 0
    assert set(overlays) <= set(made)  # napari made them once they were visible

    viewer.layers.remove(instances)
    widget.run()
    qtbot.waitUntil(lambda: not widget.running, timeout=60_000)
    assert "instances" not in result_layers(viewer)
    results.close(make_pending=True)  # the dock closed before the later passes: the layer is added and shown
    again = result_layers(viewer)["instances"]
    assert again.visible and all(again._overlays[name].visible for name in EDITING_OVERLAYS)
    assert results.pending == 0

    viewer.layers.remove(again)
    widget.run()
    qtbot.waitUntil(lambda: not widget.running, timeout=60_000)
    widget._guided.correct()  # Correct before the layer's pass: it is added, shown and selected for painting now
    third = result_layers(viewer)["instances"]
    assert third.visible and viewer.layers.selection.active is third and third.mode == "paint"
    assert results.pending == 0

    viewer.layers.remove(third)
    widget.run()
    qtbot.waitUntil(lambda: not widget.running, timeout=60_000)
    results.close(make_pending=False)  # the viewer is closing: the layer not added yet stays out
    assert "instances" not in result_layers(viewer) and results.pending == 0
    assert results.find(widget._last, "instances", Labels) is None


def test_a_user_layer_with_a_result_name_is_left_alone(qtbot, viewer_and_widget, tiny_model):
    viewer, widget = viewer_and_widget
    image = viewer.add_image(blobs_pair(0)[0], name="cells")
    mine = viewer.add_labels(np.full((48, 48), 7, np.int32), name="cells (tiny) instances")
    widget._image.value = image
    widget.add_model_file(tiny_model)
    run_and_wait(qtbot, widget)
    assert (mine.data == 7).all() and mine.name == "cells (tiny) instances"
    assert result_layers(viewer)["instances"].name == "cells (tiny) instances [1]"


def test_painting_on_the_instances_makes_them_the_users_layer(qtbot, viewer_and_widget, spotty_model, notes):
    """Corrections by hand survive the sliders and a new run (they are what a user fine-tunes on)."""
    viewer, widget = viewer_and_widget
    segment_cells(qtbot, viewer, widget, spotty_model)
    instances = result_layers(viewer)["instances"]
    instances.selected_label = 99
    instances.paint((5, 5), 99)  # what the brush does: an undoable edit, napari's paint event
    painted = instances.data.copy()
    assert (painted == 99).any()
    assert instances.name == "cells (spotty) instances (edited)" and "napari_deepcolor" not in instances.metadata
    assert any(level == "info" and "edited by hand" in message for level, message in notes)
    widget._min_size.value = 40  # the sliders now write a new layer
    qtbot.waitUntil(lambda: "instances" in result_layers(viewer), timeout=5000)
    run_and_wait(qtbot, widget)
    np.testing.assert_array_equal(instances.data, painted)
    assert result_layers(viewer)["instances"] is not instances


def test_another_model_keeps_the_first_models_results(qtbot, viewer_and_widget, spotty_model, tiny_model):
    viewer, widget = viewer_and_widget
    segment_cells(qtbot, viewer, widget, spotty_model)
    first = result_layers(viewer)["instances"]
    shown = first.data.copy()
    widget.add_model_file(tiny_model)  # its knobs fill the sliders, the result on screen is not decoded again
    qtbot.wait(50)
    np.testing.assert_array_equal(first.data, shown)
    assert "press Run" in widget._status.value
    run_and_wait(qtbot, widget)
    names = sorted(layer.name for layer in viewer.layers if layer.name.endswith(" instances"))
    assert names == ["cells (spotty) instances", "cells (tiny) instances"]
    np.testing.assert_array_equal(first.data, shown)


def test_an_ensemble_file_runs_like_any_model(qtbot, viewer_and_widget, spotty_model, tmp_path, notes):
    from napari_deepcolor.checkpoint import save_checkpoint
    from napari_deepcolor.predict.ensemble import make_ensemble

    viewer, widget = viewer_and_widget
    widget._outputs.value = True
    path = save_checkpoint(tmp_path / "ensemble.safetensors",
                           make_ensemble([spotty_model, spotty_model], [blobs_pair(1)[0]], flips=4))
    segment_cells(qtbot, viewer, widget, path)
    assert not errors(notes)
    layers = result_layers(viewer)
    assert layers["instances"].data.shape == (48, 48) and layers["instances"].data.max() >= 2
    assert probabilities(viewer).shape[0] == 4


def test_deleting_the_image_stops_the_sliders(qtbot, viewer_and_widget, spotty_model):
    """The result of a deleted image does not come back over the next image when a slider moves."""
    viewer, widget = viewer_and_widget
    image = viewer.add_image(blobs_pair(0)[0], name="cells")
    widget._image.value = image
    widget.add_model_file(spotty_model)
    run_and_wait(qtbot, widget)
    viewer.layers.clear()
    viewer.add_image(np.zeros((30, 30), np.float32), name="next")
    widget._min_size.value = 10
    qtbot.wait(100)
    assert [layer.name for layer in viewer.layers] == ["next"]
    assert "press Run" in widget._status.value


def test_moving_tau_changes_the_labels_without_running_the_network(qtbot, viewer_and_widget, spotty_model,
                                                                    network_calls):
    viewer, widget = viewer_and_widget
    segment_cells(qtbot, viewer, widget, spotty_model)
    instances = result_layers(viewer)["instances"]
    before, calls = instances.data.copy(), len(network_calls)
    assert before.max() > 1
    widget._min_size.value = 40
    qtbot.waitUntil(lambda: not np.array_equal(instances.data, before), timeout=5000)
    assert len(network_calls) == calls
    np.testing.assert_array_equal(np.unique(instances.data)[1:], np.arange(1, instances.data.max() + 1))
    assert instances.data.max() < before.max()
    widget._merge_distance.value = 60  # ρ merges pieces of one color: never more instances
    qtbot.wait(50)
    assert instances.data.max() <= result_layers(viewer)["instances"].data.max() <= before.max()
    assert len(network_calls) == calls


def test_the_status_line_and_the_thumbnail_follow_the_sliders_after_a_pause(qtbot, viewer_and_widget, spotty_model):
    """While a slider moves only the canvas follows (the layer list and the dock repaint after a pause)."""
    viewer, widget = viewer_and_widget
    segment_cells(qtbot, viewer, widget, spotty_model)
    instances = result_layers(viewer)["instances"]
    before, thumbnail = widget._shown.result.n_instances(), instances.thumbnail.copy()
    assert f"; {before} instances" in widget._status.value
    widget._min_size.value = 40
    qtbot.waitUntil(lambda: widget._shown.result.n_instances() < before, timeout=5000)
    qtbot.waitUntil(lambda: f"; {widget._shown.result.n_instances()} instances" in widget._status.value, timeout=5000)
    assert not np.array_equal(instances.thumbnail, thumbnail)


def test_joining_fragments_below_tau_is_a_live_knob(qtbot, viewer_and_widget, spotty_model, network_calls):
    from napari_deepcolor.postprocess.coloring import colors_to_labels

    viewer, widget = viewer_and_widget
    widget._image.value = viewer.add_image(blobs_pair(0)[0], name="cells")
    widget.add_model_file(spotty_model)
    assert not widget._absorb.native.isHidden() and widget._absorb.value is False  # the model's recommendation
    widget._min_size.value = 40
    widget._outputs.value = True
    run_and_wait(qtbot, widget)
    layers = result_layers(viewer)
    probs, calls = probabilities(viewer), len(network_calls)
    plain = colors_to_labels(probs, min_size=40).labels
    joined = colors_to_labels(probs, min_size=40, absorb_fragments=True).labels
    np.testing.assert_array_equal(layers["instances"].data, plain)
    assert (joined > 0).sum() > (plain > 0).sum()  # fragments were joined, not dropped
    widget._absorb.value = True
    qtbot.waitUntil(lambda: np.array_equal(layers["instances"].data, joined), timeout=5000)
    assert widget.knobs().absorb_fragments and len(network_calls) == calls


def test_a_stack_is_segmented_plane_by_plane_and_tau_updates_every_plane(qtbot, viewer_and_widget, spotty_model,
                                                                         network_calls, notes):
    viewer, widget = viewer_and_widget
    stack = np.stack([blobs_pair(seed)[0] for seed in range(3)])
    widget._image.value = viewer.add_image(stack, name="timelapse")
    widget.add_model_file(spotty_model)
    widget._min_size.value = 0
    widget._outputs.value = True
    run_and_wait(qtbot, widget)
    layers = result_layers(viewer)
    assert probabilities(viewer).shape == (4, 3, 48, 48) and layers["instances"].data.shape == (3, 48, 48)
    assert len(network_calls) == 3
    assert "3 of 3 planes" in widget._status.value
    assert ("info", "'timelapse' is segmented as a stack of 3 planes, one by one; if they are channels, split them "
                    "into layers (right-click the layer > Split Stack) and segment the one to segment") in notes
    before = layers["instances"].data.copy()
    viewer.dims.set_current_step(0, 2)  # the viewer shows plane 2 (axis 0 of the world: time, y, x)
    assert widget._results.displayed_plane(widget._shown) == (2,)
    widget._min_size.value = 40
    qtbot.waitUntil(lambda: not np.array_equal(layers["instances"].data[2], before[2]), timeout=5000)
    qtbot.waitUntil(lambda: not np.array_equal(layers["instances"].data[0], before[0]), timeout=5000)
    assert len(network_calls) == 3


def test_the_probabilities_never_take_over_a_stacks_plane_slider(qtbot, viewer_and_widget, spotty_model):
    """One hidden layer per color on the stack's own axes: the viewer keeps the stack's 3 axes, its plane slider
    stays where the user left it and stays the plane axis (no "color" axis, no "-3" label)."""
    viewer, widget = viewer_and_widget
    stack = viewer.add_image(np.stack([blobs_pair(seed)[0] for seed in range(3)]), name="timelapse")
    widget._image.value = stack
    widget.add_model_file(spotty_model)
    widget._outputs.value = True
    viewer.dims.set_current_step(0, 1)
    labels_before, range_before = tuple(viewer.dims.axis_labels), viewer.dims.range[0]
    run_and_wait(qtbot, widget)
    run_and_wait(qtbot, widget)  # a second run updates the same layers
    assert viewer.dims.ndim == 3 and tuple(viewer.dims.axis_labels) == labels_before
    assert viewer.dims.range[0] == range_before and viewer.dims.current_step[0] == 1
    layers = probability_layers(viewer)
    assert [layer.metadata["napari_deepcolor"]["color"] for layer in layers] == [0, 1, 2, 3]
    assert all(layer.data.shape == (3, 48, 48) and not layer.visible for layer in layers)
    assert layers[0].name == "timelapse (spotty) probabilities 0 (background)"
    assert widget._results.displayed_plane(widget._shown) == (1,)
    np.testing.assert_allclose(probabilities(viewer).sum(axis=0), 1.0, atol=1e-4)


def _run_on_a_stack(qtbot, viewer_and_widget, model):
    """Segment a 3-plane stack of blobs with ``model`` (τ = 0): the viewer, the widget and the instances layer."""
    viewer, widget = viewer_and_widget
    widget._image.value = viewer.add_image(np.stack([blobs_pair(seed)[0] for seed in range(3)]), name="timelapse")
    widget.add_model_file(model)
    widget._min_size.value = 0
    run_and_wait(qtbot, widget)
    return viewer, widget, result_layers(viewer)["instances"]


def test_a_stacks_other_planes_are_decoded_in_a_worker_and_a_plane_moved_to_at_once(qtbot, viewer_and_widget,
                                                                                    spotty_model, monkeypatch):
    from napari_deepcolor.predict import stack as stack_module

    viewer, widget, layer = _run_on_a_stack(qtbot, viewer_and_widget, spotty_model)
    before = layer.data.copy()
    in_main, gate, decode = [], threading.Event(), stack_module.ColoringPlane.decode

    def held_in_worker(plane, knobs):
        in_main.append(threading.current_thread() is threading.main_thread())
        if not in_main[-1]:
            gate.wait(10)  # the worker stays on its first plane until the test lets it go
        return decode(plane, knobs)

    monkeypatch.setattr(stack_module.ColoringPlane, "decode", held_in_worker)
    viewer.dims.set_current_step(0, 2)  # the viewer shows plane 2
    widget._min_size.value = 40
    qtbot.waitUntil(lambda: False in in_main, timeout=5000)  # after the pause, the other planes went to a worker
    assert not np.array_equal(layer.data[2], before[2])  # the shown plane, decoded at once in the GUI thread
    assert np.array_equal(layer.data[0], before[0]) and widget._shown.result.stale() == [(0,), (1,)]
    viewer.dims.set_current_step(0, 0)  # the user moves to a plane the worker has not stored yet
    qtbot.waitUntil(lambda: not np.array_equal(layer.data[0], before[0]), timeout=5000)
    gate.set()
    qtbot.waitUntil(lambda: not widget._shown.result.stale(), timeout=5000)
    assert not np.array_equal(layer.data[1], before[1])


def test_cancel_stops_the_worker(qtbot, viewer_and_widget, tiny_model, monkeypatch, notes):
    viewer, widget = viewer_and_widget
    widget._image.value = viewer.add_image(np.random.default_rng(0).random((20, 32, 32)), name="movie")
    widget.add_model_file(tiny_model)
    widget._outputs.value = True
    gate, calls = hold_network(monkeypatch)
    widget._run.native.click()
    assert widget.running and widget._run.text == "Cancel" and not widget._model.enabled
    qtbot.waitUntil(lambda: "instances" in result_layers(viewer), timeout=30_000)
    widget._run.native.click()  # Cancel
    assert widget._run.text == "Cancelling..."
    gate.set()
    settle(qtbot, widget)
    assert len(calls) == 2
    assert widget._run.text == "Run" and widget._model.enabled
    assert ("info", "cancelled: 1 of 20 planes of 'movie' were segmented; their results are kept") in notes
    assert widget._status.value.startswith("cancelled; tiny on cpu: 1 of 20 planes")
    assert probabilities(viewer).shape == (4, 20, 32, 32)


def test_semiconv_gives_vectors_foreground_and_live_kernel_knobs(qtbot, viewer_and_widget, tiny_semiconv_model,
                                                                 network_calls):
    viewer, widget = viewer_and_widget
    widget._image.value = viewer.add_image(blobs_pair(0)[0], name="cells")
    widget.add_model_file(tiny_semiconv_model)
    assert not widget._threshold.native.isHidden() and not widget._sigma_scale.native.isHidden()
    assert widget._merge_distance.native.isHidden() and widget._absorb.native.isHidden()
    widget._min_size.value = 0
    widget._foreground_threshold.value = 0.3
    run_and_wait(qtbot, widget)
    layers = result_layers(viewer)
    assert set(layers) == {"instances"}  # the foreground and the arrows with the network output layers only
    widget._outputs.value = True  # ticked: the result on screen gets them, on later event-loop passes
    qtbot.waitUntil(lambda: set(result_layers(viewer)) == {"displacements", "foreground", "instances"}, timeout=5000)
    layers = result_layers(viewer)
    assert layers["displacements"].data.shape[1:] == (2, 2)
    calls, before = len(network_calls), layers["instances"].data.copy()
    widget._sigma_scale.value = 0.1
    qtbot.waitUntil(lambda: not np.array_equal(layers["instances"].data, before), timeout=5000)
    widget._threshold.value = 0.9
    qtbot.wait(50)
    assert len(network_calls) == calls


def test_rgb_input_to_a_gray_model_is_averaged_with_a_notification(qtbot, viewer_and_widget, tiny_model, notes):
    viewer, widget = viewer_and_widget
    rgb = np.random.default_rng(0).integers(0, 255, (40, 50, 3), dtype=np.uint8)
    widget._image.value = viewer.add_image(rgb, name="photo", rgb=True)
    widget.add_model_file(tiny_model)
    run_and_wait(qtbot, widget)
    assert ("info", "'photo' is RGB and the model tiny takes gray images: its channels are averaged into one "
                    "gray image") in notes
    assert result_layers(viewer)["instances"].data.shape == (40, 50)


def test_rgba_input_to_an_rgb_model_says_the_alpha_is_ignored(qtbot, viewer_and_widget, notes):
    viewer, widget = viewer_and_widget
    rgba = np.random.default_rng(0).integers(0, 255, (48, 48, 4), dtype=np.uint8)
    widget._image.value = viewer.add_image(rgba, name="leaf", rgb=True)
    widget._model.value = "leaves-semiconv"
    run_and_wait(qtbot, widget)
    assert ("info", "'leaf' is RGBA: the model leaves-semiconv uses its RGB channels, the alpha channel is "
                    "ignored") in notes


# -- bad input: a notification saying what to do, and the widget stays usable --------------------------------------


def errors(notes):
    return [message for level, message in notes if level == "error"]


def test_no_image_layer(viewer_and_widget, notes):
    viewer, widget = viewer_and_widget
    widget.run()
    assert errors(notes) == [
        "there is no image to segment: open one (File > Open, or File > Open Sample > Deep Coloring) and choose it "
        "under 'image'"]
    assert not widget.running


def test_worms_mask_splits_a_labels_layer_and_refuses_a_bright_field_image(qtbot, viewer_and_widget, notes):
    viewer, widget = viewer_and_widget
    viewer.open_sample("napari-deepcolor", "worm_mask")
    mask_image, truth = viewer.layers
    assert widget._model.value == "worms-mask"
    users_mask = viewer.add_labels((mask_image.data > 0).astype(np.int32), name="my worm mask")
    before = users_mask.data.copy()
    widget._image.reset_choices()
    widget._image.value = users_mask
    run_and_wait(qtbot, widget, timeout=120_000)
    assert not errors(notes)
    instances = result_layers(viewer)["instances"]
    assert instances is not users_mask and np.array_equal(users_mask.data, before)  # the user's layer is kept
    assert instances.data.max() >= 10 and np.count_nonzero(instances.data[~(before > 0)]) == 0
    viewer.open_sample("napari-deepcolor", "worms")
    widget._image.value = viewer.layers["worms BBBC010 A01"]
    widget._model.value = "worms-mask"
    run_and_wait(qtbot, widget, timeout=120_000)
    (message,) = errors(notes)
    assert "it looks like a microscope image" in message and "Traceback" not in message


def test_labels_layers_come_before_other_layers_for_a_model_that_takes_masks(viewer_and_widget):
    viewer, widget = viewer_and_widget
    viewer.add_points([[1, 2]], name="spots")
    viewer.add_labels(np.zeros((8, 8), np.int32), name="mask")
    viewer.add_image(np.zeros((8, 8), np.float32), name="picture")
    widget._model.value = "worms"
    assert widget._image.native.itemText(1) == "spots (Points)"  # offered, and refused with a message when run
    widget._image.value = viewer.layers["spots"]
    widget._model.value = "worms-mask"
    names = [widget._image.native.itemText(i) for i in range(widget._image.native.count())]
    assert names == ["picture", "mask (Labels)", "spots (Points)"]
    assert widget._image.value is viewer.layers["spots"]  # the user's choice stays
    assert widget._status.value == ("worms-mask: coloring, 9 colors (0 = background), takes a foreground mask "
                                    "(Image or Labels layer); press Run to segment")


def test_object_size_scales_the_knobs_and_segments_larger_worms(qtbot, viewer_and_widget, notes):
    viewer, widget = viewer_and_widget
    viewer.open_sample("napari-deepcolor", "worms")
    image = viewer.layers["worms BBBC010 A01"]
    widget._image.value = image
    widget._model.value = "worms"
    widget._picker.auto_size.value = False  # type the size: 1 here
    run_and_wait(qtbot, widget)
    at_1 = result_layers(viewer)["instances"].data.max()
    enlarged = viewer.add_image(np.kron(image.data, np.ones((2, 2), image.data.dtype)), name="enlarged")
    widget._image.value = enlarged
    widget._object_size.value = 0.1  # the image would be enlarged 5 times for the network
    assert errors(notes) == ["object size 0.1 would enlarge the image 5 times before the network (this model "
                             "already runs at scale 0.5); the most is 4: use an object size of at least 0.125; the "
                             "object size is back at 1"]
    assert widget._object_size.value == 1
    widget._object_size.value = 2
    assert widget._min_size.value == 4 * 600  # τ is an area
    run_and_wait(qtbot, widget)
    instances = [layer for layer in viewer.layers if layer.name.startswith("enlarged") and "instances" in layer.name]
    assert abs(int(instances[0].data.max()) - int(at_1)) <= 2 and instances[0].data.shape == enlarged.data.shape
    widget._model.value = "worms-mask"  # the size is the images', so it stays for the next model
    assert widget._object_size.value == 2 and widget._min_size.value == 4 * 600


@pytest.mark.parametrize("kind", ["labels", "points"])
def test_a_labels_or_points_layer_as_input(viewer_and_widget, notes, kind):
    viewer, widget = viewer_and_widget
    layer = (viewer.add_labels(np.zeros((8, 8), np.int32), name="mask") if kind == "labels"
             else viewer.add_points([[1, 2]], name="mask"))
    widget._image.reset_choices()
    widget._image.value = layer
    widget.run()
    assert errors(notes) == [f"'mask' is a {type(layer).__name__} layer, not an image: choose an Image layer under "
                             "'image'. (If it holds intensities, right-click it in the layer list and convert it to "
                             "an Image layer; a Labels layer is the input of a model that takes masks, such as "
                             "worms-mask.)"]
    assert not widget.running


def test_unsupported_dimensions(viewer_and_widget, notes):
    viewer, widget = viewer_and_widget
    widget._image.value = viewer.add_image(np.zeros((2, 2, 2, 16, 16), np.float32), name="5d")
    widget.run()
    (message,) = errors(notes)
    assert message.startswith("cannot segment '5d': expected a 2D image or a stack of 2D planes with at most 2 more "
                              "axes (time, z), got shape (2, 2, 2, 16, 16)")
    assert "Split Stack" in message and not widget.running
    assert widget._status.value == f"not run: {message}"  # not the last run's, of another image


def test_a_model_file_that_does_not_load(qtbot, viewer_and_widget, notes, tmp_path, tiny_model):
    viewer, widget = viewer_and_widget
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(b"\x80\x04not a checkpoint at all")
    chosen = widget._model.value
    assert not widget.add_model_file(garbage)
    (message,) = errors(notes)
    assert message.startswith(f"could not load the model file: {garbage} is a pickle")
    assert message.endswith("Choose a napari-deepcolor checkpoint (.safetensors, as written by deepcolor train) "
                            "or a bundled model.")
    assert widget._model.value == chosen and str(garbage) not in widget._picker.files

    # a readable header over weights that do not fit its network fails in the worker, with a notification
    from napari_deepcolor.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
    from napari_deepcolor.config import ModelConfig

    checkpoint = load_checkpoint(tiny_model)
    mismatched = save_checkpoint(tmp_path / "mismatched.safetensors",
                                 Checkpoint(ModelConfig(n_colors=4, depth=3, width=4), checkpoint.state_dict, {}))
    widget._image.value = viewer.add_image(blobs_pair(0)[0], name="cells")
    assert widget.add_model_file(mismatched)
    run_and_wait(qtbot, widget)
    message = errors(notes)[-1]
    assert message.startswith("segmenting 'cells' failed: could not load the model: ")
    assert "weights do not fit the unet network" in message
    assert widget._run.text == "Run" and widget._image.enabled
    assert not result_layers(viewer)
    # the window stays usable: the next run works
    widget.add_model_file(tiny_model)
    run_and_wait(qtbot, widget)
    assert "instances" in result_layers(viewer)


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_a_device_that_is_not_available(qtbot, viewer_and_widget, notes, tiny_model):
    viewer, widget = viewer_and_widget
    widget._image.value = viewer.add_image(blobs_pair(0)[0], name="cells")
    widget.add_model_file(tiny_model)
    widget._device.value = "cuda"
    run_and_wait(qtbot, widget)
    (message,) = errors(notes)
    assert message.startswith("segmenting 'cells' failed: the device 'cuda' is not available on this machine")
    assert message.endswith("choose 'auto' (CUDA, then Apple MPS, else CPU) or 'cpu'")
    widget._device.value = "auto"
    run_and_wait(qtbot, widget)
    assert "on cpu" in widget._status.value and len(errors(notes)) == 1


def test_opening_the_widget_loads_no_torch():
    code = (
        "import sys, napari\n"
        "viewer = napari.Viewer(show=False)\n"
        "viewer.add_image(__import__('numpy').zeros((8, 8)))\n"
        "_, widget = viewer.window.add_plugin_dock_widget('napari-deepcolor', 'Segment')\n"
        "widget._model.value = widget._model.choices[0]\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
        "viewer.close()\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_a_script_that_exits_with_the_docks_open_exits_cleanly():
    """The interpreter's exit deletes Qt objects in any order: the docks' closing must not raise (it aborted)."""
    code = (
        "import napari, numpy\n"
        "viewer = napari.Viewer(show=False)\n"
        "viewer.add_image(numpy.zeros((8, 8)))\n"
        "viewer.window.add_plugin_dock_widget('napari-deepcolor', 'Segment')\n"
        "viewer.window.add_plugin_dock_widget('napari-deepcolor', 'Train / fine-tune')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr[-2000:]


def test_an_unexpected_error_in_the_worker_leaves_the_widget_usable(qtbot, viewer_and_widget, tiny_model,
                                                                    monkeypatch):
    from napari_deepcolor.predict import stack

    viewer, widget = viewer_and_widget
    widget._image.value = viewer.add_image(blobs_pair(0)[0], name="cells")
    widget.add_model_file(tiny_model)
    relayed = []
    monkeypatch.setattr("napari.utils.notifications.notification_manager.receive_error",
                        lambda *args, **kwargs: relayed.append(args))

    def broken(*args, **kwargs):
        raise KeyError("a bug")

    monkeypatch.setattr(stack, "predict_plane", broken)
    run_and_wait(qtbot, widget)
    assert len(relayed) == 1 and relayed[0][0] is KeyError  # napari's error notification, with its traceback
    assert widget._status.value == "tiny: failed (see the notification)"
    assert widget._run.text == "Run" and widget._image.enabled


def test_load_file_opens_a_dialog_and_cancelling_it_keeps_the_model(viewer_and_widget, tiny_model, monkeypatch):
    from qtpy.QtWidgets import QFileDialog

    from napari_deepcolor._widgets.pickers import LOAD_FILE

    viewer, widget = viewer_and_widget
    before = widget._model.value
    answers = iter([("", ""), (str(tiny_model), "")])
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *args, **kwargs: next(answers))
    widget._model.value = LOAD_FILE  # the dialog is cancelled
    assert widget._model.value == before
    widget._model.value = LOAD_FILE  # a file is chosen
    assert widget._model.value == str(tiny_model) and widget._picker.config.n_colors == 4
    assert widget._status.value == ("tiny: coloring, 4 colors (0 = background), takes gray images; press Run to "
                                    "segment")


def test_a_multiscale_image_is_segmented_at_full_resolution(qtbot, viewer_and_widget, tiny_model, notes):
    viewer, widget = viewer_and_widget
    full = blobs_pair(0, size=64)[0]
    widget._image.value = viewer.add_image([full, full[::2, ::2]], name="pyramid", multiscale=True)
    widget.add_model_file(tiny_model)
    run_and_wait(qtbot, widget)
    assert ("info", "'pyramid' is multiscale: its full-resolution level is segmented") in notes
    assert result_layers(viewer)["instances"].data.shape == (64, 64)


def test_an_image_too_large_for_memory_is_refused_before_any_work(viewer_and_widget, notes, monkeypatch, tiny_model):
    import collections

    import psutil

    viewer, widget = viewer_and_widget
    widget._image.value = viewer.add_image(blobs_pair(0)[0], name="cells")
    widget.add_model_file(tiny_model)
    memory = collections.namedtuple("memory", "available")
    monkeypatch.setattr(psutil, "virtual_memory", lambda: memory(available=10_000))  # 10 kB free
    widget.run()
    assert not widget.running
    (message,) = [m for level, m in notes if level == "error"]
    assert "needs about" in message and "deepcolor predict" in message


def test_a_two_channel_image_is_not_taken_for_a_stack_of_slivers(viewer_and_widget, notes, tiny_model):
    viewer, widget = viewer_and_widget
    image = blobs_pair(0)[0]
    widget._image.value = viewer.add_image(np.stack([image, image], -1), name="two channels")
    widget.add_model_file(tiny_model)
    widget.run()
    assert not widget.running
    (message,) = [m for level, m in notes if level == "error"]
    assert "looks like color channels" in message


def test_meaningless_displacement_arrows_are_hidden_and_explained(qtbot, viewer_and_widget, notes):
    """leaves-semiconv separates leaves by its appearance dimensions: its arrows all run to one corner."""
    viewer, widget = viewer_and_widget
    viewer.open_sample("napari-deepcolor", "leaves")
    widget._image.value = viewer.layers[0]
    assert widget._model.value == "leaves-semiconv"
    widget._outputs.value = True
    run_and_wait(qtbot, widget)
    arrows = result_layers(viewer)["displacements"]
    assert not arrows.visible
    assert any("displacement arrows end inside their own object" in m for level, m in notes if level == "info")


def test_a_run_keeps_the_users_zoom_and_the_sample_opens_readable(qtbot, viewer_and_widget):
    viewer, widget = viewer_and_widget
    viewer.open_sample("napari-deepcolor", "worms")
    image, truth = viewer.layers
    low, high = image.contrast_limits
    assert np.mean(image.data > high) < 0.01 and low > image.data.min()  # percentiles, not min/max
    assert not truth.visible  # the results are not drawn over the ground truth
    viewer.camera.zoom, viewer.camera.center = 4.0, (0.0, 100.0, 200.0)
    widget._image.value = image
    run_and_wait(qtbot, widget)
    assert viewer.camera.zoom == pytest.approx(4.0)
    assert tuple(viewer.camera.center)[-2:] == pytest.approx((100.0, 200.0))


def test_a_brush_stroke_never_leaks_into_the_next_instances_layer(qtbot, viewer_and_widget, spotty_model):
    """napari's brush paints inside block_history: the paint event comes after the data changed."""
    viewer, widget = viewer_and_widget
    segment_cells(qtbot, viewer, widget, spotty_model)
    mine = result_layers(viewer)["instances"]
    with mine.block_history():
        mine.paint((5, 5), 99)
    assert (mine.data == 99).any() and mine.name.endswith("(edited)")
    assert not (widget._shown.result.labels == 99).any()  # what the next layer (or the next plane of a stack) shows
    widget._min_size.value = 1
    qtbot.waitUntil(lambda: "instances" in result_layers(viewer), timeout=5000)
    assert not (result_layers(viewer)["instances"].data == 99).any()


def test_painting_on_a_stacks_instances_decodes_its_planes_again_in_a_worker(qtbot, viewer_and_widget, spotty_model,
                                                                             monkeypatch):
    """The layer keeps the stroke; the result gets a new array, decoded again off the GUI thread (a long stack
    would hold the window)."""
    from napari_deepcolor.predict import stack as stack_module

    viewer, widget, mine = _run_on_a_stack(qtbot, viewer_and_widget, spotty_model)
    decoded = mine.data.copy()
    in_main, decode = [], stack_module.ColoringPlane.decode

    def recorded(plane, knobs):
        in_main.append(threading.current_thread() is threading.main_thread())
        return decode(plane, knobs)

    monkeypatch.setattr(stack_module.ColoringPlane, "decode", recorded)
    mine.paint((1, 5, 5), 99)
    result = widget._shown.result
    assert mine.name.endswith("(edited)") and result.labels is not mine.data and (mine.data == 99).any()
    qtbot.waitUntil(lambda: np.array_equal(result.labels, decoded), timeout=5000)
    assert len(in_main) == 3 and not any(in_main)
    assert "instances" not in result_layers(viewer)  # nothing new over the user's layer until a slider or a run


def test_a_duplicated_result_layer_is_the_users(qtbot, viewer_and_widget, spotty_model):
    """Layers > Duplicate copies the metadata tag; the widget still writes only to the layers it made."""
    viewer, widget = viewer_and_widget
    segment_cells(qtbot, viewer, widget, spotty_model)
    original = result_layers(viewer)["instances"]
    copy = viewer.add_labels(original.data.copy(), name="my copy", metadata=dict(original.metadata))
    viewer.layers.move(viewer.layers.index(copy), 0)  # below the original: found first by a tag search
    copy.data[:5, :5] = 99
    kept = copy.data.copy()
    widget._min_size.value = 40
    qtbot.wait(100)
    np.testing.assert_array_equal(copy.data, kept)


def test_the_last_and_best_checkpoints_of_a_run_get_their_own_layers(qtbot, viewer_and_widget, spotty_model,
                                                                     tmp_path):
    import shutil

    viewer, widget = viewer_and_widget
    widget._image.value = viewer.add_image(blobs_pair(0)[0], name="cells")
    (tmp_path / "run1").mkdir()
    for name in ("last", "best"):
        shutil.copy(spotty_model, tmp_path / "run1" / f"{name}.safetensors")
        widget.add_model_file(tmp_path / "run1" / f"{name}.safetensors")
        run_and_wait(qtbot, widget)
    names = sorted(layer.name for layer in viewer.layers if layer.name.endswith(" instances"))
    assert names == ["cells (run1 best) instances", "cells (run1) instances"]


def test_slow_semiconv_sliders_update_on_release(qtbot, viewer_and_widget, tiny_semiconv_model, monkeypatch):
    from napari_deepcolor._widgets import live_tuning as _widget

    viewer, widget = viewer_and_widget
    widget._image.value = viewer.add_image(blobs_pair(0)[0], name="cells")
    widget.add_model_file(tiny_semiconv_model)
    widget._foreground_threshold.value = 0.3
    run_and_wait(qtbot, widget)
    assert widget._threshold.tracking
    monkeypatch.setattr(_widget, "SLOW_DECODE_SECONDS", 0.0)  # every reclustering counts as slow
    widget._threshold.value = 0.6
    qtbot.waitUntil(lambda: not widget._threshold.tracking, timeout=5000)
    assert not widget._sigma_scale.tracking and "updates when released" in widget._threshold.tooltip
    widget._min_size.value = 3  # τ does not recluster: it says nothing about the speed
    qtbot.wait(50)
    assert not widget._threshold.tracking
    monkeypatch.setattr(_widget, "SLOW_DECODE_SECONDS", 1e9)
    widget._threshold.value = 0.7
    qtbot.waitUntil(lambda: widget._threshold.tracking, timeout=5000)
    assert "updates when released" not in widget._threshold.tooltip


def held_run_on_a_movie(qtbot, make_napari_viewer, tiny_model, monkeypatch):
    """A Segment dock running on a 20-plane movie, its network held after the first plane (`hold_network`): returns
    ``(viewer, dock, widget, gate, worker, calls)``."""
    viewer = make_napari_viewer()
    dock, widget = viewer.window.add_plugin_dock_widget("napari-deepcolor", "Segment")
    widget._device.value = "cpu"
    widget._image.value = viewer.add_image(np.random.default_rng(0).random((20, 32, 32)), name="movie")
    widget.add_model_file(tiny_model)
    gate, calls = hold_network(monkeypatch)
    widget.run()
    qtbot.waitUntil(lambda: "instances" in result_layers(viewer), timeout=30_000)
    return viewer, dock, widget, gate, widget._worker, calls


def test_closing_the_dock_with_its_x_stops_the_run(qtbot, make_napari_viewer, tiny_model, monkeypatch):
    """napari's close button removes the dock without destroying the widget: the run must stop all the same, and a
    Segment widget opened again updates the same result layers."""
    viewer, dock, widget, gate, worker, calls = held_run_on_a_movie(qtbot, make_napari_viewer, tiny_model,
                                                                    monkeypatch)
    viewer.window.remove_dock_widget(dock)  # what the dock's "x" does
    with qtbot.waitSignal(worker.finished, timeout=30_000):
        gate.set()
    assert len(calls) == 2  # stopped after the tile in progress, not all 20 planes
    n_layers = len(viewer.layers)
    _, again = viewer.window.add_plugin_dock_widget("napari-deepcolor", "Segment")
    again._device.value = "cpu"
    again._image.value = viewer.layers["movie"]
    again.add_model_file(tiny_model)
    run_and_wait(qtbot, again)
    assert len(viewer.layers) == n_layers  # the same result layers, updated


def test_a_cancelled_rerun_keeps_the_earlier_result_of_the_planes_it_did_not_redo(qtbot, viewer_and_widget,
                                                                                    spotty_model, monkeypatch,
                                                                                    notes):
    viewer, widget = viewer_and_widget
    movie = np.stack([blobs_pair(seed)[0] for seed in range(4)])
    widget._image.value = viewer.add_image(movie, name="movie")
    widget.add_model_file(spotty_model)
    widget._min_size.value = 0
    run_and_wait(qtbot, widget)
    complete = result_layers(viewer)["instances"].data.copy()
    assert all(complete[t].max() > 0 for t in range(4))
    gate, _ = hold_network(monkeypatch)
    widget.run()
    qtbot.waitUntil(lambda: widget._shown is not None and widget._shown.planes == 1, timeout=30_000)
    widget.cancel()
    gate.set()
    qtbot.waitUntil(lambda: not widget.running, timeout=30_000)
    np.testing.assert_array_equal(result_layers(viewer)["instances"].data, complete)  # same model, same image
    assert any("the other planes keep the previous run's result" in m for level, m in notes if level == "info")


def test_an_image_of_another_field_of_view_gets_its_size_from_the_segmented_objects(qtbot, viewer_and_widget, notes,
                                                                                      monkeypatch):
    from napari_deepcolor._widgets.result_layers import SIZE_KEY
    from napari_deepcolor.predict import size_refine
    from napari_deepcolor.training.synthetic_scenes import ecoli_colony

    viewer, widget = viewer_and_widget
    colony = ecoli_colony(12_345)[0]
    widget._image.value = viewer.add_image(np.tile(colony, (4, 4)), name="colonies")  # 16 times the scene
    widget._model.value = "ecoli-semiconv"
    run_and_wait(qtbot, widget)
    # the regression reads the larger scene as larger objects; the segmented objects correct it, without a warning
    assert not [m for level, m in notes if level == "warning"]
    assert "corrected to the size of the segmented objects" in widget._status.value
    size = result_layers(viewer)["instances"].metadata[SIZE_KEY]["plane"]
    assert abs(size["object_size"] - 1) <= 0.15 and size["object_size_passes"] >= 2
    # objects that never come out at the training size (here: no second prediction allowed, size 1 not tried) get a
    # warning
    monkeypatch.setattr(size_refine, "MAX_REFINEMENTS", 0)
    monkeypatch.setattr(size_refine, "TRY_ONE", False)
    run_and_wait(qtbot, widget)
    warned = [m for level, m in notes if level == "warning"]
    assert len(warned) == 1 and "'colonies'" in warned[0] and "type the size" in warned[0]
    assert "the size of the model's training objects" in widget._status.value
    note = result_layers(viewer)["instances"].metadata[SIZE_KEY]["plane"]["object_size_note"]
    assert "type the size" in note


def test_auto_object_size_is_the_default_and_the_run_shows_what_it_chose(qtbot, viewer_and_widget, notes):
    from skimage.transform import resize

    from napari_deepcolor._widgets.result_layers import SIZE_KEY
    from napari_deepcolor.predict.network import model_info
    from napari_deepcolor.training.synthetic_scenes import ecoli_colony

    viewer, widget = viewer_and_widget
    colony = ecoli_colony(12_345)[0]
    big = resize(colony.astype(np.float32), (512, 512), order=1, preserve_range=True)  # cells twice as large
    widget._image.value = viewer.add_image(big, name="colony")
    widget._model.value = "ecoli-semiconv"
    assert widget._picker.auto_size.value and not widget._object_size.enabled  # auto by default; the box shows it
    tau = widget._min_size.value
    assert tau == model_info("ecoli-semiconv")[0].min_size
    run_and_wait(qtbot, widget)
    chosen = widget._object_size.value
    assert abs(chosen / 2 - 1) <= 0.2
    assert widget._min_size.value == pytest.approx(tau * chosen**2, rel=0.02)  # τ follows the estimated size
    assert f"object size {chosen:.2f} (auto" in widget._status.value  # "(auto)", or "(auto: estimated ..., corrected"
    size = result_layers(viewer)["instances"].metadata[SIZE_KEY]["plane"]
    assert size["object_size"] == pytest.approx(chosen) and size["object_size_how"] == "auto"
    widget._picker.auto_size.value = False  # a typed size wins
    assert widget._object_size.enabled
    widget._object_size.value = 1.0
    run_and_wait(qtbot, widget)
    assert result_layers(viewer)["instances"].metadata[SIZE_KEY]["plane"]["object_size_how"] == "given"
    assert not errors(notes)


def test_deleting_the_image_mid_run_cancels_with_a_notification(qtbot, viewer_and_widget, tiny_model, monkeypatch,
                                                                notes):
    viewer, widget = viewer_and_widget
    movie = viewer.add_image(np.random.default_rng(0).random((20, 32, 32)), name="movie")
    widget._image.value = movie
    widget.add_model_file(tiny_model)
    gate, calls = hold_network(monkeypatch)
    widget.run()
    qtbot.waitUntil(lambda: "instances" in result_layers(viewer), timeout=30_000)
    viewer.layers.remove(movie)
    assert widget._cancel.is_set()
    gate.set()
    qtbot.waitUntil(lambda: not widget.running, timeout=30_000)
    assert len(calls) == 2 and widget._run.text == "Run"  # stopped after the tile in progress
    [message] = [m for level, m in notes if level == "warning"]
    assert message == ("'movie' was deleted while it was being segmented: the run stopped after 1 of 20 planes: its "
                       "result layers hold those planes; the other planes are empty there (0)")
    assert not [m for level, m in notes if level == "error" or m.startswith("cancelled")]
    instances = result_layers(viewer)["instances"]
    assert instances.data[1:].max() == 0
    widget._min_size.value = 3  # the sliders leave the deleted image's result alone
    qtbot.wait(100)
    assert widget._shown is None and "press Run" in widget._status.value


def test_closing_the_dock_mid_run_says_what_the_result_layers_hold(qtbot, make_napari_viewer, tiny_model,
                                                                   monkeypatch, notes):
    viewer, dock, widget, gate, worker, calls = held_run_on_a_movie(qtbot, make_napari_viewer, tiny_model,
                                                                    monkeypatch)
    viewer.window.remove_dock_widget(dock)
    with qtbot.waitSignal(worker.finished, timeout=30_000):
        gate.set()
    assert len(calls) == 2
    assert ("warning", "the Segment widget was closed while segmenting 'movie': the run stopped after 1 of 20 "
                       "planes: its result layers hold those planes; the other planes are empty there (0)") in notes
    assert result_layers(viewer)["instances"].data[1:].max() == 0


def test_rho_says_when_joining_fragments_already_did_the_merging(qtbot, viewer_and_widget, spotty_model):
    from napari_deepcolor._widgets.knob_sliders import MERGE_TOOLTIP

    viewer, widget = viewer_and_widget
    widget._image.value = viewer.add_image(blobs_pair(0)[0], name="cells")
    widget.add_model_file(spotty_model)
    widget._min_size.value = 40
    widget._absorb.value = True
    run_and_wait(qtbot, widget)
    assert widget._merge_distance.tooltip == MERGE_TOOLTIP  # ρ = 0: merging is off, nothing to explain
    widget._merge_distance.value = 0.5  # pieces of one color are at least 1 px apart: nothing merges
    qtbot.waitUntil(lambda: "already joined" in widget._status.value, timeout=5000)
    assert "ρ = 0.5 merges nothing on this plane: 'join fragments below τ' already joined" in widget._status.value
    assert "already joined the pieces of each object" in widget._merge_distance.tooltip
    widget._absorb.value = False
    qtbot.waitUntil(lambda: "no two pieces of one color are closer" in widget._status.value, timeout=5000)
    widget._merge_distance.value = 100  # now it merges: the note goes
    qtbot.waitUntil(lambda: "merges nothing" not in widget._status.value, timeout=5000)
    assert widget._merge_distance.tooltip == MERGE_TOOLTIP


def test_the_users_models_can_be_renamed_and_deleted_from_the_model_list(viewer_and_widget, tiny_model, notes,
                                                                         monkeypatch):
    from qtpy.QtWidgets import QInputDialog, QMessageBox

    from napari_deepcolor.zoo import user

    viewer, widget = viewer_and_widget
    manage = widget._picker.manage.native  # (the viewer is not shown: isHidden, not isVisible)
    assert manage.isHidden()  # a bundled model is chosen
    user.add("my cells", tiny_model)
    path = str(user.path("my cells"))
    widget._model.value = path
    assert not manage.isHidden() and "my cells: coloring" in widget._status.value
    monkeypatch.setattr(QInputDialog, "getText", lambda *args, **kwargs: ("cells v2", True))
    widget._picker.rename_button.native.click()
    assert user.names() == ["cells v2"] and widget._model.value == path
    labels = [widget._model.native.itemText(i) for i in range(widget._model.native.count())]
    assert "cells v2 (trained)" in labels and "my cells (trained)" not in labels
    assert "cells v2: coloring" in widget._status.value
    assert not widget._picker.rename_user_model("worms")  # a bundled name is taken
    assert any(level == "error" and "already taken" in m for level, m in notes)
    monkeypatch.setattr(QMessageBox, "question", lambda *args, **kwargs: QMessageBox.StandardButton.Yes)
    widget._picker.delete_button.native.click()
    assert user.names() == [] and widget._model.value == "worms" and manage.isHidden()
    assert ("info", "deleted your model 'cells v2'; its results already in the viewer stay") in notes


def test_models_trained_in_another_process_are_listed_after_a_restart(tmp_path, make_napari_viewer, tiny_model):
    """The user-model index is on disk: a model a separate process registered (a napari session closed since, or
    deepcolor train --name) is in a fresh Segment widget's and Train widget's model lists."""
    from napari_deepcolor._widgets.train import TrainWidget
    from napari_deepcolor.zoo import user

    code = "import sys; from napari_deepcolor.zoo import user; print(user.add('yesterday', sys.argv[1]))"
    done = subprocess.run([sys.executable, "-c", code, str(tiny_model)], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "yesterday"
    viewer = make_napari_viewer()
    _, segment = viewer.window.add_plugin_dock_widget("napari-deepcolor", "Segment")
    offered = dict(zip([segment._model.native.itemText(i) for i in range(segment._model.native.count())],
                       segment._model.choices))
    assert offered["yesterday (trained)"] == str(user.path("yesterday"))
    train = TrainWidget(viewer)
    starts = [train.start_combo.itemText(i) for i in range(train.start_combo.count())]
    assert "yesterday" in starts


def test_opening_the_docks_makes_and_closes_one_progress_bar_a_window(make_napari_viewer, qtbot):
    """napari's first progress bar in a window is slow to make: the docks make one as they open (once per window,
    whichever dock opens first), closed at once, so a first run does not pay for it."""
    from napari.utils import progress

    made = []
    progress._all_instances.events.changed.connect(lambda event: made.extend(event.added))
    viewer = make_napari_viewer()
    viewer.window.add_plugin_dock_widget("napari-deepcolor", "Segment")
    viewer.window.add_plugin_dock_widget("napari-deepcolor", "Train / fine-tune")
    qtbot.waitUntil(lambda: len(made) >= 1, timeout=5000)
    qtbot.wait(100)
    assert len(made) == 1
    assert not list(progress._all_instances)  # closed: nothing left in the activity dock


def test_each_network_output_layer_is_painted_on_the_pass_after_its_add(qtbot, viewer_and_widget, tiny_model):
    """Layers of the network's output come one per event-loop pass; napari's add of each and the window's paint of it
    come on two passes (`ResultLayers._without_paint`)."""
    viewer, widget = viewer_and_widget
    widget._image.value = viewer.add_image(blobs_pair(0)[0], name="cells")
    widget.add_model_file(tiny_model)
    run_and_wait(qtbot, widget)
    results, window = widget._results, widget.native.window()
    results._timer.setInterval(60_000)  # the later passes wait: each can be looked at
    widget._outputs.value = True
    assert results.pending and window.updatesEnabled()
    n_layers = len(viewer.layers)
    results._make_next()
    assert len(viewer.layers) == n_layers + 1 and not window.updatesEnabled()
    results._make_next()  # the window's paint of it, before the next layer
    assert len(viewer.layers) == n_layers + 1 and window.updatesEnabled()
    results.flush()
    assert window.updatesEnabled() and results.pending == 0


def test_hold_paint_lets_a_window_paint_again_unless_it_is_gone(qtbot):
    """The function that lets a window paint again holds it weakly: a window closed (and deleted) first is neither kept
    alive nor an error."""
    import gc

    from qtpy.QtWidgets import QWidget

    from napari_deepcolor._widgets.dock import hold_paint

    window = QWidget()
    release = hold_paint(window)
    assert not window.updatesEnabled() and hold_paint(window) is None  # held already: nothing more to undo
    release()
    assert window.updatesEnabled()
    assert hold_paint(None) is None
    gone = QWidget()
    release = hold_paint(gone)
    del gone
    gc.collect()
    release()  # nothing to do


def test_a_stack_of_up_to_eight_planes_gets_the_channels_hint_as_on_the_command_line():
    """The Segment dock and `deepcolor predict` say the same about a short stack that may be channels (up to
    `regions.MAX_CHANNELS` planes; the dock said it up to 4 only)."""
    from napari.layers import Image

    from napari_deepcolor._widgets.runs import input_notes
    from napari_deepcolor.predict.stack import stack_layout

    for planes, hinted in ((6, True), (9, False)):
        data = np.zeros((planes, 16, 16), np.uint8)
        notes = input_notes(Image(data, name="s"), data, stack_layout(data, rgb=False), in_channels=1, model="worms")
        assert any("Split Stack" in note for note in notes) == hinted
