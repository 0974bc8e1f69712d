"""Batch segmentation: files, folders and glob patterns → one label file per image; resumable; optionally on dask.

`find_images` expands the inputs, `plan_jobs` names each image's outputs and decides whether it is segmented in
memory or out of core (`predict.large`), `run_jobs` runs the jobs that are not finished yet, here one after
the other or as dask.distributed tasks (a local cluster, or a scheduler's address). A job is finished when all its
outputs exist and were made with the same model and knobs: every output is written under a temporary name and
renamed, so a file under its final name is complete, and carries a record of what made it (`provenance`, in the
TIFF's ImageDescription or the zarr attributes); a rerun skips the finished images and redoes those made with
another model or other knobs. A failure of one image (unreadable, empty, a bug met on it) is that image's failure:
the others go on (`run_jobs`).

The work of one job, `predict_job`, is a plain function of picklable arguments: it loads the model once per process
(cached) and writes its outputs itself, so a dask worker returns only a small `JobResult`. With a remote cluster the
model and every path must be visible to the workers under the same names (a shared file system).
"""

from __future__ import annotations

import ctypes
import glob
import hashlib
import json
import logging
import os
import re
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from napari_deepcolor.io import IMAGE_SUFFIXES
from napari_deepcolor.methods import get_method

if TYPE_CHECKING:
    from napari_deepcolor.predict.network import LoadedModel

log = logging.getLogger("napari_deepcolor")

#: Folder suffix of zarr images, found in folders like image files.
ZARR_SUFFIX = ".zarr"
OUTPUT_FORMATS = ("tif", "zarr")


@dataclass(frozen=True)
class Settings:
    """What every job of a batch shares (picklable, sent to dask workers).

    Attributes
    ----------
    model : str
        Bundled model name or checkpoint path.
    device, precision, channels_last, compile
        See `napari_deepcolor.predict.network.load_model`.
    object_size : float or None
        How large the objects are against the model's training objects; None (the default): estimated once per
        image (`napari_deepcolor.predict.object_size`).
    min_size, merge_distance, absorb_fragments, threshold, foreground_threshold : float, bool or None
        Decoding knobs (None: the model's recommendation); see `napari_deepcolor.inference.segment`.
    save_probs : bool
        Also write the network output (in-memory jobs only).
    output_format : {"tif", "zarr"}
        ``<stem>_labels.tif`` or ``<stem>_labels.zarr``.
    out_of_core_pixels : int
        TIFF images with more pixels, and every zarr image, are segmented out of core (0: every TIFF too).
    tile_size, halo : int or None
        Out-of-core tiling in input pixels (None: the defaults of `segment_large`).
    torch_threads : int or None
        Threads torch may use in each process (None: torch's default).
    channel : int or None
        Segment this channel (from 0) of images with channels first or last, as a gray image
        (`napari_deepcolor.predict.regions.select_channel`); None: the image as it is.
    """

    model: str
    device: str = "auto"
    precision: str = "float32"
    channels_last: bool = False
    compile: bool = False
    object_size: float | None = None
    min_size: float | None = None
    merge_distance: float | None = None
    absorb_fragments: bool | None = None
    threshold: float | None = None
    foreground_threshold: float | None = None
    save_probs: bool = False
    output_format: str = "tif"
    out_of_core_pixels: int = 32_000_000
    tile_size: int | None = None
    halo: int | None = None
    torch_threads: int | None = None
    channel: int | None = None


@dataclass(frozen=True)
class Job:
    """One image and the files it produces.

    ``record`` (JSON text, `provenance`) is stored with the labels; empty: none is stored or compared.
    """

    image: Path
    labels: Path
    extras: tuple[Path, ...] = ()
    out_of_core: bool = False
    record: str = ""

    @property
    def outputs(self) -> tuple[Path, ...]:
        return (self.labels, *self.extras)

    def finished(self) -> bool:
        """All outputs exist (each was renamed into place only when complete) and, with a ``record``, the labels
        were made with the same model and knobs (`stale` is empty)."""
        return all(path.exists() for path in self.outputs) and not self.stale()

    def stale(self) -> str:
        """Why existing labels cannot be taken as this job's result ("" when they can, or there are none): what
        differs between the record stored with them and this job's."""
        if not self.record or not self.labels.exists():
            return ""
        from napari_deepcolor.io import predict_record

        found, wanted = predict_record(self.labels), json.loads(self.record)
        if found is None:
            return "no record of the model and knobs that made them (an earlier version)"
        if found == wanted:
            return ""
        found_knobs, wanted_knobs = found.get("knobs") or {}, wanted.get("knobs") or {}
        changes = [f"model {found.get('model')} -> {wanted.get('model')}"
                   if found.get("model") != wanted.get("model") else
                   "model file changed" if found.get("model_sha256") != wanted.get("model_sha256") else ""]
        changes += [f"{key} {found_knobs.get(key)} -> {wanted_knobs.get(key)}"
                    for key in sorted(set(found_knobs) | set(wanted_knobs))
                    if found_knobs.get(key) != wanted_knobs.get(key)]
        return ", ".join(c for c in changes if c) or "made by another version"


@dataclass(frozen=True)
class JobResult:
    """What a job reports back."""

    image: Path
    n_instances: int
    seconds: float
    out_of_core: bool
    object_size: float = 1.0
    object_size_note: str = ""


# -- inputs ---------------------------------------------------------------------------------------------------------


#: ``<stem>_labels``, ``_masks``, ``_probs``, ...: what predict writes and how annotations are named, next to image
#: ``<stem>``. (Not ``<stem>_<NN>``: per-object masks are named so, but so is a numbered series of images.)
_DERIVED_NAME = re.compile(r"^(?P<stem>.+)_(?:labels|masks|probs|embeddings|foreground|seeds)$")


def find_images(specs: Sequence[str | os.PathLike]) -> list[Path]:
    """Image files and zarr folders named by ``specs``: files, folders (their images, not recursive) and glob patterns
    (``*``, ``?``, ``[...]``; ``**`` recurses). Order: as given, each folder or pattern sorted; duplicates dropped.

    A folder or pattern does not give the files derived from one of the images found (``<stem>_labels``,
    ``<stem>_masks``, ``<stem>_probs``, ... next to ``<stem>``: annotations, or outputs of an earlier run), so a
    rerun never segments its own outputs nor a user's labels; they are logged. Files named one by one are all kept.

    Raises
    ------
    FileNotFoundError
        A path that does not exist, or a folder or pattern without images.
    """
    found: list[Path] = []
    listed: set[Path] = set()
    named: set[Path] = set()
    for spec in specs:
        path = Path(spec)
        if _is_image(path):
            found.append(path)
            named.add(path)
        elif path.is_dir():
            images = sorted(p for p in path.iterdir() if _is_image(p))
            if not images:
                raise FileNotFoundError(f"no images ({', '.join(IMAGE_SUFFIXES)} files or {ZARR_SUFFIX} folders) in "
                                        f"{path}")
            found.extend(images)
            listed.update(images)
        elif path.exists():
            raise FileNotFoundError(f"{path} is not an image ({', '.join(IMAGE_SUFFIXES)} or {ZARR_SUFFIX})")
        elif any(char in str(spec) for char in "*?["):
            images = sorted(Path(p) for p in glob.glob(str(spec), recursive=True) if _is_image(Path(p)))
            if not images:
                raise FileNotFoundError(f"the pattern {str(spec)!r} matches no images")
            found.extend(images)
            listed.update(images)
        else:
            raise FileNotFoundError(f"no such image file, folder or pattern: {path}")
    found = list(dict.fromkeys(found))
    stems = {p.stem for p in found}
    derived = [p for p in found if p in listed and p not in named and (m := _DERIVED_NAME.match(p.stem))
               and m["stem"] in stems]
    if derived:
        log.info("not segmenting %d file(s) named after another image (annotations or earlier outputs: %s%s); name "
                 "them one by one to segment them", len(derived), ", ".join(p.name for p in derived[:3]),
                 ", ..." if len(derived) > 3 else "")
    found = [p for p in found if p not in derived]
    if not found:
        raise FileNotFoundError("every image found is another image's annotation or output (<stem>_labels, ...); "
                                "name the images to segment")
    return found


def _is_image(path: Path) -> bool:
    suffix = path.suffix.lower()
    return (suffix in IMAGE_SUFFIXES and path.is_file()) or (suffix == ZARR_SUFFIX and path.is_dir())


#: The knobs of `Settings` that change the labels, recorded with each output (`provenance`).
RECORDED_KNOBS = ("object_size", "min_size", "merge_distance", "absorb_fragments", "threshold", "foreground_threshold",
                  "precision", "tile_size", "halo")


def provenance(settings: Settings) -> dict[str, Any]:
    """What makes a batch's labels what they are: the model (name or path, and the SHA-256 of its file, so a
    retrained checkpoint under the same name counts as another model) and the decoding knobs (None = the model's
    recommendation; ``object_size`` None = estimated per image). Stored with each output, compared on a rerun."""
    from napari_deepcolor.io import PREDICT_SOFTWARE
    from napari_deepcolor.zoo import resolve_model

    knobs = {key: getattr(settings, key) for key in RECORDED_KNOBS}
    if settings.channel is not None:  # (only when given: the records of earlier versions stay equal)
        knobs["channel"] = settings.channel
    return {"software": PREDICT_SOFTWARE, "model": str(settings.model),
            "model_sha256": _file_digest(Path(resolve_model(settings.model))), "knobs": knobs}


_digests: dict[tuple, str] = {}


def _file_digest(path: Path) -> str:
    """SHA-256 of a file, cached per path, size and modification time."""
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key not in _digests:
        digest = hashlib.sha256()
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        _digests[key] = digest.hexdigest()
    return _digests[key]


def plan_jobs(images: Iterable[Path], output: Path, settings: Settings, *, method: str = "coloring",
              record: dict[str, Any] | None = None) -> list[Job]:
    """One `Job` per image: ``output/<stem>_labels.<format>`` (plus the network outputs with ``save_probs``).

    ``record`` (`provenance`) is stored with each output and compared with existing ones (`Job.stale`); None keeps
    no record.

    Raises
    ------
    ValueError
        Two images with the same stem (their outputs would collide), an out-of-core image with ``save_probs`` or
        with a semi-convolutional model (``method``), an unknown output format, an output that is one of the
        ``images``, or an existing output that ``deepcolor predict`` did not write (`io.written_by_predict`: a
        user's ``<stem>_labels`` file is never taken as done, nor overwritten).
    """
    from napari_deepcolor.predict.regions import image_shape, plane_of

    images = list(images)
    if settings.output_format not in OUTPUT_FORMATS:
        raise ValueError(f"unknown output format {settings.output_format!r}; choose one of {list(OUTPUT_FORMATS)}")
    jobs, seen = [], {}
    for image in images:
        stem = image.stem
        if stem in seen:
            raise ValueError(f"{seen[stem]} and {image} would both write {stem}_labels.{settings.output_format}; "
                             "segment them into different output folders")
        seen[stem] = image
        suffix, out_of_core = image.suffix.lower(), get_method(method).out_of_core
        plane, stack = (0, 0), False
        if suffix in (".tif", ".tiff", ZARR_SUFFIX):
            try:
                plane, stack = plane_of(image_shape(image), settings.channel)
            except Exception:  # noqa: BLE001 - unreadable or malformed: the job fails with the reader's message
                pass
        # a zarr image out of core whenever the model can go (a semiconv model reads one that fits in memory whole),
        # a stack (segmented plane by plane, in memory) only when a plane is too large, and then refused
        pixels = plane[0] * plane[1]
        large = (suffix == ZARR_SUFFIX and out_of_core and not stack) or pixels > settings.out_of_core_pixels
        if large and stack:
            raise ValueError(f"{image} is a stack of planes of {plane[0]} x {plane[1]} pixels, more than "
                             "--out-of-core-above: stacks are segmented in memory, plane by plane; raise "
                             "--out-of-core-above if a plane fits in memory, or split the stack into 2D images")
        if large and not out_of_core:
            raise ValueError(f"{image} has more pixels than --out-of-core-above, so it is segmented out of core, which "
                             f"needs a coloring model; this is a {method} model: raise --out-of-core-above if the "
                             "image fits in memory, crop it, or use a coloring model")
        if large and settings.save_probs:
            raise ValueError(f"{image} is segmented out of core, which does not keep the network output; drop "
                             "--save-probs (or raise --out-of-core-above for TIFFs that fit in memory)")
        extras: tuple[Path, ...] = ()
        if settings.save_probs:
            extras = tuple(output / f"{stem}_{name}.tif" for name in get_method(method).output_names)
        jobs.append(Job(image, output / f"{stem}_labels.{settings.output_format}", extras, large,
                        json.dumps(record, sort_keys=True) if record is not None else ""))
    from napari_deepcolor.io import written_by_predict

    inputs = {job.image.resolve(): job.image for job in jobs}
    for job in jobs:
        for path in job.outputs:
            if path.resolve() in inputs:
                raise ValueError(f"the output {path} would overwrite the input {inputs[path.resolve()]}; choose "
                                 "another --output folder")
            if path.exists() and not written_by_predict(path):
                raise ValueError(f"{path} exists and was not written by deepcolor predict (your annotation?), so it "
                                 "is neither taken as done nor overwritten; write the outputs to another --output "
                                 "folder (or move that file away)")
    return jobs


# -- one job --------------------------------------------------------------------------------------------------------

_models: dict[tuple, LoadedModel] = {}
_models_lock = threading.Lock()


def cached_model(settings: Settings) -> LoadedModel:
    """The settings' model, loaded once per process (dask workers reuse it across tasks)."""
    from napari_deepcolor.predict.network import load_model

    object_size = 1.0 if settings.object_size is None else settings.object_size
    key = (settings.model, settings.device, settings.precision, settings.channels_last, settings.compile, object_size)
    with _models_lock:
        if key not in _models:
            _models[key] = load_model(settings.model, device=settings.device, precision=settings.precision,
                                      channels_last=settings.channels_last, compile=settings.compile,
                                      object_size=object_size)
        return _models[key]


def sized_model(model: LoadedModel, settings: Settings, image: Any, *, out_of_core: bool) -> tuple[LoadedModel, Any]:
    """The model at the settings' object size, or at the one estimated from ``image`` (a path when out of core)."""
    from napari_deepcolor.predict.object_size import at_estimated_size

    if out_of_core and settings.object_size is None:
        from napari_deepcolor.predict.large import estimate_object_size_large
        from napari_deepcolor.predict.network import at_object_size

        size = estimate_object_size_large(model, image)
        return at_object_size(model, size.factor), size
    return at_estimated_size(model, image, settings.object_size)


def predict_job(job: Job, settings: Settings, progress: Callable[[int, int], None] | None = None) -> JobResult:
    """Segment one image and write its outputs atomically. Runs here or on a dask worker."""
    from napari_deepcolor.io import PREDICT_SOFTWARE, write_array, write_labels

    record = json.loads(job.record) if job.record else None
    from napari_deepcolor.predict.in_memory import read_whole, segment_in_memory
    from napari_deepcolor.predict.large import segment_large, write_label_blocks
    from napari_deepcolor.predict.regions import open_image, select_channel
    from napari_deepcolor.preprocess import channel_note
    from napari_deepcolor.zoo import bundled_models

    start = time.perf_counter()
    if settings.torch_threads:
        import torch

        torch.set_num_threads(settings.torch_threads)
    model = cached_model(settings)
    if job.out_of_core:
        source = job.image if settings.channel is None else select_channel(open_image(job.image), settings.channel)
        model, size = sized_model(model, settings, source, out_of_core=True)
        result = segment_large(model, source, job.labels, min_size=settings.min_size,
                               merge_distance=settings.merge_distance,
                               absorb_fragments=settings.absorb_fragments, tile_size=settings.tile_size,
                               halo=settings.halo, progress=progress, software=PREDICT_SOFTWARE, record=record)
        if result.skipped_pairs:
            log.warning("%s: %d pairs of same-color instances spanning more than 32 M pixels were not tested for "
                        "merging (ρ)", job.image, result.skipped_pairs)
        return JobResult(job.image, result.n_instances, time.perf_counter() - start, True, size.factor, size.note)
    method = get_method(model.config.method)
    knobs = {knob: getattr(settings, knob) for knob in method.knobs}
    image = read_whole(job.image, settings.channel)
    rgb = image.ndim >= 3 and image.shape[-1] in (3, 4)  # as to_channels_first reads it
    note = channel_note(rgb=rgb, alpha=rgb and image.shape[-1] == 4, in_channels=model.config.in_channels,
                        model=settings.model if settings.model in bundled_models() else Path(settings.model).name)
    if note:
        log.warning("%s %s", job.image, note)
    # an estimated size is checked on the objects each plane decodes, and the plane predicted again if they disagree
    done = segment_in_memory(model, image, lambda plane: sized_model(model, settings, plane, out_of_core=False)[1],
                             knobs=knobs, progress=progress, what=str(job.image))
    if settings.save_probs:
        if done.output is None:
            raise ValueError(f"--save-probs keeps the network output of 2D images; {job.image} is a stack of "
                             f"{done.labels.shape[:-2]} planes: leave it out, or drop --save-probs")
        for path, array in zip(job.extras, method.output_arrays(done.output)):
            write_array(path, array, software=PREDICT_SOFTWARE)
    # labels last: they mark the job finished
    if job.labels.suffix == ".zarr":
        write_label_blocks(job.labels, done.labels.shape, done.n_instances,
                           lambda region: done.labels[region], software=PREDICT_SOFTWARE, record=record)
    else:
        write_labels(job.labels, done.labels, software=PREDICT_SOFTWARE, record=record)
    return JobResult(job.image, done.n_instances, time.perf_counter() - start, False, done.size.factor,
                     done.size.note)


def describe_failure(error: BaseException) -> str:
    """One line saying why an image failed: the message of an expected error (bad input, a full disk), or the
    kind of an unexpected one and what to do."""
    if isinstance(error, MemoryError):
        return ("ran out of memory on this image; segment it out of core (lower --out-of-core-above), with a smaller "
                "--tile-size, or close other programs")
    if isinstance(error, (ValueError, OSError, RuntimeError, FloatingPointError)):
        return str(error) or type(error).__name__
    return (f"unexpected {type(error).__name__} ({error}); the other images go on. This is probably a bug: please "
            "report it with this image")


# -- many jobs ------------------------------------------------------------------------------------------------------

#: Largest buffer glibc's malloc serves from its heap (and keeps for reuse when freed) after `reuse_large_buffers`.
MMAP_THRESHOLD = 1 << 30


def reuse_large_buffers() -> bool:
    """Make glibc's malloc serve buffers of up to 1 GiB from its heap, where freed ones are reused (Linux only).

    By default glibc maps every buffer above 32 MiB afresh and unmaps it when freed, so each window of an out-of-core
    run faults its activations and probabilities in again page by page. On a 16384 x 16384 image with the bundled
    model (`benchmarks/bench_large_image.py`, one torch thread) that was 181 s of system time next to 223 s of user
    time, at 1.08 GiB peak memory; with this setting 21 to 38 s next to 203 s, at 1.9 to 2.4 GiB. Same as the
    environment variable ``MALLOC_MMAP_THRESHOLD_=1073741824``. Returns whether it was applied.
    """
    try:
        libc = ctypes.CDLL("libc.so.6")
        # -3 = M_MMAP_THRESHOLD (keeping more free memory at the top of the heap, M_TRIM_THRESHOLD, saved another
        # 31 s of system time on that image for 0.7 GiB more peak memory: not worth it)
        return bool(libc.mallopt(-3, MMAP_THRESHOLD))
    except (OSError, AttributeError):
        return False


def run_jobs(jobs: Sequence[Job], settings: Settings, *, dask: str | None = None, workers: int | None = None,
             on_result: Callable[[Job, JobResult | None, BaseException | None], None] | None = None,
             progress: Callable[[Job], Callable[[int, int], None] | None] | None = None) -> list[JobResult]:
    """Run jobs here, one after the other, or as dask.distributed tasks; a failing job does not stop the others.

    Parameters
    ----------
    jobs : sequence of Job
    settings : Settings
    dask : str, optional
        ``"local"`` for a `distributed.LocalCluster` of ``workers`` processes (one thread each; torch gets the
        machine's cores divided among them), or a scheduler address (``tcp://host:8786``) of a running cluster.
        None runs the jobs here.
    workers : int, optional
        Local cluster only; default: the number of CPU cores (1 when the device is CUDA).
    on_result : callable(job, result or None, error or None), optional
        Called as each job finishes or fails.
    progress : callable(job) -> per-tile progress callback or None, optional
        Here only (not with dask): a callback for the tiles of each job.

    Returns
    -------
    list of JobResult
        Of the jobs that succeeded, in the order they finished.
    """
    results: list[JobResult] = []

    def report(job: Job, result: JobResult | None, error: BaseException | None) -> None:
        if result is not None:
            results.append(result)
        if on_result is not None:
            on_result(job, result, error)

    if dask is None:
        for job in jobs:
            try:
                result = predict_job(job, settings, progress(job) if progress else None)
            except Exception as error:  # noqa: BLE001 - any failure is this image's (`describe_failure`); not Ctrl-C
                report(job, None, error)
            else:
                report(job, result, None)
        return results

    from distributed import Client, LocalCluster, as_completed

    cluster = None
    if dask == "local":
        workers = workers or (1 if settings.device == "cuda" else os.cpu_count() or 1)
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None,
                               env={"MALLOC_MMAP_THRESHOLD_": str(MMAP_THRESHOLD)})  # see reuse_large_buffers
        if settings.torch_threads is None:
            settings = replace(settings, torch_threads=max(1, (os.cpu_count() or 1) // workers))
    try:
        with Client(cluster if cluster is not None else dask) as client:
            futures = {client.submit(predict_job, job, settings, pure=False): job for job in jobs}
            for future in as_completed(futures):
                job = futures[future]
                try:
                    result = future.result()
                except Exception as error:  # noqa: BLE001 - any task failure is reported, the others go on
                    report(job, None, error)
                else:
                    report(job, result, None)
    finally:
        if cluster is not None:
            cluster.close()
    return results
