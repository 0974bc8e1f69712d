"""The Segment widget's model picker follows the image's kind (`napari_deepcolor.zoo.suggest`) until the user picks a
model, and says why."""

from __future__ import annotations

import pytest
import tifffile

pytest.importorskip("napari")
pytest.importorskip("torch")

from napari_deepcolor._sample_data import SAMPLES_DIR  # noqa: E402
from napari_deepcolor.training.synthetic_nuclei import nuclei_field  # noqa: E402
from napari_deepcolor.zoo import MODEL_KEY, bundled_models  # noqa: E402

pytestmark = pytest.mark.gui

NUCLEI_REASON = "gray image with a dark background and bright spots: looks like fluorescent nuclei"


@pytest.fixture
def viewer_and_widget(make_napari_viewer):
    viewer = make_napari_viewer()
    _, widget = viewer.window.add_plugin_dock_widget("napari-deepcolor", "Segment")
    return viewer, widget


def add_images(viewer):
    """Gray images without a sample's metadata: phase-contrast E. coli and generated fluorescent nuclei."""
    viewer.add_image(tifffile.imread(SAMPLES_DIR / "ecoli_colony.tif"), name="colony")
    viewer.add_image(nuclei_field(3)[0], name="cells")


def test_the_model_follows_the_images_kind_and_says_why(viewer_and_widget, monkeypatch):
    from napari_deepcolor._widgets import pickers

    shipped = {name: path for name, path in bundled_models().items() if name != "nuclei"}
    monkeypatch.setattr(pickers, "bundled_models", lambda: shipped)  # before nuclei is bundled (and after, without it)
    viewer, widget = viewer_and_widget
    add_images(viewer)
    widget._image.value = viewer.layers["colony"]
    assert widget._model.value == "ecoli-semiconv"
    assert widget._status.value.endswith("\necoli-semiconv for 'colony': gray image with a mid-grey background and "
                                         "dark objects with bright halos: looks like E. coli in phase contrast")
    widget._image.value = viewer.layers["cells"]
    assert widget._model.value == "worms"  # no nuclei model: the gray default, and the reason says so
    reason = (f"worms for 'cells': {NUCLEI_REASON}, but the nuclei model is not installed yet, so worms runs "
              "instead, which was not made for such images")
    assert widget._status.value.startswith("worms: coloring") and widget._status.value.endswith(f"\n{reason}")
    assert f"Chosen by the image: {reason}." in widget._model.tooltip


def test_once_the_nuclei_model_is_there_nuclei_images_get_it(viewer_and_widget, monkeypatch):
    from napari_deepcolor._widgets import pickers

    shipped = bundled_models()
    monkeypatch.setattr(pickers, "bundled_models", lambda: {**shipped, "nuclei": shipped["ecoli-semiconv"]})
    viewer, widget = viewer_and_widget
    add_images(viewer)
    widget.reset_choices()
    widget._image.value = viewer.layers["cells"]
    assert widget._model.value == "nuclei"
    assert widget._status.value.endswith(f"\nnuclei for 'cells': {NUCLEI_REASON}")


def test_the_users_choice_and_a_samples_own_model_win_over_the_images_looks(viewer_and_widget):
    viewer, widget = viewer_and_widget
    add_images(viewer)
    viewer.add_image(nuclei_field(4)[0], name="named", metadata={MODEL_KEY: "ecoli"})
    widget._image.value = viewer.layers["named"]
    assert widget._model.value == "ecoli"
    assert widget._status.value.endswith("\necoli for 'named': the model made for this sample image")
    widget._model.value = "leaves"  # the user's choice stays, whatever image comes next
    for name in ("colony", "cells", "named"):
        widget._image.value = viewer.layers[name]
        assert widget._model.value == "leaves", name
    assert "\n" not in widget._status.value and "Chosen by the image" not in widget._model.tooltip
