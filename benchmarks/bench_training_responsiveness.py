"""How long napari's event loop stalls while the training widget trains on the CPU, against an idle baseline.

Run from the repository root, on a display (napari needs OpenGL; under Xvfb)::

    QT_QPA_PLATFORM=xcb xvfb-run -a -s "-screen 0 1280x1024x24" python benchmarks/bench_training_responsiveness.py

A napari viewer shows the bundled E. coli sample with the training widget docked. A QTimer asks to fire every
10 ms and records the gaps between its calls: the longest gap is the longest time the window could not repaint or
react. Measured, in the same run and viewer:

(a) idle: nothing running;
(b) the widget training (fine-tuning ``worms`` with the E. coli preset) in its worker thread: the session's first
    training (torch is imported and loaded then), then again with one torch thread (what the widget does) and with
    two;
(c) for comparison, the same training steps run in the GUI thread (what a widget must not do).

It prints the longest and 99th-percentile gaps and the ratio of each to idle, and writes them to
``docs/benchmarks.md`` under "## GUI responsiveness while training" (only that section is replaced).
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path
from tempfile import TemporaryDirectory

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from _docs import gui_machine, record  # noqa: E402

HEADING = "## GUI responsiveness while training"
TICK_MS = 10


class GapRecorder:
    """Records the gaps between the calls of a 10 ms QTimer (the event loop's stalls)."""

    def __init__(self) -> None:
        from qtpy.QtCore import QTimer

        self.gaps: list[float] = []
        self.last = time.perf_counter()
        self.timer = QTimer()
        self.timer.setInterval(TICK_MS)
        self.timer.timeout.connect(self._tick)

    def _tick(self) -> None:
        now = time.perf_counter()
        self.gaps.append(now - self.last)
        self.last = now

    def __enter__(self) -> GapRecorder:
        self.gaps, self.last = [], time.perf_counter()
        self.timer.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.timer.stop()

    def summary(self) -> dict[str, float]:
        gaps = np.array(self.gaps) * 1000
        return {"max_ms": float(gaps.max()), "p99_ms": float(np.percentile(gaps, 99)), "ticks": len(gaps)}


def wait(app, seconds: float, until=lambda: False) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end and not until():
        app.processEvents()
        time.sleep(0.001)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20, help="training steps per measured run")
    parser.add_argument("--idle-seconds", type=float, default=10.0)
    parser.add_argument("--note", default="", help="what else ran on the machine")
    parser.add_argument("--no-docs", action="store_true")
    args = parser.parse_args()

    import napari

    from napari_deepcolor import _sample_data
    from napari_deepcolor._widgets.train import TrainWidget
    from napari_deepcolor.training.finetune import annotated_planes, finetune
    from napari_deepcolor.training.presets import PRESETS

    viewer = napari.Viewer(show=True)
    for data, kwargs, kind in _sample_data.ecoli_sample():
        getattr(viewer, f"add_{kind}")(data, **kwargs)
    widget = TrainWidget(viewer)
    viewer.window.add_dock_widget(widget, name="train")
    app = napari.qt.get_qapp()
    wait(app, 2.0)
    preset = replace(PRESETS["E. coli (colony)"], steps=args.steps, batch_size=4)
    widget.start_combo.setCurrentText("worms")  # selects the worms preset and the model's knobs...
    widget.apply_preset("E. coli (colony)")  # ...then the E. coli knobs, as recorded in docs/benchmarks.md
    widget.knobs["steps"].setValue(args.steps)
    widget.knobs["batch_size"].setValue(4)
    assert widget.preset() == preset, "the widget and the GUI-thread run must train the same steps"
    results: dict[str, dict[str, float]] = {}

    with GapRecorder() as recorder:
        wait(app, args.idle_seconds)
    results["idle"] = recorder.summary()
    print("idle", results["idle"], flush=True)

    runs = (("worker, first training of the session (torch loads), 1 torch thread", 1),
            ("worker, 1 torch thread (the widget's setting)", 1), ("worker, 2 torch threads", 2))
    for name, threads in runs:
        with TemporaryDirectory() as tmp:
            widget.output_edit.setText(tmp)
            widget.threads = threads
            started = time.perf_counter()
            worker = widget.start()
            assert worker is not None, "the widget refused to start"
            with GapRecorder() as recorder:
                wait(app, 3600, until=lambda: widget.worker is None)
                wait(app, 0.3)
            seconds = time.perf_counter() - started
        results[name] = {**recorder.summary(), "train_s": seconds}
        print(name, results[name], flush=True)

    import torch

    torch.set_num_threads(1)
    planes = annotated_planes(*[layer.data[:167] for layer in viewer.layers[:2]])
    with TemporaryDirectory() as tmp, GapRecorder() as recorder:
        from qtpy.QtCore import QTimer

        done: list[float] = []

        def blocking() -> None:
            started = time.perf_counter()
            for _ in finetune(planes, start="worms", preset=preset, output=tmp, threads=1):
                pass
            done.append(time.perf_counter() - started)

        QTimer.singleShot(50, blocking)
        wait(app, 3600, until=lambda: bool(done))
        wait(app, 0.3)
    results["same steps in the GUI thread"] = {**recorder.summary(), "train_s": done[0]}
    print("gui thread", results["same steps in the GUI thread"], flush=True)
    viewer.close()

    idle = results["idle"]

    def seconds(r: dict[str, float]) -> str:
        return f"{r['train_s']:.0f}" if "train_s" in r else "—"

    rows = [f"| {name} | {r['max_ms']:.0f} | {r['max_ms'] / idle['max_ms']:.1f}× | {r['p99_ms']:.0f} | "
            f"{r['p99_ms'] / idle['p99_ms']:.1f}× | {seconds(r)} |" for name, r in results.items()]
    text = "\n".join([
        HEADING,
        "",
        f"`benchmarks/bench_training_responsiveness.py --steps {args.steps}`: the training widget docked in napari "
        f"beside the E. coli sample, fine-tuning `worms` ({args.steps} steps of 4 patches of 128², E. coli preset); a "
        f"{TICK_MS} ms QTimer records the event loop's gaps. Longest gap = longest time the window could not react.",
        "",
        "| run | longest gap (ms) | vs idle | 99th percentile (ms) | vs idle | training (s) |",
        "|---|---|---|---|---|---|",
        *rows,
        "",
        gui_machine(args.note),
        "",
    ])
    print(text)
    if not args.no_docs:
        record(HEADING, text)


if __name__ == "__main__":
    main()
