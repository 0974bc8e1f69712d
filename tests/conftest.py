import numpy as np
import pytest


@pytest.fixture(autouse=True)
def user_models_in_tmp(tmp_path_factory, monkeypatch):
    """Every test keeps its user models (`napari_deepcolor.zoo.user`) in a folder of its own, never in the real
    home; subprocesses inherit the variable."""
    folder = tmp_path_factory.mktemp("user-models")
    monkeypatch.setenv("NAPARI_DEEPCOLOR_MODELS", str(folder))
    return folder


@pytest.fixture
def notes(monkeypatch):
    """Notifications the widgets show, as (level, message) (napari's show_error/show_warning/show_info)."""
    from napari.utils import notifications

    seen = []
    for level in ("error", "warning", "info"):
        monkeypatch.setattr(notifications, f"show_{level}", lambda message, level=level: seen.append((level, message)))
    return seen


def blobs_pair(seed: int = 0, size: int = 48, n: int = 6) -> tuple[np.ndarray, np.ndarray]:
    """A synthetic gray image of bright rectangles, some touching, and their label image."""
    rng = np.random.default_rng(seed)
    image = rng.normal(0.1, 0.02, (size, size)).astype(np.float32)
    labels = np.zeros((size, size), np.int32)
    for i in range(1, n + 1):
        y, x = rng.integers(0, size - 10, 2)
        h, w = rng.integers(5, 10, 2)
        labels[y : y + h, x : x + w] = i
    image[labels > 0] += 0.8
    return image, labels


@pytest.fixture
def tiny_model(tmp_path):
    """Path of an untrained tiny coloring checkpoint."""
    torch = pytest.importorskip("torch")
    from napari_deepcolor.checkpoint import Checkpoint, save_checkpoint
    from napari_deepcolor.config import ModelConfig
    from napari_deepcolor.models import create_model

    torch.manual_seed(0)
    config = ModelConfig(n_colors=4, depth=2, width=4, min_size=2.0)
    return save_checkpoint(tmp_path / "tiny.safetensors", Checkpoint(config, create_model(config).state_dict(), {}))


@pytest.fixture
def tiny_mask_model(tmp_path):
    """Path of an untrained tiny coloring checkpoint that takes foreground masks (`ModelConfig.mask_input`)."""
    torch = pytest.importorskip("torch")
    from napari_deepcolor.checkpoint import Checkpoint, save_checkpoint
    from napari_deepcolor.config import ModelConfig
    from napari_deepcolor.models import create_model

    torch.manual_seed(0)
    config = ModelConfig(n_colors=4, depth=2, width=4, mask_input=True)
    return save_checkpoint(tmp_path / "tiny-mask.safetensors",
                           Checkpoint(config, create_model(config).state_dict(), {}))


@pytest.fixture
def tiny_semiconv_model(tmp_path):
    """Path of an untrained tiny semi-convolutional checkpoint (σ = 0.5 embedding units)."""
    torch = pytest.importorskip("torch")
    from napari_deepcolor.checkpoint import Checkpoint, save_checkpoint
    from napari_deepcolor.config import ModelConfig
    from napari_deepcolor.models import create_model

    torch.manual_seed(0)
    config = ModelConfig(method="semiconv", embedding_dims=4, depth=2, width=4, coordinate_scale=8.0, min_size=2.0)
    return save_checkpoint(tmp_path / "tiny_semiconv.safetensors",
                           Checkpoint(config, create_model(config).state_dict(), {}))


@pytest.fixture
def spotty_model(tmp_path):
    """Path of an untrained tiny coloring checkpoint whose argmax varies across an image (head weights × 30).

    The plain `tiny_model` paints a whole image one color (one component); tests of τ and ρ need several.
    """
    torch = pytest.importorskip("torch")
    from napari_deepcolor.checkpoint import Checkpoint, save_checkpoint
    from napari_deepcolor.config import ModelConfig
    from napari_deepcolor.models import create_model

    torch.manual_seed(0)
    config = ModelConfig(n_colors=4, depth=2, width=4, min_size=2.0)
    network = create_model(config)
    with torch.no_grad():
        network.head.weight.mul_(30)
    return save_checkpoint(tmp_path / "spotty.safetensors", Checkpoint(config, network.state_dict(), {}))


@pytest.fixture
def familiar_start(monkeypatch):
    """The starting model matches the annotations at object size 1 (`training.size_scan`), as a trained model does
    on its own kind of images; the tiny untrained test models find nothing and would be fine-tuned as for a new kind
    of image (`training.finetune.NEW_KIND`)."""
    from napari_deepcolor.training import size_scan

    monkeypatch.setattr(size_scan, "scan_object_size", lambda model, pairs: (1.0, "object size 1 (from your "
                                                                                "annotations, in a test)"))
