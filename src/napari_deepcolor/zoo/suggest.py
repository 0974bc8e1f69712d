"""Which bundled model suits an image: its kind told from simple intensity statistics. No torch, no Qt.

`suggest_kind` says which of the kinds of `napari_deepcolor.zoo.DEFAULT_FOR_KIND` an image looks like, and why, in
one sentence a biologist can check; `suggest_model` turns that into a bundled model's name (falling back, and saying
so, when that kind's model is not installed). The Segment widget and ``deepcolor predict`` without ``--model`` use it.

The rule, on one plane (the middle plane of a stack) read on a grid of at most `SAMPLE_SIDE` x `SAMPLE_SIDE` pixels,
with intensities mapped so that the 0.5th percentile is 0 and the 99.5th is 1:

1. RGB(A) with color in it → "Leaves (rosette)" (the one kind photographed in color). RGB whose channels hold one gray
   image (three equal channels, or one channel with all the signal, such as a DAPI image saved in blue) is judged as
   gray.
2. No kind, and the reason, for an image that has nothing to judge: one value everywhere (or two, like a mask), fewer
   than 16 pixels a side, or noise without objects (the pixel-to-neighbour differences are as large as the spread of
   the whole image).
3. A round well: the four corners are all darker than the centre's background (the 25th percentiles) by more than
   3 times their own noise and 1 % of the intensity range, and they are at the darkest level of the image (the step
   is over half of the way from the darkest pixels up to the centre's background) → "C. elegans (worms)"
   (BBBC010-like bright-field well plates).
4. Phase contrast: objects darker than the background, and at least 1 % of the pixels clearly brighter than the
   background (the halos: 0.2 above it, or 3 times the noise if that is more) → "E. coli (colony)". Darker objects
   are either: the darkest 2 % of the sample (smoothed with σ = 1.5 pixels) lie below the background (the
   histogram's mode) by at least `DARK_OBJECTS` (0.1) of the span from the background up to the 99th percentile,
   and they are many small regions, not one (`ONE_DARK_REGION`: at most 25 % of them in one connected piece; one
   darker side of the field is uneven illumination); or the dark pixels (up to half-way from the mode to the 99th
   percentile) are separate pieces, not one background (`CONNECTED_BACKGROUND`: under 95 % of them in one piece; a
   colony that fills the image, whose commonest level is the cells'). Unless the brightest pixels lie far from the
   dark ones (`_bright_from_dark` above `PACKED`): then the dark "objects" are the gaps between packed bright spots
   → "Fluorescent nuclei" (halos hug their cells; a nucleus is brightest at its centre).
5. Fluorescence: the darkest tenth of the pixels near the low end (10th percentile at most 0.2), no darker objects
   as in 4, the dark pixels one connected background, and at least 0.5 % of the pixels clearly brighter →
   "Fluorescent nuclei".
6. Anything else: steps 4-5 once more on the sample with its background flattened (`_flattened`: minus a smooth
   floor, stretched again); nuclei there → "Fluorescent nuclei" (under uneven illumination), else no kind ("matches
   none of the known kinds clearly"). Chosen on generated nuclei with artefacts by
   `experiments/zoo/flattened_retry.py`: fields lit to saturation on one side, whose commonest level is the bright
   side of the background, matched no kind (7 of 200) and now read as nuclei; nothing else changed.
7. Nuclei by step 5 whose bright objects are thin lines, not spots (`_thinness`: the bright pieces' skeleton
   length squared over their area, area-weighted median, at least `THIN`, on at most `LINES_SHARE` of the sample)
   → "C. elegans (worms)": a crop inside a BBBC010 well, which has no dark corners for step 3. Chosen on crops of
   the 39 training wells and earlier nuclei seeds; confirmed by `experiments/zoo/worm_crops.py` (rule written
   before it ran): 39 of the 45 validation-well crops read as nuclei turned to worms (AP50 with the defaults 0.000
   -> 0.539 on them), 1 of 380 nuclei fields turned to worms, nothing else changed.

The thresholds of steps 3 and 5 were set on the 49 BBBC010 training wells, the bundled E. coli image, 30 generated
E. coli colonies (`napari_deepcolor.training.synthetic_scenes.ecoli_colony`) and 300 generated nuclei images
(`napari_deepcolor.training.synthetic_nuclei.nuclei_field`); step 4's on generated nuclei of six kinds of field,
nuclei with real images' artefacts and colonies on two canvases. `experiments/zoo/suggest_rule.py` measures it on
other seeds: 100 % of each kind of nuclei field, 99 % of nuclei with artefacts (62 % before the two connectivity
tests, 93 % before step 6's second look, 96 % before step 4's packed-nuclei test, chosen on seeds and confirmed by
`experiments/zoo/packed_nuclei.py`) and 100 % of colonies on 256- and 512-px canvases told right. What it cannot
see: some crops inside a BBBC010 well (6 of 45 validation-well crops, faint or few worms) still look like
fluorescence, and dark worms on an even bright background match no kind.
"""

from __future__ import annotations

import math
from collections.abc import Collection
from typing import Any

import numpy as np

from napari_deepcolor.zoo import DEFAULT_FOR_KIND

WORMS, ECOLI, LEAVES, NUCLEI = "C. elegans (worms)", "E. coli (colony)", "Leaves (rosette)", "Fluorescent nuclei"

#: The most rows and columns of a plane the statistics read (larger planes are read on a regular grid).
SAMPLE_SIDE = 512
#: Side of the full-resolution centre crop the noise is measured on.
NOISE_SIDE = 256
#: `_depth_below_background` from which objects count as darker than the background (phase contrast)
DARK_OBJECTS = 0.1
#: `_background_share` below which the dark pixels are separate objects, not one background (fluorescence)
CONNECTED_BACKGROUND = 0.95
#: `_darkest_share` above which the darkest pixels are one region (a ramp of uneven illumination), not dark objects
ONE_DARK_REGION = 0.25

#: Whether steps 4-5 look again at a sample they match no kind with its background flattened (`_flattened`): nuclei
#: under illumination that rises to saturation across the field (experiments/zoo/flattened_retry.py)
FLATTENED_RETRY = True
#: `_flattened`'s filters, as a fraction of the sample's longer side (larger than nuclei and their clumps)
FLATTEN_SIDE = 0.25

#: Whether step 4 asks where the brightest pixels lie before it says E. coli (`_bright_from_dark`): halos hug their
#: dark cells, the brightest parts of packed nuclei lie far from the dark gaps between them
#: (experiments/zoo/packed_nuclei.py)
BRIGHT_FROM_DARK_TEST = True
#: `_bright_from_dark` above which the image is packed nuclei, not phase contrast
PACKED = 1.0
#: `_bright_from_dark`'s darkest and brightest shares of the sample
DARKEST, BRIGHTEST = 0.3, 0.1

#: Whether a gray image read as fluorescent nuclei is asked whether its bright objects are thin lines (`_thinness`):
#: then it is a crop inside a BBBC010 well, worms (step 7; experiments/zoo/worm_crops.py)
THIN_LINES_TEST = True
#: `_thinness` from which the bright objects are thin lines (worms), not round spots (nuclei), where they cover at
#: most `LINES_SHARE` of the sample (dense nuclei fields merge into networks of bright pixels)
THIN, LINES_SHARE = 7.0, 0.15
#: `_thinness` reads bright pieces of at least this many sample pixels
MIN_PIECE = 20

_THIN_REASON = ("gray image of thin bright lines on a darker background, no round spots: looks like C. elegans, "
                "a crop inside a well")
_PACKED_REASON = ("gray image of bright spots packed closely, their brightest parts far from the dark gaps between "
                  "them (not halos around dark objects): looks like dense fluorescent nuclei")
_FLATTENED_REASON = ("gray image with bright spots on a dark background that is very uneven (brighter on one side): "
                     "looks like fluorescent nuclei under uneven illumination")

_REASONS = {
    LEAVES: "color image: looks like a photograph of plants",
    WORMS: "gray image of a round well, darker at its edge and corners: looks like C. elegans in a well plate",
    ECOLI: "gray image with a mid-grey background and dark objects with bright halos: looks like E. coli in phase "
           "contrast",
    NUCLEI: "gray image with a dark background and bright spots: looks like fluorescent nuclei",
}


def suggest_kind(image: Any, *, rgb: bool = False) -> tuple[str | None, str]:
    """The kind of image ``image`` looks like (a key of `DEFAULT_FOR_KIND`), and why; see the module's rule.

    Parameters
    ----------
    image : array-like, shape (..., Y, X), or (..., Y, X, 3|4) with ``rgb``
        Any numeric dtype (8/16-bit, float, bool); numpy, dask, zarr or anything sliced like them. A stack is judged
        by its middle plane; only a grid of `SAMPLE_SIDE` rows and columns and a `NOISE_SIDE` centre crop are read.
    rgb : bool
        Whether the last axis holds RGB(A) channels (napari's ``Image.rgb``).

    Returns
    -------
    kind : str or None
        None when the image gives nothing to judge by or matches no kind clearly.
    reason : str
        One sentence saying what was seen.

    Raises
    ------
    ValueError
        ``rgb`` with a last axis of other than 3 or 4 entries, or fewer than two spatial axes.
    """
    shape = tuple(int(s) for s in image.shape)
    spatial = shape[:-1] if rgb else shape
    if rgb and (len(shape) < 3 or shape[-1] not in (3, 4)):
        raise ValueError(f"expected an RGB(A) image (..., Y, X, 3|4), got shape {shape}")
    if len(spatial) < 2:
        raise ValueError(f"expected an image with at least two axes (Y, X), got shape {shape}")
    if min(spatial[-2:]) < 16:
        return None, f"the image is too small ({spatial[-2]} x {spatial[-1]} pixels) to tell what it shows"
    plane = image[tuple(n // 2 for n in spatial[:-2])] if len(spatial) > 2 else image
    sample, crop = _read(plane, spatial[-2:])
    note, integer = "", bool(np.issubdtype(sample.dtype, np.integer) or sample.dtype == bool)
    if rgb:
        sample, crop, color = _gray(sample[..., :3]), _gray(crop[..., :3]), _colorful(sample[..., :3])
        if color:
            return LEAVES, _REASONS[LEAVES]
        note = "RGB image without color, judged as gray: "
    kind, reason = _gray_kind(sample, crop, integer=integer)
    return kind, note + reason


def suggest_model(image: Any, bundled: Collection[str], *, rgb: bool = False, sample_model: str | None = None,
                  kind: tuple[str | None, str] | None = None) -> tuple[str | None, str]:
    """The bundled model to run on ``image`` unless the user chooses another, and why (one sentence).

    A sample's own model (``sample_model``, `napari_deepcolor.zoo.MODEL_KEY` in its layer's metadata) wins if it is
    among ``bundled``; else the default model of `suggest_kind`'s kind. When that model is not among ``bundled``
    (the ``nuclei`` model before it is installed), or no kind could be told, the default model of gray images
    (``worms``) or of RGB ones (``leaves-semiconv``) runs, and the reason says so.

    Parameters
    ----------
    image, rgb
        As for `suggest_kind`.
    bundled : collection of str
        The names of the bundled models (`napari_deepcolor.zoo.bundled_models`).
    sample_model : str, optional
        The model a sample image names.
    kind : (kind, reason), optional
        What `suggest_kind` said of ``image``, when the caller asked it already.

    Returns
    -------
    name : str or None
        None when no bundled model can run it (``bundled`` is empty).
    reason : str
    """
    if sample_model is not None and sample_model in bundled:
        return sample_model, "the model made for this sample image"
    kind, reason = suggest_kind(image, rgb=rgb) if kind is None else kind
    model = DEFAULT_FOR_KIND.get(kind)
    if model is not None and model in bundled:
        return model, reason
    color = kind == LEAVES or (kind is None and rgb)
    fallback = DEFAULT_FOR_KIND[LEAVES if color else WORMS]
    if fallback not in bundled:
        fallback = next(iter(bundled), None)
    if fallback is None:
        return None, f"{reason}; no bundled model is installed"
    if model is not None:
        return fallback, (f"{reason}, but the {model} model is not installed yet, so {fallback} runs instead, which "
                          "was not made for such images")
    return fallback, f"{reason}; {fallback} is the default for {'RGB' if color else 'gray'} images"


# -- reading and statistics ---------------------------------------------------------------------------------------


def _read(plane: Any, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """A grid of at most `SAMPLE_SIDE` rows and columns of ``plane`` and its `NOISE_SIDE` full-resolution centre."""
    height, width = shape
    step = max(1, math.ceil(max(height, width) / SAMPLE_SIDE))
    try:
        sample = np.asarray(plane[::step, ::step])
    except (IndexError, ValueError, TypeError):  # readers of contiguous rows only (predict.large.RawTiff)
        sample = np.concatenate([np.asarray(plane[y:y + 1])[:, ::step] for y in range(0, height, step)])
    y0, x0 = max(0, height // 2 - NOISE_SIDE // 2), max(0, width // 2 - NOISE_SIDE // 2)
    crop = np.asarray(plane[y0:y0 + NOISE_SIDE, x0:x0 + NOISE_SIDE])
    return sample, crop


def _gray(channels: np.ndarray) -> np.ndarray:
    """The brightest channel of ``(Y, X, 3)`` at each pixel, float32 (one channel's signal stays whole)."""
    return channels.astype(np.float32).max(axis=-1)


def _colorful(channels: np.ndarray) -> bool:
    """Whether an RGB sample holds color: at least two channels with their own signal, and not three copies."""
    values = channels.reshape(-1, 3).astype(np.float32)
    low, high = np.percentile(values, (0.5, 99.5), axis=0)
    ranges = np.sort(high - low)
    if ranges[-1] <= 0 or ranges[-2] < 0.05 * ranges[-1]:
        return False  # one channel carries the image
    spread = np.percentile(values.max(axis=1) - values.min(axis=1), 99)
    return bool(spread > 0.05 * ranges[-1])


def _finite(values: np.ndarray) -> np.ndarray:
    """``values`` as float32, with NaN and infinities replaced by the median of the finite ones (0 if none)."""
    values = values.astype(np.float32, copy=False)
    finite = np.isfinite(values)
    if finite.all():
        return values
    fill = float(np.median(values[finite])) if finite.any() else 0.0
    return np.where(finite, values, fill)


def _gray_kind(sample: np.ndarray, crop: np.ndarray, *, integer: bool) -> tuple[str | None, str]:
    """Steps 2-7 of the rule on a gray sample and its full-resolution centre crop."""
    sample, crop = _finite(sample), _finite(crop)
    scaled, low, high = _stretched(sample)
    if not high > low or np.all((sample == sample.min()) | (sample == sample.max())):
        what = "one value nearly everywhere" if not high > low else "only two values, like a mask"
        return None, f"the image holds {what}, so there is nothing to tell what it shows"
    noise = _noise(crop)  # noise without objects spreads the whole image as much
    if noise >= 0.85 * float(sample.std()):
        return None, "the image looks like noise without objects, so there is nothing to tell what it shows"
    if _is_well(sample, low, high, floor=1.0 if integer else 0.0):
        return WORMS, _REASONS[WORMS]
    noise = noise / (high - low)  # in the stretched sample's units
    kind = _contrast_kind(scaled, noise)
    if kind == ECOLI and BRIGHT_FROM_DARK_TEST and _bright_from_dark(scaled) > PACKED:
        return NUCLEI, _PACKED_REASON
    if kind is None and FLATTENED_RETRY:
        flat, spread = _flattened(scaled)
        if spread > 0 and _contrast_kind(flat, noise / spread) == NUCLEI:
            return NUCLEI, _FLATTENED_REASON
    if kind == NUCLEI and THIN_LINES_TEST:
        thinness, share = _thinness(scaled, noise)
        if thinness >= THIN and share <= LINES_SHARE:
            return WORMS, _THIN_REASON
    return (kind, _REASONS[kind]) if kind else (None, "gray image that matches none of the known kinds clearly")


def _noise(crop: np.ndarray) -> float:
    """The noise of the full-resolution centre ``crop``: the spread of horizontal neighbour differences (robust: the
    objects' edges are few), in the image's units."""
    differences = np.diff(crop, axis=1)
    return 1.4826 * float(np.median(np.abs(differences - np.median(differences)))) / math.sqrt(2)


def _thinness(scaled: np.ndarray, noise: float) -> tuple[float, float]:
    """How line-like the bright objects are, and the share of the sample they cover: per bright piece (pixels clearly
    above the background, as in step 5, lightly smoothed; at least `MIN_PIECE` pixels) its skeleton's length squared
    over its area (length over mean width: a round spot about 1, a chain of three touching spots about 2, a worm 10
    times longer than wide about 10), the median over the pieces weighted by their area; 0 where there are none."""
    from scipy import ndimage
    from skimage.morphology import skeletonize

    bright = ndimage.gaussian_filter(scaled, 1.0) > _mode(scaled) + max(0.2, 3 * noise)
    share = float(bright.mean())
    labels, n = ndimage.label(bright)
    if n == 0:
        return 0.0, share
    areas = np.bincount(labels.ravel(), minlength=n + 1)[1:]
    lengths = np.bincount(labels[skeletonize(bright)], minlength=n + 1)[1:]
    keep = areas >= MIN_PIECE
    if not keep.any():
        return 0.0, share
    ratios, weights = lengths[keep] ** 2 / areas[keep], areas[keep]
    order = np.argsort(ratios)
    cumulative = np.cumsum(weights[order])
    return float(ratios[order][np.searchsorted(cumulative, cumulative[-1] / 2)]), share


def _bright_from_dark(scaled: np.ndarray) -> float:
    """How far the brightest pixels lie from the dark ones, against the dark regions' thickness: the median distance
    from the brightest `BRIGHTEST` of the sample (lightly smoothed) to its darkest `DARKEST`, divided by twice the
    dark pixels' mean distance to their regions' edge. Phase contrast: bright halos hug the dark cells (at most 0.85
    on 200 generated colonies, 0.6 on the real E. coli image); packed fluorescent nuclei: their brightest parts are
    their centres, far from the dark gaps between them (at least 1.1 on the 13 of 1,000 generated nuclei fields that
    step 4 read as E. coli; 4.1 on a real DSB 2018 nuclei image)."""
    from scipy import ndimage

    smoothed = ndimage.gaussian_filter(scaled, 1.0)
    dark = smoothed <= np.percentile(smoothed, 100 * DARKEST)
    bright = smoothed >= np.percentile(smoothed, 100 * (1 - BRIGHTEST))
    if not dark.any() or dark.all() or not bright.any():
        return 0.0
    thickness = max(1.0, 2 * float(ndimage.distance_transform_edt(dark)[dark].mean()))
    return float(np.median(ndimage.distance_transform_edt(~dark)[bright])) / thickness


def _contrast_kind(scaled: np.ndarray, noise: float) -> str | None:
    """Steps 4-5 of the rule on a sample stretched to 0-1 (``noise`` in the same units): E. coli, nuclei or None."""
    from scipy import ndimage

    mode = _mode(scaled)
    brighter = float(np.mean(scaled > mode + max(0.2, 3 * noise)))
    smoothed = ndimage.gaussian_filter(scaled, 1.5)
    below = _depth_below_background(smoothed, mode)
    separate = _background_share(scaled, mode) < CONNECTED_BACKGROUND  # dark objects, not one dark background
    dark_objects = below >= DARK_OBJECTS and _darkest_share(smoothed) <= ONE_DARK_REGION  # not one darker side
    if (dark_objects or separate) and brighter >= 0.01:
        return ECOLI
    if float(np.percentile(scaled, 10)) <= 0.2 and not dark_objects and not separate and brighter >= 0.005:
        return NUCLEI
    return None


def _mode(scaled: np.ndarray) -> float:
    """The background level of a sample stretched to 0-1: its histogram's mode (64 bins, lightly smoothed)."""
    histogram, _ = np.histogram(scaled, 64, (0, 1))
    kernel = np.exp(-0.5 * (np.arange(-4, 5) / 1.5) ** 2)
    return (float(np.argmax(np.convolve(histogram, kernel, "same"))) + 0.5) / 64


def _flattened(scaled: np.ndarray) -> tuple[np.ndarray, float]:
    """``scaled`` minus a smooth floor (a minimum filter `FLATTEN_SIDE` of the sample's longer side, then a mean
    filter of that size), stretched again to 0-1 by its 0.5th and 99.5th percentiles; and the span that stretch
    divided by (0: nothing left)."""
    from scipy import ndimage

    size = max(3, round(FLATTEN_SIDE * max(scaled.shape)))
    floor = ndimage.uniform_filter(ndimage.minimum_filter(scaled, size, mode="nearest"), size, mode="nearest")
    flat, low, high = _stretched(scaled - floor)
    return flat, high - low if high > low else 0.0


def _stretched(values: np.ndarray) -> tuple[np.ndarray, float, float]:
    """``values`` mapped so that their 0.5th percentile is 0 and their 99.5th is 1 (clipped to 0-1), and those two
    percentiles; ``values`` as they are when the two are equal."""
    low, high = (float(v) for v in np.percentile(values, (0.5, 99.5)))
    if not high > low:
        return values, low, high
    return np.clip((values - low) / (high - low), 0, 1), low, high


def _depth_below_background(smoothed: np.ndarray, mode: float) -> float:
    """How far the darkest 2 % of the sample (``smoothed`` with σ = 1.5 pixels) lie below the background (the
    histogram's mode), as a fraction of the span from the background up to the 99th percentile: about 0.1 or more
    where objects are darker than the background (phase contrast), near 0 where the background is the darkest thing
    (fluorescence)."""
    darkest, bright = (float(v) for v in np.percentile(smoothed, (2, 99)))
    return (mode - darkest) / max(bright - mode, 1e-6)


def _background_share(scaled: np.ndarray, mode: float) -> float:
    """The share of the dark pixels (lightly smoothed, at most half-way from the histogram's mode up to the 99th
    percentile) in their largest connected piece: 0.98-1 where they are one background around bright objects
    (generated nuclei fields of every kind, 50-90 % covered included), 0.12-0.91 where they are separate dark objects
    between bright halos (generated colonies, among them those that fill the image, whose mode is the cells')."""
    from scipy import ndimage

    smoothed = ndimage.gaussian_filter(scaled, 1.0)
    bright = float(np.percentile(smoothed, 99))
    return _largest_piece(smoothed <= mode + 0.5 * (bright - mode))


def _darkest_share(smoothed: np.ndarray) -> float:
    """The share of the darkest 2 % of the sample (``smoothed`` with σ = 1.5 pixels) in their largest connected piece:
    at most 0.15 where they are the insides of many dark cells (generated colonies), 0.3-1 where they are one darker
    side of the field (generated nuclei under uneven illumination)."""
    return _largest_piece(smoothed <= np.percentile(smoothed, 2))


def _largest_piece(mask: np.ndarray) -> float:
    """The share of ``mask``'s pixels in its largest connected piece (4-connected); 1 for an empty mask."""
    from scipy import ndimage

    labels, n = ndimage.label(mask)
    if n == 0:
        return 1.0
    sizes = np.bincount(labels.ravel())[1:]
    return float(sizes.max() / sizes.sum())


def _is_well(sample: np.ndarray, low: float, high: float, *, floor: float) -> bool:
    """Step 3: all four corners darker than the centre's background, by much more than their noise, and at the
    darkest level of the image. ``floor``: the least noise to assume (one count for integer images)."""
    height, width = sample.shape
    cy, cx = max(2, height // 8), max(2, width // 8)
    corners = [sample[:cy, :cx], sample[:cy, -cx:], sample[-cy:, :cx], sample[-cy:, -cx:]]
    quartiles = np.array([np.percentile(corner, (25, 75)) for corner in corners])
    corner = float(quartiles[:, 0].max())  # the brightest corner's background
    noise = max(float(np.median(quartiles[:, 1] - quartiles[:, 0])) / 1.349, floor, 1e-6 * (high - low))
    centre = float(np.percentile(sample[height // 4:3 * height // 4, width // 4:3 * width // 4], 25))
    step = centre - corner
    return step >= 3 * noise and step >= 0.5 * (centre - low) and step >= 0.01 * (high - low)
