"""The method objects (`napari_deepcolor.methods`): lookup, knobs, decoding, loss, evaluation; each gives what the
code it replaced gave (the old branches are written out here as the reference)."""

import math
import subprocess
import sys

import numpy as np
import pytest

from conftest import blobs_pair
from napari_deepcolor.config import METHODS as METHOD_NAMES
from napari_deepcolor.config import ModelConfig, TrainConfig
from napari_deepcolor.methods import METHODS, get_method
from napari_deepcolor.metrics import evaluate
from napari_deepcolor.postprocess.coloring import colors_to_labels
from napari_deepcolor.postprocess.embeddings import cluster_embeddings

COLORING = ModelConfig(n_colors=4, depth=2, width=4, min_size=2.0, merge_distance=3.0, absorb_fragments=True)
SEMICONV = ModelConfig(method="semiconv", embedding_dims=4, depth=2, width=4, coordinate_scale=8.0, min_size=2.0,
                       kernel_threshold=0.4, foreground_threshold=0.6)


def probs_of(labels: np.ndarray, n_colors: int = 4, seed: int = 0) -> np.ndarray:
    """Noisy color probabilities whose argmax colors ``labels`` by id modulo the colors."""
    rng = np.random.default_rng(seed)
    colors = np.where(labels > 0, (labels - 1) % (n_colors - 1) + 1, 0)
    logits = rng.normal(0, 0.3, (n_colors, *labels.shape)) + 3 * np.eye(n_colors)[colors].transpose(2, 0, 1)
    e = np.exp(logits - logits.max(0))
    return (e / e.sum(0)).astype(np.float32)


class FakeEmbeddings:
    """What `predict_embeddings` gives, for an image of ``labels``: each object's pixels vote for its centre."""

    def __init__(self, labels: np.ndarray) -> None:
        ys, xs = np.indices(labels.shape).astype(np.float32)
        self.embeddings = np.stack([ys, xs, np.zeros_like(ys)]) / 8
        for i in np.unique(labels[labels > 0]):
            mask = labels == i
            self.embeddings[0][mask], self.embeddings[1][mask] = ys[mask].mean() / 8, xs[mask].mean() / 8
        self.foreground = (labels > 0).astype(np.float32) * 0.9 + 0.05
        self.seeds = self.foreground.copy()
        self.sigma, self.unit = 0.25, 8.0


def test_lookup_lists_the_valid_names_and_matches_the_config():
    assert tuple(METHODS) == METHOD_NAMES
    assert get_method("coloring").name == "coloring" and get_method("semiconv").name == "semiconv"
    for bad in ("stardist", None, ["coloring"]):
        with pytest.raises(ValueError, match=r"unknown method .*valid methods are \['coloring', 'semiconv'\]"):
            get_method(bad)


@pytest.mark.parametrize("name", METHOD_NAMES)
def test_every_knob_has_its_config_field(name):
    method = get_method(name)
    config = COLORING if name == "coloring" else SEMICONV
    assert "min_size" in method.knobs and not set(method.knobs) & set(method.refused)
    for field in (*method.knobs.values(), *method.config_fields):
        assert hasattr(config, field)


def test_knobs_default_to_the_config_and_the_other_methods_are_refused():
    coloring, semiconv = get_method("coloring"), get_method("semiconv")
    assert coloring.resolve_knobs(COLORING, "m") == {"min_size": 2.0, "merge_distance": 3.0, "absorb_fragments": True}
    assert coloring.resolve_knobs(COLORING, "m", merge_distance=0, absorb_fragments=False, min_size=None) == {
        "min_size": 2.0, "merge_distance": 0, "absorb_fragments": False}
    assert semiconv.resolve_knobs(SEMICONV, "m", threshold=0.3) == {"min_size": 2.0, "threshold": 0.3,
                                                                   "foreground_threshold": 0.6}
    # ρ = 0 and no fragment joining are what a semiconv model does anyway
    assert semiconv.resolve_knobs(SEMICONV, "m", merge_distance=0, absorb_fragments=False)["threshold"] == 0.4
    with pytest.raises(ValueError, match="threshold and foreground_threshold are decoding knobs of semi-"
                                         "convolutional models; m is a coloring model"):
        coloring.resolve_knobs(COLORING, "m", foreground_threshold=0.5)
    with pytest.raises(ValueError, match="merge_distance and absorb_fragments are decoding knobs of coloring "
                                         "models; m is a semi-convolutional model"):
        semiconv.resolve_knobs(SEMICONV, "m", absorb_fragments=True)
    with pytest.raises(ValueError, match="unknown decoding knobs"):
        coloring.resolve_knobs(COLORING, "m", sigma_scale=2)


def test_coloring_decodes_like_colors_to_labels():
    _, labels = blobs_pair(0)
    probs = probs_of(labels)
    method = get_method("coloring")
    for knobs in ({"min_size": 2.0, "merge_distance": 3.0, "absorb_fragments": True},
                  {"min_size": 0.0, "merge_distance": 0.0, "absorb_fragments": False}):
        found = method.decode(probs, **knobs)
        expected = colors_to_labels(probs, min_size=knobs["min_size"], merge_distance=knobs["merge_distance"] or None,
                                    absorb_fragments=knobs["absorb_fragments"])
        np.testing.assert_array_equal(found.labels, expected.labels)
        assert found.n_instances == expected.n_instances > 0
    assert method.output_arrays(probs)[0] is probs


def test_semiconv_decodes_like_cluster_embeddings():
    _, labels = blobs_pair(1)
    output = FakeEmbeddings(labels)
    method = get_method("semiconv")
    found = method.decode(output, min_size=2.0, threshold=0.4, foreground_threshold=0.6)
    expected = cluster_embeddings(output.embeddings, output.foreground, sigma=0.25, seeds=output.seeds, min_size=2.0,
                                  threshold=0.4, foreground_threshold=0.6)
    np.testing.assert_array_equal(found.labels, expected.labels)
    assert found.n_instances == expected.n_instances > 0
    assert [a is b for a, b in zip(method.output_arrays(output), (output.embeddings, output.foreground,
                                                                  output.seeds))] == [True] * 3


def test_memory_per_pixel_is_the_stack_estimate():
    assert get_method("coloring").memory_per_pixel(COLORING) == (4, 4 + 4 * 4 + 1 + 8)
    assert get_method("semiconv").memory_per_pixel(SEMICONV) == (6, 4 + 4 * 6 + 4 + 8 * 4 + 4 * 8 + 8)


@pytest.mark.parametrize("name", METHOD_NAMES)
def test_what_the_stack_and_the_widgets_ask_is_the_old_branches(name):
    method = get_method(name)
    config, coloring = (COLORING, True) if name == "coloring" else (SEMICONV, False)
    old_kind = (f"coloring, {config.n_colors} colors (0 = background)" if coloring
                else f"semi-convolutional, {config.embedding_dims} dimensions")
    assert method.kind_text(config) == old_kind
    assert method.has_color_channels is coloring and method.has_vectors is method.reclusters is not coloring
    assert ("merge_distance" in method.knobs) is ("absorb_fragments" in method.knobs) is coloring
    assert ("threshold" in method.knobs) is not coloring and ("n_colors" in method.config_fields) is coloring


def test_coloring_evaluation_is_the_old_evaluate_coloring():
    from napari_deepcolor.methods.coloring import touching_color_agreement

    results = []
    for seed in (0, 1):
        _, truth = blobs_pair(seed)
        probs = probs_of(truth, seed=seed)
        results.append((truth, colors_to_labels(probs, min_size=2.0), probs))
    metrics = get_method("coloring").evaluate(COLORING, results, {})
    per_image = [evaluate(truth, instances.labels) for truth, instances, _ in results]
    for key in ("ap50", "mean_ap", "sbd", "abs_dic"):
        assert metrics[key] == float(np.mean([m[key] for m in per_image]))
    usage = sum(np.bincount(p.argmax(0).ravel(), minlength=4) for _, _, p in results)
    same, touching = np.sum([touching_color_agreement(p.argmax(0), t) for t, _, p in results], axis=0)
    assert metrics["colors_used"] == int((usage[1:] >= 0.02 * usage[1:].sum()).sum())
    assert metrics["touching_same_color"] == (same / touching if touching else 0.0)


def test_semiconv_evaluation_is_the_old_evaluate_semiconv():
    _, truth = blobs_pair(2)
    output = FakeEmbeddings(truth)
    instances = cluster_embeddings(output.embeddings, output.foreground, sigma=0.25, seeds=output.seeds)
    metrics = get_method("semiconv").evaluate(SEMICONV, [(truth, instances, output)], {"foreground_threshold": 0.6})
    predicted, truth_fg = output.foreground >= 0.6, truth > 0
    assert metrics["foreground_iou"] == (predicted & truth_fg).sum() / (predicted | truth_fg).sum()
    assert metrics["sigma"] == 0.25 and metrics["ap50"] == evaluate(truth, instances.labels)["ap50"]
    empty = get_method("semiconv").evaluate(SEMICONV, [], {"foreground_threshold": 0.6})
    assert all(math.isnan(empty[key]) for key in ("ap50", "sigma", "foreground_iou"))


def test_losses_are_the_training_losses_with_the_runs_knobs():
    torch = pytest.importorskip("torch")
    from napari_deepcolor.models import create_model
    from napari_deepcolor.training.losses import coloring_loss
    from napari_deepcolor.training.losses_semiconv import semiconv_loss

    _, labels = blobs_pair(0, size=32)
    labels = torch.from_numpy(labels.astype(np.int64))[None]
    train_config = TrainConfig(margin=3, halo_weight=0.5, orientation_prior=0.3, prior_steps=10, kernel_weight=2.0)
    torch.manual_seed(0)
    logits = torch.randn(1, 4, 32, 32)
    loss = get_method("coloring").loss_function(None, COLORING, train_config)
    for step in (0, 5):
        expected = coloring_loss(logits, labels, margin=3, halo_weight=0.5, train_halo=train_config.train_halo,
                                 prior_weight=train_config.prior_weight(step),
                                 background_weight=train_config.background_weight)[0]
        assert torch.equal(loss(logits, labels, step), expected)
    network = create_model(SEMICONV)
    output = torch.randn(1, SEMICONV.out_channels, 32, 32)
    expected = semiconv_loss(output, labels, sigma=network.sigma, coordinate_scale=8.0,
                             embedding_weight=train_config.embedding_weight,
                             foreground_weight=train_config.foreground_weight, kernel_weight=2.0,
                             seed_weight=train_config.seed_weight)[0]
    assert torch.equal(get_method("semiconv").loss_function(network, SEMICONV, train_config)(output, labels, 0),
                       expected)
    assert get_method("semiconv").checkpoint_metadata(network) == {"sigma": float(network.sigma.detach())}
    assert get_method("coloring").checkpoint_metadata(network) == {}


def test_network_foreground():
    torch = pytest.importorskip("torch")

    out = torch.zeros(1, 6, 2, 2)
    out[0, 4, 0, 0] = 5.0  # semiconv: foreground logit (channel embedding_dims)
    assert get_method("semiconv").network_foreground(out, SEMICONV).tolist() == [[[True, False], [False, False]]]
    probs = torch.zeros(1, 4, 2, 2)
    probs[0, 0, 1, 1] = 5.0  # coloring: background wins only there
    assert get_method("coloring").network_foreground(probs, COLORING).tolist() == [[[True, True], [True, False]]]


def test_importing_the_methods_loads_no_torch():
    code = "import sys, napari_deepcolor.methods; print('torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert result.stdout.strip() == "False"
