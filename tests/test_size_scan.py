"""The object size a fine-tuning trains at, from the user's annotations (`napari_deepcolor.training.size_scan`)."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile
from conftest import blobs_pair
from scipy import ndimage as ndi

from napari_deepcolor.training.size_scan import scan_object_size

SAMPLES = __import__("pathlib").Path(__file__).resolve().parents[1] / "src" / "napari_deepcolor" / "samples"


def _colony(factor: float) -> tuple[np.ndarray, np.ndarray]:
    image = tifffile.imread(SAMPLES / "ecoli_colony.tif")[:167]
    labels = tifffile.imread(SAMPLES / "ecoli_colony_labels.tif")[:167].astype(np.int32)
    if factor == 1:
        return image, labels
    return ndi.zoom(image.astype(np.float32), factor, order=1), ndi.zoom(labels, factor, order=0)


def test_the_size_is_where_the_starting_model_matches_the_annotations_best():
    pytest.importorskip("torch")
    from napari_deepcolor.predict.network import load_model

    model = load_model("ecoli-semiconv", device="cpu")
    factor, note = scan_object_size(model, [_colony(1.0)])
    assert factor == 1.0 and "from your annotations" in note  # its own training image: its own size
    factor, note = scan_object_size(model, [_colony(1.6)])
    assert 1.3 <= factor <= 2.0, note


def test_a_model_that_finds_nothing_at_any_size_leaves_the_choice_to_the_estimate(tiny_model):
    from napari_deepcolor.predict.network import load_model

    image, labels = blobs_pair(0)
    labels = labels.copy()
    labels[:, :8] = -1  # not annotated: ignored, not background
    assert scan_object_size(load_model(tiny_model, device="cpu"), [(image, labels)]) is None
