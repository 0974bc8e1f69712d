"""The first Segment run and the first fine-tuning of a napari session, whose workers import torch: the window's
longest hitch, with the plugin's measures for it (torch's import made window-friendly by
`napari_deepcolor.predict.torch_import`, napari's activity dock warmed up when the dock opens, what napari's first
Labels layer imports imported by the Segment worker, the guided loop in view from the start) against none of
them.

Run from the repository root, on a display (under Xvfb)::

    QT_QPA_PLATFORM=xcb xvfb-run -a -s "-screen 0 1600x1000x24" python benchmarks/bench_first_run.py --runs 3

Each run is a fresh process (torch not imported yet): napari (1600 x 1000) with the worms sample's image alone (as a
user opens an image of their own: no Labels layer yet) and the Segment dock; a 20 ms QTimer records the event loop's
gaps (`_gaps.GapRecorder`) in the 2 s after the dock was added (when it makes and closes the window's first napari
progress bar: `_widgets.dock.warm_activity_dock`), while Segment runs the bundled ``worms`` model once, then once more
(torch imported by then: what is left is napari making and updating the result layer); the same on the nuclei
sample's image, with the model the dock picks for it (``nuclei``, semi-convolutional); and, in other processes, the
Train dock fine-tunes ``worms`` on the sample's labels for 20 s, then Cancel.
The two variants alternate, side by side: **plain**, the first run as it was, without its measures: torch imported
plainly (`import_torch`'s library preload and garbage-collection pause switched off), no warm-up of the activity dock,
nothing done ahead for the first result layer (`_widgets.runs.import_ahead`: pandas and scikit-image's colour
conversions imported, vispy's line dash patterns computed), the guided loop hidden until
the first result (showing it then relaid the dock out), a one-plane result refreshed again when its run ends, and a
semi-convolutional result's displacement arrows made with every run, on the very next event-loop pass, and a new
Labels layer added with the run's handlers, shown and given its editing overlays in one stretch
(`_widgets.result_layers.STAGED` off);
**paint-with-add** (Segment docks only), the plugin as it is but for the window's paint of a new layer, which comes in
the same stretch as napari's add of it (`_widgets.result_layers.PAINT_APART` off); and
**window-friendly**, the plugin as it is. A ``deepcolor train`` process (one torch thread) runs beside all of it, as in
bench_gui_hitches.py. The table goes to docs/benchmarks.md under "## The first Segment run of a session"
(``--no-docs``: printed only); the reading written by hand below the table stays (`_docs.KEEP_MARKER`).
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

HEADING = "## The first Segment run of a session"  # and the first fine-tuning
VARIANTS = ("plain", "paint-with-add", "window-friendly")
DOCKS = ("segment", "nuclei", "train")
#: The runs measured per dock: (key, what the table calls it).
RUNS = {"segment": (("open", "Segment dock, the 2 s after it was added (window-friendly: napari's first progress bar made and closed)"),
                    ("first", "Segment, first run (its worker imports torch)"), ("second", "Segment, second run")),
        "nuclei": (("first", "Segment, first run on the nuclei sample's image (`nuclei`, semi-convolutional)"),
                   ("second", "Segment, second run on the nuclei image")),
        "train": (("first", "Train dock, first fine-tuning (its worker imports torch), 20 s then Cancel"),)}


def variants(dock: str) -> tuple[str, ...]:
    """The variants measured on ``dock``: paint-with-add differs from window-friendly only where a layer is added."""
    return VARIANTS if dock != "train" else ("plain", "window-friendly")


def one_run(variant: str, dock: str) -> dict:
    """In this (fresh) process: the gaps of the first and the second Segment run, or of the Train dock's first
    fine-tuning (20 s, then Cancel)."""
    if variant == "plain":  # training's first optimizer keeps its collector pause (an earlier fix): loop binds it first
        from napari_deepcolor._widgets import guided_loop, result_layers, runs, segment, segment_signals, train
        from napari_deepcolor.predict import torch_import
        from napari_deepcolor.training import loop  # noqa: F401

        torch_import.preload_torch_libraries = list
        torch_import.no_cyclic_collection = contextlib.nullcontext
        segment.warm_activity_dock = train.warm_activity_dock = lambda widget: None
        runs.import_ahead = lambda: []
        shown_at_result = guided_loop.GuidedLoop.on_result

        def on_result(self, run):  # the loop as it was: hidden until the first result
            self.container.visible = True
            shown_at_result(self, run)

        guided_loop.GuidedLoop.on_result = on_result
        finished = segment_signals.SegmentSignals._on_finished

        def on_finished(self, run, worker):  # as it was: one plane's layers refreshed again when the run ends
            finished(self, run, worker)
            if run.result is not None and run.planes and run.outcome != "failed" and run.layout.n_planes == 1:
                self._results.publish(run, vectors=True)

        segment_signals.SegmentSignals._on_finished = on_finished
        result_layers.LATER_MS = 0  # layers made later: on the next event-loop pass, as they were
        result_layers.STAGED = False  # a new Labels layer added and shown in one stretch, as it was
        publish_vectors = result_layers.ResultLayers.publish_vectors

        def with_arrows(self, run):  # as it was: a semi-convolutional result's arrows made with every run
            outputs, self.outputs = self.outputs, True
            try:
                publish_vectors(self, run)
            finally:
                self.outputs = outputs

        result_layers.ResultLayers.publish_vectors = with_arrows
    if variant == "paint-with-add":  # the window painting a new layer with napari's add, in one stretch, as it did
        from napari_deepcolor._widgets import result_layers

        result_layers.PAINT_APART = False
    assert "torch" not in sys.modules
    if dock == "train":
        return first_training()
    return first_segment(hide_loop=variant == "plain", sample="nuclei" if dock == "nuclei" else "worms")


def first_segment(*, hide_loop: bool = False, sample: str = "worms") -> dict:
    import napari
    from _gaps import GapRecorder, wait

    from napari_deepcolor import _sample_data

    viewer = napari.Viewer(show=True)
    viewer.window._qt_window.resize(1600, 1000)
    data, kwargs, _ = getattr(_sample_data, f"{sample}_sample")()[0]  # the image alone, as a user opens their own
    viewer.add_image(data, **kwargs)
    _, segment = viewer.window.add_plugin_dock_widget("napari-deepcolor", "Segment")
    segment._image.value = viewer.layers[0]
    segment._device.value = "cpu"
    segment._guided.container.visible = not hide_loop
    app = napari.qt.get_qapp()
    with GapRecorder(20, sample_after_ms=100) as recorder:  # the dock's first event-loop passes: its warm-up
        wait(app, 2.0)
    out = {"open": {**recorder.summary(), "where": recorder.culprits(top=3), "collections": ""}}
    for name in ("first", "second"):
        with GapRecorder(20, sample_after_ms=100) as recorder:
            segment.run()
            wait(app, 600, until=lambda: not segment.running and not segment._results.pending)
            wait(app, 0.5)
        out[name] = {**recorder.summary(), "where": recorder.culprits(top=3),
                     "collections": recorder.collections_text()}
    viewer.close()
    return out


def first_training() -> dict:
    import napari
    from _gaps import GapRecorder, wait

    viewer = napari.Viewer(show=True)
    viewer.window._qt_window.resize(1600, 1000)
    viewer.open_sample("napari-deepcolor", "worms")
    image, truth = viewer.layers
    _, train = viewer.window.add_plugin_dock_widget("napari-deepcolor", "Train / fine-tune")
    train.reset_choices()
    train.image_combo.setCurrentText(image.name)
    train.labels_combo.setCurrentText(truth.name)
    train.output_edit.setText(tempfile.mkdtemp(prefix="bench-first-run-train-"))
    train.minutes_spin.setValue(0)
    app = napari.qt.get_qapp()
    wait(app, 2.0)
    with GapRecorder(20, sample_after_ms=100) as recorder:
        if train.start() is None:
            raise RuntimeError("the Train dock refused to start")
        wait(app, 20)
        train.cancel()
        wait(app, 600, until=lambda: train.worker is None)
    out = {"first": {**recorder.summary(), "where": recorder.culprits(top=3),
                     "collections": recorder.collections_text()}}
    viewer.close()
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="fresh processes per variant")
    parser.add_argument("--no-background", action="store_true", help="no training process beside")
    parser.add_argument("--no-docs", action="store_true")
    parser.add_argument("--docks", nargs="+", choices=DOCKS, default=list(DOCKS),
                        help="measure these docks only (implies --no-docs)")
    parser.add_argument("--variants", nargs="+", choices=VARIANTS, default=list(VARIANTS),
                        help="measure these variants only (implies --no-docs; the table needs plain)")
    parser.add_argument("--one", choices=VARIANTS, help=argparse.SUPPRESS)  # a child process: one run, JSON out
    parser.add_argument("--dock", choices=DOCKS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:
        print("RESULT " + json.dumps(one_run(args.one, args.dock)), flush=True)
        return
    from bench_gui_hitches import background_training

    folder = Path(tempfile.mkdtemp(prefix="bench-first-run-"))
    env = {**os.environ, "NAPARI_DEEPCOLOR_MODELS": str(folder / "models"), "OMP_NUM_THREADS": "1"}
    process = None if args.no_background else background_training(folder)
    partial = set(args.docks) != set(DOCKS) or set(args.variants) != set(VARIANTS)
    runs = [(dock, variant) for dock in args.docks for variant in variants(dock) if variant in args.variants]
    results: dict[str, list[dict]] = {f"{dock}/{variant}": [] for dock, variant in runs}
    try:
        for _ in range(args.runs):
            for dock, variant in runs:
                done = subprocess.run([sys.executable, __file__, "--one", variant, "--dock", dock], env=env,
                                      capture_output=True, text=True, timeout=900, check=True)
                line = next(x for x in done.stdout.splitlines() if x.startswith("RESULT "))
                key = f"{dock}/{variant}"
                results[key].append(json.loads(line[len("RESULT "):]))
                print(key, {k: round(v["max_ms"]) for k, v in results[key][-1].items()}, flush=True)
                for run, measured in results[key][-1].items():  # where each stall over 100 ms was
                    if measured["max_ms"] > 100 and measured["where"]:
                        print(f"  {run}:", "; ".join(f"{w} ({c})" for c, w in measured["where"]), flush=True)
    finally:
        if process is not None:
            process.terminate()
            process.wait(timeout=30)
    if partial:
        return
    text = table(results, args)
    print(text)
    if not args.no_docs:
        record(HEADING, text)


def table(results: dict[str, list[dict]], args: argparse.Namespace) -> str:
    import numpy as np

    rows, where, collections = [], [], []
    for dock in DOCKS:
        plain = float(np.median([r["first"]["max_ms"] for r in results[f"{dock}/plain"]]))
        for run, what in RUNS[dock]:
            for variant in variants(dock):
                measured = results[f"{dock}/{variant}"]
                gaps = [r[run]["max_ms"] for r in measured]
                over = [r[run]["over_100ms"] for r in measured]
                rows.append(f"| {what} | {variant} | {np.median(gaps):.0f} | {', '.join(f'{g:.0f}' for g in gaps)} | "
                            f"{np.median(gaps) / plain:.2f}× | {', '.join(map(str, over))} |")
        for variant in variants(dock):
            first = results[f"{dock}/{variant}"][0]["first"]
            if first["where"]:
                where.append(f"- {dock}, {variant}: " + "; ".join(f"{w} ({c})" for c, w in first["where"]))
            collections += [f"- {dock}, {variant}, process {i + 1}: {r['first']['collections']}"
                            for i, r in enumerate(results[f"{dock}/{variant}"]) if r["first"]["collections"]]
    beside = ("nothing beside" if args.no_background else
              "a `deepcolor train` process (generated nuclei, one torch thread) beside")
    return "\n".join([
        HEADING, "",
        ("`QT_QPA_PLATFORM=xcb xvfb-run -a -s \"-screen 0 1600x1000x24\" python benchmarks/bench_first_run.py "
         f"--runs {args.runs}`: a fresh napari process per run (1600 × 1000, the worms sample's image alone for the "
         f"Segment dock, as a user's own image, and with its labels for the Train dock, or the nuclei sample's image "
         f"alone; one dock), {beside}; a 20 ms"
         " QTimer's longest gap while the Segment dock runs `worms` (or, on the nuclei image, the `nuclei` it picks) "
         "the first time in the session and then again, or while the Train dock fine-tunes `worms` on the sample's labels for the first time (20 s, then Cancel)."
         " *plain*: the first run without its measures: torch imported as before (no library preload, garbage "
         "collection on during the import; the first optimizer keeps its earlier pause), no warm-up of napari's "
         "activity dock, nothing imported ahead for the first result layer, the guided loop hidden until the first "
         "result, a one-plane result refreshed again when the run ends, a semi-convolutional result's displacement "
         "arrows made with every run on the very next event-loop pass, a new Labels layer added with the run's "
         "handlers and shown in one stretch; *window-friendly*: the plugin as it is "
         "(`predict.torch_import`: the libraries mapped with Python's lock released, no cyclic collection during "
         "the import; `_widgets.dock.warm_activity_dock`: the window's first progress bar made and closed when the "
         "dock opens; `_widgets.runs.import_ahead`: what napari's first Labels layer would do on the GUI thread done "
         "by the Segment worker: pandas and scikit-image's colour conversions imported, vispy's line dash patterns "
         "computed; the guided loop in view from the start; a one-plane result shown once; the arrows with the "
         "network output layers only, which come 30 ms apart, `_widgets.result_layers.LATER_MS`; a new Labels "
         "layer made with the run's result and added on the event-loop pass after the run's handlers, hidden and "
         "without its editing overlays, then shown and given them on later passes, "
         "`_widgets.result_layers._add` and `_staged`, the window's paint of the added layer on the pass after its "
         "add, `_without_paint`); *paint-with-add*: window-friendly with the window painting the added layer "
         "in the same stretch as napari's add (`_widgets.result_layers.PAINT_APART` off), as before 2026-12-07. "
         "The variants "
         "alternate; the ratio is to plain's first run of the same dock (medians)."),
        "",
        "| run | variant | longest gap, median (ms) | each process (ms) | vs plain's first run | gaps > 100 ms |",
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
