"""``deepcolor predict``: segment images with a model, one label image per image."""

from __future__ import annotations

import argparse
import logging
import math
import sys
from pathlib import Path

from napari_deepcolor.cli._common import add_command, add_device_option, log, object_size_arg, progress
from napari_deepcolor.io import ensure_writable_dir


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Add ``predict`` and its options to the ``deepcolor`` subcommands."""
    p = add_command(subparsers, "predict", help="segment images with a model, one label image per image; images "
                    "already segmented are skipped")
    p.add_argument("images", nargs="+", help="image files (TIFF, PNG, JPEG; 2D gray or RGB), zarr arrays "
                   "(*.zarr), folders of them, or quoted glob patterns ('plates/**/*.tif')")
    p.add_argument("--model", default=None, help="a bundled or your own model's name (see `deepcolor models`), a "
                   "checkpoint file, or the folder `deepcolor train --output` wrote; default: the bundled model for "
                   "what the first image looks like (fluorescent nuclei, C. elegans in a well, E. coli in phase "
                   "contrast, a color photograph of plants), used for every image and printed with the reason")
    p.add_argument("--output", required=True, type=Path, help="folder for <stem>_labels.tif (or .zarr)")
    p.add_argument("--output-format", default="tif", choices=("tif", "zarr"), help="label images as TIFF "
                   "(BigTIFF for out-of-core images) or zarr arrays")
    p.add_argument("--overwrite", action="store_true", help="segment images whose outputs exist again (by default "
                   "outputs made with the same model and knobs are skipped, so an interrupted batch resumes where it "
                   "stopped, and those made with another model or other knobs are redone; docs/reliability.md)")
    p.add_argument("--channel", type=int, default=None, metavar="C", help="segment channel C (from 0) of images "
                   "with channels, first or last: (C, Y, X) or (Y, X, C), e.g. the nuclear stain of a 2-channel "
                   "image, or 2 for the blue of an RGB image, as a gray image; the model is chosen from that channel "
                   "too (default: the image as it is)")
    _add_decoding_options(p)
    p.add_argument("--object-size", type=object_size_arg, default="auto", metavar="FACTOR|auto", help="how large the "
                   "objects are, in pixels, against the model's training objects (2: twice as long and wide, e.g. a "
                   "higher magnification); the network sees the image resized by 1/FACTOR more than the model's own "
                   "scale, and the recommended τ and ρ grow with it. auto: estimated once per image from one "
                   "network pass at reduced resolution, checked on the objects the prediction segments (predicted "
                   "again, at most twice, when they are not the training objects' size), and printed (default: "
                   "%(default)s; docs/scale.md)")
    add_device_option(p)
    p.add_argument("--save-probs", action="store_true", help="also write the network output: <stem>_probs.tif "
                   "(C, Y, X) float32 for coloring; <stem>_embeddings.tif (D, Y, X), <stem>_foreground.tif and "
                   "<stem>_seeds.tif (Y, X) float32 for semiconv (in-memory images only)")
    _add_scaling_options(p)
    p.set_defaults(run=run)
    return p


def _add_decoding_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--min-size", type=float, default=None, help="τ: drop instances smaller than this (pixels); "
                   "default: the model's recommendation")
    p.add_argument("--merge-distance", type=float, default=None, help="coloring models: ρ, merge same-color pieces "
                   "closer than this Hausdorff distance (pixels; 0 = off); default: the model's recommendation")
    p.add_argument("--absorb-fragments", action=argparse.BooleanOptionalAction, default=None, help="coloring "
                   "models: pieces below τ that touch another piece join it instead of being dropped (for objects "
                   "split between colors); default: the model's recommendation")
    p.add_argument("--threshold", type=float, default=None, help="semiconv models: grow an instance over the pixels "
                   "whose kernel value K_σ(seed, u) is at least this, in (0, 1); default: the model's recommendation")
    p.add_argument("--foreground-threshold", type=float, default=None, help="semiconv models: segment pixels whose "
                   "foreground probability is at least this, in (0, 1]; default: the model's recommendation")


def _add_scaling_options(p: argparse.ArgumentParser) -> None:
    """Huge images, many images, CUDA speed."""
    large = p.add_argument_group("huge images (out of core, coloring models)")
    large.add_argument("--out-of-core-above", type=float, default=32.0, metavar="MEGAPIXELS", help="segment TIFFs "
                       "with more megapixels than this tile by tile, without loading them (default: %(default)s; "
                       "0 = every TIFF); zarr inputs always are")
    large.add_argument("--tile-size", type=int, default=None, metavar="PIXELS", help="out-of-core tile size in "
                       "image pixels (default: 1024 network pixels, i.e. 2048 at the model's scale 0.5)")
    large.add_argument("--halo", type=int, default=None, metavar="PIXELS", help="margin read around each tile, image "
                       "pixels (default: 64 network pixels)")
    many = p.add_argument_group("many images")
    many.add_argument("--dask", nargs="?", const="local", default=None, metavar="ADDRESS", help="run the images as "
                      "dask.distributed tasks: on a local cluster without ADDRESS, or on the scheduler at ADDRESS "
                      "(tcp://host:8786; paths and the model must be visible to its workers) (default: no dask, "
                      "the images one after the other in this process)")
    many.add_argument("--workers", type=int, default=None, help="worker processes of the local dask cluster "
                      "(default: CPU cores; 1 with CUDA)")
    gpu = p.add_argument_group("CUDA speed options (refused on other devices)")
    gpu.add_argument("--precision", default="float32", choices=("float32", "bfloat16", "float16", "auto"),
                     help="network precision: reduced ones run under CUDA autocast; auto = bfloat16 (float16 where "
                     "unsupported) on CUDA, float32 elsewhere")
    gpu.add_argument("--channels-last", action="store_true", help="channels-last memory format (always on for the CPU, "
                     "refused on MPS)")
    gpu.add_argument("--compile", action="store_true", help="torch.compile the network (slow first tiles)")


def run(args: argparse.Namespace) -> int:
    """Segment the images not segmented yet; 0 when all succeed, 2 when some failed (the others are written)."""
    from napari_deepcolor.predict.batch import find_images, plan_jobs, provenance
    from napari_deepcolor.predict.network import model_info, resize_objects

    _check_options(args)
    ensure_writable_dir(args.output)
    images = None  # found after reading the model (whose errors come first), unless they choose it
    if args.model is None:
        images = find_images(args.images)
        args.model = _suggested_model(images, args.channel)
    config = model_info(args.model)[0]
    config = config if args.object_size == "auto" else resize_objects(config, args.object_size)
    _check_method(args, config.method)
    settings = _settings(args)
    _remove_temporaries(args.output)
    jobs = plan_jobs(images or find_images(args.images), args.output, settings, method=config.method,
                     record=provenance(settings))
    todo = jobs if args.overwrite else _todo(jobs, args.output)
    if not todo:
        return 0
    _prepare(args, config, settings)
    failures = _run_jobs(args, todo, settings)
    written = len(todo) - len(failures)
    log.info("wrote %d label image%s to %s", written, "" if written == 1 else "s", args.output)
    if failures:
        names = ", ".join(job.image.name for job in failures[:5]) + (", ..." if len(failures) > 5 else "")
        print(f"deepcolor predict: error: {len(failures)} of {len(todo)} images failed ({names}; see above); fix "
              "what is reported and run the same command again: the finished images are skipped", file=sys.stderr)
        return 2
    return 0


#: How many other images of a batch `_suggested_model` looks at (spread over the batch) for another kind of image
OTHERS_CHECKED = 8


def _suggested_model(images: list[Path], channel: int | None = None) -> str:
    """The bundled model for the kind of image the first readable image looks like (`napari_deepcolor.zoo.suggest`),
    printed with why; when that image tells nothing (blank, flat, tiny: an empty first well), the first of the next
    `OTHERS_CHECKED` images that does. One model for the whole batch: its outputs are made alike, and a rerun skips
    what is done. Up to `OTHERS_CHECKED` other images, spread over the batch, are looked at too: those another model
    suits are named, with that model, before the batch runs."""
    first_error, untold = None, None
    for i, path in enumerate(images):
        if untold is not None and i > untold[0] + OTHERS_CHECKED:
            break
        try:
            name, reason, told = _suggestion(path, channel)
        except (OSError, ValueError, RuntimeError) as error:
            first_error = first_error or error
            continue
        if name is None:
            raise ValueError("no bundled model is installed: give --model (your own model's name or a checkpoint "
                             "file)")
        if told:
            if untold is None:
                print(f"model: {name} ({reason})")
            else:
                print(f"model: {name} (in {path.name}: {reason}; {images[untold[0]].name} shows nothing to tell "
                      "its kind by)")
            _other_kinds([p for p in images if p != path], name, path, channel)
            return name
        untold = untold or (i, name, reason)
    if untold is None:
        raise ValueError(f"{first_error}; no image could be read to choose the model from") from first_error
    i, name, reason = untold
    print(f"model: {name} ({reason})")
    _other_kinds(images[i + 1:], name, images[i], channel)
    return name


def _suggestion(path: Path, channel: int | None = None) -> tuple[str | None, str, bool]:
    """The model `suggest_model` gives for the image at ``path`` (its ``channel``), why, and whether the image told
    its kind."""
    from napari_deepcolor.predict.regions import open_image, select_channel
    from napari_deepcolor.zoo import bundled_models
    from napari_deepcolor.zoo.suggest import suggest_kind, suggest_model

    image = open_image(path) if channel is None else select_channel(open_image(path), channel)
    rgb = image.ndim >= 3 and image.shape[-1] in (3, 4)  # (a stack of RGB planes too)
    kind, reason = suggest_kind(image, rgb=rgb)
    name, reason = suggest_model(image, bundled_models(), rgb=rgb, kind=(kind, reason))
    return name, reason, kind is not None


def _other_kinds(others: list[Path], model: str, first: Path, channel: int | None = None) -> None:
    """Say which of (up to `OTHERS_CHECKED` of) ``others`` look like images for another model than ``model``."""
    if not others:
        return
    count = min(OTHERS_CHECKED, len(others))
    picks = sorted({round(k * (len(others) - 1) / max(count - 1, 1)) for k in range(count)})
    differ = []
    for path in (others[i] for i in picks):
        try:
            name, reason, told = _suggestion(path, channel)
        except (OSError, ValueError, RuntimeError):
            continue  # the run says why it cannot be read
        if told and name is not None and name != model:
            differ.append(f"{path.name}: {name} ({reason})")
    if differ:
        looked = f"{len(picks)} of the other {len(others)}" if len(picks) < len(others) else "the others"
        shown = "; ".join(differ[:3]) + (f"; and {len(differ) - 3} more" if len(differ) > 3 else "")
        print(f"note: {model} runs on every image, chosen from {first.name}; of {looked}, these look like images for "
              f"another model: {shown}. Segment them apart with --model, or give --model to choose one for all")


def _remove_temporaries(output: Path) -> None:
    """Remove the temporary files and folders that killed runs left in ``output`` (`io.is_stale_temporary`)."""
    from napari_deepcolor.io import TEMP_SUFFIX, remove_stale_temporaries
    from napari_deepcolor.predict.large import SCRATCH_SUFFIX

    remove_stale_temporaries(output, suffixes=(TEMP_SUFFIX, SCRATCH_SUFFIX))


def _todo(jobs: list, output: Path) -> list:
    """The jobs to run: those not finished, and those whose labels were made with another model or other knobs
    (redone, and said so)."""
    todo, stale = [], []
    for job in jobs:
        why = job.stale()
        if why:
            stale.append((job, why))
        if why or not all(path.exists() for path in job.outputs):
            todo.append(job)
    if stale:
        job, why = stale[0]
        log.warning("redoing %d image%s whose labels in %s were made with other settings (%s: %s%s)", len(stale),
                    "" if len(stale) == 1 else "s", output, job.labels.name, why, "; ..." if len(stale) > 1 else "")
    if len(todo) < len(jobs):
        log.info("skipping %d of %d images whose outputs exist in %s (--overwrite redoes them)", len(jobs) - len(todo),
                 len(jobs), output)
    return todo


def _check_options(args: argparse.Namespace) -> None:
    """Refuse values out of range before anything is read."""
    for value, name in ((args.min_size, "--min-size"), (args.merge_distance, "--merge-distance"),
                        (args.out_of_core_above, "--out-of-core-above"), (args.halo, "--halo")):
        if value is not None and not math.isfinite(value):
            raise ValueError(f"{name} must be a number, got {value}")
        if value is not None and value < 0:
            raise ValueError(f"{name} must be >= 0, got {value}")
    if args.channel is not None and args.channel < 0:
        raise ValueError(f"--channel counts from 0, got {args.channel}")
    for value, name in ((args.tile_size, "--tile-size"), (args.workers, "--workers")):
        if value is not None and value < 1:
            raise ValueError(f"{name} must be >= 1, got {value}")
    if args.workers is not None and args.dask != "local":
        raise ValueError("--workers sets the size of the local dask cluster; use it with --dask without an address")
    if args.threshold is not None and not 0 < args.threshold < 1:
        raise ValueError(f"--threshold must be in (0, 1), got {args.threshold}")
    if args.foreground_threshold is not None and not 0 < args.foreground_threshold <= 1:
        raise ValueError(f"--foreground-threshold must be in (0, 1], got {args.foreground_threshold}")


def _check_method(args: argparse.Namespace, method: str) -> None:
    """Refuse the decoding options of the other method than the model's."""
    if method == "semiconv":
        if args.merge_distance or args.absorb_fragments:
            flag = "--merge-distance" if args.merge_distance else "--absorb-fragments"
            raise ValueError(f"{flag} is for coloring models; {args.model} is a semiconv model (use --threshold and "
                             "--foreground-threshold)")
    elif args.threshold is not None or args.foreground_threshold is not None:
        raise ValueError(f"--threshold and --foreground-threshold are for semiconv models; {args.model} is a "
                         "coloring model (use --min-size and --merge-distance)")


def _settings(args: argparse.Namespace):
    from napari_deepcolor.predict.batch import Settings

    return Settings(model=args.model, device=args.device, precision=args.precision,
                    channels_last=args.channels_last, compile=args.compile,
                    object_size=None if args.object_size == "auto" else args.object_size,
                    min_size=args.min_size,
                    merge_distance=args.merge_distance, absorb_fragments=args.absorb_fragments,
                    threshold=args.threshold,
                    foreground_threshold=args.foreground_threshold, save_probs=args.save_probs,
                    output_format=args.output_format, out_of_core_pixels=int(args.out_of_core_above * 1e6),
                    tile_size=args.tile_size, halo=args.halo, channel=args.channel)


def _prepare(args: argparse.Namespace, config, settings) -> None:
    """Load the model here (its errors end the command before any image) or check dask; log what runs where."""
    tau = config.min_size if args.min_size is None else args.min_size
    if args.dask is None:
        from napari_deepcolor.predict.batch import cached_model, reuse_large_buffers

        reuse_large_buffers()
        model = cached_model(settings)  # load errors end the command before any image
        log.info("model %s (%s) on %s%s; τ = %g px%s", args.model, config.method, model.device,
                 "" if model.precision == "float32" else f" ({model.precision})", tau, _knob_text(config, args))
        return
    try:
        import distributed  # noqa: F401 - configures its loggers when imported
    except ImportError as error:
        raise RuntimeError("--dask needs dask.distributed: pip install 'napari-deepcolor[dask]'") from error
    # distributed logs every worker's start and stop at INFO; a local cluster's workers that have loaded torch
    # often outlive the 4 s the nanny gives them at shutdown and are killed with a warning, after all outputs are
    # written: keep only errors then
    logging.getLogger("distributed").setLevel(logging.ERROR if args.dask == "local" else logging.WARNING)
    log.info("model %s (%s) on dask (%s); τ = %g px%s", args.model, config.method,
             "local cluster" if args.dask == "local" else args.dask, tau, _knob_text(config, args))


def _run_jobs(args: argparse.Namespace, todo: list, settings) -> list:
    """Run the jobs under a progress bar (and one per out-of-core image's tiles); returns the failed jobs."""
    from napari_deepcolor.predict.batch import describe_failure, run_jobs

    failures = []
    with progress(len(todo), "segmenting") as bar:
        def on_result(job, result, error):
            if error is not None:
                failures.append(job)
                bar.write(f"deepcolor predict: error: {job.image}: {describe_failure(error)}", file=sys.stderr)
            else:
                bar.set_postfix(instances=result.n_instances)
                if args.object_size == "auto":
                    bar.write(f"{job.image.name}: {result.object_size_note}", file=sys.stderr)
            bar.update()

        run_jobs(todo, settings, dask=args.dask, workers=args.workers, on_result=on_result, progress=_tile_progress)
    return failures


def _tile_progress(job):
    """A callback ``update(done, total)`` moving a bar of the tiles of an out-of-core job; None for the others."""
    if not job.out_of_core:
        return None
    from tqdm import tqdm

    tiles = tqdm(desc=job.image.name, unit="tile", file=sys.stderr, disable=None, leave=False)

    def update(done, total):
        tiles.total = total
        tiles.update(done - tiles.n)
        if done == total:
            tiles.close()
    return update


def _knob_text(config, args: argparse.Namespace) -> str:
    from napari_deepcolor.methods import get_method

    method = get_method(config.method)
    knobs = method.resolve_knobs(config, args.model, **{knob: getattr(args, knob) for knob in method.knobs
                                                        if knob != "min_size"})
    return method.knob_text(knobs) + _object_size_text(config, args)


def _object_size_text(config, args: argparse.Namespace) -> str:
    if args.object_size == "auto":
        return "; object size estimated per image (auto; the τ and ρ above are at object size 1 and scale with it)"
    return ("" if args.object_size == 1 else
            f"; objects {args.object_size:g}× the training size, so the network sees the image at scale "
            f"{config.scale:g}")
