"""Reading images, label images and per-object mask folders; writing label images atomically. No torch."""

from __future__ import annotations

import errno
import json
import logging
import os
import re
import shutil
import socket
import tempfile
import time
import zlib
from glob import escape as glob_escape
from pathlib import Path

import numpy as np

log = logging.getLogger("napari_deepcolor")

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

            image = np.asarray(tifffile.imread(path))
        else:
            import imageio.v3 as iio

            image = np.asarray(iio.imread(path))
    except Exception as error:  # noqa: BLE001 - any decoder failure means the same thing to the user
        raise ValueError(f"could not read {path} as an image ({error}); expected a TIFF, PNG or JPEG file") from error
    check_pixels(image, what=str(path))
    return image


def check_pixels(image: np.ndarray, *, what: str = "the image") -> None:
    """Refuse an array no segmentation can use: one without pixels, or of complex or non-numeric values.

    Raises
    ------
    ValueError
        Saying what was wrong and what to do (``what`` names the file or layer).
    """
    if image.size == 0:
        raise ValueError(f"{what} holds no pixels (shape {image.shape}): the file is empty or damaged; export it "
                         "again or leave it out")
    if np.iscomplexobj(image):
        raise ValueError(f"{what} holds complex values ({image.dtype}); napari-deepcolor segments real intensities: "
                         "save the magnitude (numpy.abs) or the real part as the image")
    if not (np.issubdtype(image.dtype, np.number) or image.dtype == bool):
        raise ValueError(f"{what} holds values of type {image.dtype}, not numbers; expected a gray or RGB image")


def read_labels(path: str | os.PathLike) -> np.ndarray:
    """Read a label image (0 = background, one integer id per instance) as ``int32 (Y, X)``.

    Ids beyond int32 (int64 or uint32 ids above 2**31 - 1, float ids) are renumbered 1..K in increasing order
    (`int32_labels`), never wrapped. Negative ids mean "ignore" in training (neither background nor an object; -1
    is where per-object masks overlap): a file with any is logged, naming it, and they all become -1 when the ids
    are renumbered.

    Raises
    ------
    ValueError
        An RGB image, non-integer values, or more objects than int32 can number.
    """
    labels = _palette_indices(Path(path))
    if labels is None:
        labels = read_image(path)
    if labels.ndim == 3 and labels.shape[-1] in (3, 4):
        labels = _color_coded(labels, path)
    if labels.dtype == bool:
        return labels.astype(np.int32)
    if not np.issubdtype(labels.dtype, np.integer):
        if not np.all(np.equal(np.mod(labels, 1), 0)):
            raise ValueError(f"{path} has non-integer values (or NaN); expected a label image with one integer id "
                             "per object")
    if np.issubdtype(labels.dtype, np.signedinteger) or np.issubdtype(labels.dtype, np.floating):
        low = labels.min()
        if low < 0:
            log.warning("%s has %d pixels with negative label ids (lowest %s): they mean 'ignore' in training (neither "
                        "background nor an object) and are refused by deepcolor evaluate; use 0 for background",
                        path, int(np.count_nonzero(labels < 0)), low)
    return int32_labels(labels, what=str(path))


#: `read_labels`: an RGB(A) label image with at most this many colors, black among them, is read as one object per
#: color (what annotation tools export); more colors: a photograph, refused.
MAX_LABEL_COLORS = 4096


def _palette_indices(path: Path) -> np.ndarray | None:
    """The palette indices of an indexed-color (palette) PNG or GIF, which are its label ids (imageio would give
    the palette's colors); None for any other file."""
    if path.suffix.lower() not in (".png", ".gif"):
        return None
    from PIL import Image

    try:
        with Image.open(path) as image:
            return np.asarray(image) if image.mode == "P" else None
    except OSError:
        return None  # read_image says what is wrong with it


def _color_coded(image: np.ndarray, path: str | os.PathLike) -> np.ndarray:
    """An RGB(A) label image with one color per object and black background, as ids 1..K in the order of the colors'
    values; `ValueError` for an image with more colors (a photograph) or no black."""
    colors, inverse = np.unique(image[..., :3].reshape(-1, 3), axis=0, return_inverse=True)
    black = np.flatnonzero((colors == 0).all(axis=1))
    if len(colors) > MAX_LABEL_COLORS or not len(black):
        why = f"{len(colors)} colors" if len(colors) > MAX_LABEL_COLORS else "no black background"
        raise ValueError(f"{path} is an RGB(A) image of shape {image.shape} ({why}); expected a label image with one "
                         "integer id per object, a color-coded one (one color per object on black), or a folder with "
                         "one mask per object")
    ids = np.arange(len(colors), dtype=np.int32)  # black sorts first: it is 0
    log.info("%s: read as color-coded labels: %d objects, one per color, black = background", path, len(colors) - 1)
    return ids[inverse.reshape(image.shape[:2])]


def int32_labels(labels: np.ndarray, *, what: str = "the labels") -> np.ndarray:
    """Labels as ``int32``, renumbered where the ids do not fit.

    Ids within int32 are kept. Otherwise the positive ids become 1..K in increasing order and every negative id
    becomes -1 (ignore); 0 stays background. A plain ``astype(np.int32)`` would wrap them instead: ids that are
    multiples of 2**32 all become 0 (background) and uint32 ids above 2**31 become negative.

    Raises
    ------
    ValueError
        More distinct positive ids than int32 can number.
    """
    labels = np.asarray(labels)
    info = np.iinfo(np.int32)
    if labels.size == 0 or (labels.min() >= info.min and labels.max() <= info.max):
        return labels.astype(np.int32)
    values, inverse = np.unique(labels, return_inverse=True)
    positive = values > 0
    if np.count_nonzero(positive) > info.max:
        raise ValueError(f"{what} has {np.count_nonzero(positive)} distinct ids, more than int32 can number")
    lut = np.where(positive, np.cumsum(positive), np.where(values < 0, -1, 0)).astype(np.int32)
    log.info("%s: label ids %s..%s do not fit in int32; renumbered 1..%d in increasing order", what, values[0],
             values[-1], int(np.count_nonzero(positive)))
    return lut[inverse.reshape(labels.shape)]


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
    if folder.is_file():
        raise FileNotFoundError(f"{folder} is a file: give the folder that holds the images ({folder.parent})")
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


def write_atomic(path: str | os.PathLike, write, *, folder: bool = False) -> Path:
    """Call ``write(tmp_path)`` on a temporary file (or, with ``folder``, a temporary folder such as a zarr store)
    next to ``path``, then rename it over ``path``: the package's one atomic writer.

    A crash or a full disk never leaves a half-written file or folder under the final name (an existing folder is
    removed just before the rename). The temporary is named ``.NAME.<process tag>.<random>.tmp``
    (`temporary_prefix`); the first write of a process into a folder removes the ones killed processes left there
    (`remove_stale_temporaries`; once per folder, so a batch of many files does not list its folder at every write).

    Raises
    ------
    WriteError
        The file system refused the write (full disk, quota, ...): the message names ``path``, says what to do and
        whether the previous file under that name is intact.
    """
    path = Path(path)
    directory = ensure_writable_dir(path.parent)
    remove_stale_temporaries_once(directory)
    if folder:
        return _write_atomic_folder(path, write, directory)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=temporary_prefix(path), suffix=TEMP_SUFFIX)
    os.close(fd)
    try:
        write(tmp)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp (or the writer) made it private: give it a new file's permissions
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException as error:
        if os.path.exists(tmp):
            os.unlink(tmp)
        failure = write_error(path, error)
        if failure is not None:
            raise failure from error
        raise
    return path


def _write_atomic_folder(path: Path, write, directory: Path) -> Path:
    tmp = Path(tempfile.mkdtemp(dir=directory, prefix=temporary_prefix(path), suffix=TEMP_SUFFIX))
    try:
        write(tmp)
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()
        os.replace(tmp, path)
    except BaseException as error:
        shutil.rmtree(tmp, ignore_errors=True)
        failure = write_error(path, error)
        if failure is not None:
            raise failure from error
        raise
    return path


class WriteError(OSError):
    """Writing a file failed in the file system (full disk, quota, file size limit); the message says what to do."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


#: errno values that mean the disk (or the user's share of it) is full.
_NO_SPACE = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}
_OS_ERROR = re.compile(r"os error (\d+)")


def write_error(path: str | os.PathLike, error: BaseException) -> WriteError | None:
    """The `WriteError` to raise for ``error`` met while writing ``path`` (an `OSError`, or a library's error that
    wraps one, like safetensors' "I/O error: No space left on device (os error 28)"); None for other errors."""
    if isinstance(error, WriteError):
        return None
    if isinstance(error, OSError):
        code = error.errno
        reason = error.strerror or str(error)
    else:
        match = _OS_ERROR.search(str(error))
        if match is None:
            return None
        code = int(match[1])
        reason = os.strerror(code)
    path = Path(path)
    kept = (f"the previous {path} is intact" if path.exists() else f"nothing was written under the name {path.name}")
    if code in _NO_SPACE:
        failure = WriteError(f"no space left on device writing {path} ({reason}): free space on that disk or choose "
                             f"another --output folder; {kept}")
    else:
        failure = WriteError(f"could not write {path} ({reason}); {kept}")
    failure.errno = code
    return failure


#: Suffix of the temporary files and folders `write_atomic` and its kin write next to their target.
TEMP_SUFFIX = ".tmp"
#: Suffix of the temporary folders of provisional ids next to an out-of-core output (`predict.large`).
SCRATCH_SUFFIX = ".tiles"
#: Temporary files older than this (seconds) whose process cannot be checked are taken as left by a killed run.
STALE_AFTER = 3600.0
#: Names of `temporary_prefix`: ``.NAME.p<pid>h<host hash>.<random><suffix>``.
TAGGED_TEMPORARY = re.compile(r"^\.(?P<name>.+)\.p(?P<pid>\d+)h(?P<host>[0-9a-f]{8})\.[A-Za-z0-9_]+"
                              r"(?P<suffix>\.[a-z]+)$")
#: Names of earlier versions (no process tag), for the files they wrote: ``.NAME.<8 random>.tmp``.
_UNTAGGED = re.compile(r"^\.(?P<name>.+\.(?:tif|tiff|zarr|safetensors))\.[a-z0-9_]{8}(?P<suffix>\.[a-z]+)$")


def _host_tag() -> str:
    return f"{zlib.crc32(socket.gethostname().encode()):08x}"


def temporary_prefix(path: str | os.PathLike) -> str:
    """``.NAME.p<pid>h<host hash>.``: the start of a temporary name for ``path``; the process that writes it can be
    told to be gone (`remove_stale_temporaries`)."""
    return f".{Path(path).name}.p{os.getpid()}h{_host_tag()}."


def is_stale_temporary(path: str | os.PathLike, *, suffixes: tuple[str, ...] = (TEMP_SUFFIX,),
                       max_age: float = STALE_AFTER, now: float | None = None) -> bool:
    """Whether ``path`` is a temporary file or folder of ours whose writer is gone.

    Ours: named ``.NAME.p<pid>h<host>.<random><suffix>`` (`temporary_prefix`) or, from earlier versions,
    ``.NAME.<8 random>.tmp``. Gone: written on this machine by a process that no longer runs, or last modified
    more than ``max_age`` seconds ago when that cannot be checked (another machine on a shared disk, an untagged
    name).
    """
    path = Path(path)
    tagged = TAGGED_TEMPORARY.match(path.name)
    match = tagged or _UNTAGGED.match(path.name)
    if match is None or match["suffix"] not in suffixes:
        return False
    if tagged and tagged["host"] == _host_tag():
        pid = int(tagged["pid"])
        if pid == os.getpid():
            return False
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:  # another user's process
            return False
        except OSError:
            pass
        else:
            return False
    try:
        age = (time.time() if now is None else now) - path.lstat().st_mtime
    except OSError:
        return False
    return age > max_age


_cleaned: set[tuple[int, str]] = set()


def remove_stale_temporaries_once(directory: str | os.PathLike) -> None:
    """`remove_stale_temporaries` of ``directory`` (files and out-of-core tile folders), the first time this process
    writes there."""
    key = (os.getpid(), str(Path(directory).resolve()))
    if key not in _cleaned:
        _cleaned.add(key)
        remove_stale_temporaries(directory, suffixes=(TEMP_SUFFIX, SCRATCH_SUFFIX))


def remove_stale_temporaries(directory: str | os.PathLike, *, name: str | None = None,
                             suffixes: tuple[str, ...] = (TEMP_SUFFIX,), max_age: float = STALE_AFTER) -> list[Path]:
    """Delete the temporary files and folders (`is_stale_temporary`) that killed runs left in ``directory`` (only
    those of target ``name`` when given); returns what was removed. Nothing else is touched."""
    directory = Path(directory)
    pattern = f".{glob_escape(name)}.*" if name is not None else ".*"
    removed = []
    try:
        candidates = list(directory.glob(pattern))
    except OSError:
        return removed
    for candidate in candidates:
        if not is_stale_temporary(candidate, suffixes=suffixes, max_age=max_age):
            continue
        try:
            if candidate.is_dir() and not candidate.is_symlink():
                shutil.rmtree(candidate)
            else:
                candidate.unlink()
        except OSError:
            continue
        removed.append(candidate)
    if removed:
        log.info("removed %d temporary file(s) left in %s by an interrupted run (%s%s)", len(removed), directory,
                 removed[0].name, ", ..." if len(removed) > 1 else "")
    return removed


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


def predict_record(path: str | os.PathLike) -> dict | None:
    """What made the output ``path`` of ``deepcolor predict``: the record (model, its checksum, decoding knobs)
    stored in the TIFF's ImageDescription or the zarr attribute ``predict_record`` (`write_labels`); None for a
    file without one (not ours, or written before records were kept)."""
    path = Path(path)
    try:
        if path.suffix.lower() == ".zarr":
            import zarr

            text = zarr.open(str(path), mode="r").attrs.get(RECORD_ATTRIBUTE)
        else:
            import tifffile

            with tifffile.TiffFile(path) as tif:
                text = tif.pages[0].description
        record = json.loads(text) if isinstance(text, str) else None
    except Exception:  # noqa: BLE001 - unreadable, foreign or missing: no record
        return None
    return record if isinstance(record, dict) and record.get("software") == PREDICT_SOFTWARE else None


#: The zarr attribute holding an output's `predict_record`.
RECORD_ATTRIBUTE = "predict_record"


def record_text(record: dict | None) -> str | None:
    """A record as the ASCII JSON a TIFF ImageDescription holds (None stays None)."""
    return None if record is None else json.dumps(record, sort_keys=True, ensure_ascii=True)


def write_labels(path: str | os.PathLike, labels: np.ndarray, *, software: str | None = None,
                 record: dict | None = None) -> Path:
    """Write a label image as a zlib-compressed TIFF (uint16 when the ids fit, else int32), atomically; ``software``
    goes into the TIFF's Software tag, ``record`` (what made it, `predict_record`) into its ImageDescription."""
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
                                                         software=software, description=record_text(record)))


def write_array(path: str | os.PathLike, array: np.ndarray, *, software: str | None = None) -> Path:
    """Write a float array (e.g. probabilities ``(C, Y, X)``) as a compressed TIFF, atomically."""
    import tifffile

    return write_atomic(path, lambda tmp: tifffile.imwrite(tmp, np.asarray(array), compression="zlib",
                                                         photometric="minisblack", software=software))
