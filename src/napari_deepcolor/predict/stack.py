"""Images as napari holds them, segmented one 2D plane at a time, with each plane's network output kept.

An image is a stack of 2D planes: ``(..., Y, X)`` gray or ``(..., Y, X, 3|4)`` RGB(A), with up to two leading axes
(time, z). `segment_stack` loads a model and runs the network once per plane; `StackResult` collects the planes
into the arrays the widget shows (probabilities, color map, foreground, labels) and re-decodes them for new knobs
(`Knobs`: τ and ρ for coloring, the kernel knobs for semiconv) without running the network again: a coloring plane
keeps its `ColorComponents`, a semiconv plane its `Embeddings`.

Only the generator `segment_stack` loads torch, when it runs; importing this module loads neither torch, Qt nor
napari, nor scipy (post-processing is imported when a plane is decoded), so the widget opens quickly. This is the
compute side of the Segment widget (`napari_deepcolor._widgets.segment`), usable without a GUI.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from napari_deepcolor.config import ModelConfig

if TYPE_CHECKING:
    from napari_deepcolor.postprocess.embeddings import Clustering, SeedSearch
    from napari_deepcolor.postprocess.instances import Instances
    from napari_deepcolor.predict.network import Embeddings, LoadedModel
    from napari_deepcolor.predict.object_size import ObjectSize

__all__ = [
    "Cancelled",
    "ColoringPlane",
    "Knobs",
    "ModelLoaded",
    "PlaneDone",
    "SemiconvPlane",
    "StackLayout",
    "StackResult",
    "predict_plane",
    "segment_stack",
    "stack_layout",
]

MAX_LEADING_AXES = 2  # time and z


class Cancelled(Exception):  # noqa: N818 - a request, not an error
    """Raised inside `segment_stack` when its ``cancel`` event is set."""


@dataclass(frozen=True)
class StackLayout:
    """How the axes of an image are read.

    Attributes
    ----------
    leading : tuple of int
        Sizes of the plane axes (time, z), ``()`` for a single 2D image.
    plane : (int, int)
        ``(Y, X)`` of each plane.
    rgb : bool
        Whether a last axis of 3 or 4 channels follows ``(Y, X)``.
    """

    leading: tuple[int, ...]
    plane: tuple[int, int]
    rgb: bool

    @property
    def shape(self) -> tuple[int, ...]:
        """Shape of the label image: ``(*leading, Y, X)``."""
        return (*self.leading, *self.plane)

    @property
    def n_planes(self) -> int:
        return int(np.prod(self.leading, dtype=np.int64))

    def indices(self) -> Iterator[tuple[int, ...]]:
        """Index of every plane in the leading axes, in C order (``()`` once for a 2D image)."""
        return np.ndindex(*self.leading)


#: Planes narrower than this are refused: a (Y, X, 2) two-channel image is otherwise Y planes of X × 2 pixels.
MIN_PLANE_SIDE = 8


def stack_layout(image: npt.ArrayLike, *, rgb: bool) -> StackLayout:
    """Check that ``image`` can be segmented plane by plane, and say how its axes are read.

    Reads only the shape and dtype (a lazy dask array stays unread).

    Parameters
    ----------
    image : array, shape (..., Y, X) or, with ``rgb``, (..., Y, X, 3|4)
        At most `MAX_LEADING_AXES` leading axes; any real dtype (bool, integers, floats).
    rgb : bool
        Whether the last axis holds RGB(A) channels (napari's ``Image.rgb``).

    Returns
    -------
    StackLayout

    Raises
    ------
    ValueError
        Saying what was wrong and what to do: too few or too many axes, an empty image, a non-real dtype, planes
        with a side under `MIN_PLANE_SIDE` (channels napari did not read as RGB).
    """
    shape = tuple(int(s) for s in np.shape(image))
    dtype = np.dtype(getattr(image, "dtype", None) or np.asarray(image).dtype)
    if rgb and (len(shape) < 3 or shape[-1] not in (3, 4)):
        raise ValueError(f"expected an RGB(A) image with 3 or 4 channels on its last axis, got shape {shape}")
    spatial = shape[:-1] if rgb else shape
    if len(spatial) < 2:
        raise ValueError(f"expected a 2D image (Y, X) or a stack of 2D planes, got shape {shape}: a 2D image "
                         "needs two axes")
    if len(spatial) > 2 + MAX_LEADING_AXES:
        kind = "RGB " if rgb else ""
        raise ValueError(f"expected a 2D {kind}image or a stack of 2D planes with at most {MAX_LEADING_AXES} more "
                         f"axes (time, z), got shape {shape}; split the extra axes into separate images first (in "
                         "napari: right-click the layer > Split Stack)")
    if 0 in spatial:
        raise ValueError(f"the image is empty (shape {shape}); choose an image with pixels")
    if not (np.issubdtype(dtype, np.integer) or np.issubdtype(dtype, np.floating) or np.issubdtype(dtype, np.bool_)):
        raise ValueError(f"expected an image of integers or floats, got dtype {dtype} (shape {shape}); convert it "
                         "to a real-valued image first")
    if min(spatial[-2:]) < MIN_PLANE_SIDE:
        y, x = spatial[-2:]
        if not rgb and len(spatial) > 2 and x < MIN_PLANE_SIDE:
            raise ValueError(f"the last axis of shape {shape} ({x}) looks like color channels, so the planes would "
                             f"be {y} × {x} pixels: split the channels into layers (right-click the layer > Split "
                             "Stack) and segment one, or open a 3- or 4-channel image as RGB")
        raise ValueError(f"each plane is {y} × {x} pixels (shape {shape}): too small to segment; planes need at "
                         f"least {MIN_PLANE_SIDE} pixels along each side")
    return StackLayout(leading=spatial[:-2], plane=(spatial[-2], spatial[-1]), rgb=rgb)


def memory_needed(layout: StackLayout, config: ModelConfig) -> int:
    """Bytes a `StackResult` of ``layout`` keeps for a model of ``config`` (labels, network outputs, colors or
    foreground, decoding caches), plus one plane's network output in flight: an estimate to refuse what cannot fit
    before any work starts."""
    from napari_deepcolor.methods import get_method

    pixels = int(np.prod(layout.shape))
    channels, per_pixel = get_method(config.method).memory_per_pixel(config)
    return pixels * per_pixel + 2 * 4 * channels * layout.plane[0] * layout.plane[1]


@dataclass(frozen=True)
class Knobs:
    """Decoding knobs, all in the input image's pixels.

    Attributes
    ----------
    min_size : float
        τ: instances with fewer pixels become background (both methods).
    merge_distance : float
        ρ, coloring only: same-color components closer than this (symmetric Hausdorff distance) merge; 0 = never.
    threshold : float
        Semiconv only, in (0, 1): a pixel joins a seed's instance when K_σ(seed, pixel) >= this ("seed threshold").
    foreground_threshold : float
        Semiconv only, in (0, 1]: pixels whose foreground probability is at least this are segmented.
    sigma_scale : float
        Semiconv only, > 0: the kernel's σ is the model's trained σ times this ("kernel scale"). With the threshold
        it sets the kernel radius ``−σ · sigma_scale · log(threshold)`` in embedding units.
    absorb_fragments : bool
        Coloring only: components below τ join the touching neighbour they share the longest boundary with instead
        of being dropped (`postprocess.fragment_absorbers`).
    """

    min_size: float = 0.0
    merge_distance: float = 0.0
    threshold: float = 0.5
    foreground_threshold: float = 0.5
    sigma_scale: float = 1.0
    absorb_fragments: bool = False

    @classmethod
    def from_config(cls, config: ModelConfig) -> Knobs:
        """The model's recommended knobs (stored in its checkpoint)."""
        return cls(min_size=config.min_size, merge_distance=config.merge_distance,
                   threshold=config.kernel_threshold, foreground_threshold=config.foreground_threshold,
                   absorb_fragments=config.absorb_fragments)

    def replace(self, **changes: float | bool) -> Knobs:
        return replace(self, **changes)


class ColoringPlane:
    """What a coloring network predicted for one plane, reduced to what decoding needs.

    Parameters
    ----------
    probs : ndarray, shape (C, Y, X), float
        Color probabilities; not kept (the `ColorComponents` hold the color map and per-component statistics).
    """

    def __init__(self, probs: np.ndarray) -> None:
        from napari_deepcolor.postprocess.coloring import ColorComponents

        self.components = ColorComponents.from_probs(probs)
        self._lock = threading.Lock()  # decode fills the components' caches: one thread at a time

    @property
    def colors(self) -> np.ndarray:
        """ndarray, shape (Y, X), integer: the argmax color of every pixel, 0 = background."""
        return self.components.colors

    def decode(self, knobs: Knobs) -> Instances:
        """Instances for τ = ``knobs.min_size``, ρ = ``knobs.merge_distance`` and ``knobs.absorb_fragments``. Any
        thread may call it (one at a time per plane, the others wait)."""
        with self._lock:
            return self.components.to_labels(min_size=knobs.min_size, merge_distance=knobs.merge_distance or None,
                                             absorb_fragments=knobs.absorb_fragments)


class SemiconvPlane:
    """What a semi-convolutional network predicted for one plane (embeddings, foreground, seeds, σ)."""

    def __init__(self, embeddings: Embeddings) -> None:
        self.embeddings = embeddings
        self._search: tuple[float, SeedSearch] | None = None
        self._clustering: tuple[tuple[float, float, float], Clustering] | None = None
        self._lock = threading.Lock()  # decode fills the caches above: one thread at a time

    def decode(self, knobs: Knobs) -> Instances:
        """Instances by `cluster_embeddings` with the knobs' τ, seed threshold, foreground threshold and σ scale.

        What the last knobs computed is kept: the k-d tree of the foreground embeddings (per foreground threshold)
        and the clustering (per seed threshold and σ scale), so moving τ only re-numbers clusters (tens of ms a
        megapixel) and the kernel knobs do not rebuild the tree. Any thread may call it (one at a time per plane,
        the others wait)."""
        with self._lock:
            return self._decode(knobs)

    def _decode(self, knobs: Knobs) -> Instances:
        from napari_deepcolor.postprocess.embeddings import SeedSearch

        e = self.embeddings
        if self._search is None or self._search[0] != knobs.foreground_threshold:
            self._search = knobs.foreground_threshold, SeedSearch(e.embeddings, e.foreground, seeds=e.seeds,
                                                                  foreground_threshold=knobs.foreground_threshold)
            self._clustering = None
        key = (knobs.threshold, knobs.sigma_scale, knobs.foreground_threshold)
        if self._clustering is None or self._clustering[0] != key:
            self._clustering = key, self._search[1].clusters(sigma=e.sigma * knobs.sigma_scale,
                                                             threshold=knobs.threshold)
        return self._clustering[1].instances(knobs.min_size)

    def vectors(self, knobs: Knobs, *, step: int) -> np.ndarray:
        """Displacement vectors ``(N, 2, 2)`` of foreground pixels sampled every ``step`` pixels (napari Vectors)."""
        from napari_deepcolor.postprocess.display import displacement_vectors

        e = self.embeddings
        return displacement_vectors(e.embeddings, unit=e.unit, foreground=e.foreground, step=step,
                                    foreground_threshold=knobs.foreground_threshold)


Plane = ColoringPlane | SemiconvPlane
#: The plane each method's output is kept as, by ``ModelConfig.method``.
PLANES: dict[str, type[Plane]] = {"coloring": ColoringPlane, "semiconv": SemiconvPlane}


def predict_plane(model: LoadedModel, plane: np.ndarray, *, rgb: bool = False, tile_size: int = 1024,
                  overlap: int = 64, progress: Callable[[int, int], None] | None = None,
                  limits: tuple[float, float] | None = None) -> tuple[np.ndarray | Embeddings, Plane]:
    """Run the network on one plane.

    Parameters
    ----------
    model : LoadedModel
    plane : ndarray, shape (Y, X), or (Y, X, 3|4) with ``rgb``
    tile_size, overlap, progress
        As in `napari_deepcolor.predict.network.predict_probs` (tiled inference, per-tile progress).
    limits : (float, float), optional
        As in `napari_deepcolor.predict.network.predict_probs`.

    Returns
    -------
    output : ndarray (probs, shape (C, Y, X), float32) or Embeddings
    plane : ColoringPlane or SemiconvPlane
    """
    from napari_deepcolor.predict import network as inference

    output = inference.predict_output(model, plane, channel_axis=-1 if rgb else None, tile_size=tile_size,
                                      overlap=overlap, progress=progress, limits=limits)
    return output, PLANES[model.config.method](output)


@dataclass(frozen=True)
class ModelLoaded:
    """First event of `segment_stack`: the model is on its device and the first plane's object size is known
    (``seconds``: the loading alone)."""

    config: ModelConfig
    device: str
    source: str
    seconds: float
    #: The first plane's object size (given, estimated, or the fallback 1); ``config`` is resized for it.
    object_size: ObjectSize | None = None


@dataclass(frozen=True)
class PlaneDone:
    """One plane predicted by `segment_stack`: ``index`` into the leading axes, the network output, the plane."""

    index: tuple[int, ...]
    output: np.ndarray | Embeddings
    plane: Plane
    seconds: float
    #: The object size this plane was predicted at, and how it was chosen.
    object_size: ObjectSize | None = None


def segment_stack(model: str | os.PathLike, image: npt.ArrayLike, *, rgb: bool = False, device: str = "auto",
                  tile_size: int = 1024, overlap: int = 64, cancel: threading.Event | None = None,
                  knobs: Knobs | None = None, object_size: float | None = 1.0) -> Iterator[ModelLoaded | PlaneDone]:
    """Load a model, then predict an image plane by plane: a generator for a napari ``thread_worker``.

    Parameters
    ----------
    model : str or path
        A bundled model name or a checkpoint file.
    image : array, shape (..., Y, X) or (..., Y, X, 3|4)
        See `stack_layout`; planes are read one at a time (``np.asarray(image[index])``), so a lazy array is
        loaded plane by plane.
    rgb : bool
        Whether the last axis holds RGB(A) channels.
    device : {"auto", "cpu", "cuda", "mps"}
    tile_size, overlap : int
        Tiled inference within a plane (`napari_deepcolor.predict.network.predict_probs`).
    cancel : threading.Event, optional
        Checked before every plane and after every tile; when set, `Cancelled` is raised.
    knobs : Knobs, optional
        Semiconv: each plane is clustered with these here, in the worker, before it is yielded; the plane keeps the
        clustering (`SemiconvPlane.decode`), so the GUI thread, decoding it with the same knobs, only numbers it.
    object_size : float or None
        How large the objects are against the model's training objects (`napari_deepcolor.predict.network.load_model`);
        None: estimated once, on the middle plane (`napari_deepcolor.predict.object_size`), and checked on each
        plane's objects. The `ModelLoaded` config is resized for the (first plane's) size, with its τ and ρ.

    Yields
    ------
    ModelLoaded
        Once, first: when the first plane is predicted, so that it carries that plane's size (an estimated size may
        take more than one prediction, `napari_deepcolor.predict.size_refine`).
    PlaneDone
        Once per plane, in C order of the leading axes.

    Raises
    ------
    ValueError
        The image cannot be segmented (see `stack_layout`), or the device is unknown or not available here.
    napari_deepcolor.checkpoint.CheckpointError
        The model file cannot be loaded.
    Cancelled
        ``cancel`` was set.
    """
    from napari_deepcolor.predict.torch_import import import_torch

    import_torch()  # a session's first import of torch, in the Segment worker: the window stays free (torch_import)
    from napari_deepcolor.predict.network import load_model, resolve_device
    from napari_deepcolor.predict.object_size import at_estimated_size
    from napari_deepcolor.predict.size_refine import carried, correction_after, recommended_knobs, refine

    layout = stack_layout(image, rgb=rgb)

    def check_cancel(*_: int) -> None:
        if cancel is not None and cancel.is_set():
            raise Cancelled

    check_cancel()
    start = time.perf_counter()
    try:
        resolved = resolve_device(device)
    except RuntimeError as error:
        raise ValueError(f"the device {device!r} is not available on this machine ({error}); choose 'auto' (CUDA, "
                         "then Apple MPS, else CPU) or 'cpu'") from error
    loaded = load_model(model, device=resolved, object_size=1.0 if object_size is None else object_size)
    load_seconds = time.perf_counter() - start
    limits = None
    if loaded.config.mask_input and layout.n_planes > 1:  # the stack as a whole; a plane may be all object
        from napari_deepcolor.preprocess import check_mask

        check_mask(image, what="this stack")
        limits = (0.0, 1.0)
    first, correction, indices = True, 1.0, list(layout.indices())
    # the size estimated once, on the middle plane (one microscope, one magnification); each plane checks it
    middle = indices[len(indices) // 2]  # (a 2D image's only index, ())
    middle_plane = np.asarray(image[middle]) if middle else np.asarray(image)  # (a lazy plane read once)
    estimate = at_estimated_size(loaded, middle_plane, object_size, channel_axis=-1 if rgb else None,
                                 limits=limits)[1]
    for index in indices:
        check_cancel()
        plane_start = time.perf_counter()
        plane = middle_plane if index == middle else np.asarray(image[index])
        # the estimate starts where the plane before ended, is checked on the objects it decodes, and the plane is
        # predicted again if they disagree
        sized, size, (output, decoder) = refine(
            loaded, carried(estimate, correction, loaded.base_config),
            lambda sized, plane=plane: predict_plane(sized, plane, rgb=rgb, tile_size=tile_size, overlap=overlap,
                                                     progress=check_cancel, limits=limits),
            lambda sized, run: run[1].decode(recommended_knobs(sized)).labels,  # the plane's caches: shared below
            image=None if rgb else plane)
        correction = correction_after(estimate, size, correction)
        if first:
            yield ModelLoaded(sized.config, loaded.device, loaded.source, load_seconds, size)
            first = False
        if knobs is not None and isinstance(decoder, SemiconvPlane):
            decoder.decode(knobs)  # the slow part of decoding, off the GUI thread
        yield PlaneDone(index, output, decoder, time.perf_counter() - plane_start, size)


class StackResult:
    """The planes of one run, gathered into the arrays the widget shows, and re-decoded for new knobs.

    Parameters
    ----------
    layout : StackLayout
    config : ModelConfig
        The model's config (method, number of colors).
    knobs : Knobs
        Decoding knobs for the planes as they are added.

    Attributes
    ----------
    labels : ndarray, shape (*leading, Y, X), int32
        Instances of each plane, numbered from 1 within the plane; 0 = background and planes not yet predicted.
    probs : ndarray, shape (C, *leading, Y, X), float32, or None
        Coloring: color probabilities, the color axis first (so that napari aligns the other axes with the image).
    colors : ndarray, shape (*leading, Y, X), uint8, or None
        Coloring: the argmax color map, 0 = background.
    foreground : ndarray, shape (*leading, Y, X), float32, or None
        Semiconv: foreground probability.
    method : Method
        The model's method (`napari_deepcolor.methods`): which of the arrays above it fills.
    planes : dict of tuple to ColoringPlane or SemiconvPlane
        The planes added so far, by index into the leading axes.

    Notes
    -----
    Not meant to be shared between threads: fill it and store decoded planes in one thread (the GUI's), from
    events a worker yields. `Plane.decode` may run in another thread (it is locked per plane); `stale` says which
    planes still need it for the current knobs.
    """

    def __init__(self, layout: StackLayout, config: ModelConfig, knobs: Knobs) -> None:
        from napari_deepcolor.methods import get_method

        self.layout = layout
        self.config = config
        self.method = get_method(config.method)
        self.knobs = knobs
        self.labels = np.zeros(layout.shape, np.int32)
        self.planes: dict[tuple[int, ...], Plane] = {}
        self._counts: dict[tuple[int, ...], int] = {}  # instances per plane, for n_instances()
        self._decoded: dict[tuple[int, ...], Knobs] = {}  # the knobs each plane's labels were decoded with
        self.probs = self.colors = self.foreground = None
        if self.method.has_color_channels:
            # np.zeros leaves untouched pages unallocated; a 2D image takes the network's array as it is (add()).
            self.probs = None if not layout.leading else np.zeros((config.n_colors, *layout.shape), np.float32)
            self.colors = np.zeros(layout.shape, np.uint8)
        else:
            self.foreground = np.zeros(layout.shape, np.float32)

    def add(self, index: tuple[int, ...], output: np.ndarray | Embeddings, plane: Plane) -> Instances:
        """Store a predicted plane and decode it with the current knobs; returns its instances."""
        if self.method.has_color_channels:
            if self.layout.leading:
                self.probs[(slice(None), *index)] = output
            else:
                self.probs = np.asarray(output, np.float32)
            self.colors[index] = plane.colors
        else:
            self.foreground[index] = output.foreground
        self.planes[index] = plane
        instances = plane.decode(self.knobs)
        self.store(index, instances, self.knobs)
        return instances

    def set_knobs(self, knobs: Knobs, *, indices: list[tuple[int, ...]] | None = None) -> list[tuple[int, ...]]:
        """Re-decode the planes (all, or those of ``indices`` that were added) for new knobs; no network.

        Returns
        -------
        list of tuple
            The indices of the planes whose labels were recomputed.
        """
        self.knobs = knobs
        todo = list(self.planes) if indices is None else [i for i in indices if i in self.planes]
        for index in todo:
            self.store(index, self.planes[index].decode(knobs), knobs)
        return todo

    def store(self, index: tuple[int, ...], instances: Instances, knobs: Knobs) -> None:
        """Put a plane's instances, decoded with ``knobs`` (e.g. by `Plane.decode` in another thread), in place."""
        self.labels[index] = instances.labels
        self._counts[index] = instances.n_instances
        self._decoded[index] = knobs

    def stale(self) -> list[tuple[int, ...]]:
        """The planes added so far whose labels were decoded with other knobs than the current ones."""
        return [index for index in self.planes if self._decoded.get(index) != self.knobs]

    def vectors(self, *, step: int = 8) -> np.ndarray:
        """Semiconv: displacement vectors of all planes, ``(N, 2, ndim)`` float32 in the labels' axes."""
        if not self.method.has_vectors:
            raise ValueError(f"displacement vectors exist for semiconv models only; this result is from a "
                             f"{self.method.name} model")
        ndim = len(self.layout.shape)
        parts = [np.zeros((0, 2, ndim), np.float32)]
        for index, plane in self.planes.items():
            plane_vectors = plane.vectors(self.knobs, step=step)
            full = np.zeros((len(plane_vectors), 2, ndim), np.float32)
            full[:, 0, : len(index)] = index
            full[:, :, len(index):] = plane_vectors
            parts.append(full)
        return np.concatenate(parts)

    def adopt(self, other: StackResult) -> list[tuple[int, ...]]:
        """Take the planes this result lacks from ``other``, a result of the same layout and model (a complete earlier
        run, when this one was cancelled part way), and decode them with this result's knobs.

        Returns
        -------
        list of tuple
            The indices of the planes taken.
        """
        if other.layout != self.layout or other.method != self.method:
            raise ValueError("can only take planes from a result of the same image layout and method")
        taken = [index for index in other.planes if index not in self.planes]
        for index in taken:
            if self.method.has_color_channels:
                self.probs[(slice(None), *index)] = other.probs[(slice(None), *index)]
                self.colors[index] = other.colors[index]
            else:
                self.foreground[index] = other.foreground[index]
            self.planes[index] = other.planes[index]
        self.set_knobs(self.knobs, indices=taken)
        return taken

    def n_instances(self) -> int:
        """Instances over all planes added so far (each plane counts its own)."""
        return sum(self._counts.values())
