"""Training data: image + labels pairs → network-space samples → random patches with augmentation.

Torch is used only to stack a batch.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from napari_deepcolor.config import ModelConfig

from napari_deepcolor.io import int32_labels
from napari_deepcolor.preprocess import (
    IGNORE,
    _intensities,
    check_mask,
    rescale_image,
    rescale_labels,
    to_channels_first,
)


@dataclass
class Sample:
    """One preprocessed training pair: ``image (C, Y, X)`` float32 and ``labels (Y, X)`` int32 (-1 = ignore);
    ``replay``: one of the starting model's own kind of images (`napari_deepcolor.training.replay`), not the user's."""

    image: np.ndarray
    labels: np.ndarray
    replay: bool = False

    def __post_init__(self) -> None:
        if self.image.shape[1:] != self.labels.shape:
            raise ValueError(f"labels of shape {self.labels.shape} do not match image of shape "
                             f"{self.image.shape[1:]}; they must be the same size")


def make_sample(image: np.ndarray, labels: np.ndarray, *, in_channels: int, percentiles: tuple[float, float],
                scale: float, channel_axis: int | None = None, clip_max: float | None = None,
                mask_input: bool = False, sparse: float | None = None) -> Sample:
    """Preprocess an (image, labels) pair for training, checking they fit together."""
    planes = to_channels_first(image, in_channels, channel_axis=channel_axis)
    labels = np.asarray(labels)
    if planes.shape[1:] != labels.shape:
        raise ValueError(f"labels of shape {labels.shape} do not match image of shape {planes.shape[1:]}; they "
                         "must be the same size")
    if not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"labels must be integers (0 = background, -1 = ignore), got dtype {labels.dtype}")
    labels = int32_labels(labels)
    check_label_image(labels)
    if mask_input:
        check_mask(planes)
    return Sample(rescale_image(_intensities(planes, percentiles=percentiles, limits=None, clip_max=clip_max,
                                             mask_input=mask_input, sparse=sparse), scale),
                  rescale_labels(labels, scale))


#: `check_label_image`: at least this many pieces before labels are looked at as a possible intensity image.
MANY_PIECES = 1000


def check_label_image(labels: np.ndarray) -> None:
    """Refuse labels that look like an intensity image rather than one id per object.

    An image given as labels (a wrong folder, ``<stem>.tif`` taken for ``<stem>_labels.tif``) has thousands of ids,
    most of them a pixel or two, or each id scattered in many pieces; training on it would build one mask per id in
    every patch (memory grows with ids × pixels) and learn nothing. Refused when there are at least `MANY_PIECES`
    ids whose median size is at most 2 pixels, or at least `MANY_PIECES` connected pieces and twice as many pieces
    as ids. O(pixels); real label images (one piece per id, or a few) pass.

    Raises
    ------
    ValueError
        Saying what the labels look like and what to do.
    """
    positive = labels > 0
    ids, areas = np.unique(labels[positive], return_counts=True)
    if ids.size < 2:
        return
    median = float(np.median(areas))
    pieces = ids.size
    if not (ids.size >= MANY_PIECES and median <= 2):
        from skimage.measure import label

        pieces = int(label(np.where(positive, labels, 0), background=0, connectivity=1).max())
        if pieces < max(MANY_PIECES, 2 * ids.size):
            return
    raise ValueError(f"these labels look like an intensity image, not a label image: {ids.size} ids in {pieces} "
                     f"separate pieces, their median size {median:g} pixels; give a label image with one "
                     "integer id per object (0 = background), e.g. <stem>_labels.tif")


def model_sample(image: np.ndarray, labels: np.ndarray, config: ModelConfig, *,
                 channel_axis: int | None = None) -> Sample:
    """`make_sample` with the preprocessing a model's config asks for (its channels, percentiles, intensity clip
    and scale), so training data is prepared exactly as `napari_deepcolor.predict.network` prepares images."""
    return make_sample(image, labels, in_channels=config.in_channels, percentiles=config.percentiles,
                       scale=config.scale, channel_axis=channel_axis, clip_max=config.intensity_max,
                       mask_input=config.mask_input, sparse=config.sparse_percentile)


class PatchSampler:
    """Random training patches with flips, 90° rotations and intensity changes.

    A fraction ``contact_fraction`` of the patches is centred on a pixel where two instances come within
    ``margin`` of each other (`contact_pixels`; crossing objects count), where the coloring has to separate them;
    of the rest, half are centred on a random foreground pixel so sparse objects are seen often, half are uniform.

    Parameters
    ----------
    samples : list of Sample
        Preprocessed pairs; together they must contain at least one object.
    patch_size : int
        Side of the square patches (network pixels).
    augment_intensity : bool
        Random contrast, brightness and Gaussian noise.
    seed : int
    contact_fraction : float
    margin : int
        Distance (pixels) within which two instances count as touching for ``contact_fraction``.
    zoom : float
        `napari_deepcolor.config.TrainConfig.zoom`: each patch cut from a window ``z`` times its side, ``z``
        log-uniform in [1/zoom, zoom], and resized to the patch (the image linearly, the labels to the nearest
        pixel); 1: cut at the patch's size, as before.
    fade : float
        `napari_deepcolor.config.TrainConfig.fade_objects`: the probability that a patch's objects are faded
        (`fade_objects`) before the intensity changes; 0: off.
    """

    def __init__(self, samples: list[Sample], *, patch_size: int, augment_intensity: bool = True,
                 seed: int = 0, contact_fraction: float = 0.0, margin: int = 1, zoom: float = 1.0,
                 fade: float = 0.0) -> None:
        if not samples:
            raise ValueError("no training pairs given")
        if not any((s.labels > 0).any() for s in samples):
            raise ValueError("the training labels contain no objects (all pixels are background or ignored); "
                             "label at least one object")
        self.samples = samples
        self.patch_size = patch_size
        self.augment_intensity = augment_intensity
        self.rng = np.random.default_rng(seed)
        self.foreground = [np.flatnonzero(s.labels > 0) for s in samples]
        self.contact_fraction = contact_fraction
        self.contacts = [np.flatnonzero(contact_pixels(s.labels, margin)) for s in samples] if contact_fraction \
            else [np.zeros(0, dtype=np.intp) for _ in samples]
        self._with_contacts = [i for i, c in enumerate(self.contacts) if c.size]
        self.zoom = zoom
        self.fade = fade

    def patch(self) -> tuple[np.ndarray, np.ndarray]:
        """One augmented patch: ``image (C, P, P)`` float32, ``labels (P, P)`` int32."""
        rng = self.rng
        on_contact = bool(self._with_contacts) and rng.random() < self.contact_fraction
        if on_contact:
            index = self._with_contacts[int(rng.integers(len(self._with_contacts)))]
        else:
            index = int(rng.integers(len(self.samples)))
        sample = self.samples[index]
        size = self.patch_size
        if self.zoom > 1:  # a window of `size` pixels shows the objects 1/z times as large
            size = max(8, round(size * math.exp(rng.uniform(-math.log(self.zoom), math.log(self.zoom)))))
        image, labels = _pad_to(sample.image, sample.labels, size)
        height, width = labels.shape
        centres = self.contacts[index] if on_contact else self.foreground[index]
        unpadded = image.shape[1:] == sample.labels.shape
        if centres.size and unpadded and (on_contact or rng.random() < 0.5):
            y, x = np.unravel_index(centres[rng.integers(centres.size)], labels.shape)
            top = int(np.clip(y - size // 2, 0, height - size))
            left = int(np.clip(x - size // 2, 0, width - size))
        else:
            top = int(rng.integers(height - size + 1))
            left = int(rng.integers(width - size + 1))
        image = image[:, top : top + size, left : left + size]
        labels = labels[top : top + size, left : left + size]
        if size != self.patch_size:  # the image linearly (anti-aliased when shrunk), the labels to the nearest pixel
            image = rescale_image(image, self.patch_size / size)
            labels = rescale_labels(labels, self.patch_size / size)
        k = int(rng.integers(4))
        image, labels = np.rot90(image, k, axes=(1, 2)), np.rot90(labels, k)
        if rng.random() < 0.5:
            image, labels = image[:, :, ::-1], labels[:, ::-1]
        image = np.ascontiguousarray(image, dtype=np.float32)
        if self.fade and rng.random() < self.fade:
            image = fade_objects(image, labels, rng)
        if self.augment_intensity:
            # mild: on BBBC010 faint worms stand only ~0.05 above the background after normalization, and noise of
            # std 0.04 (an earlier setting) hid them from the network
            image = image * rng.uniform(0.8, 1.25) + rng.uniform(-0.05, 0.05)
            image = image + rng.normal(0, rng.uniform(0, 0.01), image.shape).astype(np.float32)
        return image.astype(np.float32), np.ascontiguousarray(labels)

    def batch(self, batch_size: int):
        """A batch as torch tensors: images ``(B, C, P, P)`` float32, labels ``(B, P, P)`` int64."""
        import torch

        patches = [self.patch() for _ in range(batch_size)]
        images = torch.from_numpy(np.stack([p[0] for p in patches]))
        labels = torch.from_numpy(np.stack([p[1] for p in patches]).astype(np.int64))
        return images, labels


#: `fade_objects`: the share of a patch's objects faded, and the range of contrast a faded object keeps.
FADE_SHARE, FADE_KEEP = 0.5, (0.2, 0.8)
#: `fade_objects`: σ (pixels) of the local background level and of the faded objects' soft edge.
FADE_BACKGROUND_SIGMA, FADE_EDGE_SIGMA = 8.0, 1.0


def fade_objects(image: np.ndarray, labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Lower the contrast of a random share of the objects against the background around them.

    Each chosen object keeps a random fraction (`FADE_KEEP`) of its difference from the local background level
    (the background pixels' Gaussian-weighted mean), with a soft edge, so the network also learns fainter versions of
    the objects it was shown (BBBC010's live worms are faint lines; docs/accuracy.md). ``image (C, Y, X)`` float32,
    ``labels (Y, X)``; objects over ignored pixels (-1) keep those pixels as they are. Returns a new image.
    """
    from scipy import ndimage as ndi

    ids = np.unique(labels[labels > 0])
    chosen = ids[rng.random(ids.size) < FADE_SHARE]
    background = labels == 0
    if not chosen.size or not background.any():
        return image
    keep = np.ones(labels.shape, np.float32)
    for index, kept in zip(chosen, rng.uniform(*FADE_KEEP, chosen.size)):
        keep[labels == index] = kept
    keep = ndi.gaussian_filter(keep, FADE_EDGE_SIGMA)
    weight = ndi.gaussian_filter(background.astype(np.float32), FADE_BACKGROUND_SIGMA)
    near = weight > 1e-3  # elsewhere (inside large objects) the patch's median background stands for the level
    level = np.empty_like(image)
    for plane, out in zip(image, level):
        out[...] = np.median(plane[background])
        out[near] = ndi.gaussian_filter(np.where(background, plane, 0), FADE_BACKGROUND_SIGMA)[near] / weight[near]
    return (level + (image - level) * keep).astype(np.float32)


def contact_pixels(labels: np.ndarray, margin: int) -> np.ndarray:
    """Pixels within ``margin`` of two different instances: ``bool (Y, X)``.

    Crossing objects count too: the pixels beside their overlap (label -1) are near both.
    """
    from scipy import ndimage as ndi

    size = 2 * margin + 1
    instances = np.where(labels > 0, labels, 0)
    highest = ndi.maximum_filter(instances, size=size)
    lowest = ndi.minimum_filter(np.where(labels > 0, labels, np.iinfo(np.int32).max).astype(np.int32), size=size)
    return (highest > 0) & (lowest < highest)


def _pad_to(image: np.ndarray, labels: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Pad (reflect for the image, ignore for labels) so both sides are at least ``size``."""
    pad_y, pad_x = max(0, size - labels.shape[0]), max(0, size - labels.shape[1])
    if not (pad_y or pad_x):
        return image, labels
    image = np.pad(image, ((0, 0), (0, pad_y), (0, pad_x)), mode="reflect" if min(image.shape[1:]) > 1 else "edge")
    labels = np.pad(labels, ((0, pad_y), (0, pad_x)), constant_values=IGNORE)
    return image, labels
