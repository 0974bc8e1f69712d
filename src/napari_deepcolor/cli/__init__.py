"""The ``deepcolor`` command: train, predict, evaluate, ensemble, models."""

from __future__ import annotations

import argparse
import logging
import math
import re
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from napari_deepcolor.io import ensure_writable_dir

log = logging.getLogger("napari_deepcolor")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``deepcolor``; returns the exit status (0 ok, 2 bad input)."""
    parser = _parser()
    argv = _dask_without_address(list(sys.argv[1:] if argv is None else argv))
    args = parser.parse_args(argv)
    # our messages at INFO; other libraries' (dask.distributed logs every worker's start and stop) only from WARNING
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    log.setLevel(logging.INFO)
    try:
        if getattr(args, "config", None) is not None:
            args = _apply_recipe(parser, argv, args.config)
        if args.command == "train":
            args.given_options = _given_options(argv)
        return int(args.run(args) or 0)
    except (ValueError, OSError, RuntimeError, FloatingPointError) as error:
        print(f"deepcolor {args.command}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        kept = {"train": "checkpoints written so far are intact (continue with --resume)",
                "predict": "the label images written so far are complete (run the same command to continue)"}
        print(f"deepcolor {args.command}: interrupted; {kept.get(args.command, 'nothing was written')}",
              file=sys.stderr)
        return 130


def _dask_without_address(argv: list[str]) -> list[str]:
    """``--dask plates/``: the optional address of ``--dask`` would swallow the only image argument (and argparse
    then asks for images); a value that is not an address is an image, and ``--dask`` means a local cluster."""
    for i, token in enumerate(argv[:-1]):
        following = argv[i + 1]
        if token == "--dask" and following != "local" and not following.startswith("-") and not _looks_like_address(
                following):
            argv[i] = "--dask=local"
    return argv


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="deepcolor", description="Instance segmentation by deep coloring or "
                                     "semi-convolutional embeddings.")
    commands = parser.add_subparsers(dest="command", required=True)

    p = commands.add_parser("predict", help="segment images with a model, one label image per image; images "
                            "already segmented are skipped")
    p.add_argument("images", nargs="+", help="image files (TIFF, PNG, JPEG; 2D gray or RGB), zarr arrays "
                   "(*.zarr), folders of them, or quoted glob patterns ('plates/**/*.tif')")
    p.add_argument("--model", required=True, help="bundled model name (see `deepcolor models`) or checkpoint file")
    p.add_argument("--output", required=True, type=Path, help="folder for <stem>_labels.tif (or .zarr)")
    p.add_argument("--output-format", default="tif", choices=("tif", "zarr"), help="label images as TIFF "
                   "(default; BigTIFF for out-of-core images) or zarr arrays")
    p.add_argument("--overwrite", action="store_true", help="segment images whose outputs exist again (by default "
                   "they are skipped, so an interrupted batch resumes where it stopped)")
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
    p.add_argument("--object-size", type=float, default=1.0, metavar="FACTOR", help="how large the objects are, in "
                   "pixels, against the model's training objects (2: twice as long and wide, e.g. a higher "
                   "magnification); the network sees the image resized by 1/FACTOR more than the model's own "
                   "scale, and the recommended τ and ρ grow with it (default 1; docs/scale.md)")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda", "mps"))
    p.add_argument("--save-probs", action="store_true", help="also write the network output: <stem>_probs.tif "
                   "(C, Y, X) float32 for coloring; <stem>_embeddings.tif (D, Y, X), <stem>_foreground.tif and "
                   "<stem>_seeds.tif (Y, X) float32 for semiconv (in-memory images only)")
    large = p.add_argument_group("huge images (out of core, coloring models)")
    large.add_argument("--out-of-core-above", type=float, default=32.0, metavar="MEGAPIXELS", help="segment TIFFs "
                       "with more megapixels than this tile by tile, without loading them (default 32; 0 = every "
                       "TIFF); zarr inputs always are")
    large.add_argument("--tile-size", type=int, default=None, metavar="PIXELS", help="out-of-core tile size in "
                       "image pixels (default: 1024 network pixels, i.e. 2048 at the model's scale 0.5)")
    large.add_argument("--halo", type=int, default=None, metavar="PIXELS", help="margin read around each tile, image "
                       "pixels (default: 64 network pixels)")
    many = p.add_argument_group("many images")
    many.add_argument("--dask", nargs="?", const="local", default=None, metavar="ADDRESS", help="run the images as "
                      "dask.distributed tasks: on a local cluster without ADDRESS, or on the scheduler at ADDRESS "
                      "(tcp://host:8786; paths and the model must be visible to its workers)")
    many.add_argument("--workers", type=int, default=None, help="worker processes of the local dask cluster "
                      "(default: CPU cores; 1 with CUDA)")
    gpu = p.add_argument_group("CUDA speed options (refused on other devices)")
    gpu.add_argument("--precision", default="float32", choices=("float32", "bfloat16", "float16", "auto"),
                     help="network precision: reduced ones run under CUDA autocast; auto = bfloat16 (float16 where "
                     "unsupported) on CUDA, float32 elsewhere (default float32)")
    gpu.add_argument("--channels-last", action="store_true", help="channels-last memory format")
    gpu.add_argument("--compile", action="store_true", help="torch.compile the network (slow first tiles)")
    p.set_defaults(run=_predict)

    t = commands.add_parser("train", help="train or fine-tune a model on images and labels")
    t.add_argument("--config", type=Path, help="TOML recipe whose keys are these options (docs/training.md); "
                   "options given on the command line override it")
    t.add_argument("--images", type=Path, help="folder of training images (required unless --synthetic)")
    t.add_argument("--labels", type=Path, help="folder of label images (<stem>.tif, <stem>_labels.tif) or of "
                   "per-object masks (<stem>_01.png, <stem>_02.png, ...)")
    t.add_argument("--repeat", type=int, default=1, help="count each pair from --images this many times when "
                   "drawing patches, to weigh a few real images against many generated ones (default 1)")
    t.add_argument("--synthetic", choices=("ecoli", "rosette"), help="also train on generated scenes "
                   "(napari_deepcolor.training.synthetic_scenes): phase-contrast E. coli colonies or RGB plant rosettes")
    t.add_argument("--synthetic-count", type=int, default=200, help="number of generated training scenes, "
                   "seeds 0..N-1 (default 200)")
    t.add_argument("--synthetic-val", type=int, default=0, help="also validate on this many generated scenes, "
                   "seeds 1000000.. (never trained on; default 0)")
    t.add_argument("--output", type=Path, help="folder for last.safetensors and best.safetensors (required)")
    t.add_argument("--val-images", type=Path, help="folder of validation images (with --val-labels)")
    t.add_argument("--val-labels", type=Path)
    t.add_argument("--val-last", type=int, default=0, help="hold out the last N training pairs (sorted by name) "
                   "for validation instead")
    t.add_argument("--init", help="start from this model (bundled name or file): fine-tuning")
    t.add_argument("--keep-history", action="store_true", help="also keep every checkpoint as "
                   "OUTPUT/history/step-N.safetensors (for scripts/average_checkpoints.py)")
    t.add_argument("--resume", action="store_true", help="continue from OUTPUT/last.safetensors")
    t.add_argument("--method", default="coloring", choices=("coloring", "semiconv"), help="deep coloring "
                   "(default) or semi-convolutional embeddings")
    t.add_argument("--colors", type=int, default=9, help="coloring: C, colors including background (default 9)")
    t.add_argument("--embedding-dims", type=int, default=8, help="semiconv: D >= 2 embedding dimensions, the "
                   "first two positional (default 8)")
    t.add_argument("--coordinate-scale", type=float, default=32.0, help="semiconv: network pixels per embedding "
                   "unit of the positions (default 32)")
    t.add_argument("--threshold", type=float, default=0.5, help="semiconv: kernel threshold stored as the model's "
                   "recommendation (default 0.5)")
    t.add_argument("--foreground-threshold", type=float, default=0.5, help="semiconv: foreground threshold stored "
                   "as the model's recommendation (default 0.5)")
    for term, default in (("embedding", 1.0), ("foreground", 1.0), ("kernel", 1.0), ("seed", 1.0)):
        t.add_argument(f"--{term}-weight", type=float, default=default, help=f"semiconv: weight of the {term} term "
                       f"of the loss (default {default:g})")
    t.add_argument("--margin", type=int, default=6, help="coloring: halo margin m in network pixels (default 6)")
    t.add_argument("--halo-weight", type=float, default=2.0, help="coloring: μ (default 2)")
    t.add_argument("--no-train-halo", action="store_true", help="use the halo term only to choose colors, not "
                   "in the trained loss")
    t.add_argument("--orientation-prior", type=float, default=0.0, help="coloring: weight of a preference for "
                   "the color matching each object's orientation in the color choice, a symmetry breaker for "
                   "touching elongated objects (default 0 = the paper's choice)")
    t.add_argument("--prior-steps", type=int, default=0, help="coloring: steps over which --orientation-prior "
                   "fades to 0 (default 0 = constant)")
    t.add_argument("--contact-fraction", type=float, default=0.0, help="fraction of patches centred where two "
                   "objects touch (default 0)")
    t.add_argument("--background-weight", type=float, default=1.0, help="coloring: weight of a background pixel "
                   "relative to an object pixel in the loss (default 1 = the paper; below 1 for sparse, faint "
                   "objects)")
    t.add_argument("--scale", type=float, default=1.0, help="resize images by this before the network")
    t.add_argument("--upper-percentile", type=float, default=99.8,
                   help="intensity percentile mapped to 1 (the 1st percentile maps to 0; default 99.8)")
    t.add_argument("--intensity-max", type=float, default=None,
                   help="clip normalized intensities above this (default: no clipping); with a low "
                        "--upper-percentile it keeps faint objects visible next to very bright ones")
    t.add_argument("--mask-input", action=argparse.BooleanOptionalAction, default=False, help="the images are "
                   "foreground masks (any nonzero pixel is foreground): the model learns to split touching objects "
                   "in a segmentation made elsewhere (with --init, --no-mask-input turns a mask model back to images)")
    t.add_argument("--depth", type=int, default=4)
    t.add_argument("--width", type=int, default=16)
    t.add_argument("--patch-size", type=int, default=160)
    t.add_argument("--batch-size", type=int, default=8)
    t.add_argument("--steps", type=int, default=2000)
    t.add_argument("--lr", type=float, default=1e-3)
    t.add_argument("--validate-every", type=int, default=200)
    t.add_argument("--checkpoint-every", type=int, default=100)
    t.add_argument("--min-size", type=float, default=0.0, help="τ stored as the model's recommendation")
    t.add_argument("--merge-distance", type=float, default=0.0, help="coloring: ρ stored as the model's "
                   "recommendation")
    t.add_argument("--absorb-fragments", action="store_true", help="coloring: decode by joining pieces below τ to "
                   "a touching neighbour (stored as the model's recommendation, used for validation)")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda", "mps"))
    t.set_defaults(run=_train)
    parser.train_parser = t  # type: ignore[attr-defined] - for _apply_recipe

    e = commands.add_parser("evaluate", help="compare predicted label images with ground truth")
    e.add_argument("pred_dir", type=Path, help="folder of <stem>_labels.tif (as written by predict)")
    e.add_argument("gt_dir", type=Path, help="folder of label images or per-object masks")
    e.set_defaults(run=_evaluate)

    n = commands.add_parser("ensemble", help="combine coloring models, and/or test-time flips, into one model file "
                            "whose color probabilities are their mean (docs/training.md)")
    n.add_argument("models", nargs="+", help="bundled model names or checkpoint files of one network description "
                   "(e.g. runs of one recipe with other seeds); the first one's τ and ρ are kept")
    n.add_argument("--output", required=True, type=Path, help="the model file to write (.safetensors)")
    n.add_argument("--images", required=True, type=Path, help="folder of example images (e.g. the training images) "
                   "on which the models' colors are matched")
    n.add_argument("--first", type=int, default=None, help="only the first N images of the folder, sorted by name")
    n.add_argument("--flips", type=int, default=1, choices=(1, 4, 8), help="also run each model on the 4 flips or "
                   "the 8 flips and transposes of the image (default 1: none)")
    n.add_argument("--half", action="store_true", help="store the weights in float16 (half the file)")
    n.set_defaults(run=_ensemble)

    m = commands.add_parser("models", help="list the bundled models")
    m.set_defaults(run=_models)
    return parser


def _progress(total: int, desc: str):
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="img", file=sys.stderr, disable=None)


def _predict(args: argparse.Namespace) -> int:
    from napari_deepcolor.predict.batch import Settings, find_images, plan_jobs, run_jobs
    from napari_deepcolor.predict.network import model_info, resize_objects

    for value, name in ((args.min_size, "--min-size"), (args.merge_distance, "--merge-distance"),
                        (args.out_of_core_above, "--out-of-core-above"), (args.halo, "--halo")):
        if value is not None and not math.isfinite(value):
            raise ValueError(f"{name} must be a number, got {value}")
        if value is not None and value < 0:
            raise ValueError(f"{name} must be >= 0, got {value}")
    for value, name in ((args.tile_size, "--tile-size"), (args.workers, "--workers")):
        if value is not None and value < 1:
            raise ValueError(f"{name} must be >= 1, got {value}")
    if args.workers is not None and args.dask != "local":
        raise ValueError("--workers sets the size of the local dask cluster; use it with --dask without an address")
    if args.threshold is not None and not 0 < args.threshold < 1:
        raise ValueError(f"--threshold must be in (0, 1), got {args.threshold}")
    if args.foreground_threshold is not None and not 0 < args.foreground_threshold <= 1:
        raise ValueError(f"--foreground-threshold must be in (0, 1], got {args.foreground_threshold}")
    ensure_writable_dir(args.output)
    config = resize_objects(model_info(args.model)[0], args.object_size)
    if config.method == "semiconv":
        if args.merge_distance or args.absorb_fragments:
            flag = "--merge-distance" if args.merge_distance else "--absorb-fragments"
            raise ValueError(f"{flag} is for coloring models; {args.model} is a semiconv model (use --threshold and "
                             "--foreground-threshold)")
    elif args.threshold is not None or args.foreground_threshold is not None:
        raise ValueError(f"--threshold and --foreground-threshold are for semiconv models; {args.model} is a "
                         "coloring model (use --min-size and --merge-distance)")
    settings = Settings(model=args.model, device=args.device, precision=args.precision,
                        channels_last=args.channels_last, compile=args.compile, object_size=args.object_size,
                        min_size=args.min_size,
                        merge_distance=args.merge_distance, absorb_fragments=args.absorb_fragments,
                        threshold=args.threshold,
                        foreground_threshold=args.foreground_threshold, save_probs=args.save_probs,
                        output_format=args.output_format, out_of_core_pixels=int(args.out_of_core_above * 1e6),
                        tile_size=args.tile_size, halo=args.halo)
    jobs = plan_jobs(find_images(args.images), args.output, settings, method=config.method)
    todo = jobs if args.overwrite else [job for job in jobs if not job.finished()]
    if len(todo) < len(jobs):
        log.info("skipping %d of %d images whose outputs exist in %s (--overwrite redoes them)", len(jobs) - len(todo),
                 len(jobs), args.output)
    if not todo:
        return 0
    if args.dask is None:
        from napari_deepcolor.predict.batch import cached_model, reuse_large_buffers

        reuse_large_buffers()
        model = cached_model(settings)  # load errors end the command before any image
        log.info("model %s (%s) on %s%s; τ = %g px%s", args.model, config.method, model.device,
                 "" if model.precision == "float32" else f" ({model.precision})",
                 config.min_size if args.min_size is None else args.min_size, _knob_text(config, args))
    else:
        try:
            import distributed  # noqa: F401 - configures its loggers when imported
        except ImportError as error:
            raise RuntimeError("--dask needs dask.distributed: pip install 'napari-deepcolor[dask]'") from error
        # distributed logs every worker's start and stop at INFO; a local cluster's workers that have loaded torch
        # often outlive the 4 s the nanny gives them at shutdown and are killed with a warning, after all outputs are
        # written: keep only errors then
        logging.getLogger("distributed").setLevel(logging.ERROR if args.dask == "local" else logging.WARNING)
        log.info("model %s (%s) on dask (%s); τ = %g px%s", args.model, config.method,
                 "local cluster" if args.dask == "local" else args.dask,
                 config.min_size if args.min_size is None else args.min_size, _knob_text(config, args))
    failures = []
    with _progress(len(todo), "segmenting") as bar:
        def on_result(job, result, error):
            if error is not None:
                failures.append(job)
                bar.write(f"deepcolor predict: error: {job.image}: {error}", file=sys.stderr)
            else:
                bar.set_postfix(instances=result.n_instances)
            bar.update()

        def tile_progress(job):
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

        run_jobs(todo, settings, dask=args.dask, workers=args.workers, on_result=on_result, progress=tile_progress)
    written = len(todo) - len(failures)
    log.info("wrote %d label image%s to %s", written, "" if written == 1 else "s", args.output)
    if failures:
        print(f"deepcolor predict: error: {len(failures)} of {len(todo)} images failed (see above); fix what is "
              "reported and run the same command again: the finished images are skipped", file=sys.stderr)
        return 2
    return 0


#: Seed of the first generated validation scene; training scenes use seeds 0..synthetic_count-1.
SYNTHETIC_VAL_SEED = 1_000_000


def _apply_recipe(parser: argparse.ArgumentParser, argv: Sequence[str] | None, recipe: Path) -> argparse.Namespace:
    """Parse again with the recipe's values as defaults, so options given on the command line win."""
    from napari_deepcolor.config import read_recipe

    train_parser = parser.train_parser  # type: ignore[attr-defined]
    options: dict = {}
    paths = []
    for action in train_parser._actions:  # noqa: SLF001 - argparse has no public list of its options
        if not action.option_strings or action.dest in ("help", "config"):
            continue
        kind = bool if action.nargs == 0 else action.type or str
        if kind is Path:
            paths.append(action.dest)
        options[action.dest] = kind
    values = read_recipe(recipe, options, path_options=paths)
    init = values.get("init")
    if init is not None and ("/" in init or init.endswith(".safetensors")):  # a file, not a bundled model's name
        values["init"] = str(Path(recipe).parent / init)
    for action in train_parser._actions:  # noqa: SLF001
        if action.dest in values and action.choices is not None and values[action.dest] not in action.choices:
            raise ValueError(f"{recipe}: {action.dest!r} must be one of {list(action.choices)}, got "
                             f"{values[action.dest]!r}")
    train_parser.set_defaults(**values)
    args = parser.parse_args(argv)
    args.recipe_options = set(values)
    return args


def _given_options(argv: Sequence[str] | None) -> set[str]:
    """The ``deepcolor train`` options given on the command line (their dests), whatever their values."""
    parser = _parser()
    for action in parser.train_parser._actions:  # noqa: SLF001 - argparse has no public list of its options
        action.default = argparse.SUPPRESS
    given = vars(parser.parse_args(argv))
    return set(given) - {"command", "run"}


def _looks_like_address(value: str) -> bool:
    """A dask scheduler address: ``protocol://...`` or ``host:port``."""
    return "://" in value or re.fullmatch(r"[\w.\-\[\]:]+:\d+", value) is not None and not Path(value).exists()


def _knob_text(config, args: argparse.Namespace) -> str:
    if config.method == "semiconv":
        return (f", kernel threshold {config.kernel_threshold if args.threshold is None else args.threshold:g}, "
                f"foreground threshold "
                f"{config.foreground_threshold if args.foreground_threshold is None else args.foreground_threshold:g}"
                + _object_size_text(config, args))
    absorb = config.absorb_fragments if args.absorb_fragments is None else args.absorb_fragments
    return (f", ρ = {config.merge_distance if args.merge_distance is None else args.merge_distance:g} px"
            + (", fragments below τ joined to a neighbour" if absorb else "")
            + _object_size_text(config, args))


def _object_size_text(config, args: argparse.Namespace) -> str:
    return ("" if args.object_size == 1 else
            f"; objects {args.object_size:g}× the training size, so the network sees the image at scale {config.scale:g}")


def _train(args: argparse.Namespace) -> int:
    from napari_deepcolor.config import TrainConfig
    from napari_deepcolor.io import find_pairs, read_annotation, read_image
    from napari_deepcolor.training.dataset import model_sample
    from napari_deepcolor.training.loop import ValidationPair, train

    if args.output is None:
        raise ValueError("--output is required (on the command line or as `output` in the --config file)")
    if args.images is None and args.synthetic is None:
        raise ValueError("give training data: --images and --labels, or --synthetic (on the command line or in "
                         "the --config file)")
    if (args.images is None) != (args.labels is None):
        raise ValueError("--images and --labels go together")
    if args.synthetic_count < 0 or args.synthetic_val < 0 or args.repeat < 1:
        raise ValueError("--synthetic-count and --synthetic-val must be >= 0, --repeat >= 1")
    if (args.val_images is None) != (args.val_labels is None):
        raise ValueError("--val-images and --val-labels go together")
    ensure_writable_dir(args.output)
    existing = [name for name in ("last.safetensors", "best.safetensors") if (args.output / name).is_file()]
    if existing and not args.resume:
        raise ValueError(f"{args.output} already holds a run ({', '.join(existing)}): continue it with --resume, or "
                         "choose a new --output folder")
    if args.resume and not existing:
        log.info("--resume: no checkpoint in %s yet, so training starts %s", args.output,
                 f"from {args.init}" if args.init else "from scratch")
    model_config = _model_config(args)
    train_config = TrainConfig(margin=args.margin, halo_weight=args.halo_weight, train_halo=not args.no_train_halo,
                               patch_size=args.patch_size, batch_size=args.batch_size, steps=args.steps,
                               learning_rate=args.lr, validate_every=args.validate_every,
                               checkpoint_every=args.checkpoint_every, seed=args.seed,
                               orientation_prior=args.orientation_prior, prior_steps=args.prior_steps,
                               contact_fraction=args.contact_fraction, background_weight=args.background_weight,
                               embedding_weight=args.embedding_weight, foreground_weight=args.foreground_weight,
                               kernel_weight=args.kernel_weight, seed_weight=args.seed_weight)
    pairs = find_pairs(args.images, args.labels) if args.images else []
    val_pairs = find_pairs(args.val_images, args.val_labels) if args.val_images else []
    if args.val_last:
        if args.val_last >= len(pairs):
            raise ValueError(f"--val-last {args.val_last} leaves no training pairs out of {len(pairs)}")
        pairs, val_pairs = pairs[: -args.val_last], pairs[-args.val_last :] + val_pairs
    if pairs:
        names = pairs[0][0].stem if len(pairs) == 1 else f"{pairs[0][0].stem} … {pairs[-1][0].stem}"
        log.info("training on %d pair%s (%s), validating on %d", len(pairs), "" if len(pairs) == 1 else "s", names,
                 len(val_pairs))

    def sample(image: Path, annotation: list[Path]):
        return model_sample(read_image(image), read_annotation(annotation), model_config)

    def validation_pair(image: Path, annotation: list[Path]):
        return _validation_pair(read_image(image), _truth(annotation), model_config)

    samples = [_named(sample, img, ann) for img, ann in pairs]
    samples = samples * args.repeat  # the same arrays several times: more patches from them, no more memory
    validation = [_named(validation_pair, img, ann) for img, ann in val_pairs]
    if args.synthetic:
        from napari_deepcolor.training.synthetic_scenes import synthetic_pairs

        samples += [model_sample(image, labels, model_config)
                    for image, labels in synthetic_pairs(args.synthetic, args.synthetic_count)]
        validation += [ValidationPair(image, labels) for image, labels in
                       synthetic_pairs(args.synthetic, args.synthetic_val, seed=SYNTHETIC_VAL_SEED)]
        log.info("with %d generated %s scenes for training and %d for validation", args.synthetic_count,
                 args.synthetic, args.synthetic_val)
    from tqdm import tqdm

    with tqdm(total=train_config.steps, desc="training", unit="step", file=sys.stderr, disable=None) as bar:
        for event in train(samples, model_config=model_config, train_config=train_config, output=args.output,
                           validation=validation, init=args.init, resume=args.resume, device=args.device,
                           keep_history=args.keep_history):
            bar.n = event.step
            if event.kind == "step":
                bar.set_postfix(loss=f"{event.loss:.4f}")
                bar.refresh()
            elif event.kind == "validation":
                log.info("step %d (%.0f s): %s", event.step, event.elapsed,
                         ", ".join(f"{k} {v:.3f}" for k, v in event.metrics.items()))
            elif event.kind == "done":
                log.info("done in %.0f s: %s", event.elapsed, event.path)
    return 0


def _model_config(args: argparse.Namespace):
    """The network to train. From scratch: the options. Fine-tuning (``--init``) or resuming (``--resume`` with a
    checkpoint in OUTPUT, which is what training starts from then): that checkpoint's own config (its network,
    normalization, scale and decoding knobs), with only the options given on the command line or in the recipe
    changed, so a bare ``--init worms`` keeps worms' half resolution and τ."""
    import dataclasses

    from napari_deepcolor.config import ModelConfig
    from napari_deepcolor.predict.network import model_info

    fields = {"method": "method", "colors": "n_colors", "depth": "depth", "width": "width", "scale": "scale",
              "intensity_max": "intensity_max", "mask_input": "mask_input", "min_size": "min_size", "merge_distance": "merge_distance",
              "absorb_fragments": "absorb_fragments", "embedding_dims": "embedding_dims",
              "coordinate_scale": "coordinate_scale", "threshold": "kernel_threshold",
              "foreground_threshold": "foreground_threshold"}
    last = args.output / "last.safetensors"
    source = last if args.resume and last.is_file() else args.init
    if source is None:
        values = {field: getattr(args, dest) for dest, field in fields.items()}
        return ModelConfig(**values, percentiles=(1.0, args.upper_percentile), in_channels=_channels(args))
    start, _ = model_info(source)
    given = args.given_options | getattr(args, "recipe_options", set())
    changes = {field: getattr(args, dest) for dest, field in fields.items() if dest in given}
    if "upper_percentile" in given:
        changes["percentiles"] = (start.percentiles[0], args.upper_percentile)
    config = dataclasses.replace(start, **changes)
    shown = ("scale", "percentiles", "intensity_max", "mask_input", "min_size") + (
        ("kernel_threshold", "foreground_threshold") if start.method == "semiconv" else
        ("n_colors", "merge_distance", "absorb_fragments"))
    kept = [f"{field} {getattr(start, field)}" for field in shown
            if field not in changes and not (field == "percentiles" and "upper_percentile" in given)]
    log.info("%s %s: keeping its %s (options given override them)", "resuming" if source == last else "fine-tuning",
             source, ", ".join(kept))
    channels = _channels(args)
    if channels != config.in_channels:
        log.warning("the training images are %s and %s takes %s images: they are converted (%s)",
                    "RGB" if channels == 3 else "gray", source, "RGB" if config.in_channels == 3 else "gray",
                    "channels averaged" if channels == 3 else "gray repeated in all three channels")
    return config


def _named(read, image: Path, annotation: list[Path]):
    """``read(image, annotation)``, with the image file named in a `ValueError` (one bad pair among many is
    otherwise hard to find)."""
    try:
        return read(image, annotation)
    except ValueError as error:
        raise ValueError(f"{image}: {error}") from error


def _validation_pair(image: np.ndarray, truth: np.ndarray, config):
    """A `ValidationPair`, checked now rather than at the first validation, after training time is spent."""
    from napari_deepcolor.preprocess import check_mask, to_channels_first
    from napari_deepcolor.training.loop import ValidationPair

    channels = to_channels_first(image, config.in_channels)
    if config.mask_input:
        check_mask(channels)
    if truth.shape[-2:] != channels.shape[-2:]:
        raise ValueError(f"its ground truth has shape {truth.shape} but the image has {channels.shape[-2:]} pixels; "
                         "pair each validation image with its own labels")
    return ValidationPair(image, truth)


def _truth(paths: list[Path]) -> np.ndarray:
    from napari_deepcolor.io import read_annotation, read_mask_stack

    if len(paths) > 1:
        return read_mask_stack(paths)
    return read_annotation(paths)


def _channels(args: argparse.Namespace) -> int:
    from napari_deepcolor.io import list_images, read_image

    if args.images is None:
        from napari_deepcolor.training.synthetic_scenes import GENERATORS

        first = GENERATORS[args.synthetic](0)[0]
    else:
        images = list_images(args.images)
        if not images:
            raise FileNotFoundError(f"no images in {args.images} (tif, png, jpg, ...)")
        first = read_image(images[0])
    return 3 if first.ndim == 3 and first.shape[-1] in (3, 4) else 1


def _evaluate(args: argparse.Namespace) -> int:
    from napari_deepcolor.io import ambiguous_annotation, annotation_for, list_images, read_labels
    from napari_deepcolor.metrics import evaluate, summarize

    for folder in (args.pred_dir, args.gt_dir):
        if not folder.is_dir():
            raise FileNotFoundError(f"no such folder: {folder}")
    preds = {p.stem.removesuffix("_labels"): p for p in sorted(args.pred_dir.glob("*_labels.tif"))}
    if not preds:
        zarr = " (evaluate reads TIFF label images: predict with --output-format tif)" if any(
            args.pred_dir.glob("*_labels.zarr")) else ""
        raise FileNotFoundError(f"no <stem>_labels.tif files in {args.pred_dir}{zarr}")
    truths, results = list_images(args.gt_dir), []
    for stem, pred_path in preds.items():
        ann = annotation_for(stem, truths)
        if ambiguous_annotation(stem, truths):
            log.warning("%s: %s holds both %s and per-object masks %s_01, ...; %s is used as the label image (if it "
                        "is the image, move it out of the ground-truth folder)", stem, args.gt_dir, ann[0].name, stem,
                        ann[0].name)
        if ann is None:
            log.warning("no ground truth for %s in %s; skipped", stem, args.gt_dir)
            continue
        result = evaluate(_truth(ann), read_labels(pred_path))
        results.append(result)
        print(f"{stem}\t" + "\t".join(f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}"
                                      for k, v in result.items()))
    if not results:
        raise ValueError(f"no prediction in {args.pred_dir} has ground truth in {args.gt_dir}")
    summary = summarize(results)
    print("mean\t" + "\t".join(f"{k} {v}" if isinstance(v, int) else f"{k} {v:.3f}" for k, v in summary.items()))
    return 0


def _ensemble(args: argparse.Namespace) -> int:
    from napari_deepcolor.checkpoint import half_precision, save_checkpoint
    from napari_deepcolor.io import list_images, read_image
    from napari_deepcolor.predict.ensemble import make_ensemble

    if args.output.suffix != ".safetensors":
        raise ValueError(f"--output must be a .safetensors file, got {args.output}")
    if args.output.exists():
        raise FileExistsError(f"{args.output} exists; choose another --output or delete it first")
    if args.first is not None and args.first < 1:
        raise ValueError(f"--first must be >= 1, got {args.first}")
    paths = list_images(args.images)[: args.first]
    if not paths:
        raise FileNotFoundError(f"no images in {args.images} (TIFF, PNG, JPEG) to match the models' colors on")
    checkpoint = make_ensemble(args.models, [read_image(path) for path in paths], flips=args.flips)
    checkpoint.metadata["ensemble"]["aligned_on"] = f"{len(paths)} images of {args.images} ({paths[0].name} ...)"
    if args.half:
        checkpoint = half_precision(checkpoint)
    path = save_checkpoint(args.output, checkpoint)
    log.info("wrote %s (%.1f MB): %d model(s) x %d flip(s), colors matched on %d images; share of the overlap "
             "kept per model and flip: %s", path, path.stat().st_size / 1e6, len(args.models), args.flips,
             len(paths), checkpoint.metadata["ensemble"].get("aligned_overlap", "(nothing to match)"))
    return 0


def _models(args: argparse.Namespace) -> int:
    from napari_deepcolor.predict.network import model_info
    from napari_deepcolor.zoo import bundled_models

    models = bundled_models()
    if not models:
        print("no bundled models")
        return 0
    for name, path in models.items():
        config, metadata = model_info(path)
        val = metadata.get("validation") or {}
        scores = ", ".join(f"{k} {val[k]:.3f}" for k in ("ap50", "mean_ap", "sbd") if k in val)
        if config.method == "semiconv":
            knobs = (f"{config.embedding_dims} dims, σ {metadata.get('sigma', float('nan')):.3g}, scale "
                     f"{config.scale:g}, τ {config.min_size:g}, threshold {config.kernel_threshold:g}, foreground "
                     f"{config.foreground_threshold:g}")
        else:
            knobs = (f"{config.n_colors} colors, scale {config.scale:g}, τ {config.min_size:g}, "
                     f"ρ {config.merge_distance:g}" + (", fragments joined" if config.absorb_fragments else ""))
        card = f" (card: {metadata['card']})" if metadata.get("card") else ""
        knobs += ", input: a foreground mask" if config.mask_input else ""
        if config.members > 1:
            knobs += f", ensemble of {config.members} networks"
        if config.test_time_flips > 1:
            knobs += f", {config.test_time_flips} test-time flips"
        print(f"{name}\t{config.method}, {knobs}\t{metadata.get('description', '')} {scores}".rstrip() + card)
    return 0


if __name__ == "__main__":
    sys.exit(main())
