"""``deepcolor train``: train or fine-tune a model on images and labels, or on generated scenes."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from napari_deepcolor.cli._common import add_command, add_device_option, channels, log, object_size_arg, truth
from napari_deepcolor.io import ensure_writable_dir
from napari_deepcolor.methods import get_method
from napari_deepcolor.training.presets import FINETUNE_REPLAY

#: Seed of the first generated validation scene; training scenes use seeds 0..synthetic_count-1.
SYNTHETIC_VAL_SEED = 1_000_000


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Add ``train`` and its options to the ``deepcolor`` subcommands (every option may also come from a recipe)."""
    t = add_command(subparsers, "train", help="train or fine-tune a model on images and labels",
                    epilog="With --init, or --resume of a run, the model's options not given (--scale, "
                    "--min-size, ...) keep that checkpoint's values instead of these defaults.")
    _add_data_options(t)
    t.add_argument("--init", help="start from this model (bundled name or file): fine-tuning (default: from scratch)")
    t.add_argument("--object-size", type=object_size_arg, default="auto", metavar="FACTOR|auto", help="fine-tuning: "
                   "how large the training objects are against the --init model's; the network trains at its scale "
                   "/ FACTOR (τ × FACTOR², ρ × FACTOR) so it sees them at the size it learned. auto: estimated from "
                   "the training images (at most 8); 1 keeps the model's scale; --scale overrides it")
    t.add_argument("--name", help="also keep the trained model as one of your models under this name (a copy of "
                   "OUTPUT/best.safetensors, else last.safetensors, in your model folder): the napari widgets and "
                   "`deepcolor predict --model NAME` find it; `deepcolor models` lists it")
    t.add_argument("--keep-history", action="store_true", help="also keep every checkpoint as "
                   "OUTPUT/history/step-N.safetensors (for scripts/average_checkpoints.py)")
    t.add_argument("--resume", action="store_true", help="continue from OUTPUT/last.safetensors")
    t.add_argument("--method", default="coloring", choices=("coloring", "semiconv"), help="deep coloring or "
                   "semi-convolutional embeddings")
    _add_loss_options(t)
    _add_network_options(t)
    t.add_argument("--seed", type=int, default=0, help="seed of the patch sampler, augmentation and initialization")
    add_device_option(t)
    t.set_defaults(run=run)
    return t


def _add_data_options(t: argparse.ArgumentParser) -> None:
    t.add_argument("--config", type=Path, help="TOML recipe whose keys are these options (docs/training.md); "
                   "options given on the command line override it")
    t.add_argument("--images", type=Path, help="folder of training images (required unless --synthetic)")
    t.add_argument("--labels", type=Path, help="folder of label images (<stem>.tif, <stem>_labels.tif) or of "
                   "per-object masks (<stem>_01.png, <stem>_02.png, ...)")
    t.add_argument("--channel", type=int, default=None, metavar="C", help="train on channel C (from 0) of images "
                   "with channels, first or last ((C, Y, X) or (Y, X, C)), as gray images; predict with the same "
                   "--channel (default: the images as they are)")
    t.add_argument("--repeat", type=int, default=1, help="count each pair from --images this many times when "
                   "drawing patches, to weigh a few real images against many generated ones")
    t.add_argument("--synthetic", choices=("ecoli", "rosette", "rosette-plain", "rosette-artefacts", "nuclei",
                                            "nuclei-artefacts"),
                   help="also train on generated scenes (napari_deepcolor.training.synthetic_scenes): phase-contrast "
                   "E. coli colonies, RGB photos of potted plant rosettes (rosette-plain: plants on bare soil, what "
                   "the first leaf models trained on; rosette-artefacts: with white balance, gamma, colour, defocus, "
                   "shadows and strong JPEG at times) or fluorescent nuclei (nuclei-artefacts: with uneven "
                   "illumination, cytoplasmic stain, strong blur, saturation and JPEG compression at times)")
    t.add_argument("--synthetic-count", type=int, default=200, help="number of generated training scenes, "
                   "seeds 0..N-1")
    t.add_argument("--synthetic-val", type=int, default=0, help="also validate on this many generated scenes, "
                   "seeds 1000000.., never trained on")
    t.add_argument("--output", type=Path, help="folder for last.safetensors and best.safetensors (required)")
    t.add_argument("--val-images", type=Path, help="folder of validation images (with --val-labels)")
    t.add_argument("--val-labels", type=Path, help="folder of their label images or per-object masks (with "
                   "--val-images)")
    t.add_argument("--val-last", type=int, default=0, help="hold out the last N training pairs (sorted by name) "
                   "for validation instead")


def _add_loss_options(t: argparse.ArgumentParser) -> None:
    """The output of each method and the terms of its loss."""
    t.add_argument("--colors", type=int, default=9, help="coloring: C, colors including background")
    t.add_argument("--embedding-dims", type=int, default=8, help="semiconv: D >= 2 embedding dimensions, the "
                   "first two positional")
    t.add_argument("--coordinate-scale", type=float, default=32.0, help="semiconv: network pixels per embedding "
                   "unit of the positions")
    t.add_argument("--threshold", type=float, default=0.5, help="semiconv: kernel threshold stored as the model's "
                   "recommendation")
    t.add_argument("--foreground-threshold", type=float, default=0.5, help="semiconv: foreground threshold stored "
                   "as the model's recommendation")
    for term, default in (("embedding", 1.0), ("foreground", 1.0), ("kernel", 1.0), ("seed", 1.0)):
        t.add_argument(f"--{term}-weight", type=float, default=default, help=f"semiconv: weight of the {term} term "
                       "of the loss")
    t.add_argument("--margin", type=int, default=6, help="coloring: halo margin m in network pixels")
    t.add_argument("--halo-weight", type=float, default=2.0, help="coloring: μ")
    t.add_argument("--no-train-halo", action="store_true", help="use the halo term only to choose colors, not "
                   "in the trained loss")
    t.add_argument("--orientation-prior", type=float, default=0.0, help="coloring: weight of a preference for "
                   "the color matching each object's orientation in the color choice, a symmetry breaker for "
                   "touching elongated objects (default: %(default)s = the paper's choice)")
    t.add_argument("--prior-steps", type=int, default=0, help="coloring: steps over which --orientation-prior "
                   "fades to 0 (default: %(default)s = constant)")
    t.add_argument("--contact-fraction", type=float, default=0.0, help="fraction of patches centred where two "
                   "objects touch")
    t.add_argument("--zoom", type=float, default=1.0, help="show each patch zoomed by a random factor between "
                   "1/ZOOM and ZOOM, so the model tolerates objects that much smaller or larger (default: %(default)s "
                   "= off)")
    t.add_argument("--fade-objects", type=float, default=0.0, metavar="P", help="with probability P a patch's "
                   "objects are faded: half of them keep 20-80%% of their contrast, so the model also learns faint "
                   "objects (default: %(default)s = off)")
    t.add_argument("--background-weight", type=float, default=1.0, help="coloring: weight of a background pixel "
                   "relative to an object pixel in the loss (default: %(default)s = the paper; below 1 for sparse, "
                   "faint objects)")


def _add_network_options(t: argparse.ArgumentParser) -> None:
    """Input, network, schedule and the decoding stored in the model."""
    t.add_argument("--scale", type=float, default=1.0, help="resize images by this before the network")
    t.add_argument("--upper-percentile", type=float, default=99.8,
                   help="intensity percentile mapped to 1, the 1st percentile to 0")
    t.add_argument("--intensity-max", type=float, default=None,
                   help="clip normalized intensities above this (default: no clipping); with a low "
                        "--upper-percentile it keeps faint objects visible next to very bright ones")
    t.add_argument("--sparse-percentile", type=float, default=None,
                   help="fluorescence: on a field whose bright objects are too few to reach --upper-percentile (it "
                        "lies less than halfway to this percentile, on a dark background), map this percentile to 1 "
                        "instead, so background noise is not stretched into objects (default: not used; the bundled "
                        "nuclei uses 99.99)")
    t.add_argument("--mask-input", action=argparse.BooleanOptionalAction, default=False, help="the images are "
                   "foreground masks (any nonzero pixel is foreground): the model learns to split touching objects "
                   "in a segmentation made elsewhere (with --init, --no-mask-input turns a mask model back to images)")
    t.add_argument("--depth", type=int, default=4, help="U-Net poolings")
    t.add_argument("--width", type=int, default=16, help="channels of the first U-Net level (doubled at each level)")
    t.add_argument("--patch-size", type=int, default=160, help="side of the training patches, network pixels")
    t.add_argument("--batch-size", type=int, default=8, help="patches per step")
    t.add_argument("--steps", type=int, default=2000, help="training steps (at most, with --minutes)")
    t.add_argument("--minutes", type=float, default=None, help="time budget: after the first steps, the number of "
                   "steps becomes what fits in it (at most --steps) (default: no budget, --steps steps)")
    t.add_argument("--patience", type=int, default=None, help="stop after this many validations in a row without a "
                   "better validation AP50 (default: never stop early)")
    t.add_argument("--no-holdout", action="store_true", help="fine-tuning without validation images: do not hold "
                   "out part of the annotations for a score (by default a quarter of the annotated objects is held "
                   "out: training/holdout.py), so there is no score and no check against the starting model")
    t.add_argument("--lr", type=float, default=1e-3, help="learning rate (Adam); with --init and not given: the "
                   "lowest of this, 3e-4 and the rate the starting model last trained at")
    t.add_argument("--freeze-norm", action=argparse.BooleanOptionalAction, default=None, help="keep the batch-norm "
                   "statistics of the starting weights (default: on with --init, off from scratch)")
    t.add_argument("--anchor-weight", type=float, default=0.0, help="with --init: weight of the L2-SP pull towards "
                   "the starting weights")
    t.add_argument("--freeze-encoder", action=argparse.BooleanOptionalAction, default=None, help="train the "
                   "decoder only, the encoder keeping the starting weights (default: on with --init)")
    t.add_argument("--replay", type=float, default=FINETUNE_REPLAY, help="with --init: about this fraction of the "
                   "patches comes from images like those the starting model learned from (generated ones, or "
                   "bundled wells for worms), so it does not forget them; 0 = off")
    t.add_argument("--validate-every", type=int, default=200, help="steps between validations")
    t.add_argument("--checkpoint-every", type=int, default=100, help="steps between writes of last.safetensors")
    t.add_argument("--min-size", type=float, default=0.0, help="τ stored as the model's recommendation")
    t.add_argument("--merge-distance", type=float, default=0.0, help="coloring: ρ stored as the model's "
                   "recommendation")
    t.add_argument("--absorb-fragments", action="store_true", help="coloring: decode by joining pieces below τ to "
                   "a touching neighbour (stored as the model's recommendation, used for validation)")


def run(args: argparse.Namespace) -> int:
    """Train, logging validations and the checkpoint written; 0 at the end."""
    _check_options(args)
    ensure_writable_dir(args.output)
    existing = [name for name in ("last.safetensors", "best.safetensors") if (args.output / name).is_file()]
    if existing and not args.resume:
        raise ValueError(f"{args.output} already holds a run ({', '.join(existing)}): continue it with --resume, or "
                         "choose a new --output folder")
    if args.resume and not existing:
        log.info("--resume: no checkpoint in %s yet, so training starts %s", args.output,
                 f"from {args.init}" if args.init else "from scratch")
    start_config = model_config = _model_config(args)
    metadata = {}
    fine_tuning = bool(args.init) and not (args.resume and existing)
    if fine_tuning:
        model_config, metadata = _fine_tuning_size(args, model_config)
    train_config = _train_config(args, fine_tuning=fine_tuning)
    samples, validation = _data(args, model_config)
    if fine_tuning:
        samples, train_config = _with_replay(args, samples, start_config, train_config, metadata)
    improved = _train(args, samples, validation, model_config, train_config, metadata)
    if getattr(args, "name", None):
        _keep_as_user_model(args.name, args.output, start=args.init if improved is False else None)
    return 0


def _with_replay(args: argparse.Namespace, samples: list, start_config, train_config, metadata: dict):
    """Fine-tuning: the samples with the starting model's own kind of images replayed (`--replay`), and the
    schedule; when the starting model found none of the annotated objects at any size, the whole network trains
    without replay unless those options are given (`napari_deepcolor.training.finetune.NEW_KIND`)."""
    import dataclasses

    from napari_deepcolor.training.finetune import NEW_KIND, with_replay

    replay, given = args.replay, args.given_options | getattr(args, "recipe_options", set())
    if not metadata.get("start_fits", True):
        replay = replay if "replay" in given else 0.0
        if "freeze_encoder" not in given:
            train_config = dataclasses.replace(train_config, freeze_encoder=False)
        log.info("%s", NEW_KIND)
    samples, note = with_replay(samples, args.init, start_config, replay, metadata)
    if note:
        log.info("%s", note)
    return samples, train_config


def _keep_as_user_model(name: str, output: Path, *, start: str | None = None) -> None:
    """``--name``: the run's kept checkpoint (best, else last) becomes one of the user's models; ``start``: the
    fine-tuning did not beat that starting model on the held-out annotations, which the line says again."""
    from napari_deepcolor.zoo import RUN_CHECKPOINTS, user

    checkpoint = next(output / file for file in RUN_CHECKPOINTS if (output / file).is_file())
    used = user.add(name, checkpoint)
    renamed = f" ({name!r} was taken)" if used != name else ""
    log.info("kept %s as your model %r%s in %s", checkpoint.name, used, renamed, user.models_dir())
    if start is not None:
        log.warning("%r did not beat %s, the model it started from, on the held-out annotations: for these images "
                    "%s is the better choice (deepcolor predict --model %s)", used, start, start, start)


def _check_options(args: argparse.Namespace) -> None:
    """Refuse missing data and options that go together given alone, before anything is read."""
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
    if args.channel is not None and args.channel < 0:
        raise ValueError(f"--channel counts from 0, got {args.channel}")
    if args.minutes is not None and not args.minutes > 0:  # (NaN too)
        raise ValueError(f"--minutes must be a positive time budget in minutes, got {args.minutes:g}")
    if args.patience is not None and args.patience < 1:
        raise ValueError(f"--patience must be at least 1 validation, got {args.patience}")
    if args.name:  # where the model will go, checked before the training time is spent
        from napari_deepcolor.zoo import user

        user.check_folder()


def _train_config(args: argparse.Namespace, *, fine_tuning: bool = False):
    """The schedule and loss from the options; fine-tuning (``--init``), the loss knobs not given come from the
    starting model's own training (`napari_deepcolor.training.finetune.start_training`), as in the Train dock."""
    import dataclasses

    config = _options_train_config(args)
    if not fine_tuning:
        return dataclasses.replace(config, freeze_norm=bool(args.freeze_norm))
    from napari_deepcolor.training.finetune import INHERITED_KNOBS, INHERITED_LOSS, fine_tuning_rate, start_training
    from napari_deepcolor.training.presets import FINETUNE_FREEZE_ENCODER, FINETUNE_FREEZE_NORM

    given = args.given_options | getattr(args, "recipe_options", set())
    trained = start_training(args.init)
    knob_of = {"no_train_halo": "train_halo", "lr": "learning_rate"}
    changes = {k: trained[k] for k in (*INHERITED_KNOBS, *INHERITED_LOSS) if trained.get(k) is not None and
               k not in {knob_of.get(g, g) for g in given}}
    if "lr" not in given:
        changes["learning_rate"] = fine_tuning_rate(args.lr, trained)
    if changes:
        log.info("fine-tuning with the starting model's own %s (options given override them)",
                 ", ".join(f"{k} {v:g}" if isinstance(v, float) else f"{k} {v}" for k, v in changes.items()))
    freeze = FINETUNE_FREEZE_NORM if args.freeze_norm is None else args.freeze_norm
    encoder = FINETUNE_FREEZE_ENCODER if args.freeze_encoder is None else args.freeze_encoder
    return dataclasses.replace(config, **changes, freeze_norm=freeze, anchor_weight=args.anchor_weight,
                               freeze_encoder=encoder)


def _options_train_config(args: argparse.Namespace):
    from napari_deepcolor.config import TrainConfig

    return TrainConfig(margin=args.margin, halo_weight=args.halo_weight, train_halo=not args.no_train_halo,
                       patch_size=args.patch_size, batch_size=args.batch_size, steps=args.steps,
                       learning_rate=args.lr, validate_every=args.validate_every,
                       checkpoint_every=args.checkpoint_every, seed=args.seed,
                       orientation_prior=args.orientation_prior, prior_steps=args.prior_steps,
                       contact_fraction=args.contact_fraction, zoom=args.zoom, fade_objects=args.fade_objects,
                       background_weight=args.background_weight,
                       embedding_weight=args.embedding_weight, foreground_weight=args.foreground_weight,
                       kernel_weight=args.kernel_weight, seed_weight=args.seed_weight)


def _data(args: argparse.Namespace, model_config) -> tuple[list, list]:
    """The training samples and the validation pairs: of ``--images`` (``--repeat`` times), of ``--val-images`` or
    ``--val-last``, and generated scenes."""
    from napari_deepcolor.cli.pairs import read_planes
    from napari_deepcolor.io import find_pairs
    from napari_deepcolor.training.dataset import model_sample
    from napari_deepcolor.training.loop import ValidationPair

    pairs = find_pairs(args.images, args.labels) if args.images else []
    val_pairs = find_pairs(args.val_images, args.val_labels) if args.val_images else []
    if args.val_last:
        if args.val_last >= len(pairs):
            raise ValueError(f"--val-last {args.val_last} leaves no training pairs out of {len(pairs)}")
        pairs, val_pairs = pairs[: -args.val_last], pairs[-args.val_last :] + val_pairs
    if args.init and pairs and not val_pairs and not args.synthetic_val and not args.no_holdout:
        return _held_out_data(args, pairs, model_config)
    if pairs:
        names = pairs[0][0].stem if len(pairs) == 1 else f"{pairs[0][0].stem} … {pairs[-1][0].stem}"
        log.info("training on %d pair%s (%s), validating on %d", len(pairs), "" if len(pairs) == 1 else "s", names,
                 len(val_pairs))

    def samples_of(image: Path, annotation: list[Path]):
        return [model_sample(plane, labels, model_config)
                for plane, labels in read_planes(image, annotation, args.channel)[0]]

    def validation_of(image: Path, annotation: list[Path]):
        planes, stack = read_planes(image, annotation, args.channel)
        if not stack:  # the image read once; per-object masks kept as they are: overlaps scored exactly
            return [_validation_pair(planes[0][0], truth(annotation), model_config)]
        return [_validation_pair(plane, labels, model_config) for plane, labels in planes]

    samples = [sample for img, ann in pairs for sample in _named(samples_of, img, ann)]
    samples = samples * args.repeat  # the same arrays several times: more patches from them, no more memory
    validation = [pair for img, ann in val_pairs for pair in _named(validation_of, img, ann)]
    if args.synthetic:
        from napari_deepcolor.training.synthetic_scenes import synthetic_pairs

        samples += [model_sample(image, labels, model_config)
                    for image, labels in synthetic_pairs(args.synthetic, args.synthetic_count)]
        validation += [ValidationPair(image, labels) for image, labels in
                       synthetic_pairs(args.synthetic, args.synthetic_val, seed=SYNTHETIC_VAL_SEED)]
        log.info("with %d generated %s scenes for training and %d for validation", args.synthetic_count,
                 args.synthetic, args.synthetic_val)
    return samples, validation


def _fine_tuning_size(args: argparse.Namespace, model_config) -> tuple[object, dict]:
    """Fine-tuning: the config resized for the training objects' size against the --init model's (estimated from
    the training images unless --object-size or --scale is given), and the metadata that records it."""
    from napari_deepcolor.cli.pairs import read_planes
    from napari_deepcolor.io import find_pairs
    from napari_deepcolor.predict.network import resize_objects
    from napari_deepcolor.training.finetune import kind_hint, sized_for_training

    given = args.given_options | getattr(args, "recipe_options", set())
    if "scale" in given or args.images is None or args.object_size == 1:
        return model_config, {}
    if args.object_size != "auto":
        config = resize_objects(model_config, args.object_size)
        log.info("training objects %g× the starting model's (given): fine-tuning at scale %g", args.object_size,
                 config.scale)
        return config, {"trained_object_size": args.object_size, "trained_object_size_how": "given"}
    read = [plane for image, annotation in find_pairs(args.images, args.labels)[:8]
            for plane in read_planes(image, annotation, args.channel)[0]][:8]
    images = [image for image, _ in read]
    config, metadata = sized_for_training(args.init, images, model_config, args.device,
                                          labels=[labels for _, labels in read])
    log.info("%s (scale %g)", metadata["trained_object_size_note"], config.scale)
    hint = kind_hint(args.init, images[0]) if not metadata.get("start_fits", True) and images else ""
    if hint:  # a new kind for the start (`_with_replay` says what that changes)
        log.info("%s", hint)
    return config, metadata


def _held_out_data(args: argparse.Namespace, pairs: list, model_config) -> tuple[list, list]:
    """Fine-tuning without validation images: a quarter of the annotated objects held out for the score."""
    from napari_deepcolor.cli.pairs import read_planes
    from napari_deepcolor.training.dataset import model_sample
    from napari_deepcolor.training.holdout import split_holdout
    from napari_deepcolor.training.loop import ValidationPair

    split = split_holdout([plane for image, annotation in pairs
                           for plane in read_planes(image, annotation, args.channel)[0]])
    log.info("%s", split.note)
    samples = [model_sample(image, labels, model_config) for image, labels in split.training] * args.repeat
    return samples, [ValidationPair(image, labels) for image, labels in split.held_out]


def _train(args: argparse.Namespace, samples: list, validation: list, model_config, train_config,
           metadata: dict | None = None) -> bool | None:
    """Run the training loop under a progress bar (step, loss, held-out score, time left); without a terminal,
    a log line every 30 s instead. Returns whether it beat its starting model on the held-out score (None: nothing
    to compare)."""
    import time

    from tqdm import tqdm

    from napari_deepcolor.training.loop import train

    quiet = not sys.stderr.isatty()
    score, last_line, improved = "", time.monotonic(), None
    first: tuple[int, float] | None = None  # the first step event's (step, elapsed): the pace since then, as a
    # resumed run's step count includes steps an earlier run made
    with tqdm(total=train_config.steps, desc="training", unit="step", file=sys.stderr, disable=None) as bar:
        for event in train(samples, model_config=model_config, train_config=train_config, output=args.output,
                           validation=validation, init=args.init, resume=args.resume, device=args.device,
                           keep_history=args.keep_history, metadata=metadata,
                           time_budget=None if args.minutes is None else 60 * args.minutes, patience=args.patience):
            bar.total, bar.n = event.total, event.step
            if event.kind == "step":
                bar.set_postfix_str(f"loss {event.loss:.4f}{score}")
                first = first or (event.step, event.elapsed)
                if quiet and time.monotonic() - last_line >= 30 and event.step > first[0]:
                    pace = (event.elapsed - first[1]) / (event.step - first[0])
                    log.info("step %d/%d, loss %.4f%s, %.0f s, about %.0f s left", event.step, event.total,
                             event.loss, score, event.elapsed, pace * (event.total - event.step))
                    last_line = time.monotonic()
            elif event.kind == "validation":
                score = f", held-out AP50 {event.metrics['ap50']:.3f}"
                what = f" ({event.note})" if event.note else ""
                log.info("step %d%s (%.0f s): %s", event.step, what, event.elapsed,
                         ", ".join(f"{k} {v:.3f}" for k, v in event.metrics.items()))
            elif event.kind in ("size_model", "early_stop"):
                log.info("%s", event.note or "fitting the automatic object size on the training images")
            elif event.kind == "done":
                log.info("done in %.0f s: %s", event.elapsed, event.path)
                _guard(event)
                improved = event.improved
            bar.refresh()
    return improved


def _guard(event) -> None:
    """Say plainly whether fine-tuning beat the starting model on the held-out score."""
    if event.improved is None:
        return
    start, kept = event.start_metrics.get("ap50", float("nan")), event.metrics.get("ap50", float("nan"))
    if event.improved:
        log.info("fine-tuning helped: held-out AP50 %.3f -> %.3f (%s)", start, kept, event.path)
    elif event.below_bar:  # better, but by less than chance gives
        log.warning("fine-tuning did NOT beat the starting model on the held-out annotations by enough to count: "
                    "AP50 %.3f -> %.3f, %.3f needed (a smaller gain on this many held-out objects can be "
                    "chance): keep using the starting model; the new one is at %s if you want it anyway", start, kept,
                    event.needed, event.path)
    else:
        log.warning("fine-tuning did NOT beat the starting model on the held-out annotations (AP50 %.3f, the new "
                    "model's %.3f): keep using the starting model; the new one is at %s if you want it anyway",
                    start, kept, event.path)


def _model_config(args: argparse.Namespace):
    """The network to train. From scratch: the options. Fine-tuning (``--init``) or resuming (``--resume`` with a
    checkpoint in OUTPUT, which is what training starts from then): that checkpoint's own config (its network,
    normalization, scale and decoding knobs), with only the options given on the command line or in the recipe
    changed, so a bare ``--init worms`` keeps worms' half resolution and τ."""
    import dataclasses

    from napari_deepcolor.config import ModelConfig
    from napari_deepcolor.predict.network import model_info

    fields = {"method": "method", "colors": "n_colors", "depth": "depth", "width": "width", "scale": "scale",
              "intensity_max": "intensity_max", "sparse_percentile": "sparse_percentile",
              "mask_input": "mask_input", "min_size": "min_size",
              "merge_distance": "merge_distance", "absorb_fragments": "absorb_fragments",
              "embedding_dims": "embedding_dims", "coordinate_scale": "coordinate_scale",
              "threshold": "kernel_threshold", "foreground_threshold": "foreground_threshold"}
    last = args.output / "last.safetensors"
    source = last if args.resume and last.is_file() else args.init
    if source is None:
        values = {field: getattr(args, dest) for dest, field in fields.items()}
        return ModelConfig(**values, percentiles=(1.0, args.upper_percentile), in_channels=channels(args))
    start, _ = model_info(source)
    given = args.given_options | getattr(args, "recipe_options", set())
    changes = {field: getattr(args, dest) for dest, field in fields.items() if dest in given}
    if "upper_percentile" in given:
        changes["percentiles"] = (start.percentiles[0], args.upper_percentile)
        if "sparse_percentile" not in given and start.sparse_percentile is not None \
                and start.sparse_percentile <= args.upper_percentile:
            changes["sparse_percentile"] = None  # a high limit at or above it: nothing left for it to raise
    config = dataclasses.replace(start, **changes)
    shown = (("scale", "percentiles", "intensity_max", "mask_input", "min_size")
             + get_method(start.method).config_fields)
    kept = [f"{field} {getattr(start, field)}" for field in shown
            if field not in changes and not (field == "percentiles" and "upper_percentile" in given)]
    log.info("%s %s: keeping its %s (options given override them)", "resuming" if source == last else "fine-tuning",
             source, ", ".join(kept))
    image_channels = channels(args)
    if image_channels != config.in_channels:
        log.warning("the training images are %s and %s takes %s images: they are converted (%s)",
                    "RGB" if image_channels == 3 else "gray", source, "RGB" if config.in_channels == 3 else "gray",
                    "channels averaged" if image_channels == 3 else "gray repeated in all three channels")
    return config


def _named(read, image: Path, annotation: list[Path]):
    """``read(image, annotation)``, with the image file named in a `ValueError` (one bad pair among many is
    otherwise hard to find)."""
    try:
        return read(image, annotation)
    except ValueError as error:
        raise ValueError(f"{image}: {error}") from error


def _validation_pair(image: np.ndarray, labels: np.ndarray, config):
    """A `ValidationPair`, checked now rather than at the first validation, after training time is spent."""
    from napari_deepcolor.preprocess import check_mask, to_channels_first
    from napari_deepcolor.training.loop import ValidationPair

    image_channels = to_channels_first(image, config.in_channels)
    if config.mask_input:
        check_mask(image_channels)
    if labels.shape[-2:] != image_channels.shape[-2:]:
        raise ValueError(f"its ground truth has shape {labels.shape} but the image has {image_channels.shape[-2:]} "
                         "pixels; pair each validation image with its own labels")
    return ValidationPair(image, labels)
