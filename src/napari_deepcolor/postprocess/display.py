"""Semi-convolutional output as napari-ready arrays: the displacement field as vectors, embeddings as images.

Pure numpy: no torch, Qt or napari. The arrays fit napari's layer data directly, e.g.
``viewer.add_vectors(displacement_vectors(e.embeddings, unit=e.unit, foreground=e.foreground))`` and
``viewer.add_image(offset_image(e.embeddings, unit=e.unit), channel_axis=0)`` for an `Embeddings` ``e`` from
`napari_deepcolor.predict.network.predict_embeddings`.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = ["displacement_vectors", "embedding_rgb", "offset_image"]


def _check(embeddings: npt.ArrayLike, unit: float, foreground: npt.ArrayLike | None,
           foreground_threshold: float) -> tuple[np.ndarray, np.ndarray | None]:
    emb = np.asarray(embeddings)
    if emb.ndim not in (3, 4) or emb.shape[0] < emb.ndim - 1 or not np.issubdtype(emb.dtype, np.floating):
        raise ValueError(f"expected float embeddings (D, Y, X) or (D, Z, Y, X) with D >= the number of spatial "
                         f"axes, got shape {emb.shape} and dtype {emb.dtype}")
    if not unit > 0:
        raise ValueError(f"expected unit > 0 (image pixels per embedding unit), got {unit!r}")
    if foreground is None:
        return emb, None
    fg = np.asarray(foreground)
    if fg.shape != emb.shape[1:]:
        raise ValueError(f"expected a foreground of shape {emb.shape[1:]}, got shape {fg.shape}")
    return emb, fg if fg.dtype == bool else fg >= foreground_threshold


def offset_image(embeddings: npt.ArrayLike, *, unit: float, foreground: npt.ArrayLike | None = None,
                 foreground_threshold: float = 0.5) -> np.ndarray:
    """The learned part Φ of the embedding, one image per dimension.

    The positional dimensions become displacements in image pixels, ``Ψ_d · unit − position_d`` (the arrows of the
    paper's Fig. 2, up to half a pixel where the network ran at another scale); the appearance dimensions are
    returned as they are. Background (where a foreground is given) is 0.

    Parameters
    ----------
    embeddings : ndarray, shape (D, Y, X) or (D, Z, Y, X), float
        Ψ in embedding units (`Embeddings.embeddings`).
    unit : float
        Image pixels per embedding unit (`Embeddings.unit`).
    foreground : ndarray, shape (Y, X) or (Z, Y, X), float or bool, optional

    Returns
    -------
    ndarray, shape (D, Y, X) or (D, Z, Y, X), float32
        For ``viewer.add_image(..., channel_axis=0)``.
    """
    emb, fg = _check(embeddings, unit, foreground, foreground_threshold)
    ndim = emb.ndim - 1
    out = emb.astype(np.float32, copy=True)
    grid = np.indices(emb.shape[1:], dtype=np.float32)
    out[:ndim] = out[:ndim] * np.float32(unit) - grid
    if fg is not None:
        out[:, ~fg] = 0
    return out


def displacement_vectors(embeddings: npt.ArrayLike, *, unit: float, foreground: npt.ArrayLike | None = None,
                         step: int = 8, foreground_threshold: float = 0.5) -> np.ndarray:
    """The displacement field as napari vectors: from each sampled pixel to the point its embedding votes for.

    Parameters
    ----------
    embeddings : ndarray, shape (D, Y, X) or (D, Z, Y, X), float
        Ψ in embedding units.
    unit : float
        Image pixels per embedding unit.
    foreground : ndarray, optional
        Only foreground pixels get a vector.
    step : int
        Sample every ``step`` pixels along each axis.

    Returns
    -------
    ndarray, shape (N, 2, ndim), float32
        napari Vectors data: ``[:, 0]`` the pixel position, ``[:, 1]`` the displacement Φ^g in image pixels.
    """
    if step < 1:
        raise ValueError(f"expected step >= 1, got {step}")
    offsets = offset_image(embeddings, unit=unit, foreground=foreground, foreground_threshold=foreground_threshold)
    ndim = offsets.ndim - 1
    sampled = np.zeros(offsets.shape[1:], bool)
    sampled[tuple(slice(step // 2, None, step) for _ in range(ndim))] = True
    if foreground is not None:
        _, fg = _check(embeddings, unit, foreground, foreground_threshold)
        sampled &= fg
    where = np.nonzero(sampled)
    starts = np.stack(where, axis=1).astype(np.float32)
    directions = offsets[:ndim][(slice(None), *where)].T
    return np.stack([starts, directions], axis=1).astype(np.float32)


def vectors_on_target(vectors: npt.ArrayLike, labels: npt.ArrayLike) -> float:
    """The fraction of displacement vectors that start in an instance and end in the same one.

    A model whose positional embedding dimensions point at its objects (Ψ_u near the object's centre) scores near 1
    (the bundled ``ecoli-semiconv``: 0.98 on its sample); one that separates objects by its appearance dimensions
    alone, with the positional ones nearly constant, scores near 0 (``leaves-semiconv``: 0.0, its arrows all run to
    one corner), and its arrows say nothing about the objects.

    Parameters
    ----------
    vectors : ndarray, shape (N, 2, ndim)
        napari Vectors data: start positions and displacements, in the axes of ``labels``.
    labels : ndarray, shape (...), int
        Instances, 0 = background.

    Returns
    -------
    float
        NaN when no vector starts in an instance.
    """
    vectors, labels = np.asarray(vectors, np.float64), np.asarray(labels)
    limit = np.array(labels.shape) - 1
    start = np.clip(np.round(vectors[:, 0]).astype(int), 0, limit)
    end = np.clip(np.round(vectors[:, 0] + vectors[:, 1]).astype(int), 0, limit)
    at_start, at_end = labels[tuple(start.T)], labels[tuple(end.T)]
    inside = at_start > 0
    return float(np.mean(at_end[inside] == at_start[inside])) if inside.any() else float("nan")


def embedding_rgb(embeddings: npt.ArrayLike, *, foreground: npt.ArrayLike | None = None,
                  foreground_threshold: float = 0.5) -> np.ndarray:
    """The embeddings projected on their 3 principal components (over the foreground) as an RGB image.

    Pixels of one instance share an embedding, hence a color; different instances get different colors where
    their embeddings differ. Each component is scaled to [0, 1] (1st–99th percentile); background is black.

    Returns
    -------
    ndarray, shape (Y, X, 3) or (Z, Y, X, 3), float32
        For ``viewer.add_image(..., rgb=True)``.
    """
    emb, fg = _check(embeddings, 1.0, foreground, foreground_threshold)
    mask = np.ones(emb.shape[1:], bool) if fg is None else fg
    rgb = np.zeros((*emb.shape[1:], 3), np.float32)
    points = emb[:, mask].T.astype(np.float64)
    if len(points) < 2:
        return rgb
    centred = points - points.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    projected = centred @ vt[:3].T
    low, high = np.percentile(projected, [1, 99], axis=0)
    scaled = np.clip((projected - low) / np.where(high > low, high - low, 1.0), 0, 1)
    rgb[mask, : scaled.shape[1]] = scaled
    return rgb
