"""A Segment widget's runs: the checks before one starts, the generators its workers run, the record of one press
of Run (`Run`) and the status line it gives.

The workers call `napari_deepcolor.predict.stack`, which imports torch: it is imported in the worker's thread, so
opening the widget does not load it.
"""

from __future__ import annotations

import importlib
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from napari.layers import Image, Labels, Layer

from napari_deepcolor.checkpoint import CheckpointError
from napari_deepcolor.preprocess import channel_note

if TYPE_CHECKING:
    from collections.abc import Container

    from napari_deepcolor.config import ModelConfig
    from napari_deepcolor.predict.stack import Knobs, ModelLoaded, PlaneDone, StackLayout, StackResult

#: What napari's first Labels layer of a session imports, unless something did before (`import_ahead`): pandas, for
#: the layer's features table; scikit-image's colour conversions (with scipy.linalg), for its random colormap.
LABELS_LAYER_IMPORTS = ("pandas", "skimage.color.colorconv")
NO_IMAGE = ("there is no image to segment: open one (File > Open, or File > Open Sample > Deep Coloring) and choose "
            "it under 'image'")


def input_problem(layer: Layer | None, layers: Container[Layer], *, takes_masks: bool, has_model: bool) -> str | None:
    """Why Run cannot start on ``layer`` (one of the viewer's ``layers``), as an error message; None if it can."""
    if layer is None or layer not in layers:
        return NO_IMAGE
    if not isinstance(layer, Image) and not (takes_masks and isinstance(layer, Labels)):
        return (f"'{layer.name}' is a {type(layer).__name__} layer, not an image: choose an Image layer under "
                "'image'. (If it holds intensities, right-click it in the layer list and convert it to an Image "
                "layer; a Labels layer is the input of a model that takes masks, such as worms-mask.)")
    if not has_model:
        return "choose a model under 'model' (a bundled one, or load a checkpoint file)"
    return None


def memory_problem(layer: Layer, layout: StackLayout, config: ModelConfig) -> str | None:
    """An error message if the image's results cannot fit in the memory that is free now; else None."""
    from napari_deepcolor.predict.in_memory import free_memory
    from napari_deepcolor.predict.stack import memory_needed

    needed, free = memory_needed(layout, config), free_memory()
    if free is None or needed <= free:  # unknown: MemoryError is still caught later
        return None
    megapixels = np.prod(layout.shape) / 1e6
    return (f"'{layer.name}' has {megapixels:,.0f} megapixels: segmenting it here needs about "
            f"{needed / 2**30:,.1f} GiB of memory and {free / 2**30:,.1f} GiB are free. Crop it (or segment a few "
            "planes), or segment the file out of core from the command line: deepcolor predict (docs/scale.md)")


def input_notes(layer: Layer, data: Any, layout: StackLayout, *, in_channels: int, model: str) -> list[str]:
    """What the run does with the image that the user may not expect (its multiscale levels, its channels)."""
    notes = []
    if layer.multiscale:
        notes.append(f"'{layer.name}' is multiscale: its full-resolution level is segmented")
    note = channel_note(rgb=layout.rgb, alpha=layout.rgb and data.shape[-1] == 4, in_channels=in_channels,
                        model=model)
    if note:
        notes.append(f"'{layer.name}' {note}")
    from napari_deepcolor.predict.regions import MAX_CHANNELS  # (no torch)

    if len(layout.leading) == 1 and layout.leading[0] <= MAX_CHANNELS:  # channels napari read as a stack? (as the CLI)
        notes.append(f"'{layer.name}' is segmented as a stack of {layout.leading[0]} planes, one by one; if they are "
                     "channels, split them into layers (right-click the layer > Split Stack) and segment the one to "
                     "segment")
    return notes


def import_ahead(modules: tuple[str, ...] = LABELS_LAYER_IMPORTS) -> list[str]:
    """Do on this thread (a worker's) what napari's first Labels layer of a session would do on the GUI thread: import
    ``modules``, those not imported yet, with Python's cyclic collector off meanwhile
    (`napari_deepcolor.predict.torch_import.no_cyclic_collection`), and compute vispy's line dash patterns
    (`warm_line_patterns`). Returns the names imported now.

    The first Labels layer imports pandas (for its features table): 0.2-0.25 s on the GUI thread here, in the first
    Segment run's result layer when the user opened an image of their own (a Labels layer, such as a sample's, does it
    first); and scikit-image's colour conversions with scipy.linalg (for its colormap): 45-90 ms. In a worker pandas
    took the same time and held Python's lock at most 5-7 ms at a time (69 ms with the collector on: a full
    collection over napari's objects).
    """
    from napari_deepcolor.predict.torch_import import no_cyclic_collection

    warm_line_patterns()
    missing = [name for name in modules if name not in sys.modules]
    if not missing:  # every run after the first: no collector pause, no freeze (which would keep today's garbage)
        return []
    imported = []
    with no_cyclic_collection():
        for name in missing:
            try:
                importlib.import_module(name)
            except ImportError:  # not installed: napari says so where it needs it
                continue
            imported.append(name)
    return imported


def warm_line_patterns() -> None:
    """Compute vispy's dash patterns of antialiased lines, which it memoises: the first such line of a process computes
    13 of them (50-80 ms here, numpy only), and napari's first Labels layer makes three (its polygon tool's overlay)
    when it is added, on the GUI thread. Later calls cost microseconds. Without vispy's memo (another vispy): nothing
    is gained and nothing breaks."""
    try:
        from vispy.visuals.line.dash_atlas import DashAtlas
    except ImportError:
        return
    DashAtlas()


def work(model: str, image: Any, *, rgb: bool, device: str, cancel: threading.Event, knobs: Knobs | None = None,
         object_size: float | None = 1.0):
    """The worker: `segment_stack`'s events, then ``(outcome, message)`` with outcome done, cancelled or failed.

    Expected failures (a model that does not load, a device that is not there, a bad image, memory) come back as a
    message for a notification rather than as an exception (which napari would show with a traceback).
    """
    from napari_deepcolor.predict.stack import Cancelled, PlaneDone, segment_stack

    import_ahead()
    try:
        for event in segment_stack(model, image, rgb=rgb, device=device, cancel=cancel, knobs=knobs,
                                   object_size=object_size):
            if knobs is not None and isinstance(event, PlaneDone):
                # decoding fills the plane's caches (a coloring plane's adjacency and distances): here, so that the
                # GUI thread's decode of the plane (`StackResult.add`) with the same knobs takes milliseconds
                event.plane.decode(knobs)
            yield event
    except Cancelled:
        return "cancelled", ""
    except CheckpointError as error:
        return "failed", f"could not load the model: {error}"
    except MemoryError:
        return "failed", ("out of memory: close other programs or layers, or segment a smaller image (crop it, or "
                          "split a stack into layers)")
    except (ValueError, RuntimeError) as error:
        return "failed", str(error)
    return "done", ""


def decode_planes(planes: list[tuple[tuple[int, ...], Any]], knobs: Knobs, cancel: threading.Event):
    """The worker of a stack's re-decoding: ``(index, instances)`` for each plane, until ``cancel`` is set."""
    for index, plane in planes:
        if cancel.is_set():
            return
        yield index, plane.decode(knobs)


@dataclass
class Run:
    """One press of Run: what it segments, and what it has produced so far."""

    source: str
    source_layer: Layer
    layout: StackLayout
    scale: np.ndarray
    translate: np.ndarray
    model: str  # its short name, in layer names
    model_path: str = ""  # the bundled name or file: what tells result layers apart
    axis_labels: tuple[str, ...] | None = None  # the image's (napari >= 0.6 layers have them)
    start: float = field(default_factory=time.perf_counter)
    device: str = ""
    load_seconds: float = 0.0
    predict_seconds: float = 0.0
    seconds: float = 0.0
    planes: int = 0
    outcome: str = ""  # "" while running, then done, cancelled or failed
    result: StackResult | None = None
    worker: Any = None
    previous: Run | None = None  # the complete earlier run of this image and model, kept if this one is cancelled
    vectors_explained: bool = False  # the arrows were hidden as meaningless, and the user told
    sizes: dict[tuple[int, ...], Any] = field(default_factory=dict)  # plane index -> its ObjectSize

    def size_text(self) -> str:
        """The object size(s) the planes were segmented at: "object size 1.52 (auto)", a range for a stack."""
        sizes = list(self.sizes.values())
        if not sizes:
            return ""
        factors = sorted({size.factor for size in sizes})
        if len(factors) == 1:
            return sizes[0].note
        how = "auto" if all(size.how == "auto" for size in sizes) else "auto, some planes fell back to 1"
        return f"object size {factors[0]:g}-{factors[-1]:g} ({how}, per plane)"

    def size_metadata(self) -> dict[str, Any]:
        """What the result layers record: per plane (index as text) the object size, how it was chosen and why."""
        return {",".join(map(str, index)) or "plane": size.as_metadata() for index, size in self.sizes.items()}

    def summary(self) -> str:
        n = self.layout.n_planes
        text = (f"{self.model} on {self.device}: {self.planes} of {n} plane{'s' * (n > 1)} in {self.seconds:.1f} s "
                f"(model loading {self.load_seconds:.1f} s, prediction {self.predict_seconds:.1f} s)")
        if self.outcome == "cancelled":
            text = f"cancelled; {text}"
        if self.result is not None:
            text += f"; {self.result.n_instances()} instances"
        if self.sizes:
            text += f"; {self.size_text()}"
        return text

    def model_loaded(self, event: ModelLoaded, knobs: Knobs) -> None:
        """The worker loaded the model: room for the results (MemoryError if there is none)."""
        from napari_deepcolor.predict.stack import StackResult

        self.device, self.load_seconds = event.device, event.seconds
        self.result = StackResult(self.layout, event.config, knobs)

    def add_plane(self, event: PlaneDone) -> None:
        """A plane's network output, decoded (MemoryError, the plane not counted, if it does not fit)."""
        self.result.add(event.index, event.output, event.plane)
        if event.object_size is not None:
            self.sizes[event.index] = event.object_size
        self.planes += 1
        self.predict_seconds += event.seconds

    def finish(self, *, aborted: bool) -> None:
        """The worker finished; ``aborted``: napari's own cancel (worker.quit) stopped it."""
        self.seconds = time.perf_counter() - self.start
        if not self.outcome:  # no return value: napari's own cancel stopped it
            self.outcome = "cancelled" if aborted else "done"

    def partial_note(self) -> str:
        """What a stopped run's result layers hold, for its notification."""
        n = self.layout.n_planes
        if not self.planes:
            return " before any plane was done: no result layers were made or changed"
        if n == 1:
            return "; its result layers hold the image's result"
        return (f" after {self.planes} of {n} planes: its result layers hold those planes; the other planes are "
                "empty there (0)")

    def keep_previous(self) -> bool:
        """A cancelled run's result takes the earlier complete run's planes it did not redo; False if there are
        none to take."""
        if self.previous is not None and self.result is not None and self.planes:
            self.result.adopt(self.previous.result)
            return True
        return False


def status_text(active: Run | None, last: Run | None, shown: Run | None, idle: str) -> str:
    """The status line: the run in progress, else the last run if it failed, else the result on screen, else
    ``idle`` (what the chosen model is)."""
    if active is not None:
        return (f"running {active.model} on {active.device}: plane {active.planes} of {active.layout.n_planes}"
                if active.device else f"loading {active.model} ...")
    if last is not None and last.outcome == "failed":
        return f"{last.model}: failed (see the notification)"
    if shown is not None:
        return shown.summary()
    return idle
