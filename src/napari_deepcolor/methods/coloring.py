"""Deep coloring: ``n_colors`` softmax channels (color 0 = background); instances are the connected components
of each color (τ, ρ, fragment joining: `napari_deepcolor.postprocess.coloring`)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import numpy as np

from napari_deepcolor.methods.method import Method, Result, mean_scores

if TYPE_CHECKING:
    import torch

    from napari_deepcolor.config import ModelConfig, TrainConfig
    from napari_deepcolor.postprocess.instances import Instances


class Coloring(Method):
    """Deep coloring (`Method`): the output is ``probs (C, Y, X)``, decoded by `colors_to_labels`."""

    name = "coloring"
    title = "coloring"
    knobs = MappingProxyType({"min_size": "min_size", "merge_distance": "merge_distance",
                              "absorb_fragments": "absorb_fragments"})
    refused = ("threshold", "foreground_threshold")
    refused_title = "semi-convolutional"
    knob_hint = "min_size and merge_distance"
    config_fields = ("n_colors", "merge_distance", "absorb_fragments")
    output_names = ("probs",)
    predict_function = "predict_probs"
    out_of_core = True
    ensembles = True
    has_color_channels = True
    has_vectors = False
    reclusters = False

    def decode(self, output: np.ndarray, *, min_size: float, merge_distance: float, absorb_fragments: bool
               ) -> Instances:
        """`colors_to_labels` of ``probs (C, Y, X)`` (ρ = 0: no merging)."""
        from napari_deepcolor.postprocess.coloring import colors_to_labels

        return colors_to_labels(output, min_size=min_size, merge_distance=merge_distance or None,
                                absorb_fragments=absorb_fragments)

    def output_arrays(self, output: np.ndarray) -> tuple[np.ndarray, ...]:
        return (output,)

    def memory_per_pixel(self, config: ModelConfig) -> tuple[int, int]:
        channels = config.n_colors
        return channels, 4 + 4 * channels + 1 + 8  # labels, probabilities, colors, the components cache

    def knob_text(self, knobs: Mapping[str, Any]) -> str:
        return (f", ρ = {knobs['merge_distance']:g} px"
                + (", fragments below τ joined to a neighbour" if knobs["absorb_fragments"] else ""))

    def describe(self, config: ModelConfig, metadata: Mapping[str, Any]) -> str:
        return (f"{config.n_colors} colors, scale {config.scale:g}, τ {config.min_size:g}, "
                f"ρ {config.merge_distance:g}" + (", fragments joined" if config.absorb_fragments else ""))

    def kind_text(self, config: ModelConfig) -> str:
        return f"coloring, {config.n_colors} colors (0 = background)"

    def loss_function(self, network: torch.nn.Module, model_config: ModelConfig, train_config: TrainConfig
                      ) -> Callable[[torch.Tensor, torch.Tensor, int], torch.Tensor]:
        """`napari_deepcolor.training.losses.coloring_loss` with the run's margin, halo, prior and background
        weights (the prior's weight falls with the step)."""
        from napari_deepcolor.training.losses import coloring_loss

        def loss(output: Any, labels: Any, step: int) -> Any:
            return coloring_loss(output, labels, margin=train_config.margin, halo_weight=train_config.halo_weight,
                                 train_halo=train_config.train_halo, prior_weight=train_config.prior_weight(step),
                                 background_weight=train_config.background_weight)[0]
        return loss

    def network_foreground(self, output: torch.Tensor, config: ModelConfig) -> torch.Tensor:
        import torch

        return torch.softmax(output.float(), dim=1)[:, 0] < 0.5

    def evaluate(self, config: ModelConfig, results: Sequence[Result], knobs: Mapping[str, Any]) -> dict[str, float]:
        """Besides the scores, ``colors_used`` (colors taking at least 2 % of the predicted foreground) and
        ``touching_same_color`` (fraction of touching ground-truth pairs whose majority predicted colors agree: the
        merge rate the coloring is meant to keep low)."""
        from napari_deepcolor.metrics import evaluate

        per_image, usage = [], np.zeros(config.n_colors)
        same, touching = 0, 0
        for truth, instances, probs in results:
            per_image.append(evaluate(truth, instances.labels))
            colors = probs.argmax(axis=0)
            usage += np.bincount(colors.ravel(), minlength=config.n_colors)
            s, t = touching_color_agreement(colors, truth)
            same, touching = same + s, touching + t
        fg = usage[1:].sum()
        return {**mean_scores(per_image), "colors_used": int((usage[1:] >= 0.02 * max(fg, 1)).sum()),
                "touching_same_color": same / touching if touching else 0.0}


def touching_color_agreement(colors: np.ndarray, truth: np.ndarray, *, gap: int = 2) -> tuple[int, int]:
    """Count touching ground-truth instance pairs (within ``gap`` px) and those whose majority colors agree.

    Parameters
    ----------
    colors : ndarray, shape (Y, X), int
        Argmax color map.
    truth : ndarray, shape (Y, X) int labels, or (K, Y, X) bool masks
    """
    from scipy import ndimage

    masks = truth if truth.dtype == bool else np.stack([truth == i for i in np.unique(truth) if i > 0] or
                                                        [np.zeros_like(truth, dtype=bool)])
    majority = []
    for mask in masks:
        counts = np.bincount(colors[mask], minlength=2)
        majority.append(int(np.argmax(counts[1:]) + 1) if counts[1:].any() else 0)
    dilated = np.stack([ndimage.binary_dilation(m, iterations=gap) for m in masks])
    flat_d = dilated.reshape(len(masks), -1).astype(np.float32)
    flat_m = masks.reshape(len(masks), -1).astype(np.float32)
    adjacency = (flat_d @ flat_m.T) > 0
    same = touching = 0
    for i in range(len(masks)):
        for j in range(i + 1, len(masks)):
            if adjacency[i, j] or adjacency[j, i]:
                touching += 1
                same += int(majority[i] == majority[j] and majority[i] > 0)
    return same, touching
