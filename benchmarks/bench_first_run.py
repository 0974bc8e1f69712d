"""The first Segment run of a napari session, whose worker imports torch: the window's longest hitch, with torch's
import made window-friendly (`napari_deepcolor.predict.torch_import`) against a plain ``import torch``.

Run from the repository root, on a display (under Xvfb)::

    QT_QPA_PLATFORM=xcb xvfb-run -a -s "-screen 0 1600x1000x24" python benchmarks/bench_first_run.py --runs 3

Each run is a fresh process (torch not imported yet): napari (1600 x 1000) with the worms sample and the Segment
dock; a 20 ms QTimer records the event loop's gaps (`_gaps.GapRecorder`) while Segment runs the bundled ``worms``
model once, then once more (torch imported by then: what is left is napari making and updating the result layer).
The two variants alternate, side by side: **plain**, the import as it was (`import_torch`'s library preload and
garbage-collection pause switched off), and **window-friendly**, the plugin as it is. A ``deepcolor train`` process
(one torch thread) runs beside all of it, as in bench_gui_hitches.py. The table goes to docs/benchmarks.md under
"## The first Segment run of a session" (``--no-docs``: printed only).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _docs import gui_machine, record

HEADING = "## The first Segment run of a session"
VARIANTS = ("plain", "window-friendly")


def one_run(variant: str) -> dict:
    """In this (fresh) process: the gaps of the first and the second Segment run."""
    import napari
    from _gaps import GapRecorder, wait

    if variant == "plain":
        from napari_deepcolor.predict import torch_import

        torch_import.preload_torch_libraries = lambda: []
        torch_import.no_cyclic_collection = contextlib.nullcontext
    assert "torch" not in sys.modules
    viewer = napari.Viewer(show=True)
    viewer.window._qt_window.resize(1600, 1000)
    viewer.open_sample("napari-deepcolor", "worms")
    _, segment = viewer.window.add_plugin_dock_widget("napari-deepcolor", "Segment")
    segment._image.value = viewer.layers[0]
    segment._device.value = "cpu"
    app = napari.qt.get_qapp()
    wait(app, 2.0)
    out = {}
    for name in ("first", "second"):
        with GapRecorder(20, sample_after_ms=100) as recorder:
            segment.run()
            wait(app, 600, until=lambda: not segment.running and not segment._results.pending)
            wait(app, 0.5)
        out[name] = {**recorder.summary(), "where": recorder.culprits(top=3),
                     "collections": recorder.collections_text()}
    viewer.close()
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="fresh processes per variant")
    parser.add_argument("--no-background", action="store_true", help="no training process beside")
    parser.add_argument("--no-docs", action="store_true")
    parser.add_argument("--one", choices=VARIANTS, help=argparse.SUPPRESS)  # a child process: one run, JSON out
    args = parser.parse_args(argv)
    if args.one:
        print("RESULT " + json.dumps(one_run(args.one)), flush=True)
        return
    from bench_gui_hitches import background_training

    folder = Path(tempfile.mkdtemp(prefix="bench-first-run-"))
    env = {**os.environ, "NAPARI_DEEPCOLOR_MODELS": str(folder / "models"), "OMP_NUM_THREADS": "1"}
    process = None if args.no_background else background_training(folder)
    results: dict[str, list[dict]] = {variant: [] for variant in VARIANTS}
    try:
        for _ in range(args.runs):
            for variant in VARIANTS:
                done = subprocess.run([sys.executable, __file__, "--one", variant], env=env, capture_output=True,
                                      text=True, timeout=900, check=True)
                line = next(x for x in done.stdout.splitlines() if x.startswith("RESULT "))
                results[variant].append(json.loads(line[len("RESULT "):]))
                print(variant, {k: round(v["max_ms"]) for k, v in results[variant][-1].items()}, flush=True)
    finally:
        if process is not None:
            process.terminate()
            process.wait(timeout=30)
    text = table(results, args)
    print(text)
    if not args.no_docs:
        record(HEADING, text)


def table(results: dict[str, list[dict]], args: argparse.Namespace) -> str:
    import numpy as np

    def cells(variant: str, run: str) -> list[float]:
        return [r[run]["max_ms"] for r in results[variant]]

    plain = np.median(cells("plain", "first"))
    rows = []
    for variant in VARIANTS:
        for run, what in (("first", "first run (its worker imports torch)"), ("second", "second run")):
            gaps = cells(variant, run)
            over = [r[run]["over_100ms"] for r in results[variant]]
            rows.append(f"| {variant} | {what} | {np.median(gaps):.0f} | {', '.join(f'{g:.0f}' for g in gaps)} | "
                        f"{np.median(gaps) / plain:.2f}× | {', '.join(map(str, over))} |")
    where = [f"- {variant}, first run: " + "; ".join(f"{w} ({c})" for c, w in results[variant][0]["first"]["where"])
             for variant in VARIANTS if results[variant][0]["first"]["where"]]
    collections = [f"- {variant}, first run {i + 1}: {r['first']['collections']}" for variant in VARIANTS
                   for i, r in enumerate(results[variant]) if r["first"]["collections"]]
    beside = ("nothing beside" if args.no_background else
              "a `deepcolor train` process (generated nuclei, one torch thread) beside")
    return "\n".join([
        HEADING, "",
        (f"`QT_QPA_PLATFORM=xcb xvfb-run -a -s \"-screen 0 1600x1000x24\" python benchmarks/bench_first_run.py "
         f"--runs {args.runs}`: a fresh napari process per run (1600 × 1000, the worms sample, the Segment dock), "
         f"{beside}; a 20 ms QTimer's longest gap while Segment runs `worms` the first time in the session and "
         "then again. *plain*: torch imported as before (no library preload, garbage collection on); "
         "*window-friendly*: `predict.torch_import` (the libraries mapped with Python's lock released, no cyclic "
         "collection during the import). The variants alternate; the ratio is to plain's first run (medians)."),
        "",
        "| variant | run | longest gap, median (ms) | each process (ms) | vs plain's first run | gaps > 100 ms |",
        "|---|---|---:|---|---:|---|",
        *rows, "",
        *(["Where the GUI thread was in the first process's gaps over 100 ms (samples):", "", *where, ""]
          if where else []),
        *(["Python's full garbage collections over 50 ms during a first run:", "", *collections, ""]
          if collections else []),
        gui_machine(), "",
    ])


if __name__ == "__main__":
    main()
