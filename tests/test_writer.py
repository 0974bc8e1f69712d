"""The napari writer: a Labels layer saved as a TIFF label image."""

import numpy as np
import pytest
import tifffile

from napari_deepcolor._writer import write_labels_tiff
from napari_deepcolor.io import read_labels, write_labels


def test_labels_round_trip(tmp_path):
    labels = np.zeros((2, 30, 40), np.int32)
    labels[0, 3:9, 4:10], labels[1, 10:20, 5:8] = 3, 70_000
    (path,) = write_labels_tiff(str(tmp_path / "cells.tif"), labels, {"multiscale": False})
    assert path == str(tmp_path / "cells.tif")
    saved = tifffile.imread(path)
    assert saved.dtype == np.int32  # 70,000 does not fit uint16
    np.testing.assert_array_equal(saved, labels)
    (small,) = write_labels_tiff(str(tmp_path / "small.tiff"), labels[0], {})
    np.testing.assert_array_equal(read_labels(small), labels[0])
    assert tifffile.imread(small).dtype == np.uint16


def test_multiscale_labels_write_the_full_resolution_level(tmp_path):
    levels = [np.eye(8, dtype=np.int32), np.eye(4, dtype=np.int32)]
    (path,) = write_labels_tiff(str(tmp_path / "pyramid.tif"), levels, {"multiscale": True})
    np.testing.assert_array_equal(tifffile.imread(path), levels[0])


def test_labels_that_do_not_fit_a_label_image_are_errors(tmp_path):
    with pytest.raises(ValueError, match="expected integer labels, got dtype float32"):
        write_labels(tmp_path / "a.tif", np.zeros((4, 4), np.float32))
    with pytest.raises(ValueError, match="do not fit in int32; renumber them"):
        write_labels(tmp_path / "a.tif", np.array([[0, 2**40]], np.int64))
    assert not list(tmp_path.iterdir())


@pytest.mark.gui
def test_napari_saves_a_labels_layer_with_the_writer(tmp_path, make_napari_viewer):
    viewer = make_napari_viewer()
    labels = np.arange(12, dtype=np.int32).reshape(3, 4)
    viewer.add_labels(labels, name="cells")
    written = viewer.layers.save(str(tmp_path / "cells.tif"), selected=True, plugin="napari-deepcolor")
    assert written == [str(tmp_path / "cells.tif")]
    np.testing.assert_array_equal(read_labels(written[0]), labels)


def test_the_writer_imports_neither_torch_nor_napari() -> None:
    import subprocess
    import sys

    code = ("import sys, napari_deepcolor._writer, napari_deepcolor.predict.stack; "
            "heavy = sorted(m for m in ('torch', 'napari', 'PyQt6', 'qtpy') if m in sys.modules); "
            "assert not heavy, heavy")
    subprocess.run([sys.executable, "-c", code], check=True)
