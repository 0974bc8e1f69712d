"""Screenshot of the Segment widget's guided loop (Segment → correct → fine-tune → segment again), for
docs/widget.md and docs/finetuning.md.

Run under a display, e.g. ``OMP_NUM_THREADS=1 QT_QPA_PLATFORM=xcb xvfb-run -a -s "-screen 0 1600x1000x24" python
scripts/guided_loop_screenshot.py`` (under a minute on a 2-core CPU). Opens the bundled worms sample (BBBC010 A01)
and the Segment dock from the plugin's manifest, segments the well with the bundled ``worms`` model, then presses
*1. Correct*: the instances layer is selected, painting with a new label id, and the hint line says what to do; the
other two buttons wait for a correction and a fine-tuning. User models go to a temporary folder.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

import napari
from _events import wait  # the scripts' folder is on sys.path when one is run

ROOT = Path(__file__).resolve().parents[1]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=ROOT / "docs" / "img" / "guided_loop.png")
    args = parser.parse_args(argv)
    os.environ["NAPARI_DEEPCOLOR_MODELS"] = tempfile.mkdtemp(prefix="guided-loop-screenshot-")

    viewer = napari.Viewer(show=True)
    viewer.window._qt_window.resize(1600, 1000)
    viewer.open_sample("napari-deepcolor", "worms")
    image, _ = viewer.layers
    _, segment = viewer.window.add_plugin_dock_widget("napari-deepcolor", "Segment")
    segment._image.value = image
    segment._model.value = "worms"
    segment._device.value = "cpu"
    segment.run()
    wait(lambda: not segment.running and not segment._results.pending)
    segment._guided.correct_button.native.click()
    viewer.layers.selection.active.opacity = 0.6
    viewer.reset_view()
    wait(lambda: False, 1.0)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    viewer.screenshot(str(args.output), canvas_only=False)
    print(f"{segment._status.value}\n{segment._guided.hint.value}\nwrote {args.output}")
    viewer.close()


if __name__ == "__main__":
    main()
