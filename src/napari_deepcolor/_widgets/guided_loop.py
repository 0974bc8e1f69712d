"""The Segment widget's guided loop: Segment → correct → fine-tune → segment again, three buttons under a result.

After a run gives a result the buttons appear, with a hint line that says what to do next:

1. **Correct** selects the result's instances layer and switches it to painting with a new label id. The first
   stroke makes the layer the user's (`result_layers.ResultLayers._on_painted`): no run or slider writes it again.
2. **Fine-tune on my corrections** (once the layer is corrected) opens or brings forward the Train / fine-tune dock,
   fills it (the segmented image, the corrected layer, the model that produced the result) and starts training
   there, where its progress and Cancel are.
3. **Segment again with the new model** (once that training kept a model) chooses the new model and runs it on the
   same image: its result goes to new layers, beside the corrected one, which stays as the user left it.

The Train dock is found through the viewer's window (`dock.open_dock`), and says when its run ended with its
``run_ended`` signal.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
from magicgui.widgets import Container, Label, PushButton
from napari.layers import Labels
from qtpy.QtWidgets import QSizePolicy

from napari_deepcolor._widgets.dock import open_dock
from napari_deepcolor._widgets.pickers import model_choices, model_name

if TYPE_CHECKING:
    import napari

    from napari_deepcolor._widgets.pickers import Pickers
    from napari_deepcolor._widgets.result_layers import ResultLayers
    from napari_deepcolor._widgets.runs import Run
    from napari_deepcolor._widgets.train import TrainWidget

TRAIN_DOCK = "Train / fine-tune"
CORRECT_HINT = "paint over mistakes with a new id, erase with 0; then press Fine-tune"
START_HINT = "Press Run first: these buttons then take its result round the loop."


class GuidedLoop:
    """The three buttons and their hint line (`container`), for the Segment widget: in view from the start, so a
    new user sees the loop, and so its first result relays out no dock; the buttons wait for a result.

    ``picker`` chooses the image and the model for *Segment again*, ``run()`` starts a run and ``running()`` says
    whether one is in progress; ``results`` finds a run's instances layer; ``notify(level, message)`` shows a
    notification.
    """

    def __init__(self, viewer: napari.viewer.Viewer, picker: Pickers, results: ResultLayers, *,
                 run: Callable[[], None], running: Callable[[], bool],
                 notify: Callable[[str, str], None]) -> None:
        self._viewer, self._picker, self._results = viewer, picker, results
        self._run_segment, self._running, self._notify = run, running, notify
        self._run: Run | None = None  # the run whose result the loop is about
        self._layer: Labels | None = None  # its instances layer (the user's, once corrected)
        self._corrected = False
        self._train: TrainWidget | None = None
        self._training = False  # a fine-tuning the loop started is running
        self._model: str | None = None  # the model it kept (a picker value), until it segmented
        self._closed = False
        self.correct_button = PushButton(text="1. Correct", tooltip=(
            "Select the result's instances layer and paint on it with a new label id: paint over mistakes, erase "
            "with 0 (M gives the next new id). Your first stroke makes it your layer, '... (edited)': no run or "
            "slider changes it again"))
        self.fine_tune_button = PushButton(text="2. Fine-tune on my corrections", tooltip=(
            "Open the Train / fine-tune dock with this image, your corrected layer and the model that made the "
            "result, and start training there (at most its time limit, 10 min by default; Cancel is there). The new "
            "model joins both docks' model lists"))
        self.again_button = PushButton(text="3. Segment again with the new model", tooltip=(
            "Choose the fine-tuned model and run it on the same image: its result goes to new layers beside your "
            "corrected one, which stays as you left it"))
        self.hint = Label(value="")
        self.hint.native.setWordWrap(True)
        self.hint.native.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)  # wraps to the dock
        # room for two lines: the dock is as tall as its content's size hint, which wraps no text
        self.hint.native.setMinimumHeight(2 * self.hint.native.fontMetrics().lineSpacing() + 4)
        self.correct_button.changed.connect(self.correct)
        self.fine_tune_button.changed.connect(self.fine_tune)
        self.again_button.changed.connect(self.segment_again)
        #: the loop, under the status line
        self.container = Container(widgets=[Label(value="<b>Segment → correct → fine-tune → segment again</b>"),
                                            self.correct_button, self.fine_tune_button, self.again_button,
                                            self.hint], labels=False, label="")
        self.container.margins = (0, 6, 0, 0)
        self._enable()
        self._say(START_HINT)

    # -- what the Segment widget tells it --------------------------------------------------------------------------

    def on_result(self, run: Run) -> None:
        """A run finished with a result: the loop is about it now."""
        layer = self._results.find(run, "instances", Labels)
        if layer is None or self._closed:
            return
        self._run, self._layer, self._corrected = run, layer, False
        self._enable()
        if self._model is not None and not self._training:
            self._ready_hint()
        else:
            self._say("Correct this result, fine-tune the model on it, segment again.")

    def on_edited(self, layer: Labels) -> None:
        """The user painted on a result's instances layer, which became theirs."""
        if layer is not self._layer:
            return
        self._corrected = True
        self._enable()
        if not self._training:
            self._say("Corrected: press Fine-tune when you are done.")

    def close(self) -> None:
        """The Segment widget was closed: the Train dock's runs are no longer followed."""
        self._closed = True
        self._disconnect()

    # -- the three buttons -----------------------------------------------------------------------------------------

    def correct(self, *_: Any) -> None:
        """Select the result's instances layer, visible, painting with a new label id."""
        self._results.settle()  # a run's new layer, if it is still waiting for its event-loop pass
        layer = self._layer
        if layer is None or layer not in self._viewer.layers:  # deleted: a slider move may have made it again
            layer = None if self._run is None else self._results.find(self._run, "instances", Labels)
        if layer is None:
            self._notify("warning", "the result's instances layer was deleted: press Run to segment the image again")
            return
        self._layer = layer
        layer.visible = True
        self._viewer.layers.selection.active = layer
        layer.selected_label = int(np.max(layer.data)) + 1
        layer.mode = "paint"
        self._say(CORRECT_HINT)

    def fine_tune(self, *_: Any) -> TrainWidget | None:
        """Open the Train dock filled with this image, the corrected layer and the result's model, and start it;
        returns the dock (None when nothing started)."""
        from napari_deepcolor._widgets.train import TrainWidget

        run, layer = self._run, self._layer
        problem = self._fine_tune_problem()
        if problem is not None:
            self._notify("warning", problem)
            return None
        train = open_dock(self._viewer, TrainWidget, TRAIN_DOCK)
        if train.worker is not None:
            self._notify("warning", "the Train / fine-tune dock is training already: wait for it, or cancel it there")
            return None
        self._follow(train)
        train.prepare(run.source_layer.name, layer.name, run.model_path)
        if train.start() is None:  # bad input: its notification says what to fix
            self._say("The Train dock did not start (see the notification).")
            return None
        self._training, self._model = True, None
        self._enable()
        minutes = train.minutes_spin.value()
        limit = f"at most {minutes} min" if minutes else "all its steps"
        self._say(f"Fine-tuning {run.model} in the Train / fine-tune dock ({limit}; Cancel is there).")
        return train

    def segment_again(self, *_: Any) -> None:
        """Choose the fine-tuned model and run it on the same image (into new result layers)."""
        run, model = self._run, self._model
        if model is None or run is None:
            return
        if self._running():
            self._notify("warning", "a run is in progress: wait for it (or cancel it), then press Segment again")
            return
        if run.source_layer not in self._viewer.layers:
            self._notify("warning", f"'{run.source}' was deleted: open it again to segment it with {model_name(model)}")
            return
        self._picker.image.value = run.source_layer
        if model in [value for _, value in model_choices(self._picker.files)]:
            self._picker.model.value = model
        elif not self._picker.add_model_file(model):  # (its notification says why)
            return
        self._model = None
        self._enable()
        self._run_segment()

    # -- helpers ---------------------------------------------------------------------------------------------------

    def _fine_tune_problem(self) -> str | None:
        run, layer = self._run, self._layer
        if run is None or layer is None or not self._corrected:
            return "correct the result first: press Correct and paint over its mistakes"
        if layer not in self._viewer.layers:
            return f"your corrected layer '{layer.name}' was deleted: correct a result again"
        if run.source_layer not in self._viewer.layers:
            return f"the image '{run.source}' was deleted: open it again to fine-tune on it"
        return None

    def _follow(self, train: TrainWidget) -> None:
        if train is not self._train:
            self._disconnect()
            train.run_ended.connect(self._on_training_ended)
            self._train = train

    def _disconnect(self) -> None:
        if self._train is not None:
            try:
                self._train.run_ended.disconnect(self._on_training_ended)
            except (RuntimeError, TypeError):  # the dock was deleted first
                pass
            self._train = None

    def _on_training_ended(self, outcome: str) -> None:
        if self._closed or not self._training:
            return
        self._training = False
        train = self._train
        if train is not None and train.model_path is not None:
            self._model = str(train.model_path)
            self._ready_hint()
        else:
            self._say(f"Fine-tuning {'failed' if outcome == 'failed' else 'ended'} without a model (see the Train "
                      "dock): press Fine-tune to retry.")
        self._enable()

    def _ready_hint(self) -> None:
        name = model_name(self._model)
        if self._train is not None and self._train.improved is False:
            self._say(f"'{name}' did not beat its starting model on held-out objects; Segment again to compare.")
        else:
            self._say(f"'{name}' is ready: press Segment again.")

    def _enable(self) -> None:
        has_result = self._run is not None
        self.correct_button.enabled = has_result
        self.fine_tune_button.enabled = has_result and self._corrected and not self._training
        self.again_button.enabled = has_result and self._model is not None and not self._training

    def _say(self, text: str) -> None:
        self.hint.value = text
