"""Fitting a model's size model (`napari_deepcolor.predict.object_size`) on its training images, and storing it in
the checkpoint: when a model is trained (`napari_deepcolor.training.loop`) or bundled
(experiments/object_size/fit_bundled.py)."""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np

from napari_deepcolor.predict.label_sizes import (
    mask_width,
    relative_object_sizes,
    relative_to_median,
    typical_object_size,
    typical_sizes,
    width_of,
)
from napari_deepcolor.predict.object_size import (
    FIT_RANGE,
    METADATA_KEY,
    TURNS,
    VIEW_REDUCTION,
    SizeModel,
    network_view,
    pick_tiles,
    view_features,
)
from napari_deepcolor.predict.ridge import ridge_fit
from napari_deepcolor.preprocess import binarize, to_channels_first

if TYPE_CHECKING:
    from napari_deepcolor.config import ModelConfig
    from napari_deepcolor.predict.network import LoadedModel


def fit_extent(config: ModelConfig, images: Sequence[np.ndarray], *, prescaled: bool = False,
               channel_axis: int | None = None, labels: Sequence[np.ndarray] | None = None) -> dict[str, Any]:
    """`SizeModel.fit_extent` and `SizeModel.fit_fields` of training ``images`` (raw, or ``prescaled`` as
    `fit_size_model` takes them; with their ``labels`` when it is fitted with them)."""
    views = _prediction_views(config, images, prescaled=prescaled, channel_axis=channel_axis)
    return _extent_fields(views, relative_object_sizes(labels, len(images)))


def _prediction_views(config: ModelConfig, images: Sequence[np.ndarray], *, prescaled: bool,
                      channel_axis: int | None) -> list[np.ndarray]:
    """The training images as a prediction views them: at `VIEW_REDUCTION` of the model's scale, ``(C, Y, X)``."""
    return [network_view(config, image, VIEW_REDUCTION, prescaled=prescaled, channel_axis=channel_axis)
            for image in images]


def _extent_fields(views: Sequence[np.ndarray], relative: np.ndarray) -> dict[str, Any]:
    """`fit_extent` from the training images' views at `VIEW_REDUCTION` and their objects' ``relative`` sizes."""
    extents = np.array([math.sqrt(view.shape[-1] * view.shape[-2]) for view in views])
    median = float(np.median(extents))
    fields = extents / median / relative
    return {"fit_extent": median, "fit_fields": [float(np.quantile(fields, 0.05)), float(np.quantile(fields, 0.95))]}


def fit_size_model(model: LoadedModel, images: Sequence[np.ndarray], *, views_per_image: int | None = None,
                   seed: int = 0, channel_axis: int | None = None, prescaled: bool = False,
                   labels: Sequence[np.ndarray] | None = None, crops: bool = True, blurs: bool = True,
                   turns: bool = True, progress: Callable[[int, int], None] | None = None) -> SizeModel:
    """Fit the size model of ``model`` on its training ``images``.

    Each image gives ``views_per_image`` views (default: 8, more for fewer than 8 images) at apparent sizes drawn
    log-uniformly from `FIT_RANGE`, cut into tiles as at prediction (`pick_tiles`). The ridge penalty is chosen by
    4-fold cross-validation over images (with a single image, the middle penalty is used and ``cv_error`` is NaN).

    ``images`` are raw, as a user gives them, or with ``prescaled`` the training samples' images: ``(C, Y, X)``,
    already normalized and at the model's scale (`napari_deepcolor.training.dataset.Sample.image`).

    With ``labels`` (one label image per image), a view's target is its resize factor times its image's typical
    object size against the median over the images (`typical_object_size`), not the factor alone: training images
    whose objects differ in size (generated nuclei of 16-24 px) then teach the absolute size, instead of each image
    counting as size 1.

    With ``crops`` (the default), each view also gives a random crop of it (`random_crop`, kept when it holds at least
    `CROP_FRACTION` of the view) with the same target: the regression then sees objects of one size on canvases of
    other extents, and reads the extent less as the size. The cross-validated errors (`SizeModel.cv_error`, and the
    snap band from them) are those of the whole views, as a whole image is estimated. Chosen by two-fold
    cross-validation over the bundled models' training images (experiments/object_size/crop_augmented_fit.py): on
    their central halves and quarters within 20 % on 56 % against 22 % fitted on whole views, and whole views 84 %
    against 83 %.

    With ``blurs`` (the default), each view also gives a copy blurred by a Gaussian of σ 0.3-1.5 view pixels
    (`random_blur`; not for a model whose input is a mask) with the same target: the regression then reads the objects
    rather than the image's sharpness, which it read as size (`worms` wells enlarged 3x by linear interpolation as
    3.1-4.3). Chosen by two-fold cross-validation over the bundled models' training images
    (experiments/object_size/blur_augmented_fit.py).

    With ``turns`` (the default), each part is read in one of the `TURNS` orientations of the square, drawn at random,
    and the fitted size model reads an image as the mean over all of them (`SizeModel.fit_turned`): a regression
    fitted in the training images' own orientation reads another orientation of a view as another size (BBBC010
    wells are all lit and framed alike). Chosen by two-fold cross-validation over the bundled models' training images
    (experiments/object_size/flip_average.py): within 20 % +0.046 over seven models and four kinds of view, no
    model lower.
    """
    if not len(images):
        raise ValueError("fitting a size model needs at least one training image")
    config = model.base_config
    blurs = blurs and not config.mask_input  # a mask is a mask at any size: nothing to blur
    sizes = typical_sizes(labels, len(images))
    relative = relative_to_median(sizes)
    views_per_image = views_per_image or max(8, 64 // len(images))
    rng = np.random.default_rng(seed)
    rows, targets, groups, whole = [], [], [], []
    total, done = len(images) * views_per_image, 0
    for i, image in enumerate(images):
        for g in np.exp(rng.uniform(np.log(FIT_RANGE[0]), np.log(FIT_RANGE[1]), views_per_image)):
            done += 1
            x = network_view(config, image, g, prescaled=prescaled, channel_axis=channel_axis)
            # the apparent size is the view's width against the image's at the model's scale (rounding included)
            width = (np.asarray(image).shape[-1] / config.scale if prescaled
                     else np.asarray(image).shape[_x_axis(image, channel_axis)])
            if min(x.shape[-2:]) < 8:
                continue
            target = math.log(x.shape[-1] / width / config.scale * relative[i])
            for part in _fitting_parts(x, rng, crops=crops, blurs=blurs):
                rows.append(view_features(model, pick_tiles(part), (int(rng.integers(TURNS)) if turns else 0,))[0])
                targets.append(target)
                groups.append(i)
                whole.append(part is x)
            if progress is not None:
                progress(done, total)
    if not rows:
        raise ValueError("the training images are too small to fit a size model (under 8 network pixels)")
    size_model = SizeModel(**ridge_fit(np.array(rows), np.array(targets), np.array(groups), np.array(whole)),
                           n_images=len(images), fit_crops=CROP_FRACTION if crops else 0.0,
                           fit_blur=BLUR[1] if blurs else 0.0, fit_turned=turns)
    # what size 1 stands for, in pixels of the images as given (prescaled ones are at the model's scale)
    object_px = (float(np.nanmedian(sizes)) / (config.scale if prescaled else 1.0) if np.isfinite(sizes).any()
                 else float("nan"))
    # the training images as a prediction views them: for the spread of the fitted model and their extent
    views = _prediction_views(config, images, prescaled=prescaled, channel_axis=channel_axis)
    return replace(size_model, object_px=object_px, **_extent_fields(views, relative),
                   unscaled_error90=_spread(model, size_model, views, relative),
                   **_decoded_reference(model, images, sizes, prescaled=prescaled, channel_axis=channel_axis),
                   **fit_mask_width(config, images, prescaled=prescaled, channel_axis=channel_axis))


def fit_mask_width(config: ModelConfig, images: Sequence[np.ndarray], *, prescaled: bool = False,
                   channel_axis: int | None = None) -> dict[str, float]:
    """`SizeModel.mask_width` of a mask-input model's training masks (raw, or ``prescaled`` training samples at the
    model's scale, their foreground where above 0.5); empty for another model, or masks without foreground."""
    if not config.mask_input:
        return {}
    widths = []
    for image in images:
        mask = ((np.asarray(image) > 0.5).any(axis=0) if prescaled else
                binarize(to_channels_first(np.asarray(image), config.in_channels, channel_axis=channel_axis))[0])
        width = width_of(*mask_width(mask))
        if math.isfinite(width):
            widths.append(width / (config.scale if prescaled else 1.0))
    return {"mask_width": float(np.median(widths))} if widths else {}


#: `random_crop` keeps this fraction of each side at least (drawn log-uniformly up to the whole side)
CROP_LOW = 0.2
#: and at least this many network pixels a side
CROP_MIN = 16
#: `fit_size_model` fits on a crop only when it holds this fraction of its view at least (√ area)
CROP_FRACTION = 0.35


#: σ of `random_blur`, view pixels (drawn uniformly)
BLUR = (0.3, 1.5)


def _fitting_parts(view: np.ndarray, rng: np.random.Generator, *, crops: bool, blurs: bool) -> list[np.ndarray]:
    """What one fitting view gives, each with its target: the view, a random crop of it (``crops``, when it holds at
    least `CROP_FRACTION` of the view), a blurred copy (``blurs``)."""
    parts = [view]
    if crops:
        crop = random_crop(view, rng)
        if crop.size >= CROP_FRACTION ** 2 * view.size:
            parts.append(crop)
    if blurs:
        parts.append(random_blur(view, rng))
    return parts


def random_blur(view: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``view (C, Y, X)`` blurred by a Gaussian of σ drawn uniformly from `BLUR` (view pixels; the same for every
    channel): the same objects less sharp, as another camera, objective or focus shows them."""
    from scipy import ndimage

    return ndimage.gaussian_filter(view, (0, *[rng.uniform(*BLUR)] * 2))


def random_crop(view: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A random window of ``view (C, Y, X)``: each side a fraction of the view's, log-uniform in (`CROP_LOW`, 1), at
    least `CROP_MIN` pixels, at a random place: the same objects on a smaller canvas."""
    out = []
    for length in view.shape[-2:]:
        side = min(length, max(CROP_MIN, round(length * math.exp(rng.uniform(math.log(CROP_LOW), 0)))))
        start = int(rng.integers(0, length - side + 1))
        out.append(slice(start, start + side))
    return view[:, out[0], out[1]]


def decoded_reference(model: LoadedModel, images: Sequence[np.ndarray], *, prescaled: bool = False,
                      channel_axis: int | None = None, labels: Sequence[np.ndarray] | None = None,
                      max_images: int = 8) -> dict[str, float]:
    """`SizeModel.decoded_px` and `SizeModel.decoded_tolerance` from training ``images``.

    Raw images: (at most ``max_images`` of) them are segmented at their true size (1, or with ``labels`` their typical
    object size against the median) at the recommended knobs, and their decoded objects' typical size is taken in
    network pixels; the tolerance is the largest ratio of one image's to that median. ``prescaled`` training samples
    (a model trained here, whose raw images are gone): their ``labels``' typical size, at the network's resolution
    already, with the smallest tolerance. Empty without labels for prescaled images (no second step).
    """
    return _decoded_reference(model, images, typical_sizes(labels, len(images)), prescaled=prescaled,
                              channel_axis=channel_axis, max_images=max_images)


def _decoded_reference(model: LoadedModel, images: Sequence[np.ndarray], sizes: np.ndarray, *, prescaled: bool,
                       channel_axis: int | None, max_images: int = 8) -> dict[str, float]:
    """`decoded_reference` with the images' typical object sizes (`typical_sizes`; NaN without labels) given."""
    from napari_deepcolor.predict.network import at_object_size, segment
    from napari_deepcolor.predict.size_refine import TOLERANCE

    if prescaled:
        known = sizes[np.isfinite(sizes)]
        return {"decoded_px": float(np.median(known)), "decoded_tolerance": TOLERANCE[0]} if known.size else {}
    relative = relative_to_median(sizes)
    found = []
    for i in np.unique(np.linspace(0, len(images) - 1, min(max_images, len(images))).round().astype(int)):
        sized = at_object_size(model, float(relative[i]))
        typical = typical_object_size(segment(sized, images[i], channel_axis=channel_axis)[0].labels)
        if math.isfinite(typical):
            found.append(typical * sized.config.scale)
    if not found:
        return {}
    decoded_px = float(np.median(found))
    spread = max(abs(math.log(f / decoded_px)) for f in found)
    return {"decoded_px": decoded_px, "decoded_tolerance": math.exp(spread)}


def unscaled_spread(model: LoadedModel, size_model: SizeModel, images: Sequence[np.ndarray], *,
                    prescaled: bool = False, channel_axis: int | None = None,
                    labels: Sequence[np.ndarray] | None = None) -> float:
    """The largest relative error of ``size_model`` on ``images`` as they are (object size 1, or with ``labels`` each
    image's typical object size against the median, as `fit_size_model` takes it), each viewed as a prediction views
    it: how far from the truth an image of the training kind can be estimated."""
    views = _prediction_views(model.base_config, images, prescaled=prescaled, channel_axis=channel_axis)
    return _spread(model, size_model, views, relative_object_sizes(labels, len(images)))


def _spread(model: LoadedModel, size_model: SizeModel, views: Sequence[np.ndarray], relative: np.ndarray) -> float:
    """`unscaled_spread` of the images' views at `VIEW_REDUCTION`, each image's true size (``relative``) given."""
    errors = []
    for x, truth in zip(views, relative):
        if min(x.shape[-2:]) >= 8:
            estimate = size_model.predict(view_features(model, pick_tiles(x), size_model.turns)[0]) / VIEW_REDUCTION
            errors.append(abs(math.log(estimate / truth)))
    return math.expm1(max(errors)) if errors else float("nan")


def attach_size_model(path: str | os.PathLike, images: Sequence[np.ndarray], *, prescaled: bool = False,
                      device: str = "cpu", max_images: int = 40, labels: Sequence[np.ndarray] | None = None
                      ) -> SizeModel:
    """Fit the size model of the checkpoint at ``path`` on (at most ``max_images`` of) ``images`` (and their
    ``labels``, `fit_size_model`) and rewrite the checkpoint with it (atomically; the weights are unchanged)."""
    from napari_deepcolor.predict.network import load_model

    if len(images) > max_images:
        keep = np.linspace(0, len(images) - 1, max_images).round().astype(int)
        images = [images[i] for i in keep]
        labels = None if labels is None else [labels[i] for i in keep]
    size_model = fit_size_model(load_model(path, device=device), images, prescaled=prescaled, labels=labels)
    store_size_model(path, size_model.to_dict())
    return size_model


def store_size_model(path: str | os.PathLike, size_model: dict[str, Any]) -> None:
    """Rewrite the checkpoint at ``path`` (atomically) with ``size_model`` in its metadata; weights unchanged."""
    from napari_deepcolor.checkpoint import load_checkpoint, save_checkpoint

    checkpoint = load_checkpoint(path)
    checkpoint.metadata[METADATA_KEY] = size_model
    save_checkpoint(path, checkpoint)


def carry_size_model(start: str | os.PathLike, paths: Sequence[str | os.PathLike], factor: float = 1.0) -> bool:
    """Give the checkpoints at ``paths``, fine-tuned from ``start`` at object size ``factor``, ``start``'s size
    model (rewritten atomically); False when ``start`` has none or can no longer be read.

    A fine-tuning on too few images to fit a size model of its own (`napari_deepcolor.training.loop.MIN_SIZE_IMAGES`),
    or whose own is not usable while its encoder kept the start's weights, keeps the start's: fine-tuned at
    ``factor``, the network's scale is the start's / ``factor``, so the start's regression reads objects ``factor``
    times the start's as size 1. On few_shot.py's selection cases: AP50 0.531 -> 0.743 (enlarged rosettes), 0.739 ->
    0.888 (colony), 0.849 -> 0.899 (16 enlarged rosettes, whose own size model was not usable) against the
    fine-tuned model at size 1 (finetuning.md).
    """
    from napari_deepcolor.predict.network import model_info

    try:
        size_model = model_info(start)[1].get(METADATA_KEY)
    except (OSError, ValueError):  # the start is gone (a resumed run needs only its own checkpoints)
        size_model = None
    if not isinstance(size_model, dict):
        return False
    for path in paths:
        store_size_model(path, {**size_model, "object_px": float(size_model.get("object_px", "nan")) * factor,
                                "mask_width": float(size_model.get("mask_width", "nan")) * factor,
                                "carried_from": str(start)})
    return True


def _x_axis(image: np.ndarray, channel_axis: int | None) -> int:
    image = np.asarray(image)
    if image.ndim == 2:
        return 1
    axis = image.ndim - 1 if channel_axis is None else channel_axis % image.ndim
    return image.ndim - 1 if axis != image.ndim - 1 else image.ndim - 2
