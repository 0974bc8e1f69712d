"""`napari_deepcolor._widgets.runs.import_ahead`: what napari's first Labels layer imports, imported by the Segment
worker instead of on the GUI thread in the first run's result layer."""

import gc
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
