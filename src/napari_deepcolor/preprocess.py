"""Image preprocessing shared by inference and training: channels, normalization, rescaling, mask checks.

Plain numpy.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from napari_deepcolor.io import check_pixels

if TYPE_CHECKING:
    pass

IGNORE = -1
#: A mask-input model refuses a whole image with fewer zero (background) pixels than this fraction.
MASK_MIN_BACKGROUND = 0.01


def channel_note(*, rgb: bool, alpha: bool, in_channels: int, model: str) -> str:
    """What `to_channels_first` does to an image whose channels are not the model's, as the end of a sentence that
    starts with the image's name; "" when nothing is done."""
    if rgb and in_channels == 1:
        return (f"is RGB{' (alpha ignored)' if alpha else ''} and the model {model} takes gray images: its channels "
                "are averaged into one gray image")
    if alpha:
        return f"is RGBA: the model {model} uses its RGB channels, the alpha channel is ignored"
    if not rgb and in_channels == 3:
        return f"is gray and the model {model} takes RGB images: the gray image is used for all three channels"
    return ""


def to_channels_first(image: np.ndarray, in_channels: int, *, channel_axis: int | None = None) -> np.ndarray:
    """Bring one 2D plane to ``(in_channels, Y, X)`` float32.

    Parameters
    ----------
    image : ndarray, shape (Y, X) gray, or (Y, X, 3|4) RGB(A) with ``channel_axis=-1`` (inferred when the last axis
        has 3 or 4 entries and ``channel_axis`` is None), or channels on ``channel_axis``.
    in_channels : int
        What the network takes: 1 (gray; RGB is averaged) or 3 (RGB; gray is repeated).

    Raises
    ------
    ValueError
        Wrong dimensions, no pixels, complex or non-numeric values (`napari_deepcolor.io.check_pixels`), or NaN /
        infinite values.
    """
    image = np.asarray(image)
    check_pixels(image)
    if channel_axis is None and image.ndim == 3 and image.shape[-1] in (3, 4):
        channel_axis = -1
    if channel_axis is not None:
        if image.ndim != 3:
            raise ValueError(f"expected a (Y, X, C) image with channel_axis={channel_axis}, got shape {image.shape}")
        image = np.moveaxis(image, channel_axis, 0)
        if image.shape[0] == 4:
            image = image[:3]  # drop alpha
    elif image.ndim == 2:
        image = image[None]
    elif image.ndim == 3 and image.shape[0] in (3, 4):
        raise ValueError(f"expected a 2D gray (Y, X) or RGB (Y, X, 3) image, got shape {image.shape}: channels "
                         "first? Save it with the channels last (numpy.moveaxis(image, 0, -1)), or give --channel C "
                         "to segment one channel")
    else:
        raise ValueError(f"expected a 2D gray (Y, X) or RGB (Y, X, 3) image, got shape {image.shape}; for one "
                         "channel of a multichannel image give --channel C; split a stack into 2D images (one file "
                         "per plane), or segment it in napari, which goes plane by plane")
    if image.shape[0] not in (1, 3):
        raise ValueError(f"expected 1 (gray) or 3 (RGB) channels, got {image.shape[0]} in shape {image.shape}")
    image = image.astype(np.float32, copy=False)
    if not np.isfinite(image).all():
        raise ValueError("image contains NaN or infinite values; replace them (e.g. with 0) first")
    if image.shape[0] == in_channels:
        return image
    if in_channels == 1:
        return image.mean(axis=0, keepdims=True)
    return np.repeat(image, in_channels, axis=0)


#: `limits_of` raises the high limit to `ModelConfig.sparse_percentile` only where the high percentile lies less than
#: this fraction of the way from the low one to it (the objects are too few to reach the high percentile: a field of a
#: few nuclei, whose 99.8th percentile is background noise that the stretch would turn into objects) ...
SPARSE_GATE = 0.5
#: ... and the background is dark: the median lies less than this fraction of the way (fluorescence)
DARK_BACKGROUND = 0.1


def intensity_limits(image: np.ndarray, *, percentiles: tuple[float, float] = (1.0, 99.8),
                     sparse: float | None = None) -> tuple[float, float]:
    """The intensities of ``image (C, Y, X)`` (over all channels) that `normalize` maps to 0 and 1 (`limits_of`)."""
    return limits_of(image, percentiles, sparse, smoothed=lambda: despeckled(image))


def despeckled(planes: np.ndarray) -> np.ndarray:
    """``planes (C, Y, X)`` through a 3 x 3 median filter: isolated hot pixels gone, objects kept (what `limits_of`
    reads its sparse percentile on; a dense field with 30 saturated single pixels otherwise read them as its
    objects, AP50 0.95 -> 0.73)."""
    from scipy import ndimage

    return ndimage.median_filter(np.asarray(planes), size=(1, 3, 3), mode="nearest")


def limits_of(values: np.ndarray, percentiles: tuple[float, float], sparse: float | None = None, *,
              smoothed: Callable[[], np.ndarray] | None = None) -> tuple[float, float]:
    """The given percentiles of ``values``; with ``sparse`` (`ModelConfig.sparse_percentile`), the high one raised to
    that percentile where bright objects on a dark background are too few to reach it (`SPARSE_GATE`,
    `DARK_BACKGROUND`), read on ``smoothed()`` (the same pixels `despeckled`) when given. Despeckling only lowers
    the brightest values, so it is computed only where the raw pixels pass the gate (a second of median filter on
    16 M pixels otherwise on every image)."""
    if sparse is None:
        low, high = np.percentile(values, percentiles)
        return float(low), float(high)
    # the gate's two percentiles of the raw pixels in the same call: one partition, 0.27 s against 0.37 s at 4096²
    low, high, median, top = np.percentile(values, (*percentiles, 50, sparse))
    if _few_bright(low, high, median, top) and smoothed is not None:
        median, top = np.percentile(smoothed(), (50, sparse))
    return (float(low), float(top)) if _few_bright(low, high, median, top) else (float(low), float(high))


def _few_bright(low: float, high: float, median: float, top: float) -> bool:
    """The sparse gate: the high percentile less than `SPARSE_GATE` of the way to the top one, on a dark background."""
    return high - low < SPARSE_GATE * (top - low) and median - low < DARK_BACKGROUND * (top - low)


def normalize(image: np.ndarray, *, percentiles: tuple[float, float] = (1.0, 99.8),
              limits: tuple[float, float] | None = None, clip_max: float | None = None,
              sparse: float | None = None) -> np.ndarray:
    """Map the given percentiles of ``image (C, Y, X)`` (over all channels) to 0 and 1; float32.

    ``limits`` (low, high) replaces the image's own percentiles, e.g. those of a whole image when normalizing one
    tile of it. ``clip_max``: values above it become it (`ModelConfig.intensity_max`). ``sparse``: see `limits_of`.
    """
    low, high = intensity_limits(image, percentiles=percentiles, sparse=sparse) if limits is None else limits
    # float64 limits, as np.percentile returns them: the arithmetic (and its rounding) is the same either way
    low, high = np.float64(low), np.float64(high)
    scale = high - low if high > low else np.float64(1.0)
    out = ((image - low) / scale).astype(np.float32)
    return out if clip_max is None else np.minimum(out, np.float32(clip_max), out=out)


def binarize(image: np.ndarray) -> np.ndarray:
    """A foreground mask ``(C, Y, X)`` as the network of a `ModelConfig.mask_input` model sees it: 1 where any
    channel is nonzero, 0 elsewhere, in every channel; float32."""
    return np.broadcast_to((image != 0).any(axis=0, keepdims=True), image.shape).astype(np.float32)


def check_mask(image: np.ndarray, *, what: str = "this image") -> None:
    """Refuse, as the input of a `ModelConfig.mask_input` model, an image that is not a foreground mask: one with
    fewer than `MASK_MIN_BACKGROUND` of its values 0 looks like a microscope image.

    Check whole images (a stack at once), not tiles or crops, which may lie inside an object.

    Raises
    ------
    ValueError
        Saying what to do instead.
    """
    image = np.asarray(image)
    nonzero = np.count_nonzero(image) / max(image.size, 1)
    if nonzero > 1 - MASK_MIN_BACKGROUND:
        raise not_a_mask(f"{nonzero:.1%} of {what}")


def not_a_mask(share: str) -> ValueError:
    """The error of `check_mask`; ``share`` says how much of what is nonzero ("99.7% of this image")."""
    return ValueError(f"this model takes a foreground mask (0 = background, anything else = object), but {share} is "
                      "nonzero: it looks like a microscope image. Segment it with a model that takes images (e.g. "
                      "worms), or threshold it first")


def _intensities(planes: np.ndarray, *, percentiles: tuple[float, float], limits: tuple[float, float] | None,
                 clip_max: float | None, mask_input: bool, sparse: float | None = None) -> np.ndarray:
    if mask_input:
        return binarize(planes)
    return normalize(planes, percentiles=percentiles, limits=limits, clip_max=clip_max, sparse=sparse)


def rescale_image(image: np.ndarray, scale: float) -> np.ndarray:
    """Resize ``(C, Y, X)`` by ``scale`` with anti-aliasing (no-op for 1)."""
    if scale == 1:
        return image
    from skimage.transform import resize  # loads scipy.ndimage (seconds on a busy machine): only when resizing

    shape = scaled_shape(image.shape[1:], scale)
    return resize(image, (image.shape[0], *shape), order=1, anti_aliasing=scale < 1,
                  preserve_range=True).astype(np.float32)


def rescale_mask(mask: np.ndarray, scale: float, *, train_scale: float) -> np.ndarray:
    """Resize a foreground mask ``(C, Y, X)`` by ``scale`` for a network trained on masks resized by ``train_scale``:
    anti-aliased by a Gaussian as wide in network pixels as `rescale_image`'s at ``train_scale`` ((1 - train_scale)
    / 2: 0.25 for `worms-mask`), whatever ``scale``, then bilinear. At ``scale == train_scale`` it is `rescale_image`.

    `rescale_image` anti-aliases by (1 - scale) / 2 network pixels: at another object size a mask-input model saw its
    masks' edges smoothed more (objects 3 times as large: 0.42) or less (0.67 times: 0.13) than in training. Chosen by
    a rule written beforehand, on 8 training wells of `worms-mask` resized by 0.5-3: AP50 with the automatic object
    size 0.828 -> 0.841 (experiments/object_size/mask_resampling.py; held-out numbers in docs/scale.md).
    """
    from scipy import ndimage
    from skimage.transform import resize

    sigma = max(0.0, (1 - train_scale) / 2) / scale  # in the mask's pixels
    if sigma > 0:
        mask = ndimage.gaussian_filter(mask, (0, sigma, sigma), mode="mirror")  # scikit-image's "reflect"
    if scale == 1:
        return mask.astype(np.float32, copy=False)
    shape = scaled_shape(mask.shape[1:], scale)
    return resize(mask, (mask.shape[0], *shape), order=1, anti_aliasing=False, preserve_range=True).astype(np.float32)


def rescale_labels(labels: np.ndarray, scale: float) -> np.ndarray:
    """Resize a label image ``(Y, X)`` by ``scale`` with nearest-neighbour sampling (no-op for 1)."""
    if scale == 1:
        return labels
    from skimage.transform import resize

    return resize(labels, scaled_shape(labels.shape, scale), order=0, anti_aliasing=False,
                  preserve_range=True).astype(np.int32)


def scaled_shape(shape: tuple[int, ...], scale: float) -> tuple[int, ...]:
    return tuple(max(1, int(round(s * scale))) for s in shape)


def preprocess(image: np.ndarray, *, in_channels: int, percentiles: tuple[float, float], scale: float,
               channel_axis: int | None = None, limits: tuple[float, float] | None = None,
               clip_max: float | None = None, mask_input: bool = False,
               train_scale: float | None = None, sparse: float | None = None) -> np.ndarray:
    """Image as the network sees it: ``(in_channels, Y', X')`` float32, normalized and rescaled.

    ``limits``: intensities mapped to 0 and 1 instead of the image's own ``percentiles``; ``clip_max``: the
    highest normalized value kept (see `normalize`); ``mask_input``: the image is a foreground mask (`binarize`
    instead of `normalize`), anti-aliased as the masks of a network trained at ``train_scale`` were, when it is given
    (`rescale_mask`; the size estimate's views keep `rescale_image`, which its regression was fitted on);
    ``sparse``: `ModelConfig.sparse_percentile` (`limits_of`).
    """
    planes = to_channels_first(image, in_channels, channel_axis=channel_axis)
    planes = _intensities(planes, percentiles=percentiles, limits=limits, clip_max=clip_max, mask_input=mask_input,
                          sparse=sparse)
    if mask_input and train_scale is not None:
        return rescale_mask(planes, scale, train_scale=train_scale)
    return rescale_image(planes, scale)
