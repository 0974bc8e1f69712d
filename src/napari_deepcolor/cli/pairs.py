"""``deepcolor train``'s training pairs read from files: an image (or one of its channels) and its annotation,
checked to fit together before any training time is spent; a stack and its label stack as their annotated planes,
as the Train dock takes them."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from napari_deepcolor.io import read_annotation, read_image


def read_pair(image_path: Path, annotation: list[Path], channel: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """An image (its ``channel`` alone if given, `read_channel`) and its annotation
    (`napari_deepcolor.io.read_annotation`), checked to be the same size (the image's channels, first or last,
    aside): `ValueError` naming both files otherwise."""
    image, labels = read_channel(image_path, channel), read_annotation(annotation)
    n = labels.ndim
    if image.shape[:n] != labels.shape and image.shape[-n:] != labels.shape:
        what = annotation[0] if len(annotation) == 1 else f"its {len(annotation)} masks ({annotation[0].name} ...)"
        raise ValueError(f"{image_path} is {' x '.join(map(str, image.shape))} pixels but {what} "
                         f"{' x '.join(map(str, labels.shape))}: an annotation must be the size of its image")
    return image, labels


def read_channel(path: Path, channel: int | None = None) -> np.ndarray:
    """`napari_deepcolor.io.read_image`, or its ``channel`` alone as a gray image (``--channel``,
    `napari_deepcolor.predict.regions.select_channel`)."""
    image = read_image(path)
    if channel is None:
        return image
    from napari_deepcolor.predict.regions import select_channel

    return np.ascontiguousarray(select_channel(image, channel))


def read_planes(image_path: Path, annotation: list[Path], channel: int | None = None
                ) -> tuple[list[tuple[np.ndarray, np.ndarray]], bool]:
    """`read_pair`'s image and annotation as 2D pairs: the pair itself, or, for a stack ``(T, Y, X)`` (RGB planes
    too) and its label stack, the planes with at least one object (`training.finetune.annotated_planes`); and
    whether it was a stack."""
    image, labels = read_pair(image_path, annotation, channel)
    if labels.ndim == 2:
        return [(image, labels)], False
    from napari_deepcolor.training.finetune import annotated_planes

    rgb = image.ndim == labels.ndim + 1 and image.shape[-1] in (3, 4)
    planes = annotated_planes(image, labels, rgb=rgb, name=str(annotation[0]))
    if not planes:
        raise ValueError(f"no plane of {annotation[0]} holds an object (label > 0): annotate at least one")
    return planes, True
