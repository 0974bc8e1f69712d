"""Reading images, label images and per-object mask folders; writing label images atomically. No torch."""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

import numpy as np

IMAGE_SUFFIXES = (".tif", ".tiff", ".png", ".jpg", ".jpeg", ".bmp")
_MASK_NAME = re.compile(r"^(?P<stem>.+?)_(?P<index>\d+)$")


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Read an image file (TIFF through tifffile, other formats through imageio) as an array."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such image file: {path}")
    try:
        if path.suffix.lower() in (".tif", ".tiff"):
            import tifffile

            return np.asarray(tifffile.imread(path))
        import imageio.v3 as iio

        return np.asarray(iio.imread(path))
    except Exception as error:  # noqa: BLE001 - any decoder failure means the same thing to the user
        raise ValueError(f"could not read {path} as an image ({error}); expected a TIFF, PNG or JPEG file") from error


def read_labels(path: str | os.PathLike) -> np.ndarray:
    """Read a label image (0 = background, one integer id per instance) as ``int32 (Y, X)``."""
    labels = read_image(path)
    if labels.ndim == 3 and labels.shape[-1] in (3, 4):
        raise ValueError(f"{path} is an RGB(A) image of shape {labels.shape}; expected a label image with one "
                         "integer id per object (or use a folder with one mask per object)")
    if not np.issubdtype(labels.dtype, np.integer):
        if not np.all(np.equal(np.mod(labels, 1), 0)):
            raise ValueError(f"{path} has non-integer values; expected a label image")
    return labels.astype(np.int32)


def read_mask_stack(paths: list[Path]) -> np.ndarray:
    """Read one binary mask per object (any non-zero pixel is inside) as ``bool (K, Y, X)``."""
    masks = []
    for path in paths:
        mask = read_image(path)
        if mask.ndim == 3:
            mask = mask[..., 0] if mask.shape[-1] in (3, 4) else mask
        masks.append(mask > 0)
    shapes = {m.shape for m in masks}
    if len(shapes) > 1:
        raise ValueError(f"masks have different shapes {sorted(shapes)}: {paths[0].parent}")
    return np.stack(masks) if masks else np.zeros((0, 0, 0), dtype=bool)


def masks_to_labels(masks: np.ndarray, *, overlap: int = -1) -> np.ndarray:
    """Combine possibly overlapping masks ``(K, Y, X)`` into a label image ``int32 (Y, X)``.

    Pixels inside exactly one mask get its id (1-based, in stack order), pixels in several get ``overlap``
    (-1 = ignore in training).
    """
    count = masks.sum(axis=0)
    ids = np.argmax(masks, axis=0).astype(np.int32) + 1
    labels = np.where(count == 1, ids, 0).astype(np.int32)
    labels[count > 1] = overlap
    return labels


def list_images(folder: str | os.PathLike) -> list[Path]:
    """Image files in a folder, sorted by name."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"no such folder: {folder}")
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)


def find_pairs(image_dir: str | os.PathLike, label_dir: str | os.PathLike) -> list[tuple[Path, list[Path]]]:
    """Match images to their annotations by file stem (`annotation_for`).

    An image ``<stem>.<ext>`` matches a label image named ``<stem>_labels.<ext>``, ``<stem>_masks.<ext>`` or
    ``<stem>.<ext>``, or one mask per object ``<stem>_<NN>.<ext>`` (the BBBC010 layout). Images and labels may share
    a folder: a file that is another image's annotation is not an image.

    Returns
    -------
    list of (image path, list of annotation paths)
        One label image, or the per-object masks in index order.
    """
    labels = list_images(label_dir)
    pairs = [(image, annotation) for image in list_images(image_dir)
             if (annotation := annotation_for(image.stem, labels, exclude=image)) is not None]
    used = {path for _, annotation in pairs for path in annotation}
    pairs = [(image, annotation) for image, annotation in pairs if image not in used]
    if not pairs:
        raise ValueError(f"no image in {image_dir} has labels in {label_dir}: name label images like the image "
                         "(<stem>_labels.tif or <stem>.tif) or masks <stem>_01.png, <stem>_02.png, ...")
    return pairs


def annotation_for(stem: str, files: list[Path], *, exclude: Path | None = None) -> list[Path] | None:
    """The annotation of image ``<stem>`` among ``files`` (except ``exclude``, the image itself): ``<stem>_labels``,
    ``<stem>_masks`` or ``<stem>``, in that order, so a folder holding both an image and its ``_labels`` file gives
    the labels; else the per-object masks ``<stem>_<NN>`` in index order. None if there is none.

    (A bare ``<stem>`` wins over ``<stem>_<NN>``: in a labels folder, ``scan_2`` may be the labels of the next image
    of a numbered series rather than a mask of ``scan``; `ambiguous_annotation` tells when both are there.)"""
    files = [p for p in files if p != exclude]
    by_stem = {p.stem: p for p in files}
    for name in (f"{stem}_labels", f"{stem}_masks", stem):
        if name in by_stem:
            return [by_stem[name]]
    return _masks_of(stem, files) or None


def _masks_of(stem: str, files: list[Path]) -> list[Path]:
    """The per-object masks ``<stem>_<NN>`` among ``files``, in index order."""
    masks = [(int(m["index"]), p) for p in files if (m := _MASK_NAME.match(p.stem)) and m["stem"] == stem]
    return [p for _, p in sorted(masks)]


def ambiguous_annotation(stem: str, files: list[Path]) -> bool:
    """Both ``<stem>`` and ``<stem>_<NN>`` files are among ``files``: `annotation_for` takes ``<stem>``, which may
    be the image itself next to its per-object masks."""
    return any(p.stem == stem for p in files) and bool(_masks_of(stem, files))


def read_annotation(paths: list[Path]) -> np.ndarray:
    """Labels ``int32 (Y, X)`` from one label image or from per-object masks (overlaps become -1)."""
    if len(paths) == 1 and not _MASK_NAME.match(paths[0].stem):
        return read_labels(paths[0])
    if len(paths) == 1:
        single = read_image(paths[0])
        if single.dtype != bool and len(np.unique(single)) > 2:
            return read_labels(paths[0])
    return masks_to_labels(read_mask_stack(paths))


def ensure_writable_dir(directory: str | os.PathLike) -> Path:
    """Create ``directory`` if needed; `PermissionError` saying what to do if it cannot be written."""
    directory = Path(directory)
    if directory.exists() and not directory.is_dir():
        raise PermissionError(f"{directory} is a file, not a folder: the output goes into a folder; choose a folder "
                              "name")
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise PermissionError(f"cannot create output directory {directory} ({error.strerror}); choose a "
                              "writable location") from error
    if not os.access(directory, os.W_OK):
        raise PermissionError(f"output directory {directory} is not writable; choose a writable location")
    return directory


def write_atomic(path: str | os.PathLike, write) -> Path:
    """Call ``write(tmp_path)`` on a temporary file next to ``path``, then rename it over ``path``.

    A crash or a full disk never leaves a half-written file under the final name.
    """
    path = Path(path)
    directory = ensure_writable_dir(path.parent)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp (or the writer) made it private: give it a new file's permissions
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


#: The TIFF Software tag (zarr attribute ``software``) of what ``deepcolor predict`` writes: a rerun recognises its
#: own outputs by it, and never takes a user's file of the same name for one (`written_by_predict`).
PREDICT_SOFTWARE = "napari-deepcolor predict"


def written_by_predict(path: str | os.PathLike) -> bool:
    """Whether ``path`` (a TIFF or a zarr folder) was written by ``deepcolor predict`` (`PREDICT_SOFTWARE`)."""
    path = Path(path)
    try:
        if path.suffix.lower() == ".zarr":
            import zarr

            return zarr.open(str(path), mode="r").attrs.get("software") == PREDICT_SOFTWARE
        import tifffile

        with tifffile.TiffFile(path) as tif:
            return tif.pages[0].software == PREDICT_SOFTWARE
    except Exception:  # noqa: BLE001 - unreadable, foreign or missing: not ours
        return False


def write_labels(path: str | os.PathLike, labels: np.ndarray, *, software: str | None = None) -> Path:
    """Write a label image as a zlib-compressed TIFF (uint16 when the ids fit, else int32), atomically; ``software``
    goes into the TIFF's Software tag."""
    import tifffile

    labels = np.asarray(labels)
    if not (np.issubdtype(labels.dtype, np.integer) or labels.dtype == bool):
        raise ValueError(f"expected integer labels, got dtype {labels.dtype}; a label image holds one integer id "
                         "per object")
    low, high = labels.min(initial=0), labels.max(initial=0)
    if low < np.iinfo(np.int32).min or high > np.iinfo(np.int32).max:
        raise ValueError(f"label ids {low}..{high} do not fit in int32; renumber them (e.g. "
                         "skimage.segmentation.relabel_sequential) before saving")
    dtype = np.uint16 if low >= 0 and high < 2**16 else np.int32
    return write_atomic(path, lambda tmp: tifffile.imwrite(tmp, labels.astype(dtype), compression="zlib",
                                                         software=software))


def write_array(path: str | os.PathLike, array: np.ndarray, *, software: str | None = None) -> Path:
    """Write a float array (e.g. probabilities ``(C, Y, X)``) as a compressed TIFF, atomically."""
    import tifffile

    return write_atomic(path, lambda tmp: tifffile.imwrite(tmp, np.asarray(array), compression="zlib",
                                                         photometric="minisblack", software=software))
