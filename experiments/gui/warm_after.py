"""Side by side: a Segment dock's first 2 s and first run with napari's warm-up progress bar made on the next pass
after the dock is shown (`_widgets.dock.WARM_AFTER_MS` 0, the plugin) and 300 ms after it.

Rule fixed before it ran: adopt 300 if the median longest gap of the dock's first 2 s over 6 processes is at least
10 ms lower than at 0, and the first run's median no more than 5 ms higher. Result (2026-12-07): 87.5 against 68.5 ms;
not adopted (docs/benchmarks.md, "The first Segment run of a session").

Run from the repository root, under Xvfb::

    QT_QPA_PLATFORM=xcb xvfb-run -a -s "-screen 0 1600x1000x24" python experiments/gui/warm_after.py

Each process is bench_first_run.py's window-friendly child (the worms or the nuclei sample's image, alternating),
a ``deepcolor train`` process beside, as there.
"""

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))
from bench_gui_hitches import background_training  # noqa: E402

CHILD = """
import runpy, sys
from napari_deepcolor._widgets import dock
dock.WARM_AFTER_MS = int(sys.argv[1])
script = sys.argv[3]
sys.path.insert(0, str(__import__("pathlib").Path(script).parent))
sys.argv = [script, "--one", "window-friendly", "--dock", sys.argv[2]]
runpy.run_path(script, run_name="__main__")
"""


def main() -> None:
    folder = Path(tempfile.mkdtemp(prefix="warm-after-"))
    env = {**os.environ, "NAPARI_DEEPCOLOR_MODELS": str(folder / "models"), "OMP_NUM_THREADS": "1"}
    process = background_training(folder)
    results: dict[int, list[tuple[int, int]]] = {0: [], 300: []}
    try:
        for i in range(6):
            dock = "segment" if i % 2 == 0 else "nuclei"
            for ms in results:
                command = [sys.executable, "-c", CHILD, str(ms), dock, str(BENCHMARKS / "bench_first_run.py")]
                out = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600, check=True).stdout
                run = json.loads(next(line for line in out.splitlines() if line.startswith("RESULT "))[7:])
                results[ms].append((round(run["open"]["max_ms"]), round(run["first"]["max_ms"])))
                print(ms, dock, results[ms][-1], flush=True)
    finally:
        process.terminate()
    for ms, measured in results.items():
        print(f"{ms} ms: the dock's first 2 s, median {np.median([a for a, _ in measured]):.1f} ms; first run, median "
              f"{np.median([b for _, b in measured]):.1f} ms; {measured}")


if __name__ == "__main__":
    main()
