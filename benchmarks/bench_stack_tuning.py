"""Benchmark of a slider move on a stack in the Segment widget: how long the GUI thread is blocked.

Run ``python benchmarks/bench_stack_tuning.py`` from the repository root. The bundled ``ecoli-semiconv`` model
segments a stack of N copies of its E. coli sample tiled 3 x 3 (one network run, the planes share it); then the
seed threshold moves to another value, so that every plane reclusters. Timed, per move:

(a) the baseline, what the widget's GUI thread did after the slider paused before this change: every plane
    re-decoded there (``StackResult.set_knobs`` on all planes);
(b) what it does now (``SegmentWidget._apply_knobs(full=True)``): the shown plane re-decoded in the GUI thread,
    the others handed to a worker thread (the widget's own ``_decode_planes``), which is only started;
(c) the wall time until the worker has decoded every plane, i.e. until the whole stack is up to date.

It prints median times and the ratio (a) / step, and writes them to ``docs/benchmarks.md`` under "## Re-decoding a
stack" (only that section is replaced).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import threading
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from _docs import record  # noqa: E402
from bench_postprocess import cpu_name, print_rows, ratio_rows, time_ms  # noqa: E402

HEADING = "## Re-decoding a stack"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--planes", type=int, default=12)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--no-write", action="store_true", help="do not update docs/benchmarks.md")
    args = parser.parse_args(argv)

    import torch

    from napari_deepcolor._sample_data import ecoli_sample
    from napari_deepcolor._widgets.segment import _decode_planes
    from napari_deepcolor.predict.network import load_model
    from napari_deepcolor.predict.stack import Knobs, StackResult, predict_plane, stack_layout

    torch.set_num_threads(1)
    image = np.tile(ecoli_sample()[0][0], (3, 3))  # as in bench_semiconv_tuning.py
    model = load_model("ecoli-semiconv", device="cpu")
    output, _ = predict_plane(model, image)
    stack = np.broadcast_to(image, (args.planes, *image.shape))
    knobs = Knobs.from_config(model.config)
    start, *moves = [knobs.replace(threshold=t) for t in (0.7, 0.6, 0.8)]  # each move reclusters every plane
    counter = iter(range(10**6))

    def fresh():
        from napari_deepcolor.predict.stack import SemiconvPlane

        result = StackResult(stack_layout(stack, rgb=False), model.config, start)
        for index in range(args.planes):
            result.add((index,), output, SemiconvPlane(output))
        return result

    def baseline(result):
        result.set_knobs(moves[next(counter) % 2])

    workers = []

    def gui_thread_now(result):
        result.set_knobs(moves[next(counter) % 2], indices=[(0,)])
        todo = [(index, result.planes[index]) for index in result.stale()]
        worker = threading.Thread(target=lambda: list(_decode_planes(todo, result.knobs, threading.Event())))
        worker.start()
        workers.append(worker)

    def until_done(result):
        gui_thread_now(result)
        workers[-1].join()

    timings = {
        f"(a) every plane in the GUI thread (before), {args.planes} planes": time_ms(baseline, args.repeats, fresh),
        "(b) GUI thread now: shown plane + starting the worker": time_ms(gui_thread_now, args.repeats, fresh),
        "(c) until the worker has decoded every plane": time_ms(until_done, args.repeats, fresh),
    }
    for worker in workers:
        worker.join()
    rows = ratio_rows(timings, next(iter(timings)), digits=1, baseline_ratio="1x")
    print_rows(rows, "ratio (a) / step")
    if args.no_write:
        return
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    table = "\n".join(f"| {name} | {ms:.1f} | {fastest:.1f} | {ratio} |" for name, ms, fastest, ratio in rows)
    record(HEADING, f"""{HEADING}

`python benchmarks/bench_stack_tuning.py`: a seed-threshold move on a stack of {args.planes} copies of the E. coli
sample tiled 3 x 3 ({image.shape[1]} x {image.shape[0]}) segmented by the bundled `ecoli-semiconv`, so that every plane
reclusters. (a) is what the Segment widget's GUI thread did after the slider paused before the re-decoding moved
to a worker (every plane re-decoded there: the window froze that long); (b) what it does now (the shown plane, then
the other planes go to a worker thread); (c) the wall time until the worker has stored every plane. Median wall times ({args.repeats}
repeats); ratio = (a) / step.

Machine: {cpu_name()}, {os.cpu_count()} logical cores (torch 1 thread); Python {platform.python_version()}, numpy
{np.__version__}. 1-minute load average during the run: {load:.1f}.

| step | median ms | min ms | ratio (median) |
|---|---:|---:|---:|
{table}

The worker shares the interpreter with the GUI thread, so the window is not idle while (c) runs; it keeps
drawing and taking input, and a plane the user moves to is decoded at once. (c) is about (a): the decoding itself is
no faster, it has moved off the GUI thread.
""")


if __name__ == "__main__":
    main()
