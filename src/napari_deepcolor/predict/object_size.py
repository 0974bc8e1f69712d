"""Automatic object size: how large the objects of an image are against the model's training objects.

The method is cellpose's size model, fitted per model on that model's own training images:

- **Features.** The model's encoder, run once on a view of the image, gives two numbers per channel and level: the
  mean and the spread of its activation over the view (``log1p``). These change with the apparent size of the
  objects (the spread halved the error of the mean alone on held-out BBBC010 wells and E. coli colonies).
- **Fit** (`fit_size_model`, when a model is trained or bundled). Views of the training images resized by known
  factors ``g`` (log-uniform in `FIT_RANGE`) give features and targets ``log g``; a ridge regression maps one to the
  other, its penalty chosen by cross-validation over images (never over views of one image). Each view is read in
  one of the eight orientations of the square, drawn at random (`SizeModel.fit_turned`). The result is stored in the
  checkpoint's metadata under `METADATA_KEY`, with its cross-validated error.
- **Estimate** (`estimate_object_size`). The image is viewed at `VIEW_REDUCTION` of the model's scale (a quarter
  of the pixels a prediction reads; a large view as its `MAX_TILES` tiles of `TILE` network pixels with the most
  contrast). One network pass on the view shrunk by `COARSE` reads the objects' size roughly; where they are
  `QUICK_ABOVE` times the training objects or larger, that reading is the estimate (a prediction shrinks such an
  image, and the check on its segmented objects corrects the size: `napari_deepcolor.predict.size_refine`). Else
  the encoder on the view and on it turned and flipped gives the features, averaged over the eight orientations (the
  seven are skipped where the first orientation alone reads within `EARLY_EXIT` of 1) (the encoder's kernels are not
  symmetric: one orientation alone read a colony as 1.46 and the same colony flipped as 1.0); the regression gives
  ``g``, and the object size is ``g / VIEW_REDUCTION``. An estimate closer to 1
  than the size model's own spread is 1 (the larger of the 90th percentile of its cross-validated error and its
  largest error on the training images as they are; at least 5 %, at most `MAX_SNAP`): the estimate cannot tell
  such a size from 1, and resizing would only add resampling noise. Both spreads are measured on training images
  only.

A mask-input model (`worms-mask`) whose size model recorded its training masks' object width reads the size on
the mask itself instead (`size_from_mask`: twice the foreground's area over its perimeter, against the training
masks'), with no network pass; the check on the segmented objects follows as for the regression's estimate.

Fallbacks (object size 1, with a note that says why): a model without a size model (made before this existed), an
image with no foreground, an estimate outside `SUPPORTED`. A size the user gives always wins.

Shapes: images as the network sees them are ``(C, Y, X)`` float32 (`napari_deepcolor.preprocess.preprocess`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from napari_deepcolor.predict.label_sizes import (  # re-exported (tests, benchmarks)
    mask_width,
    relative_object_sizes,  # noqa: F401
    typical_object_size,  # noqa: F401
    width_of,
)
from napari_deepcolor.predict.size_features import (  # re-exported (size_fit, tests, experiments)
    oriented_features,
    turn,  # noqa: F401
    view_features,  # noqa: F401
)
from napari_deepcolor.preprocess import binarize, preprocess, rescale_image, to_channels_first

if TYPE_CHECKING:
    from napari_deepcolor.config import ModelConfig
    from napari_deepcolor.predict.network import LoadedModel

#: Checkpoint metadata key of the fitted size model.
METADATA_KEY = "size_model"
#: The estimating view is read at this fraction of the model's own scale (a quarter of the pixels).
VIEW_REDUCTION = 0.5
#: A view of more than `MAX_TILES` tiles of `TILE` network pixels is read as its `MAX_TILES` tiles with the most
#: contrast (a view of 1024 x 1024 at most).
TILE = 512
MAX_TILES = 4
#: Apparent sizes the regression is fitted on (views of training images resized by these factors).
FIT_RANGE = (0.1, 4.5)
#: Object sizes an estimate may give; outside, the estimate is not trusted and 1 is used.
SUPPORTED = (0.25, 8.0)
#: Bounds of the band around 1 in which an estimate is taken as 1 (`SizeModel.snap`).
MIN_SNAP, MAX_SNAP = 1.05, 1.25
#: Outside this band of `field_of_view` an automatic size says it may be off (docs/scale.md, "other extents").
FIELD_BAND = (0.75, 1.33)
#: Below this fraction of foreground pixels in the view the image is taken to hold no objects.
MIN_FOREGROUND = 1e-3
#: The fewest view pixels across (height and width) a size estimate reads; below, the image falls back to 1
MIN_VIEW = 8
#: A size model whose cross-validated median error is larger is not used (the bundled ones: 0.04-0.07).
MAX_CV_ERROR = 0.2
#: The orientations of the square (`turn`): a size model fitted on views in random orientations
#: (`SizeModel.fit_turned`) reads a view as the mean of its features over all of them.
TURNS = 8
#: A size model fitted on turned views stops after the first orientation when its estimate from that one alone is
#: within this ratio of 1 (`read_features`).
EARLY_EXIT = 1.1
#: The first orientation is read on the view shrunk by `COARSE` (a sixteenth of a size-1 prediction's pixels); where
#: it reads objects of `QUICK_ABOVE` or larger, that reading is the estimate, and the check on the segmented objects
#: (`napari_deepcolor.predict.size_refine`, whose predictions shrink such an image) corrects what one orientation
#: misses; else the view is read as before, its first orientation by the encoder alone. At 2-3x this cut the
#: estimate's seconds to a third, the same share within 20 % and AP50 -0.0005 on training images
#: (experiments/object_size/quick_large.py). A shrunk view narrower than `MIN_COARSE` is not read: the view is. Nor
#: for a model with `sparse_percentile` (`nuclei`): on a coarse view it paints a sparse field's noise as objects.
QUICK_ABOVE = 2.0
COARSE = 0.5
MIN_COARSE = 32
#: The coarse pass's foreground fraction stands for the view's only from this fraction up (the coarse view of a blank
#: image can show specks of foreground: there the view itself says whether the image holds objects).
COARSE_FOREGROUND = 0.01


@dataclass(frozen=True)
class SizeModel:
    """A ridge regression from encoder features to the log of the apparent object size.

    Attributes
    ----------
    weights, mean, std : ndarray, shape (F,), float64
        Regression weights on standardized features ``(x - mean) / std``.
    bias : float
        Intercept (the mean target of the fit).
    alpha : float
        Ridge penalty chosen by cross-validation.
    cv_error : float
        Median relative error of the size in that cross-validation (images held out, views of known size).
    n_images : int
        Training images the fit saw.
    cv_error90 : float
        90th percentile of that error (NaN without cross-validation).
    unscaled_error90 : float
        The largest error of the fitted model on its training images as they are (object size 1), read as a
        prediction reads them: how far from 1 an image of the training kind is estimated (NaN: not measured). (The
        name is kept from when it was the 90th percentile; the largest is what the snap band takes.)
    fit_extent : float
        The median extent (√(height × width), network pixels of the estimating view) of the training images as they
        are: what a view of objects at size 1 spanned in the fit (`field_of_view`). NaN: not recorded.
    fit_fields : (float, float)
        The 5th and 95th percentiles of the training images' own `field_of_view` (with labels, plants of 100-400 px
        on one canvas show 4x different fields); `FIELD_BAND` is widened by them.
    decoded_px : float
        The typical size (median √area, network pixels) of the objects the model decodes on its training images at
        their true size: what `napari_deepcolor.predict.size_refine` measures a segmentation against. NaN: not
        recorded (no second step).
    decoded_tolerance : float
        A segmentation whose objects are within this ratio of ``decoded_px`` is at the right size (from the spread on
        the training images, `napari_deepcolor.predict.size_refine.TOLERANCE`).
    fit_crops : float
        Fitted on crops of the views too, none smaller than this fraction of its view (√ area); 0: whole views only
        (size models fitted before 2026-12-06).
    fit_blur : float
        Fitted on blurred copies of the views too, σ up to this many view pixels; 0: none (size models fitted before
        2026-12-07, and those of mask-input models).
    fit_turned : bool
        Fitted on views each in a random orientation of the square, and read as the mean of a view's features over
        all `TURNS` orientations (`turns`); False: fitted and read in the image's own orientation (size models
        fitted before the second refit of 2026-12-07).
    mask_width : float
        A mask-input model's training masks: their objects' typical width (twice the foreground's area over its
        perimeter, `label_sizes.mask_width`; the median over the masks), pixels of the images as given to the fit;
        NaN: not recorded (not a mask-input model, or fitted before 2026-12-08).
    object_px : float
        Fitted with labels: the training objects' typical size (median √area, pixels at the image's resolution as
        given to the fit) that object size 1 stands for; NaN when fitted without labels (size 1 is then each
        training image's own objects).
    """

    weights: np.ndarray
    mean: np.ndarray
    std: np.ndarray
    bias: float
    alpha: float
    cv_error: float
    n_images: int
    cv_error90: float = float("nan")
    unscaled_error90: float = float("nan")
    object_px: float = float("nan")
    fit_extent: float = float("nan")
    fit_fields: tuple[float, float] = (1.0, 1.0)
    decoded_px: float = float("nan")
    decoded_tolerance: float = float("nan")
    fit_crops: float = 0.0
    fit_blur: float = 0.0
    fit_turned: bool = False
    mask_width: float = float("nan")

    @property
    def turns(self) -> tuple[int, ...]:
        """The orientations (`turn`) a view is read in: all of them for a size model fitted on turned views."""
        return tuple(range(TURNS)) if self.fit_turned else (0,)

    @property
    def snap(self) -> float:
        """Estimates within this ratio of 1 are taken as 1: the larger of the size model's 90th-percentile
        cross-validated error and its largest error on its training images as they are, bounded by `MIN_SNAP` and
        `MAX_SNAP`."""
        errors = [e for e in (self.cv_error90, self.unscaled_error90) if math.isfinite(e)]
        return min(MAX_SNAP, max(MIN_SNAP, 1 + max(errors, default=0.0)))

    def predict(self, features: np.ndarray) -> float:
        """Apparent object size ``g`` of a view from its features ``(F,)``."""
        z = (np.asarray(features, dtype=np.float64) - self.mean) / self.std
        return float(np.exp(z @ self.weights + self.bias))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (for checkpoint metadata)."""
        return {"weights": self.weights.round(7).tolist(), "mean": self.mean.round(7).tolist(),
                "std": self.std.round(7).tolist(), "bias": self.bias, "alpha": self.alpha,
                "cv_error": self.cv_error, "n_images": self.n_images, "view_reduction": VIEW_REDUCTION,
                "cv_error90": self.cv_error90, "unscaled_error90": self.unscaled_error90,
                "object_px": self.object_px, "fit_extent": self.fit_extent,
                "fit_fields": list(self.fit_fields), "decoded_px": self.decoded_px,
                "decoded_tolerance": self.decoded_tolerance, "fit_crops": self.fit_crops, "fit_blur": self.fit_blur,
                "fit_turned": self.fit_turned, "mask_width": self.mask_width}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SizeModel:
        """Inverse of `to_dict`; ValueError if the fields do not fit together."""
        weights, mean, std = (np.asarray(data[k], dtype=np.float64) for k in ("weights", "mean", "std"))
        if not (weights.ndim == 1 and weights.shape == mean.shape == std.shape) or not np.all(std > 0):
            raise ValueError("the checkpoint's size model is malformed")
        return cls(weights, mean, std, float(data["bias"]), float(data["alpha"]), float(data["cv_error"]),
                   int(data["n_images"]), float(data.get("cv_error90", "nan")),
                   float(data.get("unscaled_error90", "nan")), float(data.get("object_px", "nan")),
                   float(data.get("fit_extent", "nan")), tuple(float(f) for f in data.get("fit_fields", (1, 1))),
                   float(data.get("decoded_px", "nan")), float(data.get("decoded_tolerance", "nan")),
                   float(data.get("fit_crops", 0.0)), float(data.get("fit_blur", 0.0)),
                   bool(data.get("fit_turned", False)), float(data.get("mask_width", "nan")))


@dataclass(frozen=True)
class ObjectSize:
    """The object size a prediction runs at, and how it was chosen.

    Attributes
    ----------
    factor : float
        Objects of the image are ``factor`` times as large as the model's training objects (1 = the same).
    how : {"given", "auto", "fallback", "unavailable"}
        Typed by the user; estimated from the image; 1 because no estimate could be trusted; or 1 because the model
        has no size model.
    note : str
        One sentence for the CLI, the widget's status line and the Labels layer's metadata.
    estimate : float or None
        The raw estimate (before snapping to 1), None when none was made.
    warning : str
        An automatic size that may be off says why (`field_of_view`); also at the end of ``note``.
    passes : int
        Predictions the automatic size took (`napari_deepcolor.predict.size_refine`): 1, or up to 3 when the
        segmented objects said another size.
    basis : str
        What an automatic size was read from, when not the regression ("the width of the mask's objects",
        `size_from_mask`); kept in the note when the check corrects the size.
    """

    factor: float
    how: str
    note: str
    estimate: float | None = None
    warning: str = ""
    passes: int = 1
    basis: str = ""

    def as_metadata(self) -> dict[str, Any]:
        """What a result layer or output file records."""
        return {"object_size": self.factor, "object_size_how": self.how, "object_size_note": self.note,
                "object_size_estimate": self.estimate, "object_size_passes": self.passes}


def size_model_of(metadata: dict[str, Any]) -> SizeModel | None:
    """The size model stored in a checkpoint's metadata; None if it has none, a malformed one, or one whose
    cross-validated error is above `MAX_CV_ERROR` (a network that has not learned enough to tell sizes apart) or
    unknown (fitted on a single image)."""
    data = metadata.get(METADATA_KEY)
    if not isinstance(data, dict):
        return None
    try:
        size_model = SizeModel.from_dict(data)
    except (KeyError, TypeError, ValueError):
        return None
    # without cross-validation (a single training image) nothing says the size model works: not used
    return None if not size_model.cv_error <= MAX_CV_ERROR else size_model


def given_size(factor: float) -> ObjectSize:
    """A size the user typed: it always wins."""
    return ObjectSize(float(factor), "given", f"object size {factor:g} (given)")


def estimate_object_size(model: LoadedModel, image: np.ndarray, *, channel_axis: int | None = None,
                         limits: tuple[float, float] | None = None) -> ObjectSize:
    """Estimate the object size of ``image`` for ``model`` from one view at reduced resolution (`view_features`).

    Parameters
    ----------
    model : LoadedModel
        As loaded (its ``base_config``: the estimate is relative to the model's own training objects).
    image : ndarray, shape (Y, X) or (Y, X, C) (or channels at ``channel_axis``)
        The image to segment, as given to `napari_deepcolor.predict.network.segment`.
    limits : (low, high), optional
        Intensity limits for normalization (out-of-core images pass the whole image's).

    Returns
    -------
    ObjectSize
        ``how`` is "auto", or "fallback" (factor 1) with a note saying why.
    """
    size_model = size_model_of(model.metadata)
    if size_model is None:
        return no_size_model()
    if reads_mask(model.base_config, size_model):
        return size_from_mask(model.base_config, size_model, [image], channel_axis=channel_axis)
    x = network_view(model.base_config, image, VIEW_REDUCTION, channel_axis=channel_axis, limits=limits)
    return estimate_from_views(model, pick_tiles(x))


def reads_mask(config: ModelConfig, size_model: SizeModel) -> bool:
    """Whether the object size is read on the input mask itself (`size_from_mask`): a mask-input model whose size
    model recorded its training masks' width (older ones keep the regression)."""
    return config.mask_input and math.isfinite(size_model.mask_width)


def size_from_mask(config: ModelConfig, size_model: SizeModel, masks: Sequence[np.ndarray], *,
                   channel_axis: int | None = None) -> ObjectSize:
    """A mask-input model's object size from the masks (an image, or windows of one) it is given, at their own
    pixels: their objects' width (`label_sizes.mask_width`, summed over ``masks``) against the training masks'
    (`SizeModel.mask_width`), then snapped and checked on the segmented objects as the regression's estimate is. No
    network pass: the input already is the objects' outline. Chosen over the regression for `worms-mask` by a rule
    written before it ran, on training masks (experiments/object_size/mask_width.py): resized 0.5-3x AP50 with
    *auto* 0.822 -> 0.825, masks of 1-3 worms 0.948 -> 0.990 and, enlarged 2x, 0.287 -> 1.000; the estimate's
    seconds a fifth."""
    area = edge = pixels = 0.0
    for mask in masks:
        planes = to_channels_first(np.asarray(mask), config.in_channels, channel_axis=channel_axis)
        a, e = mask_width(binarize(planes)[0])  # the foreground the network is given
        area, edge, pixels = area + a, edge + e, pixels + planes[0].size
    width = width_of(area, edge)
    if not math.isfinite(width):
        return _fallback("no objects in the mask to measure the object size on; using object size 1")
    size = decide(width / size_model.mask_width, area / pixels, config, snap=size_model.snap)
    if size.how != "auto":
        return size
    basis = "the width of the mask's objects"
    return replace(size, note=f"{size.note.removesuffix(')')}, from {basis})", basis=basis)


def at_estimated_size(model: LoadedModel, image: np.ndarray, object_size: float | None = None, *,
                      channel_axis: int | None = None, limits: tuple[float, float] | None = None
                      ) -> tuple[LoadedModel, ObjectSize]:
    """``model`` run at ``object_size`` if one is given, else at the size estimated from ``image`` (a loaded model at
    object size 1, as `batch` and `stack` hold it), and the size with how it was chosen."""
    from napari_deepcolor.predict.network import at_object_size

    if object_size is not None:
        return model, given_size(object_size)
    size = estimate_object_size(model, image, channel_axis=channel_axis, limits=limits)
    return at_object_size(model, size.factor), size


def network_view(config: ModelConfig, image: np.ndarray, factor: float, *, prescaled: bool = False,
                 channel_axis: int | None = None, limits: tuple[float, float] | None = None) -> np.ndarray:
    """``image`` as the network sees it at ``factor`` times the model's scale: ``(C, Y, X)`` float32. A ``prescaled``
    image is already normalized and at the model's scale (a training sample's)."""
    if prescaled:
        return rescale_image(np.asarray(image, dtype=np.float32), factor)
    return preprocess(np.asarray(image), in_channels=config.in_channels, percentiles=config.percentiles,
                      scale=config.scale * factor, channel_axis=channel_axis, limits=limits,
                      clip_max=config.intensity_max, mask_input=config.mask_input, sparse=config.sparse_percentile)


def no_size_model() -> ObjectSize:
    """The fallback for a checkpoint without a size model."""
    return ObjectSize(1.0, "unavailable", "object size 1: this model has no usable size model (made before "
                      "automatic object size, trained on too few images, or too little trained to tell sizes apart); "
                      "type the size to change it")


def estimate_from_views(model: LoadedModel, tiles: Sequence[np.ndarray]) -> ObjectSize:
    """The object size from the `pick_tiles` of preprocessed views at `VIEW_REDUCTION` of the model's scale."""
    size_model = size_model_of(model.metadata)
    if size_model is None:
        return no_size_model()
    if not any(min(t.shape[-2:]) >= MIN_VIEW for t in tiles):
        height, width = max((t.shape[-2:] for t in tiles), key=lambda hw: hw[0] * hw[1])
        return _fallback(f"the image is too small to estimate the object size from ({height} x {width} pixels at "
                         f"{VIEW_REDUCTION:g}x the model's resolution, {MIN_VIEW} needed across); using object size 1")
    features, foreground, reduction = read_features(model, size_model, tiles)
    size = decide(size_model.predict(features) / reduction, foreground, model.base_config, snap=size_model.snap)
    field = field_of_view(size, size_model, tiles)
    low, high = size_model.fit_fields
    if math.isfinite(field) and not FIELD_BAND[0] * min(low, 1) <= field <= FIELD_BAND[1] * max(high, 1):
        warning = (f"this image shows about {field:.1f}x the field of view of the model's training images, where the "
                   "estimate is less reliable: check the result, or type the size")
        size = replace(size, note=f"{size.note}; but {warning}", warning=warning)
    return size


def field_of_view(size: ObjectSize, size_model: SizeModel, tiles: Sequence[np.ndarray]) -> float:
    """How much more of the scene the parts the estimate read show than a training image did (1 = as much; NaN when
    unknown): their extent against the training images' (`SizeModel.fit_extent`), divided by the estimated size.

    The regression was fitted on whole training images resized, so the extent of a view grew with its objects'
    size; on an image much larger or smaller than those, it reads the extent as part of the size (docs/scale.md,
    "other extents").
    """
    if size.how != "auto" or not size.estimate or not math.isfinite(size_model.fit_extent):
        return float("nan")
    extent = math.sqrt(np.mean([t.shape[-1] * t.shape[-2] for t in tiles]))
    return extent / size_model.fit_extent / size.estimate


def training_object_size(model: LoadedModel, images: Sequence[np.ndarray], *, max_images: int = 8) -> ObjectSize:
    """The object size of a fine-tuning's training ``images`` for the starting ``model``: the median of the
    estimates of (at most ``max_images`` of) the images that gave one; 1 if none did.

    Fine-tuning trains at ``scale / size`` (`napari_deepcolor.predict.network.resize_objects`), so the network sees
    the objects at the size it learned, and the fine-tuned model runs on such images at object size 1.
    """
    if size_model_of(model.metadata) is None:
        return no_size_model()
    images = list(images)
    if len(images) > max_images:
        images = [images[i] for i in np.linspace(0, len(images) - 1, max_images).round().astype(int)]
    sizes = [estimate_object_size(model, image) for image in images]
    estimates = [size.factor for size in sizes if size.how == "auto"]
    if not estimates:
        return _fallback(f"no training image gave a size estimate ({sizes[0].note}); training at object size 1")
    factor = float(np.median(estimates))
    note = (f"training objects {factor:.2f}x the starting model's (auto, median of {len(estimates)} "
            f"image{'s' * (len(estimates) > 1)}); the model is fine-tuned at that size")
    return ObjectSize(factor, "auto", note, factor)


def decide(estimate: float, foreground: float, config: ModelConfig, *, snap: float = MIN_SNAP) -> ObjectSize:
    """Turn a raw estimate into the size used: fallbacks, then snapping to 1."""
    if not foreground >= MIN_FOREGROUND:
        return _fallback(f"no objects found for the size estimate ({foreground:.2%} foreground); using object "
                         "size 1", estimate)
    if not supported(estimate, config):
        low, high = SUPPORTED
        return _fallback(f"the estimated object size {estimate:.2g} is outside the supported {low:g}-{high:g}; "
                         "using 1 — check the model suits these images, or type the size", estimate)
    if 1 / snap <= estimate <= snap:
        return ObjectSize(1.0, "auto", f"object size 1 (auto: estimated {estimate:.2f})", estimate)
    return ObjectSize(round(estimate, 2), "auto", f"object size {estimate:.2f} (auto)", estimate)


def supported(factor: float, config: ModelConfig) -> bool:
    """Whether an automatic size may run ``config`` at ``factor``: within `SUPPORTED`, the image enlarged at most 4
    times for the network."""
    return SUPPORTED[0] <= factor <= SUPPORTED[1] and config.scale / factor <= 4


def _fallback(note: str, estimate: float | None = None) -> ObjectSize:
    return ObjectSize(1.0, "fallback", note, estimate)


def pick_tiles(views: np.ndarray | Sequence[np.ndarray], *, tile: int = TILE,
               max_tiles: int = MAX_TILES) -> list[np.ndarray]:
    """The parts of the views ``(C, Y, X)`` the features are read from: a view of at most ``max_tiles`` tiles'
    pixels whole, a larger one as the ``max_tiles`` tiles of a ``tile``-sized grid with the largest intensity spread
    (where the objects are); of several views, the ``max_tiles`` parts with the largest spread."""
    views = [views] if isinstance(views, np.ndarray) and views.ndim == 3 else list(views)
    parts = []
    for view in views:
        height, width = view.shape[-2:]
        if height * width <= max_tiles * tile * tile:
            parts.append(view)
        else:
            parts += [view[:, y:y + tile, x:x + tile] for y in _starts(height, tile) for x in _starts(width, tile)]
    if len(parts) <= max_tiles:
        return parts
    spread = np.array([float(part[:, ::4, ::4].std()) for part in parts])
    return [parts[i] for i in sorted(np.argsort(-spread, kind="stable")[:max_tiles])]


def _starts(length: int, tile: int) -> list[int]:
    if length <= tile:
        return [0]
    n = math.ceil(length / tile)
    return [round(i * (length - tile) / (n - 1)) for i in range(n)]


def read_features(model: LoadedModel, size_model: SizeModel,
                  tiles: Sequence[np.ndarray]) -> tuple[np.ndarray, float, float]:
    """The features of ``tiles``, their foreground fraction, and the reduction of the view they were read on against
    the model's scale.

    ``size_model`` fitted on turned views, of a model without ``sparse_percentile``: the first orientation on the
    view shrunk by `COARSE` (whole network: the foreground is read there), kept alone where it reads objects of
    `QUICK_ABOVE` or larger and at least `COARSE_FOREGROUND` foreground; else the view itself in the eight
    orientations (`view_features`; the encoder alone where the coarse pass read that foreground, else the first
    orientation whole), stopping after the first where its estimate from that one alone is within `EARLY_EXIT` of 1
    (experiments/object_size/early_exit.py: about half of the images at the model's own size then skip seven encoder
    passes, at no measured loss).
    """
    turns = size_model.turns
    coarse_foreground = float("nan")
    if len(turns) > 1 and model.base_config.sparse_percentile is None and (coarse := _shrunk(tiles, COARSE)):
        per_turn, coarse_foreground = oriented_features(model, coarse, turns[:1])
        if coarse_foreground >= COARSE_FOREGROUND and \
                size_model.predict(per_turn[turns[0]]) / (VIEW_REDUCTION * COARSE) >= QUICK_ABOVE:
            return per_turn[turns[0]], coarse_foreground, VIEW_REDUCTION * COARSE
    known = coarse_foreground >= COARSE_FOREGROUND  # the coarse pass found objects: the encoder alone
    per_turn, foreground = oriented_features(model, tiles, turns[:1], whole=not known)
    foreground = coarse_foreground if known else foreground
    first = size_model.predict(per_turn[turns[0]]) / VIEW_REDUCTION
    if len(turns) > 1 and not max(first, 1 / first) <= EARLY_EXIT:
        per_turn |= oriented_features(model, tiles, turns[1:], whole=False)[0]
    return np.mean(list(per_turn.values()), axis=0), foreground, VIEW_REDUCTION


def _shrunk(tiles: Sequence[np.ndarray], factor: float) -> list[np.ndarray]:
    """``tiles`` resized by ``factor``; empty where one would be narrower than `MIN_COARSE`."""
    if min(min(t.shape[-2:]) for t in tiles) * factor < MIN_COARSE:
        return []
    return [rescale_image(t, factor) for t in tiles]
