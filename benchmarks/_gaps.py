"""Shared by the GUI benchmarks: how long the Qt event loop stalls (the "hitches" a user sees), and where.

`GapRecorder` starts a QTimer that asks to fire every ``interval_ms`` and records the time between its calls: a gap
much longer than the interval is a time the window could not repaint or take input. With ``sample_after_ms`` a
watchdog thread also records the GUI thread's Python stack while a gap lasts longer than that (every
``sample_every_ms``), so that a benchmark can say which code held the window (`GapRecorder.culprits`). Python's full
(generation 2) garbage collections are recorded too (`GapRecorder.collections`): one holds Python's lock for as long
as it takes to visit every object of the process (half a million in napari with torch), whichever thread runs it,
and no stack sample can be taken meanwhile.
"""

from __future__ import annotations

import gc
import sys
import threading
import time
import traceback
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from typing_extensions import Self

_HERE = Path(__file__)


class GapRecorder:
    """Record the gaps between the calls of a QTimer of ``interval_ms`` (a context manager: it records inside).

    Parameters
    ----------
    interval_ms : int
        The timer's interval; an idle event loop calls it about that often.
    sample_after_ms : float, optional
        Also sample the GUI thread's stack (from a watchdog thread) while no call came for this long.
    sample_every_ms : float
        How often the watchdog looks and samples.
    """

    def __init__(self, interval_ms: int = 20, *, sample_after_ms: float | None = None,
                 sample_every_ms: float = 20.0) -> None:
        from qtpy.QtCore import QTimer

        self.interval_ms = interval_ms
        self.gaps: list[float] = []  # seconds between calls
        #: (how long the gap had lasted, the GUI thread's stack, the other threads' stacks)
        self.samples: list[tuple[float, str, list[str]]] = []
        self.last = time.perf_counter()
        self.timer = QTimer()
        self.timer.setInterval(interval_ms)
        self.timer.timeout.connect(self._tick)
        self._sample_after = None if sample_after_ms is None else sample_after_ms / 1000
        self._sample_every = sample_every_ms / 1000
        self._gui_thread = threading.get_ident()
        self._stop = threading.Event()
        self._watchdog: threading.Thread | None = None
        #: the full garbage collections while recording: (seconds, the thread that ran it)
        self.collections: list[tuple[float, str]] = []
        self._collection_start = 0.0

    def _on_collection(self, phase: str, info: dict) -> None:
        if info["generation"] != 2:
            return
        if phase == "start":
            self._collection_start = time.perf_counter()
        else:
            self.collections.append((time.perf_counter() - self._collection_start, threading.current_thread().name))

    def _tick(self) -> None:
        now = time.perf_counter()
        self.gaps.append(now - self.last)
        self.last = now

    def _watch(self) -> None:
        while not self._stop.wait(self._sample_every):
            waited = time.perf_counter() - self.last
            if waited > self._sample_after:
                frames = sys._current_frames()
                frame = frames.pop(self._gui_thread, None)
                frames.pop(threading.get_ident(), None)
                if frame is not None:
                    self.samples.append((waited, _stack(frame), [_stack(other) for other in frames.values()]))

    def __enter__(self) -> Self:
        self.gaps, self.samples, self.collections, self.last = [], [], [], time.perf_counter()
        gc.callbacks.append(self._on_collection)
        self.timer.start()
        if self._sample_after is not None:
            self._stop.clear()
            self._watchdog = threading.Thread(target=self._watch, daemon=True)
            self._watchdog.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.timer.stop()
        self._tick()  # the gap still open counts too (a stall at the very end)
        gc.callbacks.remove(self._on_collection)
        if self._watchdog is not None:
            self._stop.set()
            self._watchdog.join()
            self._watchdog = None

    def summary(self) -> dict[str, float]:
        """The longest gap, the 99th percentile (ms), the number of gaps over 100 ms, and of calls; the number of
        full garbage collections and the longest (ms)."""
        gaps = np.array(self.gaps or [0.0]) * 1000
        return {"max_ms": float(gaps.max()), "p99_ms": float(np.percentile(gaps, 99)),
                "over_100ms": int((gaps > 100).sum()), "ticks": len(self.gaps),
                "collections": len(self.collections),
                "collection_max_ms": max((seconds * 1000 for seconds, _ in self.collections), default=0.0)}

    def collections_text(self, *, over_ms: float = 50.0) -> str:
        """The full garbage collections longer than ``over_ms``, as "310 ms in Thread-3, 120 ms in MainThread"."""
        return ", ".join(f"{seconds * 1000:.0f} ms in {thread}" for seconds, thread in
                         sorted(self.collections, reverse=True) if seconds * 1000 > over_ms)

    def culprits(self, *, top: int = 5, package: str = "napari_deepcolor") -> list[tuple[int, str]]:
        """The code that held the window during the sampled stalls, most frequent first, as ``(samples, "where")``:
        the GUI thread's innermost frame of ``package`` and its innermost frame; when its innermost Python frame was
        the benchmark's own loop (Qt's C++ code ran, or another thread held Python's lock), the other threads'
        innermost frames of ``package`` too."""
        counts: Counter[str] = Counter()
        for _, stack, others in self.samples:
            frames = _frames(stack)
            if frames and Path(frames[-1].partition('"')[0]) == _HERE:  # in Qt's C++ code, or waiting for the lock
                busy = [_where(_frames(other), package) for other in others]
                where = "GUI thread in Qt or waiting for Python's lock; other threads: " + (" | ".join(
                    b for b in busy if not b.startswith("(not")) or "none of the plugin's")
            else:
                where = _where(frames, package)
            counts[where] += 1
        return [(count, where) for where, count in counts.most_common(top)]


def _stack(frame: object) -> str:
    return "".join(traceback.format_stack(frame, limit=40))


def _frames(stack: str) -> list[str]:
    """``path", line N, in function`` of each frame of a formatted stack, outermost first."""
    return [part.strip().splitlines()[0] for part in stack.split('  File "')[1:]]


def _short(frame: str) -> str:
    """A frame as ``module.py:N function`` (the path from the package or site-packages on)."""
    path, _, rest = frame.partition('", line ')
    for marker in ("site-packages/", "src/"):
        if marker in path:
            path = path.split(marker, 1)[1]
    line, _, function = rest.partition(", in ")
    return f"{path}:{line} {function}"


def _where(frames: list[str], package: str) -> str:
    """The innermost frame of ``package`` (not the benchmarks') and the innermost frame of all."""
    ours = [f for f in frames if package in f and "benchmarks" not in f]
    if not frames:
        return "(no frame)"
    inner = _short(frames[-1])
    return inner if ours and ours[-1] == frames[-1] else (
        f"{_short(ours[-1]) if ours else '(not in the plugin)'} > … > {inner}")


def wait(app: object, seconds: float, until: Callable[[], bool] = lambda: False) -> None:
    """Run the event loop for ``seconds``, or until ``until()`` is true."""
    end = time.perf_counter() + seconds
    while time.perf_counter() < end and not until():
        app.processEvents()
        time.sleep(0.001)


def measure(app: object, seconds: float, *, interval_ms: int = 20, until: Callable[[], bool] = lambda: False,
            start: Callable[[], object] | None = None, sample_after_ms: float | None = None) -> GapRecorder:
    """Record the event loop's gaps for ``seconds`` (or until ``until()``), calling ``start()`` once recording."""
    recorder = GapRecorder(interval_ms, sample_after_ms=sample_after_ms)
    with recorder:
        if start is not None:
            start()
        wait(app, seconds, until)
    return recorder
