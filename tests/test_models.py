import pytest

torch = pytest.importorskip("torch")

from napari_deepcolor.config import ConfigError, ModelConfig  # noqa: E402
from napari_deepcolor.models import MODELS, create_model  # noqa: E402


@pytest.mark.parametrize("architecture", sorted(MODELS))
@pytest.mark.parametrize("in_channels", [1, 3])
@pytest.mark.parametrize("shape", [(16, 16), (37, 53), (5, 70)])
def test_any_image_size_gives_same_size_logits(architecture, in_channels, shape):
    config = ModelConfig(architecture=architecture, in_channels=in_channels, n_colors=5, depth=2, width=4)
    network = create_model(config).eval()
    with torch.no_grad():
        out = network(torch.randn(2, in_channels, *shape))
    assert out.shape == (2, 5, *shape)


def test_depth_and_width_change_the_network():
    small = sum(p.numel() for p in create_model(ModelConfig(depth=2, width=4)).parameters())
    large = sum(p.numel() for p in create_model(ModelConfig(depth=3, width=8)).parameters())
    assert large > small


def test_batch_norm_switch():
    with_bn = create_model(ModelConfig(depth=1, width=4, batch_norm=True))
    without = create_model(ModelConfig(depth=1, width=4, batch_norm=False))
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in with_bn.modules())
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in without.modules())


def test_unknown_architecture_lists_the_valid_names():
    with pytest.raises(ConfigError, match="valid names are \\['unet'\\]"):
        create_model(ModelConfig(architecture="resnet9000"))


@pytest.mark.parametrize(
    "kwargs, message",
    [({"method": "magic"}, "unknown method"), ({"in_channels": 2}, "in_channels"), ({"n_colors": 1}, "n_colors"),
     ({"scale": 0}, "scale"), ({"percentiles": (50, 10)}, "percentiles"), ({"min_size": -1}, "min_size")],
)
def test_invalid_config_values(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        ModelConfig(**kwargs)


def test_config_round_trips_and_rejects_unknown_keys():
    config = ModelConfig(n_colors=6, scale=0.5, percentiles=(2.0, 98.0))
    assert ModelConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ConfigError, match="unknown ModelConfig keys \\['colour'\\]"):
        ModelConfig.from_dict({"colour": 3})
