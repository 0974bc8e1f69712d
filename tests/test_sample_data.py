"""Sample data: bundled files load as napari layer-data tuples, without torch or napari."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from napari_deepcolor import _sample_data


@pytest.mark.parametrize(
    ("loader", "shape", "image_dtype", "n_labels", "model"),
    [
        (_sample_data.worms_sample, (520, 696), np.uint16, 15, "worms"),
        (_sample_data.worm_mask_sample, (520, 696), np.uint8, 15, "worms-mask"),
        (_sample_data.ecoli_sample, (334, 321), np.uint16, 159, "ecoli-semiconv"),
        (_sample_data.leaves_sample, (512, 512), np.uint8, 16, "leaves-semiconv"),
        (_sample_data.nuclei_sample, (512, 512), np.uint16, 169, "nuclei"),
    ],
)
def test_sample_returns_image_and_labels(loader, shape, image_dtype, n_labels, model) -> None:
    layers = loader()
    assert [layer_type for _, _, layer_type in layers] == ["image", "labels"]
    (image, image_kwargs, _), (labels, labels_kwargs, _) = layers
    assert image.shape[:2] == labels.shape == shape
    assert image.dtype == image_dtype
    assert labels.dtype == np.int32
    assert labels.min() == 0
    assert len(np.unique(labels)) - 1 == n_labels
    assert image_kwargs["name"] and labels_kwargs["name"] != image_kwargs["name"]
    assert image_kwargs["metadata"] == {_sample_data.MODEL_KEY: model}  # the Segment widget starts from it


def test_damaged_sample_is_reported(tmp_path, monkeypatch) -> None:
    import tifffile

    tifffile.imwrite(tmp_path / "image.tif", np.zeros((4, 5), np.uint16))
    tifffile.imwrite(tmp_path / "labels.tif", np.zeros((4, 6), np.uint16))
    monkeypatch.setattr(_sample_data, "SAMPLES_DIR", tmp_path)
    with pytest.raises(ValueError, match="image shape"):
        _sample_data._read_pair("image.tif", "labels.tif", "broken", "worms")


def test_import_loads_neither_torch_nor_napari() -> None:
    code = (
        "import sys, napari_deepcolor._sample_data as s; s.worms_sample(); "
        "heavy = sorted(m for m in ('torch', 'napari', 'PyQt6', 'qtpy') if m in sys.modules); "
        "assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.gui
def test_samples_open_in_napari(make_napari_viewer) -> None:
    viewer = make_napari_viewer()
    viewer.open_sample("napari-deepcolor", "worms")
    viewer.open_sample("napari-deepcolor", "ecoli")
    viewer.open_sample("napari-deepcolor", "leaves")
    viewer.open_sample("napari-deepcolor", "worm_mask")
    viewer.open_sample("napari-deepcolor", "nuclei")
    assert [layer.name for layer in viewer.layers] == [
        "worms BBBC010 A01",
        "worms BBBC010 A01 labels",
        "E. coli colony",
        "E. coli colony labels",
        "rosette (synthetic)",
        "rosette (synthetic) labels",
        "worms BBBC010 A01 foreground",
        "worms BBBC010 A01 foreground labels",
        "nuclei (synthetic)",
        "nuclei (synthetic) labels",
    ]
    assert viewer.layers["rosette (synthetic)"].rgb
    assert viewer.layers["E. coli colony labels"].data.max() == 159


def test_nuclei_sample_is_the_generated_image() -> None:
    from napari_deepcolor.training.synthetic_nuclei import nuclei_field

    (image, _, _), (labels, _, _) = _sample_data.nuclei_sample()
    expected_image, expected_labels = nuclei_field(5_000_000, shape=(512, 512))
    assert np.array_equal(image, expected_image) and np.array_equal(labels, expected_labels)


def test_leaves_sample_is_the_generated_rosette() -> None:
    from napari_deepcolor.training.synthetic_rosette import rosette

    (image, _, _), (labels, _, _) = _sample_data.leaves_sample()
    expected_image, expected_labels = rosette(2_000_003)
    assert np.array_equal(image, expected_image) and np.array_equal(labels, expected_labels)
