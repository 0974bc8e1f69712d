"""Contrast: the plugin never changes an input image's contrast; probabilities show 0 to 1; the bright-field worms
sample opens at its 1st-99.5th percentiles, readable rather than nearly black."""

from __future__ import annotations

import numpy as np
import pytest

from napari_deepcolor import _sample_data


def test_the_worms_sample_opens_readable_at_its_percentiles():
    (image, kwargs, _), (labels, _, _) = _sample_data.worms_sample()
    low, high = kwargs["contrast_limits"]
    assert (low, high) == tuple(np.percentile(image, (1, 99.5)))
    assert low > image.min() and high < image.max()  # the few bright pixels would leave the worms nearly black
    worms = (np.median(image[labels > 0]) - low) / (high - low)
    assert worms > 0.15  # the typical worm pixel shows at least at 15 % gray (4 % at the 99.8th percentile)


@pytest.mark.gui
def test_samples_keep_their_contrast_in_napari(make_napari_viewer):
    viewer = make_napari_viewer()
    viewer.open_sample("napari-deepcolor", "worms")
    image = viewer.layers["worms BBBC010 A01"]
    assert tuple(image.contrast_limits) == pytest.approx(np.percentile(image.data, (1, 99.5)))


@pytest.fixture
def segment(make_napari_viewer):
    pytest.importorskip("torch")
    viewer = make_napari_viewer()
    _, widget = viewer.window.add_plugin_dock_widget("napari-deepcolor", "Segment")
    widget._device.value = "cpu"
    return viewer, widget


def run_and_settle(qtbot, widget):
    widget.run()
    qtbot.waitUntil(lambda: not widget.running and not widget._results.pending, timeout=60_000)


def roles(viewer, role):
    return [layer for layer in viewer.layers if layer.metadata.get("napari_deepcolor", {}).get("role") == role]


@pytest.mark.gui
def test_a_16_bit_image_keeps_the_users_contrast_and_probabilities_show_0_to_1(qtbot, segment, spotty_model):
    from conftest import blobs_pair

    viewer, widget = segment
    image = viewer.add_image((blobs_pair(0)[0] * 4000).astype(np.uint16), name="cells 16-bit",
                             contrast_limits=(150, 2500))
    image.contrast_limits = (200, 3000)  # the user's own
    widget._image.value = image
    widget.add_model_file(spotty_model)
    widget._outputs.value = True
    run_and_settle(qtbot, widget)
    probabilities = roles(viewer, "probabilities")
    assert len(probabilities) == 4
    for layer in probabilities:
        assert tuple(layer.contrast_limits) == (0.0, 1.0) and tuple(layer.contrast_limits_range) == (0.0, 1.0)
    widget._min_size.value = 5  # re-decoding
    qtbot.wait(100)
    run_and_settle(qtbot, widget)  # a second run updates the layers in place
    assert all(tuple(layer.contrast_limits) == (0.0, 1.0) for layer in roles(viewer, "probabilities"))
    assert tuple(image.contrast_limits) == (200, 3000)
    assert image.data.dtype == np.uint16


@pytest.mark.gui
def test_the_foreground_shows_0_to_1(qtbot, segment, tiny_semiconv_model):
    from conftest import blobs_pair

    viewer, widget = segment
    image = viewer.add_image((blobs_pair(1)[0] * 4000).astype(np.uint16), name="cells", contrast_limits=(0, 900))
    widget._image.value = image
    widget.add_model_file(tiny_semiconv_model)
    widget._outputs.value = True
    run_and_settle(qtbot, widget)
    [foreground] = roles(viewer, "foreground")
    assert tuple(foreground.contrast_limits) == (0.0, 1.0) and tuple(image.contrast_limits) == (0, 900)
