"""The synthetic experiment of the semi-convolutional paper (sec. 4.1): identical dots on a regular grid.

A purely convolutional embedding Φ is translation-equivariant: identical dots get identical embeddings, so no
clustering can tell them apart. The semi-convolutional Ψ = Φ + û adds the pixel position and separates them.
`fit_dot_embedding` trains a small U-Net on one dot image with eq. 5 only (as the paper does) either way, and
`kmeans_labels` clusters the foreground embeddings into the true number of dots with k-means, like the paper.

Used by ``experiments/synthetic_dots/synthetic_dots.py`` (the figure in docs/) and by the tests. Torch is imported
lazily.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def dot_grid(rows: int = 6, cols: int = 6, *, pitch: int = 16, radius: int = 3, border: int | None = None
             ) -> tuple[np.ndarray, np.ndarray]:
    """An image of identical bright discs on a regular grid, and its label image.

    Parameters
    ----------
    rows, cols : int
        Grid size.
    pitch : int
        Distance between dot centres, pixels (a multiple of ``2**depth`` keeps pooled U-Nets aligned on every dot).
    radius : int
        Dot radius, pixels.
    border : int, optional
        Margin around the grid, pixels; default ``pitch // 2``.

    Returns
    -------
    image : ndarray, shape (Y, X), float32
        1 inside the dots, 0 elsewhere.
    labels : ndarray, shape (Y, X), int32
        Dots numbered ``1..rows*cols`` in raster order.
    """
    border = pitch // 2 if border is None else border
    shape = (2 * border + (rows - 1) * pitch + 1, 2 * border + (cols - 1) * pitch + 1)
    # round up to a multiple of 16 so U-Nets of depth <= 4 need no padding
    shape = tuple(int(np.ceil(s / 16) * 16) for s in shape)
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    labels = np.zeros(shape, np.int32)
    for i in range(rows):
        for j in range(cols):
            cy, cx = border + i * pitch, border + j * pitch
            labels[(yy - cy) ** 2 + (xx - cx) ** 2 <= radius**2] = i * cols + j + 1
    return (labels > 0).astype(np.float32), labels


@dataclass
class DotEmbedding:
    """A trained dot embedding.

    Attributes
    ----------
    embeddings : ndarray, shape (D, Y, X), float32
        Ψ = Φ + û (semiconv) or Φ (conv), embedding units.
    offsets : ndarray, shape (D, Y, X), float32
        Φ, the network output.
    losses : list of float
        Eq. 5 at each step.
    """

    embeddings: np.ndarray
    offsets: np.ndarray
    losses: list[float]


def fit_dot_embedding(image: np.ndarray, labels: np.ndarray, *, semiconv: bool, steps: int = 100,
                      embedding_dims: int = 8, coordinate_scale: float = 16.0, depth: int = 2, width: int = 8,
                      learning_rate: float = 1e-2, seed: int = 0) -> DotEmbedding:
    """Train a U-Net embedding on one image with eq. 5 only, purely convolutional or semi-convolutional.

    Parameters
    ----------
    image : ndarray, shape (Y, X), float
    labels : ndarray, shape (Y, X), int
    semiconv : bool
        Ψ = Φ + û (True) or Ψ = Φ (False).
    steps, learning_rate, seed : Adam schedule on the single image.
    embedding_dims, coordinate_scale, depth, width : the embedding and the U-Net (no batch norm).
    """
    import torch

    from napari_deepcolor.models.semiconv import add_positions
    from napari_deepcolor.models.unet import UNet
    from napari_deepcolor.training.losses_semiconv import embedding_loss

    torch.manual_seed(seed)
    network = UNet(1, embedding_dims, depth=depth, width=width, batch_norm=False)
    optimizer = torch.optim.Adam(network.parameters(), lr=learning_rate)
    x = torch.from_numpy(np.asarray(image, np.float32))[None, None]
    y = torch.from_numpy(np.asarray(labels, np.int64))[None]

    def embed() -> tuple[torch.Tensor, torch.Tensor]:
        phi = network(x)
        return (add_positions(phi, coordinate_scale) if semiconv else phi), phi

    losses = []
    # A collapsing convolutional embedding drives values into subnormal floats, which are very slow on CPUs.
    flush = torch.set_flush_denormal(True)
    try:
        for _ in range(steps):
            loss = embedding_loss(embed()[0], y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(float(loss.detach()))
        with torch.no_grad():
            psi, phi = embed()
    finally:
        if flush:
            torch.set_flush_denormal(False)
    return DotEmbedding(psi[0].numpy(), phi[0].numpy(), losses)


def kmeans_labels(embeddings: np.ndarray, foreground: np.ndarray, k: int, *, seed: int = 0) -> np.ndarray:
    """Label image from k-means (k-means++ initialization, scipy) of the foreground embeddings ``(D, Y, X)``.

    Identical embeddings (a collapsed convolutional embedding) leave clusters empty; that is the expected failure,
    so scipy's warnings about it are silenced.
    """
    import warnings

    from scipy.cluster.vq import kmeans2

    points = embeddings[:, foreground].T.astype(np.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _, assignment = kmeans2(points, k, minit="++", seed=np.random.default_rng(seed))
    labels = np.zeros(foreground.shape, np.int32)
    labels[foreground] = assignment + 1
    return labels
