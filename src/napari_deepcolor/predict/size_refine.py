"""The second step of the automatic object size (cellpose's): the objects a prediction decoded, measured against the
objects the model decodes on its training images, and the image predicted again at the size they say.

The regression of `napari_deepcolor.predict.object_size` reads the size from the encoder's features of a view; on an
image that shows much more or less of the scene than the training images it reads the extent as size too
(docs/scale.md, "other extents"). So its estimate F is checked on the prediction it runs: the typical size of the
decoded objects (median √area) in network pixels, against `SizeModel.decoded_px`. When their ratio r is outside
`SizeModel.decoded_tolerance`, the image is predicted again at F × r (at most `MAX_REFINEMENTS` times), and the pass
whose objects are closest to the training objects' size is kept; where none agreed, object size 1 is predicted too
and is a candidate (`TRY_ONE`: the regression reads a field of few nuclei as 2-4x, where the network paints noise
as small blobs that never agree); where no pass segmented any object, the image is
predicted at object size 1 and that is kept (a fallback with a note: with one to three worms, `worms-mask`'s estimate
read their masks as 1.5-2.4x and decoded none), or, where its objects say another size, corrected once
(`RECHECK_ONE`); on a field the model normalizes by its few bright objects, size 1 is predicted too and kept where
its objects stand out more from the background (`SPARSE_CONTRAST`). The median over objects, not over pixels: a network
that sees objects too small merges them into a few large blobs, which an area-weighted size follows the wrong way.

Only an estimated size ("auto") is refined: a size the user gives, a fallback to 1 and a checkpoint without
``decoded_px`` run once, as before. An out-of-core image is checked on the few windows its estimate read, then
predicted once (`napari_deepcolor.predict.large.check_on_windows`). A stack's next plane starts at the size the plane
before ended at (`carried`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from napari_deepcolor.predict.label_sizes import object_areas, typical_of
from napari_deepcolor.predict.object_size import ObjectSize, size_model_of, supported

if TYPE_CHECKING:
    from napari_deepcolor.predict.network import LoadedModel

#: Bounds of `SizeModel.decoded_tolerance`: the ratio within which decoded objects count as the training size.
TOLERANCE = (1.1, 1.25)
#: At most this many predictions after the first.
MAX_REFINEMENTS = 2
#: When no pass's objects agreed with the training objects' size, object size 1 is predicted too (if not tried) and
#: kept if its objects are closer (experiments/object_size/try_one.py: generated fields of few nuclei AP50 0.645 ->
#: 0.753, 195 training cases unchanged).
TRY_ONE = True

#: A size other than 1 checked on this many objects or fewer says it may be off (few_objects.py: the estimate read
#: images of one to three objects off their size by more than 25 % on 64 % of training cases).
FEW_OBJECTS = 3

#: Where nothing was segmented at the estimate, the pass at object size 1 is checked on its objects too, and
#: corrected by them at most `RECHECK_REFINEMENTS` times (one prediction more than the fallback alone), the closest
#: pass kept (experiments/object_size/recheck_one.py, second rule: masks of one to three worms enlarged 2x had kept
#: 1; on fresh training masks AP50 there 0.218 -> 0.348, unchanged on masks at the training size).
RECHECK_ONE = True
RECHECK_REFINEMENTS = 1

#: On a field the model's sparse gate normalizes by its brightest pixels (`sparse_field`), an estimated size other
#: than 1 is also predicted at 1, and 1 is kept where its objects stand out at least this many times as much from the
#: background (`object_contrast`): the regression reads a field of few nuclei as 1.5-4x, where the shrunken field's
#: noise decodes as blobs of about the training size that the check accepts. Chosen by a rule written before it ran,
#: on training fields (experiments/object_size/sparse_contrast.py): fields of 1-19 nuclei 0.926 -> 0.963 as they
#: are, 0.923 -> 0.918 enlarged 2x, resized training images unchanged. None: off.
SPARSE_CONTRAST: float | None = 2.0

T = TypeVar("T")


@dataclass(frozen=True)
class _Pass:
    sized: LoadedModel
    factor: float
    result: Any
    #: The decoded objects' typical size against the training objects' (NaN: no objects).
    ratio: float
    #: How many objects were decoded.
    count: int = 0

    @property
    def error(self) -> float:
        return abs(math.log(self.ratio)) if math.isfinite(self.ratio) and self.ratio > 0 else math.inf


def refine(model: LoadedModel, size: ObjectSize, run: Callable[[LoadedModel], T],
           labels_of: Callable[[LoadedModel, T], np.ndarray], *, passes_of: str = "",
           image: np.ndarray | None = None) -> tuple[LoadedModel, ObjectSize, T]:
    """Run ``model`` at ``size`` and, for an estimated size, check it on the decoded objects.

    Parameters
    ----------
    model : LoadedModel
        At object size 1 (``size`` is relative to its training objects).
    size : ObjectSize
        From `napari_deepcolor.predict.object_size.estimate_object_size`, or given.
    run : callable
        ``run(sized_model) -> result``: one prediction of the image.
    labels_of : callable
        ``labels_of(sized_model, result) -> labels``: the instances at the model's recommended knobs
        (`recommended_labels`), an image ``(Y, X)`` or any array of instance ids.
    passes_of : str
        What one prediction covers, for the note ("of 4 windows"); the whole image when empty.
    image : ndarray, optional
        The image (a plane) predicted: where it is a field of few bright objects for the model (`sparse_field`),
        size 1 is tried too and kept where its objects stand out more (`SPARSE_CONTRAST`).

    Returns
    -------
    sized_model, size, result
        Of the pass kept; ``size.passes`` counts the predictions run.
    """
    from napari_deepcolor.predict.network import at_object_size

    size_model = size_model_of(model.metadata)
    if size.how != "auto" or size_model is None or not math.isfinite(size_model.decoded_px):
        sized = at_object_size(model, size.factor)
        return sized, size, run(sized)
    tolerance = min(TOLERANCE[1], max(TOLERANCE[0], size_model.decoded_tolerance)) \
        if math.isfinite(size_model.decoded_tolerance) else TOLERANCE[0]

    def one(factor: float) -> _Pass:
        sized = at_object_size(model, factor)
        result = run(sized)
        areas = object_areas(labels_of(sized, result))
        return _Pass(sized, factor, result, typical_of(areas) * sized.config.scale / size_model.decoded_px, areas.size)

    tried: list[tuple[float, float]] = []  # only the best pass keeps its result (a whole image's network output)

    def corrected(factor: float, refinements: int = MAX_REFINEMENTS) -> _Pass:
        """The pass at ``factor``, corrected by its objects' size at most ``refinements`` times; the closest."""
        best = last = one(factor)
        tried.append((factor, last.ratio))
        for _ in range(refinements):
            factor = round(last.factor * last.ratio, 2)  # objects decoded at half the training size: half the size
            if not math.log(tolerance) < last.error < math.inf or not supported(factor, model.base_config) \
                    or any(f == factor for f, _ in tried):
                break
            last = one(factor)
            tried.append((factor, last.ratio))
            best = min(best, last, key=lambda p: p.error)
        return best

    best = corrected(size.factor)
    if TRY_ONE and best.error > math.log(tolerance) and all(f != 1 for f, _ in tried) and best.error < math.inf:
        best = min(best, corrected(1.0, 0), key=lambda p: p.error)
    if best.error == math.inf and best.factor != 1:  # nothing segmented at the estimate: tried at 1
        at_one = corrected(1.0, RECHECK_REFINEMENTS if RECHECK_ONE else 0)
        return at_one.sized, _nothing_at_estimate(size, at_one, len(tried), tolerance, passes_of), at_one.result
    kept = best.sized, _described(size, best, len(tried), tolerance, passes_of), best.result
    return kept if image is None else _brighter_at_one(model, image, size, kept, run, labels_of)


def _brighter_at_one(model: LoadedModel, image: np.ndarray, size: ObjectSize, kept: tuple[LoadedModel, ObjectSize, T],
                     run: Callable[[LoadedModel], T], labels_of: Callable[[LoadedModel, T], np.ndarray]
                     ) -> tuple[LoadedModel, ObjectSize, T]:
    """`refine`'s result, or size 1 where ``image`` is a field of few bright objects (`sparse_field`) whose objects
    segmented at 1 stand out `SPARSE_CONTRAST` times more from the background (`object_contrast`) than those of the
    size kept: one prediction more on such fields."""
    from napari_deepcolor.predict.network import at_object_size

    sized, checked, result = kept
    plane = None if SPARSE_CONTRAST is None or checked.factor == 1 else _sparse_plane(model, image)
    if plane is None:
        return kept
    at_one = at_object_size(model, 1.0)
    other = run(at_one)
    contrast = _contrast(plane, labels_of(sized, result))
    if _contrast(plane, labels_of(at_one, other)) < SPARSE_CONTRAST * max(contrast, 1e-6):
        but = f"; but {checked.warning}" if checked.warning else ""
        tried = (f"; size 1 tried too on this field of few bright objects ({checked.passes + 1} predictions in all)")
        note = checked.note.removesuffix(but) + tried + but
        return sized, replace(checked, note=note, passes=checked.passes + 1), result
    note = (f"object size 1 (auto: estimated {size.factor:.2f}; on this field of few bright objects the objects "
            f"segmented at 1 stand out more from the background, {checked.passes + 1} predictions)")
    return at_one, replace(checked, factor=1.0, note=note, warning="", passes=checked.passes + 1), other


def _nothing_at_estimate(size: ObjectSize, at_one: _Pass, passes: int, tolerance: float,
                         passes_of: str) -> ObjectSize:
    """The fallback when no pass at the estimated size segmented an object (a sparse mask, read as larger objects:
    experiments/object_size/few_objects.py): the prediction at object size 1 is kept, or (`RECHECK_ONE`) the pass
    its objects corrected it to."""
    predictions = f"{passes} predictions{f' {passes_of}' if passes_of else ''}"
    if at_one.factor != 1:
        warning = _warning(at_one, tolerance)
        note = (f"object size {at_one.factor:.2f}: no objects were segmented at the estimated {size.factor:.2f}; from "
                f"1, corrected to the size of the segmented objects ({predictions})")
        return replace(size, factor=at_one.factor, note=note + (f"; but {warning}" if warning else ""),
                       warning=warning, passes=passes)
    found = "objects were segmented at 1" if math.isfinite(at_one.ratio) else "none at 1 either"
    return ObjectSize(1.0, "fallback", f"object size 1: no objects were segmented at the estimated {size.factor:.2f}, "
                      f"{found} ({predictions}); type the size if the objects are larger or smaller than the model's",
                      size.estimate, passes=passes)


def _described(size: ObjectSize, best: _Pass, passes: int, tolerance: float, passes_of: str) -> ObjectSize:
    """``size`` after the check: the kept pass's factor, and a note that says what the segmented objects said."""
    note = size.note[:-len(f"; but {size.warning}")] if size.warning else size.note
    if best.error == math.inf:  # nothing decoded at any size: nothing to check against
        return replace(size, passes=passes)
    factor = best.factor
    predictions = f"{passes} predictions{f' {passes_of}' if passes_of else ''}"
    if factor != size.factor:
        basis = f" from {size.basis}" if size.basis else ""
        note = (f"object size {factor:.2f} (auto: estimated {size.factor:.2f}{basis}, corrected to the size of the "
                f"segmented objects, {predictions})")
    else:
        note += f", checked on the segmented objects{f' ({predictions})' if passes > 1 or passes_of else ''}"
    warning = _warning(best, tolerance)
    if warning:
        note += f"; but {warning}"
    return replace(size, factor=factor, note=note, warning=warning, passes=passes)


def _warning(best: _Pass, tolerance: float) -> str:
    """Why the size of the kept pass ``best`` may be off; empty when nothing says so."""
    if best.error > math.log(tolerance):
        return (f"the segmented objects are {best.ratio:.2f}x the size of the model's training objects at the best "
                "size found: check the result, or type the size")
    if best.factor != 1 and best.count <= FEW_OBJECTS:
        return (f"only {best.count} object{'s' * (best.count > 1)} segmented to check the size on, and the estimate "
                "is least reliable on so few: check the result, or type the size")
    return ""


def carried(size: ObjectSize, correction: float, config: Any) -> ObjectSize:
    """The estimate of a stack's next plane, started where the plane before ended: ``correction`` is that plane's
    kept size against its estimate (1: none). Planes of one stack share their optics and extent, so the regression
    misses them alike; the plane's own objects still check the size it starts at (`refine`)."""
    factor = round(size.factor * correction, 2)
    if size.how != "auto" or factor == size.factor or not supported(factor, config):
        return size
    return replace(size, factor=factor, warning="",
                   note=f"object size {factor:.2f} (auto: estimated {size.factor:.2f}, corrected as the plane before)")


def correction_after(estimate: ObjectSize, size: ObjectSize, previous: float) -> float:
    """The correction the next plane of a stack starts with (`carried`): the size a plane ended at against the
    stack's ``estimate``, where both are automatic; else ``previous``."""
    return size.factor / estimate.factor if size.how == "auto" and estimate.how == "auto" else previous


def segment_refined(model: LoadedModel, image: np.ndarray, size: ObjectSize, *,
                    progress: Callable[[int, int], None] | None = None,
                    **knobs: Any) -> tuple[LoadedModel, ObjectSize, Any]:
    """`napari_deepcolor.predict.network.segment` of an in-memory ``image`` at ``size``, checked on its objects
    (`refine`): the instances themselves at the recommended knobs (every knob None), else the output decoded at them.

    Returns
    -------
    sized_model, size, (instances, output)
    """
    from napari_deepcolor.predict.network import segment

    recommended = all(value is None for value in knobs.values())

    def run(sized: LoadedModel) -> Any:
        return segment(sized, image, progress=progress, **knobs)

    def labels_of(sized: LoadedModel, result: Any) -> np.ndarray:
        return result[0].labels if recommended else recommended_labels(sized, result[1])

    return refine(model, size, run, labels_of, image=image)


def sparse_field(model: LoadedModel, image: np.ndarray) -> bool:
    """Whether ``model`` normalizes ``image`` by its brightest pixels (`preprocess.limits_of`'s sparse gate)."""
    return _sparse_plane(model, image) is not None


def object_contrast(model: LoadedModel, image: np.ndarray, labels: np.ndarray) -> float:
    """The median over the objects of ``labels`` of their mean intensity in ``image``, normalized as ``model``
    normalizes it (0 = its low percentile, 1 = its high one); 0 without objects."""
    return _contrast(_normalized(model, image)[0], labels)


def _sparse_plane(model: LoadedModel, image: np.ndarray) -> np.ndarray | None:
    """``image`` normalized as ``model`` normalizes it (`_normalized`), where that is by its brightest pixels: None
    for another image, and for a model without the sparse gate."""
    config = model.base_config
    if config.sparse_percentile is None or config.mask_input:
        return None
    plane, gated = _normalized(model, image)
    return plane if gated else None


def _normalized(model: LoadedModel, image: np.ndarray) -> tuple[np.ndarray, bool]:
    """``image`` as one plane ``(Y, X)`` float64 (the mean of its channels), normalized by the intensity limits
    ``model`` takes (`preprocess.intensity_limits`), and whether those are the sparse gate's."""
    from napari_deepcolor.preprocess import intensity_limits, limits_of, to_channels_first

    config = model.base_config
    planes = to_channels_first(np.asarray(image), config.in_channels)
    limits = intensity_limits(planes, percentiles=config.percentiles, sparse=config.sparse_percentile)
    low, high = limits
    plane = (planes.mean(axis=0, dtype=np.float64) - low) / max(high - low, 1e-12)
    return plane, config.sparse_percentile is not None and limits != limits_of(planes, config.percentiles)


def _contrast(plane: np.ndarray, labels: np.ndarray) -> float:
    """`object_contrast` on a normalized ``plane``."""
    labels = np.asarray(labels).ravel()
    counts = np.bincount(labels)
    present = np.flatnonzero(counts[1:]) + 1
    if not present.size:
        return 0.0
    sums = np.bincount(labels, weights=plane.ravel(), minlength=counts.size)
    return float(np.median(sums[present] / counts[present]))


def recommended_labels(sized: LoadedModel, output: Any) -> np.ndarray:
    """The instances of a network ``output`` at ``sized``'s recommended knobs (what `decoded_px` was measured at)."""
    from napari_deepcolor.methods import get_method

    method = get_method(sized.config.method)
    return method.decode(output, **method.resolve_knobs(sized.config, sized.source)).labels


def recommended_knobs(sized: LoadedModel) -> Any:
    """``sized``'s recommended knobs as `napari_deepcolor.predict.stack.Knobs` (the others at their defaults): for a
    stack plane's own `decode`, whose caches the decoding at the user's knobs then shares."""
    from napari_deepcolor.methods import get_method
    from napari_deepcolor.predict.stack import Knobs

    return Knobs(**get_method(sized.config.method).resolve_knobs(sized.config, sized.source))
