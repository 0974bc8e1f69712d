"""cluster_embeddings: seeded growing with the steered kernel (no torch needed)."""

import numpy as np
import pytest

from napari_deepcolor.metrics import evaluate
from napari_deepcolor.postprocess.embeddings import cluster_embeddings
from napari_deepcolor.postprocess.instances import Instances


def scene(seed: int = 0, noise: float = 0.05):
    """Three instances (one tiny) with well-separated embedding centres, plus noise."""
    rng = np.random.default_rng(seed)
    labels = np.zeros((40, 50), np.int32)
    labels[3:15, 4:20] = 1
    labels[20:35, 5:12] = 2
    labels[25:27, 40:42] = 3  # 4 pixels
    centres = {1: [0.0, 0.0, 1.0], 2: [2.0, 0.5, 0.0], 3: [0.0, 3.0, 0.0]}
    embeddings = rng.normal(0, noise, (3, *labels.shape)).astype(np.float32)
    for k, c in centres.items():
        embeddings[:, labels == k] += np.asarray(c, np.float32)[:, None]
    return embeddings, labels


def test_known_instances_are_recovered():
    embeddings, labels = scene()
    result = cluster_embeddings(embeddings, labels > 0, sigma=0.5, threshold=0.5)
    assert isinstance(result, Instances)
    assert result.labels.dtype == np.int32 and result.labels.shape == labels.shape
    assert result.n_instances == 3 and evaluate(labels, result.labels)["ap50"] == 1.0
    np.testing.assert_array_equal(result.labels, labels)  # numbered in raster order of the first pixel
    assert result.scores.dtype == np.float32 and np.all((result.scores > 0.5) & (result.scores <= 1))
    assert np.all(result.colors == 0)


def test_min_size_drops_small_instances():
    embeddings, labels = scene()
    result = cluster_embeddings(embeddings, labels > 0, sigma=0.5, min_size=5)
    assert result.n_instances == 2
    assert np.all(result.labels[labels == 3] == 0)
    np.testing.assert_array_equal(result.labels[labels != 3], labels[labels != 3])


def test_foreground_probabilities_and_seeds():
    embeddings, labels = scene()
    probs = np.where(labels > 0, 0.9, 0.1).astype(np.float32)
    probs[0, 0] = 0.6  # a background pixel above the threshold becomes its own tiny instance
    result = cluster_embeddings(embeddings, probs, sigma=0.5, foreground_threshold=0.5, min_size=2)
    assert result.n_instances == 3 and result.labels[0, 0] == 0
    seeds = np.zeros(labels.shape, np.float32)
    same = cluster_embeddings(embeddings, probs, sigma=0.5, min_size=2, seeds=seeds)
    np.testing.assert_array_equal(same.labels, result.labels)


def test_a_small_sigma_splits_and_a_large_one_merges():
    embeddings, labels = scene(noise=0.05)
    fg = labels > 0
    assert cluster_embeddings(embeddings, fg, sigma=0.01).n_instances > 3
    assert cluster_embeddings(embeddings, fg, sigma=10.0).n_instances == 1


def test_empty_foreground_and_3d():
    embeddings, labels = scene()
    empty = cluster_embeddings(embeddings, np.zeros(labels.shape, bool), sigma=0.5)
    assert empty.n_instances == 0 and not empty.labels.any()
    volume = np.stack([labels, labels])
    emb3 = np.stack([embeddings, embeddings], axis=1)
    result = cluster_embeddings(emb3, volume > 0, sigma=0.5)
    assert result.labels.shape == volume.shape and result.n_instances == 3


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda e, f: (e[0], f), r"\(D, Y, X\)"),
        (lambda e, f: (e.astype(np.int32), f), "floating-point embeddings"),
        (lambda e, f: (np.where(np.arange(50) == 3, np.nan, e).astype(np.float32), f), "NaN"),
        (lambda e, f: (e, f[:-1]), "foreground of shape"),
        (lambda e, f: (e, f.astype(np.int32)), "foreground probabilities"),
        (lambda e, f: (e, np.where(f, np.nan, 0.0)), "foreground contains NaN"),
    ],
)
def test_bad_inputs_are_errors(change, message):
    embeddings, labels = scene()
    e, f = change(embeddings, labels > 0)
    with pytest.raises(ValueError, match=message):
        cluster_embeddings(e, f, sigma=0.5)


@pytest.mark.parametrize(
    "kwargs, message",
    [({"sigma": 0.0}, "sigma > 0"), ({"sigma": float("nan")}, "sigma > 0"), ({"sigma": 0.5, "threshold": 1.0},
     "threshold in"), ({"sigma": 0.5, "min_size": -1}, "min_size >= 0"),
     ({"sigma": 0.5, "seeds": np.zeros((2, 2))}, "seeds of shape")],
)
def test_bad_knobs_are_errors(kwargs, message):
    embeddings, labels = scene()
    with pytest.raises(ValueError, match=message):
        cluster_embeddings(embeddings, labels > 0, **kwargs)


def test_decoding_and_display_import_neither_torch_nor_qt_nor_napari():
    import subprocess
    import sys

    code = (
        "import sys, napari_deepcolor.postprocess, napari_deepcolor.postprocess.display; "
        "print(sorted(m for m in ('torch', 'qtpy', 'PyQt5', 'PyQt6', 'napari') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
