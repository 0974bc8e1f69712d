"""The interface every method implements (`Method`); the two methods are in `coloring` and `semiconv`."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import torch

    from napari_deepcolor.config import ModelConfig, TrainConfig
    from napari_deepcolor.postprocess.instances import Instances

#: What `Method.evaluate` gets per validation image: ground truth, decoded instances and the network's output.
Result = tuple[np.ndarray, "Instances", Any]


class Method:
    """One instance-segmentation method: its decoding knobs, decoding, loss, evaluation and what it outputs.

    Attributes
    ----------
    name : str
        ``ModelConfig.method`` of its models.
    title : str
        How messages name its models ("a {title} model").
    knobs : mapping of str to str
        Its decoding knobs (the keyword arguments of `decode` and `napari_deepcolor.predict.network.segment`), each
        with the `ModelConfig` field that holds the model's recommended value.
    refused : tuple of str
        The other method's knobs, which `resolve_knobs` refuses when given.
    refused_title : str
        The ``title`` of the method those belong to.
    knob_hint : str
        The knobs an error message points to instead.
    config_fields : tuple of str
        Its own `ModelConfig` fields a fine-tuning keeps from the starting model.
    output_names : tuple of str
        The network output's arrays (`output_arrays`), as ``deepcolor predict --save-probs`` names their files.
    predict_function : str
        The `napari_deepcolor.predict.network` function that gives its output for one image.
    out_of_core : bool
        Whether `napari_deepcolor.predict.large.segment_large` (tile by tile) can decode it.
    ensembles : bool
        Whether its networks average into an ensemble (`napari_deepcolor.predict.ensemble.make_ensemble`).
    has_color_channels : bool
        Whether its output is color probabilities ``probs (C, Y, X)``, with an argmax color map (what a
        `napari_deepcolor.predict.stack.StackResult` keeps, and the Segment dock shows, as ``probs`` and ``colors``);
        otherwise a foreground probability (kept and shown as ``foreground``).
    has_vectors : bool
        Whether its output gives displacement vectors (`napari_deepcolor.predict.stack.StackResult.vectors`).
    reclusters : bool
        Whether its knobs besides τ cluster the whole plane again (seconds on a large image) rather than relabel
        what the plane keeps: the Segment dock's sliders then decode on release when that is slow.
    """

    name: str
    title: str
    knobs: Mapping[str, str]
    refused: tuple[str, ...]
    refused_title: str
    knob_hint: str
    config_fields: tuple[str, ...]
    output_names: tuple[str, ...]
    predict_function: str
    out_of_core: bool
    ensembles: bool
    has_color_channels: bool
    has_vectors: bool
    reclusters: bool

    def __repr__(self) -> str:
        return f"get_method({self.name!r})"

    # -- decoding -------------------------------------------------------------------------------------------------

    def is_given(self, knob: str, value: Any) -> bool:
        """Whether a value of another method's knob counts as given (`resolve_knobs` refuses those)."""
        return value is not None

    def resolve_knobs(self, config: ModelConfig, source: str, **given: Any) -> dict[str, Any]:
        """The decoding knobs: each given one, or (None) the model's recommended value from ``config``.

        Raises
        ------
        ValueError
            A knob of the other method given (`refused`, `is_given`), or a name that is no knob.
        """
        unknown = sorted(set(given) - set(self.knobs) - set(self.refused))
        if unknown:
            raise ValueError(f"unknown decoding knobs {unknown}; a {self.name} model takes {list(self.knobs)}")
        if any(self.is_given(name, given.get(name)) for name in self.refused):
            raise ValueError(f"{' and '.join(self.refused)} are decoding knobs of {self.refused_title} models; "
                             f"{source} is a {self.title} model (use {self.knob_hint})")
        return {knob: getattr(config, field) if given.get(knob) is None else given[knob]
                for knob, field in self.knobs.items()}

    def decode(self, output: Any, **knobs: Any) -> Instances:
        """Instances from the network's output for one image (``predict_function``'s result) at ``knobs``."""
        raise NotImplementedError

    def output_arrays(self, output: Any) -> tuple[np.ndarray, ...]:
        """The arrays of ``output`` named by ``output_names``, in that order."""
        raise NotImplementedError

    def memory_per_pixel(self, config: ModelConfig) -> tuple[int, int]:
        """(output channels, bytes per pixel) a `napari_deepcolor.predict.stack.StackResult` keeps for it."""
        raise NotImplementedError

    def knob_text(self, knobs: Mapping[str, Any]) -> str:
        """The knobs besides τ, as ``deepcolor predict`` reports them (", ρ = 3 px")."""
        raise NotImplementedError

    def describe(self, config: ModelConfig, metadata: Mapping[str, Any]) -> str:
        """Its network and recommended knobs in a few words (``deepcolor models``)."""
        raise NotImplementedError

    def kind_text(self, config: ModelConfig) -> str:
        """What kind of model ``config`` is, for the Segment dock's status line ("coloring, 4 colors …")."""
        raise NotImplementedError

    # -- training -------------------------------------------------------------------------------------------------

    def loss_function(self, network: torch.nn.Module, model_config: ModelConfig, train_config: TrainConfig
                      ) -> Callable[[torch.Tensor, torch.Tensor, int], torch.Tensor]:
        """``loss(output, labels, step) -> scalar tensor`` for training ``network``."""
        raise NotImplementedError

    def checkpoint_metadata(self, network: torch.nn.Module) -> dict[str, Any]:
        """What a checkpoint of a network in training records besides its weights (semiconv: its σ)."""
        return {}

    def network_foreground(self, output: torch.Tensor, config: ModelConfig) -> torch.Tensor:
        """Foreground ``(B, H, W)`` bool of raw network outputs ``(B, out_channels, H, W)``."""
        raise NotImplementedError

    def evaluate(self, config: ModelConfig, results: Sequence[Result], knobs: Mapping[str, Any]) -> dict[str, float]:
        """Mean metrics over validation images, decoded at ``knobs`` (`resolve_knobs`): ``ap50``, ``mean_ap``,
        ``sbd``, ``abs_dic`` and the method's own."""
        raise NotImplementedError


def mean_scores(per_image: Sequence[Mapping[str, float]]) -> dict[str, float]:
    """``ap50``, ``mean_ap``, ``sbd`` and ``abs_dic`` averaged over images (NaN for none)."""
    return {key: float(np.mean([m[key] for m in per_image])) if per_image else math.nan
            for key in ("ap50", "mean_ap", "sbd", "abs_dic")}
