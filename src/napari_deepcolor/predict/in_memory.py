"""``deepcolor predict``'s images that fit in memory: a 2D image whole, a stack (time, z: ``(T, Y, X)``,
``(T, Z, Y, X)``, RGB planes too) plane by plane, as the Segment widget goes (`napari_deepcolor.predict.stack`).

A stack's object size is estimated once, on its middle plane (one microscope, one magnification), unless one is
given; each plane is checked on the objects it decodes and predicted again at the size they say where they disagree
(`size_refine.segment_refined`). A plane's labels are numbered from 1 within the plane. Only the labels of the
planes done are kept, never the network output of more than one plane.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from napari_deepcolor.predict.network import LoadedModel
    from napari_deepcolor.predict.object_size import ObjectSize

log = logging.getLogger("napari_deepcolor")


def read_whole(path: Path, channel: int | None = None) -> Any:
    """An image segmented in memory: a 2D image read whole (a file, or a zarr array that fits,
    `predict.batch.plan_jobs`); a stack (TIFF, zarr) as an array-like read plane by plane when segmented
    (`napari_deepcolor.predict.regions.open_image`). With ``channel``, that channel alone
    (`napari_deepcolor.predict.regions.select_channel`)."""
    from napari_deepcolor.io import check_pixels, read_image
    from napari_deepcolor.predict.regions import open_image, plane_of, select_channel

    suffix = path.suffix.lower()
    if suffix in (".tif", ".tiff", ".zarr"):
        source = open_image(path)
        source = source if channel is None else select_channel(source, channel)
        if plane_of(source.shape)[1]:
            return source
    image = np.asarray(open_image(path)[...]) if suffix == ".zarr" else read_image(path)
    check_pixels(image, what=str(path))
    return np.ascontiguousarray(image if channel is None else select_channel(image, channel))


@dataclass
class InMemoryResult:
    """What `segment_in_memory` found: ``labels`` ``(*leading, Y, X)`` int32, the count of instances over all
    planes, the object size (of the one plane, or a summary of the stack's) and, for a 2D image, the network output
    (for ``--save-probs``; None for a stack)."""

    labels: np.ndarray
    n_instances: int
    size: ObjectSize
    output: Any = None


def segment_in_memory(model: LoadedModel, image: np.ndarray, size_of: Callable[[np.ndarray], ObjectSize], *,
                      knobs: dict[str, Any], progress: Callable[[int, int], None] | None = None,
                      what: str = "the image") -> InMemoryResult:
    """Segment ``image`` (2D, or a stack of 2D planes) with ``model``; ``size_of(plane)`` gives the size to start
    from (estimated, or the one given), before each plane's check; ``knobs`` as for
    `napari_deepcolor.predict.network.segment`.

    Raises
    ------
    ValueError
        An image that is neither (`napari_deepcolor.predict.stack.stack_layout`), or channels first (3 or 4 planes)
        for a model that takes RGB.
    """
    from napari_deepcolor.predict.regions import MAX_CHANNELS
    from napari_deepcolor.predict.size_refine import carried, correction_after, segment_refined
    from napari_deepcolor.predict.stack import stack_layout

    rgb = image.ndim >= 3 and image.shape[-1] in (3, 4)  # as to_channels_first reads it
    if not rgb and image.ndim == 3 and image.shape[-1] <= MAX_CHANNELS:
        raise ValueError(f"the image has shape {tuple(image.shape)}: its last axis looks like {image.shape[-1]} "
                         "channels; give --channel C to segment one of them")
    layout = stack_layout(image, rgb=rgb)
    if not layout.leading:
        _, size, (instances, output) = segment_refined(model, image, size_of(image), progress=progress, **knobs)
        return InMemoryResult(instances.labels, instances.n_instances, size, output)
    if not rgb and image.ndim == 3 and image.shape[0] in (3, 4) and model.config.in_channels == 3:
        raise ValueError(f"expected an RGB (Y, X, 3) image for this color model, got shape {image.shape}: channels "
                         "first? Save it with the channels last (numpy.moveaxis(image, 0, -1))")
    hint = ("; if they are channels, give --channel C to segment one"
            if layout.leading[0] <= MAX_CHANNELS and not layout.rgb else "")
    log.info("%s is a stack of %d planes of %d x %d: segmented plane by plane (labels numbered within each plane%s)",
             what, layout.n_planes, *layout.plane, hint)
    _check_memory(layout)
    labels = np.zeros(layout.shape, np.int32)
    indices = list(layout.indices())
    start = size_of(np.asarray(image[indices[len(indices) // 2]]))  # once a stack: one microscope, one magnification
    sizes, count, correction = [], 0, 1.0
    for index in indices:  # each plane starts where the plane before ended (`size_refine.carried`)
        plane = np.asarray(image[index])
        _, size, (instances, _) = segment_refined(model, plane, carried(start, correction, model.base_config),
                                                  progress=progress, **knobs)
        correction = correction_after(start, size, correction)
        labels[index] = instances.labels
        sizes.append(size)
        count += instances.n_instances
    return InMemoryResult(labels, count, _stack_size(sizes, layout.n_planes))


#: Bytes a plane's pixel takes while it is segmented (its image, the network's output, the decoding), on top of the
#: stack's labels (int32); a generous bound, from a 9-color coloring model at scale 1.
PLANE_BYTES_PER_PIXEL = 200


def _check_memory(layout: Any) -> None:
    """Refuse a stack whose labels (held whole until written) and one plane's work do not fit in the memory free
    now, before anything is segmented."""
    free = free_memory()
    pixels = int(np.prod(layout.shape, dtype=np.int64))
    needed = 4 * pixels + PLANE_BYTES_PER_PIXEL * layout.plane[0] * layout.plane[1]
    if free is not None and needed > free:
        raise ValueError(f"the image is a stack of {layout.n_planes} planes of {layout.plane[0]} x {layout.plane[1]}: "
                          f"segmenting it needs about {needed / 2**30:.1f} GiB of memory (its labels are kept whole "
                          f"until written) and {free / 2**30:.1f} GiB are free; split it into smaller stacks")


def free_memory() -> int | None:
    """Bytes of memory free now (psutil, else the system's count of free pages; the widgets and `deepcolor predict`
    alike); None when unknown."""
    try:
        import psutil

        return int(psutil.virtual_memory().available)
    except ImportError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, OSError, ValueError):
        return None


def _stack_size(sizes: list[ObjectSize], planes: int) -> ObjectSize:
    """One `ObjectSize` saying what the planes' sizes were: their median factor; the note gives their range, and why
    a size fell back to 1 (the first plane's reason that did)."""
    from dataclasses import replace

    factors = sorted(size.factor for size in sizes)
    hows = sorted({size.how for size in sizes})
    span = f"{factors[0]:g}" if factors[0] == factors[-1] else f"{factors[0]:g}-{factors[-1]:g}"
    checked = ", estimated once, checked on each plane" if "auto" in hows else ""
    why = next((size.note for size in sizes if size.how in ("fallback", "unavailable")), "")
    note = f"{planes} planes, object size {span} ({', '.join(hows)}{checked})" + (f": {why}" if why else "")
    return replace(sizes[len(sizes) // 2], factor=float(np.median(factors)), note=note)
