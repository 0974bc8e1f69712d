"""The longest hitches of napari's window while the plugin works, with a training process running beside it.

Run from the repository root, on a display (napari needs OpenGL; under Xvfb)::

    QT_QPA_PLATFORM=xcb OMP_NUM_THREADS=1 xvfb-run -a -s "-screen 0 1600x1000x24" \\
        python benchmarks/bench_gui_hitches.py --seconds 20

A napari window (1600 x 1000) shows the bundled worms sample (BBBC010 A01, 520 x 696) with the Segment and
Train / fine-tune docks. A 20 ms QTimer records the gaps between its calls (`_gaps.GapRecorder`): the longest gap
is the longest time the window could not repaint or react. Before the phases a separate ``deepcolor train``
process starts (generated nuclei scenes, one torch thread, ``OMP_NUM_THREADS=1``) and runs beside them all, as a
user's own training would; ``--no-background`` leaves it out. Measured, in one run and one window:

(a) idle: nothing running in the window (also once before the training process starts); and for reference what
    napari itself takes to redraw the window for a visible change (the image's contrast moved every 50 ms) and to
    make a layer (a hidden 520 x 696 float32 Image layer added every 300 ms, the kind the Segment widget makes per
    color with *network output layers*);
(b) Segment on the worms sample with the bundled ``worms`` model: a first run with *network output layers* ticked
    (the instances layer at once, then the 10 hidden layers of the network's output one per event-loop pass: what
    every run made before they became optional), then, the result layers deleted and the box unticked, a first run
    as a user's goes by default (it makes the instances layer), then runs again until ``--seconds`` have passed
    (which update it);
(c) τ/ρ re-decoding: the τ and ρ sliders dragged (a move every 50 ms for a second, then a pause of half a second,
    for ``--seconds``);
(d) the Train dock fine-tuning ``worms`` on the sample's labels for ``--seconds``, then Cancel and the end of the
    run (the checkpoint kept as a model).

torch is imported before the window opens: the session's first import holds Python's lock for about half a second
in whichever thread imports it (torch._C's initialisation: the Segment worker, in a user's session), which no
phase here should count. It prints the longest gap, the 99th percentile and the gaps over 100 ms for each phase,
the first two against idle's, where the GUI thread was during the gaps over ``--sample-ms`` (stack samples from a
watchdog thread), and Python's full garbage collections over 50 ms (they hold Python's lock, from any thread). The
table goes to ``docs/benchmarks.md`` under "## GUI hitches (Segment, tuning, training) beside a training process"
(only that section is replaced; ``--no-docs`` writes nothing).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _docs import gui_machine, record
from _gaps import GapRecorder, wait

HEADING = "## GUI hitches (Segment, tuning, training) beside a training process"
INTERVAL_MS = 20


def background_training(folder: Path) -> subprocess.Popen:
    """A ``deepcolor train`` process on a few generated nuclei scenes (one torch thread), until it is stopped."""
    code = "import sys; from napari_deepcolor.cli import main; sys.exit(main())"
    args = ["train", "--synthetic", "nuclei", "--synthetic-count", "8", "--output", str(folder / "background"),
            "--steps", "1000000", "--patch-size", "96", "--batch-size", "4", "--depth", "3",
            "--checkpoint-every", "1000000", "--validate-every", "1000000", "--device", "cpu"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-c", code, *args], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL,
                            preexec_fn=_dies_with_parent if sys.platform.startswith("linux") else None)


def _dies_with_parent() -> None:
    """In the training child (Linux): SIGTERM once the benchmark that started it is gone, even by a crash (napari
    has segfaulted here under Xvfb, in its own add of 43 layers), so no training stays behind to slow the next
    measurements (it did: a run of bench_gui_hitches.py measured beside two)."""
    import ctypes
    import signal

    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def drag_knobs(app, segment, seconds: float) -> int:
    """Move τ and ρ like a drag (a value every 50 ms for a second, then half a second still) for ``seconds``;
    returns the number of moves."""
    tau, rho = segment._min_size.value or 100.0, segment._merge_distance.value or 10.0
    factors = [0.5, 0.7, 0.9, 1.1, 1.3, 1.5, 1.3, 1.1, 0.9, 0.7]
    moves, end = 0, time.perf_counter() + seconds
    while time.perf_counter() < end:
        for i in range(20):
            factor = factors[(moves + i) % len(factors)]
            segment._min_size.value = round(tau * factor)
            segment._merge_distance.value = round(rho * factor * 2) / 2
            wait(app, 0.05)
        moves += 20
        wait(app, 0.5)
    segment._min_size.value, segment._merge_distance.value = tau, rho
    wait(app, 0.5)
    return moves


def redraws(app, image, seconds: float) -> int:
    """napari's own cost of a visible change, for reference: the image's contrast changed every 50 ms."""
    low, high = image.contrast_limits
    changes, end = 0, time.perf_counter() + seconds
    while time.perf_counter() < end:
        image.contrast_limits = (low, high * (1.0 + 0.05 * (changes % 5)))
        wait(app, 0.05)
        changes += 1
    image.contrast_limits = (low, high)
    return changes


def add_layers(app, viewer, image, seconds: float, added: list) -> str:
    """napari's own cost of making a layer, for reference: a hidden float32 Image layer of the image's size added
    every 300 ms (what the Segment widget makes per color) to ``added``."""
    import numpy as np

    data = np.zeros(image.data.shape, np.float32)
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        added.append(viewer.add_image(data, name=f"reference {len(added)}", visible=False, colormap="magma",
                                      contrast_limits=(0.0, 1.0)))
        wait(app, 0.3)
    return f"{len(added)} layers"


def segment_runs(app, segment, seconds: float, *, once: bool) -> int:
    """Press Run and wait for the result, again until ``seconds`` have passed (once: one run)."""
    runs, end = 0, time.perf_counter() + seconds
    while runs == 0 or (not once and time.perf_counter() < end):
        segment.run()
        wait(app, 1200, until=lambda: not segment.running and not segment._results.pending)
        wait(app, 0.2)
        runs += 1
    return runs


def remove_results(app, viewer) -> None:
    """Delete the Segment widget's result layers (so that a run makes them again)."""
    for layer in [layer for layer in viewer.layers if "napari_deepcolor" in layer.metadata]:
        viewer.layers.remove(layer)
    wait(app, 1.0)


def train_for(app, train, seconds: float, folder: Path) -> str:
    """Fine-tune worms in the Train dock for ``seconds``, then Cancel and wait for the run's end."""
    train.output_edit.setText(str(folder / "runs"))
    train.minutes_spin.setValue(0)
    worker = train.start()
    if worker is None:
        raise RuntimeError("the Train dock refused to start (see the notification)")
    wait(app, seconds, until=lambda: train.worker is None)
    train.cancel()
    wait(app, 1200, until=lambda: train.worker is None)
    wait(app, 0.5)
    return train.progress.text()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="length of each phase")
    parser.add_argument("--no-background", action="store_true", help="no training process beside")
    parser.add_argument("--sample-ms", type=float, default=100.0, help="sample the GUI thread's stack in gaps "
                        "longer than this")
    parser.add_argument("--note", default="", help="what else ran on the machine")
    parser.add_argument("--no-docs", action="store_true")
    args = parser.parse_args(argv)

    import napari
    import torch  # noqa: F401 - the session's first import, before the window (see the module's docstring)

    folder = Path(tempfile.mkdtemp(prefix="bench-gui-hitches-"))
    os.environ["NAPARI_DEEPCOLOR_MODELS"] = str(folder / "models")  # the models it trains stay out of the user's list
    viewer = napari.Viewer(show=True)
    viewer.window._qt_window.resize(1600, 1000)
    viewer.open_sample("napari-deepcolor", "worms")
    image, truth = viewer.layers
    _, segment = viewer.window.add_plugin_dock_widget("napari-deepcolor", "Segment")
    _, train = viewer.window.add_plugin_dock_widget("napari-deepcolor", "Train / fine-tune")
    segment._image.value = image
    segment._device.value = "cpu"
    train.reset_choices()
    train.image_combo.setCurrentText(image.name)
    train.labels_combo.setCurrentText(truth.name)
    app = napari.qt.get_qapp()
    wait(app, 2.0)

    results: dict[str, dict] = {}
    culprits: dict[str, list] = {}
    collections: dict[str, str] = {}

    def phase(name: str, action) -> None:
        with GapRecorder(INTERVAL_MS, sample_after_ms=args.sample_ms) as recorder:
            detail = action()
        results[name] = {**recorder.summary(), "detail": detail}
        culprits[name] = recorder.culprits()
        collections[name] = recorder.collections_text()
        print(f"{name}: {results[name]}", flush=True)
        for count, where in culprits[name]:
            print(f"    {count} samples  {where}", flush=True)
        if collections[name]:
            print(f"    full garbage collections: {collections[name]}", flush=True)

    process = None
    if not args.no_background:
        phase("idle, nothing beside", lambda: wait(app, args.seconds))
        process = background_training(folder)
        wait(app, 5.0)  # its start (imports, data) is over
    try:
        phase("(a) idle", lambda: wait(app, args.seconds))
        phase("(ref) napari redraws: the image's contrast moved",
              lambda: f"{redraws(app, image, args.seconds)} changes")
        added: list = []
        phase("(ref) napari adds a hidden Image layer", lambda: add_layers(app, viewer, image, args.seconds, added))
        for layer in added:  # (not measured)
            viewer.layers.remove(layer)
        wait(app, 1.0)
        segment._outputs.value = True
        phase("(b) Segment worms, first run with network output layers (11 layers; before)",
              lambda: f"{segment_runs(app, segment, args.seconds, once=True)} run")
        remove_results(app, viewer)
        segment._outputs.value = False
        phase("(b) Segment worms, first run (makes the instances layer)",
              lambda: f"{segment_runs(app, segment, args.seconds, once=True)} run")
        phase("(b) Segment worms again (updates the layer)",
              lambda: f"{segment_runs(app, segment, args.seconds, once=False)} runs")
        phase("(c) τ/ρ dragged (re-decoding)", lambda: f"{drag_knobs(app, segment, args.seconds)} moves")
        phase("(d) Train dock fine-tuning, then Cancel", lambda: train_for(app, train, args.seconds, folder))
    finally:
        if process is not None:
            process.terminate()
            process.wait(timeout=30)
        viewer.close()

    idle = results["(a) idle"]
    rows = [f"| {name} | {r['max_ms']:.0f} | {r['max_ms'] / idle['max_ms']:.1f}× | {r['p99_ms']:.0f} | "
            f"{r['p99_ms'] / idle['p99_ms']:.1f}× | {r['over_100ms']} | {r['detail'] or ''} |"
            for name, r in results.items()]
    beside = ("No training process ran beside (--no-background)" if args.no_background else
              "A separate `deepcolor train` process (generated nuclei, one torch thread) ran beside every phase but "
              "the first")
    where = [f"- {name}: " + "; ".join(f"{where} ({count})" for count, where in found)
             for name, found in culprits.items() if found]
    collected = [f"- {name}: {text}" for name, text in collections.items() if text]
    command = "benchmarks/bench_gui_hitches.py" + (f" --seconds {args.seconds:g}" if args.seconds != 20 else "")
    text = "\n".join([
        HEADING,
        "",
        (f"`QT_QPA_PLATFORM=xcb OMP_NUM_THREADS=1 xvfb-run -a -s \"-screen 0 1600x1000x24\" python {command}`: "
         f"napari (1600 × 1000) with the worms sample and both docks; a {INTERVAL_MS} ms QTimer records the event "
         f"loop's gaps for {args.seconds:g} s per phase (longer for a phase that is not over). {beside}. Longest gap = "
         "longest time the window could not react; the 'vs idle' columns divide by the idle row's."),
        "",
        "| phase | longest gap (ms) | vs idle | 99th percentile (ms) | vs idle | gaps > 100 ms | what ran |",
        "|---|---|---|---|---|---|---|",
        *rows,
        "",
        *([(f"Where the GUI thread was in gaps over {args.sample_ms:g} ms (stack samples every 20 ms: the plugin's "
             "innermost frame, then the innermost; samples):"), "", *where, ""] if where else []),
        *([("Python's full garbage collections over 50 ms (Python's lock held, no sample possible; the thread that "
            "ran it):"), "", *collected, ""] if collected else []),
        gui_machine(args.note),
        "",
    ])
    print(text)
    if not args.no_docs:
        record(HEADING, text)


if __name__ == "__main__":
    main()
