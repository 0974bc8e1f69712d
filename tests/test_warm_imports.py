"""`napari_deepcolor._widgets.runs.import_ahead`: what napari's first Labels layer imports, imported by the Segment
worker instead of on the GUI thread in the first run's result layer."""

import gc
import subprocess
import sys

import pytest

pytest.importorskip("napari")

from napari_deepcolor._widgets.runs import LABELS_LAYER_IMPORTS, import_ahead  # noqa: E402


def test_missing_modules_are_imported_and_the_collector_is_back_on(monkeypatch):
    monkeypatch.delitem(sys.modules, "colorsys", raising=False)
    assert import_ahead(("colorsys", "no_such_module_deepcolor")) == ["colorsys"]  # one not installed: skipped
    assert "colorsys" in sys.modules and gc.isenabled()
    gc.unfreeze()


def test_nothing_is_imported_twice_nor_frozen_again():
    for name in LABELS_LAYER_IMPORTS:
        __import__(name)
    frozen = gc.get_freeze_count()
    assert import_ahead() == []
    assert gc.get_freeze_count() == frozen  # every later run: no freeze of what exists then


def test_line_patterns_are_memoised():
    dash_atlas = pytest.importorskip("vispy.visuals.line.dash_atlas")
    import_ahead()
    assert dash_atlas._make_pattern.cache_info().currsize >= 13  # every pattern of a DashAtlas: the first line's cost


def test_a_labels_layer_made_after_it_imports_nothing():
    """In a fresh process (nothing imported by other tests) where the user opened an image: napari's first Labels layer,
    made after `import_ahead`, needs no module that is not imported yet, so it imports nothing on the GUI thread."""
    code = (
        "import sys, numpy as np\n"
        "from napari.components import ViewerModel\n"
        "from napari.layers import Labels\n"
        "ViewerModel().add_image(np.zeros((8, 8)))\n"
        "from napari_deepcolor._widgets.runs import import_ahead\n"
        "import_ahead()\n"
        "before = set(sys.modules)\n"
        "Labels(np.zeros((8, 8), np.int32))\n"
        "print(sorted(set(sys.modules) - before))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert out.stdout.strip().splitlines()[-1] == "[]"
