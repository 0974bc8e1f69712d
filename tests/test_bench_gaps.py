"""The GUI benchmarks' measuring function (benchmarks/_gaps.py) on a tiny case: a known stall of the event loop is
recorded, and the stack samples name the code that held it. No timing limits: only what must hold on any machine."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("qtpy")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from _gaps import GapRecorder, measure, wait

pytestmark = pytest.mark.gui


def hold_the_event_loop() -> None:
    time.sleep(0.3)


def test_a_stall_is_the_longest_gap_and_its_code_is_named(qtbot):
    from qtpy.QtCore import QTimer
    from qtpy.QtWidgets import QApplication

    app = QApplication.instance()
    recorder = measure(app, 0.6, interval_ms=20, sample_after_ms=100,
                       start=lambda: QTimer.singleShot(100, hold_the_event_loop))
    summary = recorder.summary()
    assert summary["max_ms"] >= 300  # the event loop could not call the timer while it slept
    assert summary["over_100ms"] >= 1 and summary["ticks"] >= 3
    [(count, where), *_] = recorder.culprits(package="test_bench_gaps")
    assert count >= 1 and "hold_the_event_loop" in where


def test_an_idle_loop_has_no_samples_and_until_stops_early(qtbot):
    from qtpy.QtWidgets import QApplication

    app = QApplication.instance()
    calls = []
    with GapRecorder(20, sample_after_ms=1000) as recorder:
        wait(app, 30.0, until=lambda: calls.append(1) or len(calls) > 50)
    assert recorder.samples == [] and recorder.culprits() == []
    assert len(calls) == 51  # stopped by until, long before 30 s


def test_a_full_garbage_collection_is_recorded(qtbot):
    import gc

    with GapRecorder(20) as recorder:
        gc.collect()
    assert recorder.summary()["collections"] == 1 and recorder.collections[0][1] == "MainThread"
    assert "ms in MainThread" in recorder.collections_text(over_ms=0)
    assert recorder._on_collection not in gc.callbacks  # removed on exit
