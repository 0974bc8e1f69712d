"""The Segment widget's decoding sliders: τ, ρ and fragment joining (coloring models); seed threshold, kernel scale
and foreground threshold (semiconv models). Moving them re-decodes the cached network output, without the network."""

from __future__ import annotations

from contextlib import ExitStack
from typing import TYPE_CHECKING

from magicgui.widgets import CheckBox, FloatSlider

from napari_deepcolor.methods import get_method

if TYPE_CHECKING:
    from napari_deepcolor.config import ModelConfig
    from napari_deepcolor.predict.stack import Knobs


MERGE_TOOLTIP = ("ρ: pieces of one color closer than this (Hausdorff distance) become one instance; 0 = never "
                 "merge")


class KnobSliders:
    """The sliders (magicgui widgets, for a Container to show) and the `Knobs` they stand for."""

    def __init__(self) -> None:
        self.min_size = FloatSlider(label="min size τ (px)", min=0, max=1000, step=1,
                                    tooltip="τ: instances with fewer pixels are dropped")
        self.merge_distance = FloatSlider(label="merge distance ρ (px)", min=0, max=100, step=0.5,
                                          tooltip=MERGE_TOOLTIP)
        self.absorb = CheckBox(text="join fragments below τ to a neighbour",
                               tooltip="Pieces smaller than τ that touch another piece join the one they share the "
                                       "longest border with instead of being dropped (for objects the network "
                                       "split between colors)")
        self.threshold = FloatSlider(label="seed threshold", min=0.01, max=0.99, step=0.01,
                                     tooltip="A pixel joins a seed's instance when the kernel K(seed, pixel) is at "
                                             "least this")
        self.sigma_scale = FloatSlider(label="kernel scale (× σ)", min=0.1, max=5, step=0.05, value=1.0,
                                       tooltip="Widens (> 1) or narrows (< 1) the trained kernel σ: wider merges "
                                               "more pixels into each instance")
        self.foreground_threshold = FloatSlider(label="foreground threshold", min=0.01, max=1.0, step=0.01,
                                                tooltip="Pixels whose foreground probability is at least this are "
                                                        "segmented")
        self.widgets = (self.min_size, self.merge_distance, self.absorb, self.threshold, self.sigma_scale,
                        self.foreground_threshold)
        #: semiconv's sliders that recluster (τ only drops small instances)
        self.kernel = (self.threshold, self.sigma_scale, self.foreground_threshold)

    def knobs(self) -> Knobs:
        """The decoding knobs the sliders show."""
        from napari_deepcolor.predict.stack import Knobs

        return Knobs(min_size=self.min_size.value, merge_distance=self.merge_distance.value,
                     threshold=self.threshold.value, foreground_threshold=self.foreground_threshold.value,
                     sigma_scale=self.sigma_scale.value, absorb_fragments=self.absorb.value)

    def rescale(self, ratio: float) -> None:
        """Objects ``ratio`` times as large: τ (an area) times ``ratio**2``, ρ (a distance) times ``ratio``, as the
        user left them (no signals)."""
        with self.blocked():
            self.min_size.max = max(self.min_size.max, self.min_size.value * ratio**2)
            self.merge_distance.max = max(self.merge_distance.max, self.merge_distance.value * ratio)
            self.min_size.value = self.min_size.value * ratio**2
            self.merge_distance.value = self.merge_distance.value * ratio

    def set_defaults(self, config: ModelConfig) -> None:
        """The model's recommended knobs, without signals; the sliders of knobs its method does not take are
        hidden."""
        from napari_deepcolor.predict.stack import Knobs

        knobs = Knobs.from_config(config)
        takes = get_method(config.method).knobs
        with self.blocked():
            self.min_size.max = max(1000.0, 5 * knobs.min_size)
            self.merge_distance.max = max(100.0, 5 * knobs.merge_distance)
            self.min_size.value = knobs.min_size
            self.merge_distance.value = knobs.merge_distance
            self.absorb.value = knobs.absorb_fragments
            self.threshold.value = knobs.threshold
            self.foreground_threshold.value = knobs.foreground_threshold
            self.sigma_scale.value = 1.0
        self.merge_distance.visible = "merge_distance" in takes
        self.absorb.visible = "absorb_fragments" in takes
        for widget in self.kernel:  # seed threshold, kernel scale, foreground threshold
            widget.visible = "threshold" in takes

    def blocked(self) -> ExitStack:
        """A context in which the sliders' ``changed`` signals are blocked."""
        stack = ExitStack()
        for widget in self.widgets:
            stack.enter_context(widget.changed.blocked())
        return stack

    def note_merge(self, note: str) -> None:
        """Add to ρ's tooltip why ρ merges nothing on the plane shown (``""``: no note)."""
        self.merge_distance.tooltip = MERGE_TOOLTIP + (f"\n\nNow: {note}" if note else "")

    def track(self, *, live: bool, seconds: float) -> None:
        """The kernel sliders decode while dragged (``live``) or once on release, saying so in their tooltip
        (``seconds``: how long a reclustering takes)."""
        for slider in self.kernel:
            if slider.tracking != live:
                slider.tracking = live
                note = "" if live else f" (updates when released: reclustering takes {seconds:.1f} s here)"
                slider.tooltip = slider.tooltip.split(" (updates when released")[0] + note
