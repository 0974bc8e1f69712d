"""The paper's sec. 4.1 on a small grid: identical dots defeat a convolutional embedding, not a semi-convolutional."""

import numpy as np
import pytest

pytest.importorskip("torch")

from napari_deepcolor.metrics import evaluate  # noqa: E402
from napari_deepcolor.postprocess.embeddings import cluster_embeddings  # noqa: E402
from napari_deepcolor.training.synthetic_dots import dot_grid, fit_dot_embedding, kmeans_labels  # noqa: E402

PITCH = 16


@pytest.fixture(scope="module")
def dots():
    image, labels = dot_grid(6, 6, pitch=PITCH, radius=3)
    fits = {semiconv: fit_dot_embedding(image, labels, semiconv=semiconv, steps=25, coordinate_scale=16.0)
            for semiconv in (False, True)}
    return image, labels, fits


def test_grid_of_identical_dots():
    image, labels = dot_grid(3, 4, pitch=16, radius=2)
    assert labels.max() == 12 and image.shape == labels.shape
    assert len({int((labels == k).sum()) for k in range(1, 13)}) == 1  # all dots the same size


def test_identical_dots_get_identical_conv_embeddings_but_distinct_semiconv_ones(dots):
    _, labels, fits = dots
    centre = PITCH // 2 + 2 * PITCH, PITCH // 2 + 3 * PITCH  # two neighbouring interior dots, far from the border
    other = centre[0], centre[1] - PITCH
    for semiconv, fit in fits.items():
        # Φ is translation-equivariant: the same at every interior dot
        np.testing.assert_allclose(fit.offsets[:, centre[0], centre[1]], fit.offsets[:, other[0], other[1]],
                                   atol=1e-4)
    conv, semi = fits[False].embeddings, fits[True].embeddings
    assert np.linalg.norm(conv[:, centre[0], centre[1]] - conv[:, other[0], other[1]]) < 1e-4
    # Ψ = Φ + û differs by the positions: one pitch, in units of the coordinate scale
    assert np.linalg.norm(semi[:, centre[0], centre[1]] - semi[:, other[0], other[1]]) == pytest.approx(1.0,
                                                                                                     abs=1e-3)


def test_kmeans_with_the_true_count_separates_the_dots_only_semiconvolutionally(dots):
    _, labels, fits = dots
    fg = labels > 0
    ap = {semiconv: evaluate(labels, kmeans_labels(fit.embeddings, fg, int(labels.max())))["ap50"]
          for semiconv, fit in fits.items()}
    assert ap[True] >= 0.9
    assert ap[False] <= 0.2
    # the kernel decoder needs no count: with a kernel radius below half the pitch it also finds every dot
    decoded = cluster_embeddings(fits[True].embeddings, fg, sigma=0.25, threshold=0.5)
    assert evaluate(labels, decoded.labels)["ap50"] >= 0.9
    assert cluster_embeddings(fits[False].embeddings, fg, sigma=0.25, threshold=0.5).n_instances < 4
