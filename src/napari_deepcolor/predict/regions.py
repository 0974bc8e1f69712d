"""Image files read region by region: an uncompressed TIFF row range by row range (`RawTiff`), other TIFFs and
zarr arrays chunk by chunk (`open_image`), so that `napari_deepcolor.predict.large` never holds a whole image."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np


class RawTiff:
    """An uncompressed, contiguous TIFF read region by region with ``os.pread`` (the layout `tifffile.memmap` maps).

    Reading rows from the file rather than through a memory map keeps the process's resident memory to what it
    copies, which makes a memory measurement honest.
    """

    def __init__(self, path: str | os.PathLike, offset: int, shape: tuple[int, ...], dtype: np.dtype) -> None:
        self.path = Path(path)
        self.offset = offset
        self.shape = tuple(shape)
        self.dtype = np.dtype(dtype)
        self.ndim = len(self.shape)
        self._row_items = int(np.prod(self.shape[1:]))

    def __getitem__(self, key: tuple[slice | int, ...] | slice | int) -> np.ndarray:
        key = key if isinstance(key, tuple) else (key,)
        rows = key[0]
        if isinstance(rows, (int, np.integer)):  # one plane of a stack (or one row): that range, its axis dropped
            index = int(rows) + (self.shape[0] if rows < 0 else 0)
            if not 0 <= index < self.shape[0]:
                raise IndexError(f"index {rows} is out of bounds for axis 0 with size {self.shape[0]}")
            return self[(slice(index, index + 1), *key[1:])][0]
        start, stop, step = rows.indices(self.shape[0])
        if step != 1:
            raise IndexError("RawTiff reads contiguous row ranges only")
        count = max(0, stop - start) * self._row_items
        with open(self.path, "rb") as handle:
            handle.seek(self.offset + start * self._row_items * self.dtype.itemsize)
            data = np.fromfile(handle, dtype=self.dtype, count=count)
        if data.size != count:
            raise ValueError(f"{self.path} is shorter than its TIFF header says; the file may be truncated")
        return data.reshape(max(0, stop - start), *self.shape[1:])[(slice(None), *key[1:])]


def open_image(path: str | os.PathLike) -> Any:
    """An image file as an array-like read on demand: ``shape``, ``dtype``, ``ndim`` and slicing.

    - ``*.zarr``: the zarr array (in a group: level 0 of an OME-Zarr multiscale image, or the group's only array);
    - TIFF, uncompressed and contiguous: a `RawTiff`;
    - other TIFFs: a zarr view of the file's strips or tiles (``tifffile.imread(aszarr=True)``); only the chunks a
      region touches are decoded, so memory stays bounded when the file is tiled or striped (a compressed TIFF
      stored as one strip is decoded whole for every region);
    - anything else (PNG, JPEG): read whole with `napari_deepcolor.io.read_image`.

    Leading axes of length 1 (OME-Zarr's T, C, Z) are dropped.

    Raises
    ------
    FileNotFoundError, ValueError
        Missing file, or one that is not an image.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no such image: {path}")
    if path.suffix.lower() == ".zarr":
        return _squeeze_leading(_open_zarr(path))
    if path.suffix.lower() in (".tif", ".tiff"):
        import tifffile

        try:
            with tifffile.TiffFile(path) as tif:
                series = tif.series[0]
                offset, shape, dtype = series.dataoffset, series.shape, series.dtype
        except Exception as error:  # noqa: BLE001 - any parser failure means the same thing to the user
            raise ValueError(f"could not read {path} as a TIFF ({error})") from error
        if offset is not None:
            while len(shape) > 2 and shape[0] == 1:
                shape = shape[1:]
            return RawTiff(path, offset, shape, dtype)
        zarr = import_zarr(f"reading the compressed TIFF {path} region by region")
        return _squeeze_leading(zarr.open(tifffile.imread(path, aszarr=True), mode="r"))
    from napari_deepcolor.io import read_image

    return read_image(path)


#: `select_channel`: the channel axis is the one at either end of a 3-axis image with at most this many entries
MAX_CHANNELS = 8


def channel_axis_of(shape: tuple[int, ...]) -> int:
    """The channel axis (0 or 2) of an image of ``shape`` with channels: `ValueError` saying why when there is none
    or it cannot be told."""
    shape = tuple(int(s) for s in shape)
    if len(shape) != 3:
        raise ValueError(f"--channel picks one channel of a (C, Y, X) or (Y, X, C) image; this one has shape {shape}"
                         + (": a gray image has no channels to pick" if len(shape) == 2 else ""))
    first, last = shape[0] <= MAX_CHANNELS, shape[-1] <= MAX_CHANNELS
    if first == last:
        raise ValueError(f"cannot tell which axis of shape {shape} holds the channels (it is the one at either end "
                         f"with at most {MAX_CHANNELS} entries)")
    return 0 if first else 2


def select_channel(source: Any, channel: int) -> Any:
    """Channel ``channel`` (from 0) of an image with channels first or last (`channel_axis_of`), as a gray
    ``(Y, X)`` array or array-like read region by region (never the other channels, never the whole image)."""
    shape = tuple(int(s) for s in source.shape)
    axis = channel_axis_of(shape)
    if not 0 <= channel < shape[axis]:
        raise ValueError(f"--channel {channel} is out of range: the image has {shape[axis]} channels, numbered from 0 "
                         f"(shape {shape})")
    if isinstance(source, np.ndarray):
        return source[channel] if axis == 0 else source[..., channel]
    if isinstance(source, RawTiff) and axis == 0:  # one plane of the file: rows of its own
        plane_bytes = shape[1] * shape[2] * source.dtype.itemsize
        return RawTiff(source.path, source.offset + channel * plane_bytes, shape[1:], source.dtype)
    return ChannelView(source, axis, channel)


class ChannelView:
    """One channel of an image read region by region (a zarr array, a TIFF with channels last): ``(Y, X)``."""

    def __init__(self, source: Any, axis: int, channel: int) -> None:
        self.source, self.axis, self.channel = source, axis, channel
        self.shape = tuple(int(s) for i, s in enumerate(source.shape) if i != axis)
        self.dtype = np.dtype(source.dtype)
        self.ndim = 2

    def __getitem__(self, key: Any) -> np.ndarray:
        key = key if isinstance(key, tuple) else (key,)
        key = (*key, *(slice(None),) * (2 - len(key)))
        return np.asarray(self.source[(self.channel, *key) if self.axis == 0 else (*key, self.channel)])


def plane_of(shape: tuple[int, ...], channel: int | None = None) -> tuple[tuple[int, int], bool]:
    """The plane ``(Y, X)`` segmented of an image of ``shape`` (``channel``'s, if given), and whether the image is a
    stack of such planes (as `napari_deepcolor.predict.in_memory` reads it: leading axes, the plane, RGB channels
    if any). Leading axes of length 1 are dropped; ``(Y, X, C)`` with at most `MAX_CHANNELS` is one plane."""
    shape = tuple(int(s) for s in shape)
    if channel is not None:
        try:
            axis = channel_axis_of(shape)
            shape = tuple(s for i, s in enumerate(shape) if i != axis)
        except ValueError:
            pass  # the job says why
    while len(shape) > 2 and shape[0] == 1:
        shape = shape[1:]
    spatial = shape[:-1] if len(shape) >= 3 and shape[-1] in (3, 4) else shape
    if len(spatial) < 2:
        return (1, spatial[0] if spatial else 0), False
    if len(spatial) == 3 and spatial[-1] <= MAX_CHANNELS:  # (Y, X, C) channels last
        return (spatial[0], spatial[1]), False
    return (spatial[-2], spatial[-1]), len(spatial) > 2


def image_shape(path: str | os.PathLike) -> tuple[int, ...]:
    """Shape of an image file from its header when it has one (TIFF, zarr), else by reading it."""
    return tuple(open_image(path).shape)


def _open_zarr(path: Path) -> Any:
    zarr = import_zarr(f"reading {path}")
    try:
        node = zarr.open(str(path), mode="r")
    except Exception as error:  # noqa: BLE001
        raise ValueError(f"could not open {path} as a zarr array ({error})") from error
    if hasattr(node, "shape"):
        return node
    multiscales = node.attrs.get("multiscales") or node.attrs.get("ome", {}).get("multiscales")
    if multiscales:
        return node[multiscales[0]["datasets"][0]["path"]]
    arrays = list(node.array_keys())
    if len(arrays) == 1:
        return node[arrays[0]]
    raise ValueError(f"{path} is a zarr group with {len(arrays)} arrays and no OME-Zarr multiscales; give the path "
                     "of the array to segment")


def import_zarr(why: str) -> Any:
    """The zarr package, or a RuntimeError saying ``why`` it is needed and how to install it."""
    try:
        import zarr
    except ImportError as error:
        raise RuntimeError(f"{why} needs the zarr package (version 3, Python >= 3.11): pip install zarr") from error
    return zarr


class _Squeezed:
    """An array-like without its leading length-1 axes."""

    def __init__(self, array: Any, lead: int) -> None:
        self._array, self._lead = array, lead
        self.shape = tuple(array.shape[lead:])
        self.dtype = array.dtype
        self.ndim = len(self.shape)

    def __getitem__(self, key: tuple[slice, ...]) -> np.ndarray:
        return np.asarray(self._array[(0,) * self._lead + (key if isinstance(key, tuple) else (key,))])


def _squeeze_leading(array: Any) -> Any:
    lead = 0
    while len(array.shape) - lead > 2 and array.shape[lead] == 1:
        lead += 1
    return _Squeezed(array, lead) if lead else array
