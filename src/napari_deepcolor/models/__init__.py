"""Model registry: a config names its architecture, `create_model` builds it (imports torch).

The registry holds backbones; for ``method="semiconv"`` `create_model` wraps the backbone in
`napari_deepcolor.models.semiconv.SemiConvNet`, which adds the learnable σ of the steered kernel, and for a
coloring config with ``members > 1`` or ``test_time_flips > 1`` it averages backbones in
`napari_deepcolor.models.ensemble.Ensemble`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

from napari_deepcolor.config import ConfigError, ModelConfig

if TYPE_CHECKING:
    from torch import nn


def _unet(config: ModelConfig) -> nn.Module:
    from napari_deepcolor.models.unet import UNet

    return UNet(
        config.in_channels,
        config.out_channels,
        depth=config.depth,
        width=config.width,
        batch_norm=config.batch_norm,
    )


MODELS: dict[str, Callable[[ModelConfig], nn.Module]] = {"unet": _unet}


def create_model(config: ModelConfig) -> nn.Module:
    """Build the (untrained) network a config describes.

    Coloring: the backbone with ``n_colors`` outputs, or an `Ensemble` of ``members`` backbones averaged over
    ``test_time_flips`` flips. Semiconv: a `SemiConvNet` around the backbone with ``embedding_dims + 2`` outputs.

    Raises
    ------
    ConfigError
        If ``config.architecture`` is not registered; the message lists the valid names.
    """
    try:
        build = MODELS[config.architecture]
    except KeyError:
        raise ConfigError(
            f"unknown architecture {config.architecture!r}; valid names are {sorted(MODELS)}"
        ) from None
    if config.is_ensemble:
        from napari_deepcolor.models.ensemble import Ensemble

        return Ensemble([build(config) for _ in range(config.members)], n_colors=config.n_colors,
                        flips=config.test_time_flips)
    network = build(config)
    if config.method == "semiconv":
        from napari_deepcolor.models.semiconv import SemiConvNet

        return SemiConvNet(network, config.embedding_dims)
    return network
