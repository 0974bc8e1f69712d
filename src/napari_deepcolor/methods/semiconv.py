"""Semi-convolutional embeddings: ``embedding_dims`` embedding channels, a foreground logit and a seed-confidence
logit; instances grow from seeds by the kernel K_σ (`napari_deepcolor.postprocess.embeddings`)."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import numpy as np

from napari_deepcolor.methods.method import Method, Result, mean_scores

if TYPE_CHECKING:
    import torch

    from napari_deepcolor.config import ModelConfig, TrainConfig
    from napari_deepcolor.postprocess.instances import Instances
    from napari_deepcolor.predict.network import Embeddings


class Semiconv(Method):
    """Semi-convolutional embeddings (`Method`): the output is an `Embeddings`, decoded by `cluster_embeddings`."""

    name = "semiconv"
    title = "semi-convolutional"
    knobs = MappingProxyType({"min_size": "min_size", "threshold": "kernel_threshold",
                              "foreground_threshold": "foreground_threshold"})
    refused = ("merge_distance", "absorb_fragments")
    refused_title = "coloring"
    knob_hint = "min_size, threshold and foreground_threshold"
    config_fields = ("kernel_threshold", "foreground_threshold")
    output_names = ("embeddings", "foreground", "seeds")
    predict_function = "predict_embeddings"
    out_of_core = False
    ensembles = False
    has_color_channels = False
    has_vectors = True
    reclusters = True

    def is_given(self, knob: str, value: Any) -> bool:
        """ρ = 0 and no fragment joining are what a semiconv model does anyway: only other values count."""
        return bool(value)

    def decode(self, output: Embeddings, *, min_size: float, threshold: float, foreground_threshold: float
               ) -> Instances:
        """`cluster_embeddings` of the embeddings, foreground and seeds at the model's trained σ."""
        from napari_deepcolor.postprocess.embeddings import cluster_embeddings

        return cluster_embeddings(output.embeddings, output.foreground, sigma=output.sigma, seeds=output.seeds,
                                  min_size=min_size, threshold=threshold, foreground_threshold=foreground_threshold)

    def output_arrays(self, output: Embeddings) -> tuple[np.ndarray, ...]:
        return output.embeddings, output.foreground, output.seeds

    def memory_per_pixel(self, config: ModelConfig) -> tuple[int, int]:
        channels = config.embedding_dims + 2
        # labels, embeddings + foreground + seeds, the foreground layer, and (every pixel foreground, at worst) the
        # kept k-d tree search: float64 points, pixel, order and cluster indices, the tree's own index
        return channels, 4 + 4 * channels + 4 + 8 * config.embedding_dims + 4 * 8 + 8

    def knob_text(self, knobs: Mapping[str, Any]) -> str:
        return f", kernel threshold {knobs['threshold']:g}, foreground threshold {knobs['foreground_threshold']:g}"

    def describe(self, config: ModelConfig, metadata: Mapping[str, Any]) -> str:
        return (f"{config.embedding_dims} dims, σ {metadata.get('sigma', float('nan')):.3g}, scale "
                f"{config.scale:g}, τ {config.min_size:g}, threshold {config.kernel_threshold:g}, foreground "
                f"{config.foreground_threshold:g}")

    def kind_text(self, config: ModelConfig) -> str:
        return f"semi-convolutional, {config.embedding_dims} dimensions"

    def loss_function(self, network: torch.nn.Module, model_config: ModelConfig, train_config: TrainConfig
                      ) -> Callable[[torch.Tensor, torch.Tensor, int], torch.Tensor]:
        """`napari_deepcolor.training.losses_semiconv.semiconv_loss` with the network's learnable σ and the run's
        term weights."""
        from napari_deepcolor.training.losses_semiconv import semiconv_loss

        def loss(output: Any, labels: Any, step: int) -> Any:
            return semiconv_loss(output, labels, sigma=network.sigma, coordinate_scale=model_config.coordinate_scale,
                                 embedding_weight=train_config.embedding_weight,
                                 foreground_weight=train_config.foreground_weight,
                                 kernel_weight=train_config.kernel_weight, seed_weight=train_config.seed_weight)[0]
        return loss

    def checkpoint_metadata(self, network: torch.nn.Module) -> dict[str, Any]:
        """``sigma``: the trained σ (also in the weights, as ``log_sigma``)."""
        return {"sigma": float(network.sigma.detach().cpu())}

    def network_foreground(self, output: torch.Tensor, config: ModelConfig) -> torch.Tensor:
        import torch

        return torch.sigmoid(output[:, config.embedding_dims]) > 0.5

    def evaluate(self, config: ModelConfig, results: Sequence[Result], knobs: Mapping[str, Any]) -> dict[str, float]:
        """Besides the scores, ``sigma`` (the trained kernel width) and ``foreground_iou`` (IoU of the predicted
        foreground with the union of the ground-truth instances, pooled over images)."""
        from napari_deepcolor.metrics import evaluate

        per_image, inter, union, sigma = [], 0, 0, math.nan
        for truth, instances, output in results:
            per_image.append(evaluate(truth, instances.labels))
            truth_fg = truth.any(axis=0) if truth.dtype == bool else truth > 0
            predicted = output.foreground >= knobs["foreground_threshold"]
            inter, union = inter + int((predicted & truth_fg).sum()), union + int((predicted | truth_fg).sum())
            sigma = output.sigma
        return {**mean_scores(per_image), "sigma": sigma, "foreground_iou": inter / union if union else math.nan}
