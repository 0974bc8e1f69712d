"""Screenshot of the Segment widget in use, for docs/img/segment_widget.png.

Run under a display, e.g. ``QT_QPA_PLATFORM=xcb xvfb-run -a -s "-screen 0 1600x1000x24" python
scripts/widget_screenshot.py`` (a 1600 x 1000 screen fits the window). Opens the bundled worms sample (BBBC010
A01), opens the Segment widget from the plugin's manifest, runs the bundled ``worms`` model on the CPU and saves the
whole window (widget, layer list, canvas with the instances over the image). ``--sample worm_mask --model
worms-mask --output docs/img/segment_widget_mask.png`` does the same with the well's foreground mask.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import napari
import numpy as np
from _events import wait  # the scripts' folder is on sys.path when one is run

ROOT = Path(__file__).resolve().parents[1]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=ROOT / "docs" / "img" / "segment_widget.png")
    parser.add_argument("--model", default="worms")
    parser.add_argument("--sample", default="worms", choices=("worms", "worm_mask", "ecoli", "leaves", "nuclei"),
                        help="the bundled sample")
    args = parser.parse_args(argv)

    viewer = napari.Viewer(show=True)
    viewer.window._qt_window.resize(1600, 900)
    viewer.open_sample("napari-deepcolor", args.sample)
    image, truth = viewer.layers
    truth.visible = False
    if args.sample == "worms":  # a mask keeps the sample's own 0 .. max limits
        image.contrast_limits = [float(v) for v in np.percentile(image.data, [1, 99])]
    _, widget = viewer.window.add_plugin_dock_widget("napari-deepcolor", "Segment")
    widget._image.value = image
    widget._model.value = args.model
    widget._device.value = "cpu"
    widget.run()
    wait(lambda: not (widget.running or widget._results.pending))  # the hidden layers come after the run
    instances = next(layer for layer in viewer.layers
                     if layer.metadata.get("napari_deepcolor", {}).get("role") == "instances")
    instances.opacity = 0.6
    viewer.layers.selection.active = instances
    viewer.reset_view()
    wait(lambda: False, 0.4)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    viewer.screenshot(str(args.output), canvas_only=False)
    print(f"{widget._status.value}\nwrote {args.output}")
    viewer.close()


if __name__ == "__main__":
    main()
