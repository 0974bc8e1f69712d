"""Out-of-core segmentation of 2D images larger than memory, with a coloring model.

Data flow, one tile of a grid at a time, never the whole image:

image (zarr array, TIFF read by regions, or any array-like) → intensity limits of the whole image (one pass) →
per tile: window = tile + halo → `predict_probs` with those limits → probs of the tile (halo dropped) →
`ColorComponents` → `TileStitcher` (provisional ids on disk in a temporary folder, statistics in memory) →
`TileStitcher.finish` (components joined across tile borders, τ on whole objects, ρ) → labels written tile by tile
to a zarr array or a tiled BigTIFF, atomically.

Agreement with the in-memory path (`inference.segment`): windows start on multiples of the network's stride (in
input pixels, after ``config.scale``), so the network sees the same pixels in the same pooling grid; a halo at least
as wide as the network's reach makes each tile's probabilities those of the whole image up to float rounding, and the
stitching is exact (see `postprocess.stitch`). The default halo (64 network pixels, like `predict_probs`'
overlap) is smaller than a depth-4 U-Net's full receptive field, so a few pixels near tile borders may take another
color; `tests/test_large.py` measures the agreement. Semi-convolutional models are not supported here (their
decoding clusters the whole image at once).

Memory: one window's probabilities (``C × (tile + 2 halo)²`` float32 at the input resolution, three copies at the
peak), the network's activations for one window, and a few dozen bytes per component. Disk: 4 bytes per pixel of
provisional ids in a temporary folder next to the output, removed at the end.
"""

from __future__ import annotations

import bisect
import math
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from glob import escape as glob_escape
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from napari_deepcolor.io import (
    RECORD_ATTRIBUTE,
    SCRATCH_SUFFIX,
    TAGGED_TEMPORARY,
    ensure_writable_dir,
    record_text,
    remove_stale_temporaries,
    temporary_prefix,
    write_atomic,
)
from napari_deepcolor.predict.regions import import_zarr, open_image
from napari_deepcolor.predict.tiles import Tile, plan_tiles
from napari_deepcolor.preprocess import despeckled, limits_of, scaled_shape, to_channels_first

if TYPE_CHECKING:
    from napari_deepcolor.predict.network import LoadedModel
    from napari_deepcolor.predict.object_size import ObjectSize

#: Output suffixes `segment_large` writes.
LABEL_SUFFIXES = (".zarr", ".tif", ".tiff")
#: Network pixels of a tile (without halo) by default, and of the halo on each side.
DEFAULT_TILE = 1024
DEFAULT_HALO = 64


@dataclass(frozen=True)
class LargeResult:
    """What `segment_large` wrote.

    Attributes
    ----------
    path : Path
        The label image (zarr folder or TIFF), ``(Y, X)``, uint16 when the ids fit, else int32; 0 = background.
    n_instances : int
    scores, colors : ndarray, shape (N,)
        Mean color probability and color of each instance (as in `Instances`).
    tiles : int
        Tiles of the grid.
    skipped_pairs : int
        Same-color pairs not tested for ρ because they span more than ``max_merge_pixels`` (see `TileStitcher`).
    """

    path: Path
    n_instances: int
    scores: np.ndarray
    colors: np.ndarray
    tiles: int
    skipped_pairs: int = 0


# -- the whole image's intensity limits ---------------------------------------------------------------------------


def image_limits(image: Any, *, percentiles: tuple[float, float], in_channels: int, channel_axis: int | None = None,
                 max_samples: int = 2**24, sparse: float | None = None) -> tuple[float, float]:
    """Intensity percentiles of a whole image, read in row blocks (what `normalize` maps to 0 and 1).

    Images of up to ``max_samples`` pixels use every pixel, so the limits equal those of the in-memory path exactly;
    larger ones use a regular grid of every s-th row and column, ``s = ceil(sqrt(pixels / max_samples))``.

    Parameters
    ----------
    image : array-like, shape (Y, X) or (Y, X, 3|4), or with channels on ``channel_axis``
    percentiles : (float, float)
    in_channels : int
        The network's input channels (RGB is averaged to gray for 1, as in `to_channels_first`).
    sparse : float, optional
        `ModelConfig.sparse_percentile` (`napari_deepcolor.preprocess.limits_of`).

    Returns
    -------
    (low, high) : floats
    """
    y_axis, x_axis, channel_axis = _axes(image, channel_axis)
    height, width = image.shape[y_axis], image.shape[x_axis]
    step = max(1, math.ceil(math.sqrt(height * width / max_samples)))
    chunk_rows = getattr(image, "chunks", None)
    block = max(step, (chunk_rows[y_axis] if chunk_rows else 512) // step * step)
    def samples(smooth: bool) -> np.ndarray:
        out = []
        for r0 in range(0, height, block):
            planes = _read(image, (slice(r0, min(height, r0 + block)), slice(0, width)), y_axis, x_axis)
            if smooth:  # the sparse percentile without hot pixels (`despeckled`), filtered block by block
                planes = despeckled(to_channels_first(planes, in_channels, channel_axis=channel_axis))
                planes = planes[:, ::step, ::step]
            else:  # strided first: only the samples are converted
                sub = [slice(None)] * planes.ndim
                sub[y_axis], sub[x_axis] = slice(None, None, step), slice(None, None, step)
                planes = to_channels_first(planes[tuple(sub)], in_channels, channel_axis=channel_axis)
            out.append(planes.reshape(in_channels, -1))
        return np.concatenate(out, axis=1)

    return limits_of(samples(False), percentiles, sparse, smoothed=lambda: samples(True))


def _axes(image: Any, channel_axis: int | None) -> tuple[int, int, int | None]:
    """(y axis, x axis, channel axis or None) of a 2D gray or 3D color image."""
    ndim = len(image.shape)
    if ndim == 2 and channel_axis is None:
        return 0, 1, None
    if ndim == 3:
        if channel_axis is None and image.shape[-1] in (3, 4):
            channel_axis = 2
        if channel_axis is not None:
            channel_axis %= 3
            y_axis, x_axis = (a for a in range(3) if a != channel_axis)
            return y_axis, x_axis, channel_axis
    raise ValueError(f"expected a 2D gray (Y, X) or RGB (Y, X, 3) image, got shape {tuple(image.shape)}; "
                     "process stacks plane by plane")


def _read(image: Any, region: tuple[slice, slice], y_axis: int, x_axis: int) -> np.ndarray:
    key = [slice(None)] * len(image.shape)
    key[y_axis], key[x_axis] = region
    return np.asarray(image[tuple(key)])


def estimate_object_size_large(model: LoadedModel, image: str | os.PathLike | Any, *,
                                channel_axis: int | None = None) -> ObjectSize:
    """`napari_deepcolor.predict.object_size.estimate_object_size` for an image too large for memory.

    Reads at most 9 windows of a 3 x 3 grid (each `object_size.TILE` network pixels at the estimating view's scale)
    and keeps the `object_size.MAX_TILES` with the largest intensity spread; intensity limits come from
    `image_limits` (a strided read), as for the segmentation itself. Never loads the whole image. The estimate is
    then checked on those windows (`check_on_windows`).
    """
    from napari_deepcolor.predict import object_size as sizes
    from napari_deepcolor.preprocess import preprocess

    size_model = sizes.size_model_of(model.metadata)
    if size_model is None:
        return sizes.no_size_model()
    config = model.base_config
    source = open_image(image) if isinstance(image, (str, os.PathLike)) else image
    y_axis, x_axis, channel_axis = _axes(source, channel_axis)
    shape = (int(source.shape[y_axis]), int(source.shape[x_axis]))
    limits = (0.0, 1.0) if config.mask_input else image_limits(
        source, percentiles=config.percentiles, in_channels=config.in_channels, channel_axis=channel_axis,
        sparse=config.sparse_percentile)
    view_scale = config.scale * sizes.VIEW_REDUCTION
    side = max(16, round(sizes.TILE / view_scale))
    starts = [[round(k * max(0, n - side) / 2) for k in range(3)] if n > side else [0] for n in shape]
    windows = {(y, x) for y in starts[0] for x in starts[1]}
    planes = [_read(source, (slice(y, y + side), slice(x, x + side)), y_axis, x_axis) for y, x in sorted(windows)]
    spread = [float(np.asarray(plane, dtype=np.float32)[::4, ::4].std()) for plane in planes]
    chosen = [planes[i] for i in np.argsort(spread)[::-1][:sizes.MAX_TILES]]
    if sizes.reads_mask(config, size_model):  # a mask model: the windows' own pixels
        size = sizes.size_from_mask(config, size_model, chosen, channel_axis=channel_axis)
        return check_on_windows(model, size, chosen, limits=limits, channel_axis=channel_axis)
    views = [preprocess(plane, in_channels=config.in_channels, percentiles=config.percentiles, scale=view_scale,
                        channel_axis=channel_axis, limits=limits, clip_max=config.intensity_max,
                        mask_input=config.mask_input) for plane in chosen]
    size = sizes.estimate_from_views(model, sizes.pick_tiles(views))
    return check_on_windows(model, size, chosen, limits=limits, channel_axis=channel_axis)


def check_on_windows(model: LoadedModel, size: ObjectSize, windows: list[np.ndarray], *,
                     limits: tuple[float, float] | None, channel_axis: int | None) -> ObjectSize:
    """The second step of the automatic size (`napari_deepcolor.predict.size_refine`) on a few ``windows`` of an
    image too large to predict more than once: the windows are predicted at the size, their decoded objects measured
    together, and corrected as a whole image's would be; the image itself is then predicted once, at the size kept."""
    from napari_deepcolor.predict.network import predict_output
    from napari_deepcolor.predict.size_refine import recommended_labels, refine

    def run(sized: LoadedModel) -> list[Any]:  # with the whole image's intensity limits
        return [predict_output(sized, window, channel_axis=channel_axis, limits=limits) for window in windows]

    def labels_of(sized: LoadedModel, outputs: list[Any]) -> np.ndarray:
        parts, offset = [], 0
        for output in outputs:  # the windows' instances, numbered apart: measured as one set
            labels = recommended_labels(sized, output)
            parts.append(np.where(labels > 0, labels + offset, 0).ravel())
            offset += int(labels.max())
        return np.concatenate(parts)

    return refine(model, size, run, labels_of, passes_of=f"of {len(windows)} window{'s' * (len(windows) > 1)}")[1]


# -- tiles --------------------------------------------------------------------------------------------------------


def network_alignment(model: LoadedModel) -> int:
    """Input pixels between window starts that put the network's pooling grid (and the rescaling grid) in place.

    A U-Net of depth d pools ``2**d`` network pixels into one; at ``scale = p / q`` that is ``q * 2**d`` input
    pixels. Scales that are not a simple fraction (denominator above 64) get ``2**d``.
    """
    stride = 2 ** model.config.depth
    scale = Fraction(model.config.scale).limit_denominator(64)
    if abs(float(scale) - model.config.scale) > 1e-9:
        return stride
    return scale.denominator * stride


class _TileStore:
    """Provisional ids of the tiles of a grid in a temporary folder, one ``.npy`` file per tile; regions read back."""

    def __init__(self, directory: Path, tiles: list[Tile]) -> None:
        self.directory = directory
        self._rows = sorted({t.keep[0].start for t in tiles})
        self._cols = sorted({t.keep[1].start for t in tiles})
        self._shape = (max(t.keep[0].stop for t in tiles), max(t.keep[1].stop for t in tiles))

    def _path(self, y0: int, x0: int) -> Path:
        return self.directory / f"{y0}_{x0}.npy"

    def write(self, origin: tuple[int, int], ids: np.ndarray) -> None:
        np.save(self._path(*origin), ids)

    def read(self, region: tuple[slice, slice]) -> np.ndarray:
        (r0, r1), (c0, c1) = (region[0].start, region[0].stop), (region[1].start, region[1].stop)
        out = np.zeros((r1 - r0, c1 - c0), np.uint32)
        rows = self._rows[bisect.bisect_right(self._rows, r0) - 1 : bisect.bisect_left(self._rows, r1)]
        cols = self._cols[bisect.bisect_right(self._cols, c0) - 1 : bisect.bisect_left(self._cols, c1)]
        for y0 in rows:
            for x0 in cols:
                # a memory map copies just the part needed and is dropped at once: resident memory stays small
                ids = np.load(self._path(y0, x0), mmap_mode="r")
                y1, x1 = y0 + ids.shape[0], x0 + ids.shape[1]
                ry, rx = slice(max(r0, y0), min(r1, y1)), slice(max(c0, x0), min(c1, x1))
                out[ry.start - r0 : ry.stop - r0, rx.start - c0 : rx.stop - c0] = \
                    ids[ry.start - y0 : ry.stop - y0, rx.start - x0 : rx.stop - x0]
                del ids
        return out


# -- segmentation ---------------------------------------------------------------------------------------------------


def segment_large(
    model: LoadedModel,
    image: str | os.PathLike | Any,
    output: str | os.PathLike,
    *,
    min_size: float | None = None,
    merge_distance: float | None = None,
    absorb_fragments: bool | None = None,
    tile_size: int | None = None,
    halo: int | None = None,
    channel_axis: int | None = None,
    max_merge_pixels: int = 2**25,
    progress: Callable[[int, int], None] | None = None,
    software: str | None = None,
    record: dict | None = None,
) -> LargeResult:
    """Segment a 2D image tile by tile and write the labels to a zarr array or a BigTIFF, atomically.

    Parameters
    ----------
    model : LoadedModel
        A coloring model.
    image : path or array-like
        A file for `open_image`, or an array-like ``(Y, X)`` / ``(Y, X, 3|4)`` with ``shape`` and slicing (numpy,
        memory map, zarr, dask).
    output : path
        ``*.zarr`` (a zarr array, chunks of 512²) or ``*.tif`` / ``*.tiff`` (BigTIFF, 512² tiles, zlib). Written under
        a temporary name and renamed, so an interrupted run leaves nothing under this name. An existing output is
        replaced.
    min_size, merge_distance : float, optional
        τ and ρ in pixels of the image; None takes the model's recommendation.
    absorb_fragments : bool, optional
        Fragments below τ join a touching neighbour (`postprocess.fragment_absorbers`); None: the model's choice.
    tile_size, halo : int, optional
        Input pixels of a tile and of the margin read around it; default 1024 and 64 network pixels (scaled by
        ``1 / config.scale``). Both are rounded up to `network_alignment`.
    channel_axis : int, optional
        Axis of the color channels when it is not the last one.
    max_merge_pixels : int
        See `TileStitcher.finish`.
    progress : callable(done, total), optional
        Called after each tile (the network's work), and once more when the labels are written.
    software : str, optional
        Written into the output's TIFF Software tag or zarr attribute ``software`` (`write_label_blocks`).
    record : dict, optional
        What made the output (`napari_deepcolor.io.predict_record`), stored with it (`write_label_blocks`).

    Returns
    -------
    LargeResult

    Raises
    ------
    ValueError
        A semi-convolutional model, a malformed image, an unknown output suffix or negative thresholds.
    """
    from napari_deepcolor.postprocess.stitch import TileStitcher

    output = Path(output)
    min_size, merge_distance, absorb_fragments = _large_knobs(model, output, min_size, merge_distance,
                                                              absorb_fragments)
    config = model.config
    source = open_image(image) if isinstance(image, (str, os.PathLike)) else image
    y_axis, x_axis, channel_axis = _axes(source, channel_axis)
    shape = (int(source.shape[y_axis]), int(source.shape[x_axis]))
    tile_size = round(DEFAULT_TILE / config.scale) if tile_size is None else tile_size
    halo = round(DEFAULT_HALO / config.scale) if halo is None else halo
    tiles = plan_tiles(shape, tile_size, halo, align=network_alignment(model))
    limits = _whole_image_limits(model, source, channel_axis)
    ensure_writable_dir(output.parent)
    _remove_stale_scratch(output)
    stitcher = TileStitcher(shape, adjacency=absorb_fragments)
    with tempfile.TemporaryDirectory(dir=output.parent, prefix=temporary_prefix(output),
                                     suffix=SCRATCH_SUFFIX) as scratch:
        store = _TileStore(Path(scratch), tiles)
        for done, tile in enumerate(tiles, start=1):
            window = _read(source, tile.read, y_axis, x_axis)
            origin = (tile.keep[0].start, tile.keep[1].start)
            store.write(origin, stitcher.add_tile(origin, _tile_components(model, window, tile, (y_axis, x_axis),
                                                                           channel_axis, limits)))
            if progress is not None:
                progress(done, len(tiles) + 1)
        stitched = stitcher.finish(min_size=min_size, merge_distance=merge_distance or None, read_ids=store.read,
                                   max_merge_pixels=max_merge_pixels, absorb_fragments=absorb_fragments)
        write_label_blocks(output, shape, stitched.n_instances,
                           lambda region: stitched.lut[store.read(region)], software=software, record=record)
    if progress is not None:
        progress(len(tiles) + 1, len(tiles) + 1)
    return LargeResult(output, stitched.n_instances, stitched.scores, stitched.colors, len(tiles),
                       stitched.skipped_pairs)


def _large_knobs(model: LoadedModel, output: Path, min_size: float | None, merge_distance: float | None,
                 absorb_fragments: bool | None) -> tuple[float, float, bool]:
    """τ, ρ and fragment joining for `segment_large` (None: the model's), after checking the model and output."""
    from napari_deepcolor.methods import get_method

    config = model.config
    if not get_method(config.method).out_of_core:
        raise ValueError(f"out-of-core segmentation needs a coloring model, but {model.source} is a {config.method} "
                         "model, whose decoding needs the whole image in memory (use segment)")
    if output.suffix.lower() not in LABEL_SUFFIXES:
        raise ValueError(f"unknown output format {output.name!r}; name it *.zarr or *.tif")
    min_size = config.min_size if min_size is None else min_size
    merge_distance = config.merge_distance if merge_distance is None else merge_distance
    absorb_fragments = config.absorb_fragments if absorb_fragments is None else absorb_fragments
    if not min_size >= 0 or not merge_distance >= 0:
        raise ValueError(f"expected min_size >= 0 and merge_distance >= 0 (pixels), got {min_size} and "
                         f"{merge_distance}")
    return min_size, merge_distance, absorb_fragments


def _whole_image_limits(model: LoadedModel, source: Any, channel_axis: int | None) -> tuple[float, float]:
    """The intensity limits every window is normalized with; for a mask-input model (not normalized) (0, 1), once
    the whole image is checked to be a mask (limits given tell `predict_probs` it was)."""
    config = model.config
    if not config.mask_input:
        return image_limits(source, percentiles=config.percentiles, in_channels=config.in_channels,
                            channel_axis=channel_axis, sparse=config.sparse_percentile)
    from napari_deepcolor.preprocess import MASK_MIN_BACKGROUND, not_a_mask

    # a mask (values >= 0) has its 1st percentile at 0 when at least 1 % of it is background
    low, _ = image_limits(source, percentiles=(100 * MASK_MIN_BACKGROUND, 100.0), in_channels=1,
                          channel_axis=channel_axis)
    if low != 0:
        raise not_a_mask(f"over {1 - MASK_MIN_BACKGROUND:.0%} of this image")
    return 0.0, 1.0


def _tile_components(model: LoadedModel, window: np.ndarray, tile: Tile, axes: tuple[int, int],
                     channel_axis: int | None, limits: tuple[float, float]) -> Any:
    """The `ColorComponents` of a tile's kept part, from the probabilities of its whole window (one network pass)."""
    from napari_deepcolor.postprocess.coloring import ColorComponents
    from napari_deepcolor.predict.network import predict_probs

    network_size = max(scaled_shape((window.shape[axes[0]], window.shape[axes[1]]), model.config.scale))
    probs = predict_probs(model, window, channel_axis=channel_axis, limits=limits, tile_size=network_size,
                          overlap=0)
    (y0, y1), (x0, x1) = ((keep.start - read.start, keep.stop - read.start) for keep, read in zip(tile.keep, tile.read))
    return ColorComponents.from_probs(probs[:, y0:y1, x0:x1])




def _remove_stale_scratch(output: Path) -> None:
    """Delete the temporary folders an earlier, killed run on the same output left behind (``.NAME.*.tiles``).

    Named with the writing process (`napari_deepcolor.io.temporary_prefix`): removed when that process is gone
    (`napari_deepcolor.io.is_stale_temporary`), so a run on the same output in another process is left alone.
    Named as earlier versions did (no process): removed when they hold only tiles (``.npy``)."""
    remove_stale_temporaries(output.parent, name=output.name, suffixes=(SCRATCH_SUFFIX,))
    for stale in output.parent.glob(f".{glob_escape(output.name)}.*{SCRATCH_SUFFIX}"):
        if TAGGED_TEMPORARY.match(stale.name):
            continue
        if stale.is_dir() and all(p.suffix == ".npy" for p in stale.iterdir()):
            shutil.rmtree(stale, ignore_errors=True)


# -- writing --------------------------------------------------------------------------------------------------------

#: Rows and columns of the output's zarr chunks and TIFF tiles.
BLOCK = 512


def write_label_blocks(path: str | os.PathLike, shape: tuple[int, ...], n_instances: int,
                       read: Callable[[tuple[slice, ...]], np.ndarray], *, software: str | None = None,
                       record: dict | None = None) -> Path:
    """Write a label image block by block (``read(region)`` gives each block) to ``*.zarr`` or a tiled BigTIFF;
    ``software`` goes into the TIFF's Software tag or the zarr attribute ``software``, ``record`` (what made it,
    `napari_deepcolor.io.predict_record`) into its ImageDescription or the zarr attribute ``predict_record``. A
    stack's labels ``(*leading, Y, X)`` go to zarr only, a plane's block per chunk.

    The dtype is uint16 when ``n_instances`` fits, else int32, as in `napari_deepcolor.io.write_labels`. Atomic: the
    file or folder appears under its name only when complete; an existing one is replaced.
    """
    path = Path(path)
    dtype = np.dtype(np.uint16 if n_instances < 2**16 else np.int32)
    leading, (height, width) = tuple(shape[:-2]), shape[-2:]
    blocks = [(*index, slice(y, min(y + BLOCK, height)), slice(x, min(x + BLOCK, width)))
              for index in np.ndindex(*leading) for y in range(0, height, BLOCK) for x in range(0, width, BLOCK)]
    if path.suffix.lower() == ".zarr":
        zarr = import_zarr(f"writing {path}")

        def write_zarr(tmp: Path) -> None:
            array = zarr.create_array(store=str(tmp), shape=shape, chunks=(*(1,) * len(leading), BLOCK, BLOCK),
                                      dtype=dtype, fill_value=0)
            if software is not None:
                array.attrs["software"] = software
            if record is not None:
                array.attrs[RECORD_ATTRIBUTE] = record_text(record)
            for region in blocks:
                array[region] = read(region).astype(dtype)

        return write_atomic(path, write_zarr, folder=True)
    if path.suffix.lower() not in (".tif", ".tiff"):
        raise ValueError(f"unknown label format {path.name!r}; name it *.zarr or *.tif")
    if leading:
        raise ValueError(f"a stack's labels {shape} are written block by block to zarr only; name it *.zarr")
    import tifffile

    def tiles():
        for region in blocks:
            block = np.zeros((BLOCK, BLOCK), dtype)
            data = read(region)
            block[: data.shape[0], : data.shape[1]] = data
            yield block

    return write_atomic(path, lambda tmp: tifffile.imwrite(
        tmp, tiles(), shape=shape, dtype=dtype, tile=(BLOCK, BLOCK), compression="zlib", bigtiff=True,
        photometric="minisblack", software=software, description=record_text(record)))
