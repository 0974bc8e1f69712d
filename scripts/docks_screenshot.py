"""Screenshots of the Segment and Train / fine-tune docks open together, for docs/widget.md and docs/finetuning.md.

Run under a display, e.g. ``OMP_NUM_THREADS=1 QT_QPA_PLATFORM=xcb xvfb-run -a -s "-screen 0 1600x1000x24" python
scripts/docks_screenshot.py`` (about 3 minutes on a 2-core CPU). Opens the bundled worms sample (BBBC010 A01) and
both docks from the plugin's manifest, segments the well with the bundled ``worms`` model and makes its instances
layer the user's (one brush stroke: it becomes ``... instances (edited)``, which the Train dock takes as the
corrected labels). Then fine-tunes ``worms`` on it for one minute: ``--training-output`` (docs/img/train_widget.png)
is the window while that runs (the progress row with Cancel at the top of the Train dock), ``--output``
(docs/img/docks.png) the window after it, the fine-tuned model chosen in the Segment widget (with its Rename... and
Delete... buttons). User models and checkpoints go to a temporary folder.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

import napari
import numpy as np
from _events import wait  # the scripts' folder is on sys.path when one is run

ROOT = Path(__file__).resolve().parents[1]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=ROOT / "docs" / "img" / "docks.png")
    parser.add_argument("--training-output", type=Path, default=ROOT / "docs" / "img" / "train_widget.png")
    args = parser.parse_args(argv)
    # the user-model list and checkpoints of a throwaway folder, not the real home
    scratch = Path(tempfile.mkdtemp(prefix="docks-screenshot-"))
    os.environ.setdefault("NAPARI_DEEPCOLOR_MODELS", str(scratch / "models"))

    viewer = napari.Viewer(show=True)
    viewer.window._qt_window.resize(1600, 1000)
    viewer.open_sample("napari-deepcolor", "worms")
    image, truth = viewer.layers
    truth.visible = False
    image.contrast_limits = [float(v) for v in np.percentile(image.data, [1, 99])]
    _, segment = viewer.window.add_plugin_dock_widget("napari-deepcolor", "Segment")
    _, train = viewer.window.add_plugin_dock_widget("napari-deepcolor", "Train / fine-tune")
    segment._image.value = image
    segment._model.value = "worms"
    segment._device.value = "cpu"
    segment.run()
    wait(lambda: not segment.running and not segment._results.pending)  # the hidden layers come after the run
    instances = next(layer for layer in viewer.layers
                     if layer.metadata.get("napari_deepcolor", {}).get("role") == "instances")
    instances.opacity = 0.6
    instances.paint((260, 348), int(instances.data.max()) + 1)  # a correction: the layer becomes the user's
    viewer.layers.selection.active = instances
    train.reset_choices()
    train.image_combo.setCurrentText(image.name)
    train.output_edit.setText(str(scratch / "runs"))
    viewer.reset_view()
    train.minutes_spin.setValue(1)
    train.start()
    wait(lambda: train.progress.value() >= 5 or train.worker is None)
    activity = viewer.window._qt_window._activity_dialog  # napari's activity dock, where the run's bar is too
    activity.show()
    activity.move_to_bottom_right()
    wait(lambda: False, 0.5)
    args.training_output.parent.mkdir(parents=True, exist_ok=True)
    viewer.screenshot(str(args.training_output), canvas_only=False)
    print(f"{train.progress.text()}\n{train.status.text()}\nwrote {args.training_output}")
    wait(lambda: train.worker is None)
    activity.hide()
    segment._model.value = str(train.model_path)
    wait(lambda: False, 0.5)
    viewer.screenshot(str(args.output), canvas_only=False)
    print(f"{train.progress.text()}\n{train.status.text()}\n{train.metrics_label.text()}\n{segment._status.value}\n"
          f"wrote {args.output}")
    viewer.close()


if __name__ == "__main__":
    main()
