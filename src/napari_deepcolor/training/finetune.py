"""Fine-tuning from layers: turn (image, labels) pairs as a user painted them into training planes, and run training
as a generator the training widget drives from a worker thread.

No torch or Qt at import: torch is loaded inside `finetune` only.

Only what the user labeled counts:

- in a stack ``(T, Y, X)``, planes whose labels are all 0 are left out (not annotated yet);
- an optional ``region`` mask marks where the annotation is complete: pixels outside it become -1 (ignored by the
  loss);
- an optional ``ignore_label`` value, painted like any label, also becomes -1;
- pixels already labelled -1 stay ignored.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from napari_deepcolor.config import ConfigError, ModelConfig, TrainConfig
from napari_deepcolor.preprocess import IGNORE
from napari_deepcolor.training.presets import (
    FINETUNE_ANCHOR_WEIGHT,
    FINETUNE_FREEZE_ENCODER,
    FINETUNE_FREEZE_NORM,
    FINETUNE_LEARNING_RATE,
    FINETUNE_REPLAY,
    Preset,
)

SCRATCH = "from scratch"


def annotated_planes(
    image: np.ndarray,
    labels: np.ndarray,
    *,
    rgb: bool = False,
    region: np.ndarray | None = None,
    ignore_label: int | None = None,
    name: str = "labels",
) -> list[tuple[np.ndarray, np.ndarray]]:
    """The annotated 2D planes of an (image, labels) pair, with unannotated pixels set to -1.

    Parameters
    ----------
    image : ndarray, shape (..., Y, X) gray or (..., Y, X, 3|4) with ``rgb``
    labels : ndarray, shape (..., Y, X), int
        Same shape as the image without its channel axis. 0 = background, -1 = not annotated.
    rgb : bool
        The image's last axis holds color channels.
    region : ndarray, shape (..., Y, X) or (Y, X), bool, optional
        True where the annotation is complete (a painted labels layer > 0, or shapes drawn over the image); a 2D
        region applies to every plane. Pixels outside it are ignored.
    ignore_label : int, optional
        A label value that means "not annotated" (ignored, not background).
    name : str
        The labels' name in error messages.

    Returns
    -------
    list of (image plane (Y, X[, C]), labels plane (Y, X) int32)
        Planes with at least one object (label > 0) after masking.

    Raises
    ------
    ValueError
        Shapes that do not match, labels that are not integers, NaN or infinite pixels, or no annotated object.
    """
    image, labels = np.asarray(image), np.asarray(labels)
    spatial = image.shape[:-1] if rgb else image.shape
    if labels.shape != spatial:
        raise ValueError(f"{name} has shape {labels.shape} but its image has shape {spatial}"
                         f"{' (plus color channels)' if rgb else ''}; pick the labels layer painted on this image")
    if len(spatial) < 2:
        raise ValueError(f"expected an image with at least 2 dimensions, got shape {image.shape}")
    if not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"{name} must hold integers (0 = background), got dtype {labels.dtype}")
    labels = labels.astype(np.int32, copy=True)
    if ignore_label is not None:
        labels[labels == ignore_label] = IGNORE
    if region is not None:
        region = np.asarray(region).astype(bool)
        if region.shape not in (labels.shape, labels.shape[-2:]):
            expected = f"{labels.shape} or {labels.shape[-2:]}" if labels.ndim > 2 else f"{labels.shape}"
            raise ValueError(f"the annotated region has shape {region.shape}; expected {expected} like {name}")
        labels[~np.broadcast_to(region, labels.shape)] = IGNORE
    if np.issubdtype(image.dtype, np.inexact) and not np.isfinite(image).all():
        raise ValueError(f"the image of {name} contains NaN or infinite values; replace them (e.g. with 0) first")
    planes_image = image.reshape(-1, *image.shape[len(spatial) - 2 :])
    planes_labels = labels.reshape(-1, *labels.shape[-2:])
    kept = [(planes_image[i], planes_labels[i]) for i in range(len(planes_labels)) if (planes_labels[i] > 0).any()]
    if not kept:
        where = " inside the annotated region" if region is not None else ""
        raise ValueError(f"{name} has no objects{where}: paint at least one object (label > 0) to train on")
    return kept


def model_config_for(start: str, preset: Preset, *, in_channels: int, method: str = "coloring") -> ModelConfig:
    """The network to train: the starting model's (fine-tuning), with the preset's scale and min_size, or a new
    ``method`` network of ``preset.n_colors`` colors and ``in_channels`` channels (``start == SCRATCH``).

    ``start`` is `SCRATCH`, a bundled model name or a checkpoint path. Fine-tuning keeps the starting model's
    method; asking for another one is a `ConfigError`.
    """
    sparse = preset.sparse_percentile or None  # 0: off
    if start == SCRATCH:
        return ModelConfig(method=method, n_colors=preset.n_colors, in_channels=in_channels, scale=preset.scale,
                           min_size=preset.min_size, sparse_percentile=sparse)
    from napari_deepcolor.predict.network import model_info

    config, _ = model_info(start)
    if config.method != method:
        raise ConfigError(f"{start} is a {config.method} model and cannot be fine-tuned as a {method} model; "
                          f"choose the {config.method} method or start from scratch")
    return replace(config, scale=preset.scale, min_size=preset.min_size, sparse_percentile=sparse)


#: Fine-tuning resizes for the estimated object size only beyond this ratio from 1: the estimate on one image
#: misses by up to 15-20 % on the models' own training images (90th percentile of the size models' cross-validated
#: error) and by 28 % on a faint treated BBBC010 well (0.72 for worms' own kind of image), and training at a wrong
#: scale costs more than predicting at one (that fine-tune fell from AP50 0.61 to 0.23 on 48 other wells).
FINETUNE_SIZE_BAND = 1.4


#: A new kind of image (the starting model finds none of the annotated objects at any size) is fine-tuned at its own
#: pixels (network scale 1): the start's size regression was not fitted on such images, and shrinking them to its
#: objects' size costs resolution (FINDINGS.md: E. coli -> real nuclei 0.79 at scale 1, 0.70 at 0.5). Chosen on
#: few_shot.py's new-kind selection cases (docs/finetuning.md).
NEW_KIND_OWN_SIZE = True
NEW_KIND_SIZE = ("object size {:g}: the starting model finds none of your objects at any size, so its size estimate "
                 "does not apply, and the network learns them at your images' own pixels (scale 1)")


def sized_for_training(start: str, images: Sequence[np.ndarray], model_config: ModelConfig,
                       device: str = "cpu", labels: Sequence[np.ndarray] | None = None
                       ) -> tuple[ModelConfig, dict[str, Any]]:
    """``model_config`` resized for the object size of ``images`` against the starting model's training objects,
    and the metadata that records it: with ``labels``, the size at which the starting model best matches them
    (`napari_deepcolor.training.size_scan`); without, or where it matches them at no size, the feature estimate
    (`napari_deepcolor.predict.object_size.training_object_size`)."""
    from napari_deepcolor.predict.network import load_model, resize_objects
    from napari_deepcolor.predict.object_size import ObjectSize, training_object_size

    model = load_model(start, device=device)
    scanned = None
    if labels is not None:
        from napari_deepcolor.training.size_scan import scan_object_size

        scanned = scan_object_size(model, list(zip(images, labels)))
    if scanned is not None:
        size = ObjectSize(scanned[0], "annotations", scanned[1], scanned[0])
    elif labels is not None and NEW_KIND_OWN_SIZE:  # at the start's scale s, object size s reads every pixel
        size = ObjectSize(model_config.scale, "new kind", NEW_KIND_SIZE.format(model_config.scale))
    else:
        size = training_object_size(model, images)
        if 1 / FINETUNE_SIZE_BAND < size.factor < FINETUNE_SIZE_BAND:  # within the estimate's spread on an image
            size = replace(size, factor=1.0, note=f"{size.note.split(';')[0]}; within {FINETUNE_SIZE_BAND - 1:.0%} "
                           "of 1, so fine-tuned at the starting model's own size")
    if size.factor != 1:
        try:
            model_config = resize_objects(model_config, size.factor)
        except ValueError as error:  # a size the network cannot be run at: train at 1 and say so
            size = replace(size, factor=1.0, how="fallback",
                           note=f"{size.note}; but {error}: training at object size 1")
    metadata = {"trained_object_size": size.factor, "trained_object_size_how": size.how,
                "trained_object_size_note": size.note}
    if labels is not None:  # whether the starting model finds the annotated objects at some size (`new_kind`)
        metadata["start_fits"] = scanned is not None
    return model_config, metadata


#: Said when the starting model finds none of the annotated objects at any size (`size_scan.scan_object_size` is
#: None): what keeps a model from forgetting would keep it from learning. On generated nuclei, `ecoli-semiconv`
#: fine-tuned with the encoder frozen, replay and its size model scored AP50 0.225 on 10 other images; the whole
#: network without replay, at the size it was trained at, 0.657 (few_shot.py select-shift).
NEW_KIND = ("the starting model finds none of your objects at any size: a new kind of image for it, so the whole "
            "network is trained, without replay, and the new model runs at the size it is trained at")


#: Preset knobs a fine-tuning takes from the starting model's own last training (its checkpoint's ``train_config``):
#: it goes on optimizing the loss the model learned. The bundled `worms` was trained with contact patches and a
#: background weight of 0.6, at 1.5e-4; fine-tuned with the preset's 0 and 1 at 3e-4 it lost its faint worms.
INHERITED_KNOBS = ("margin", "halo_weight", "train_halo", "contact_fraction")
#: Loss weights with no preset knob, taken from the starting model's training as they are.
INHERITED_LOSS = ("background_weight", "embedding_weight", "foreground_weight", "kernel_weight", "seed_weight")


def start_training(start: str | os.PathLike) -> dict[str, Any]:
    """The ``train_config`` the starting model (a bundled or user model's name, or a checkpoint) was last trained
    with, as recorded in its checkpoint; empty when it has none or cannot be read."""
    from napari_deepcolor.predict.network import model_info

    try:
        _, metadata = model_info(start)
    except (OSError, ValueError):  # CheckpointError is a ValueError
        return {}
    return _recorded_training(metadata)


def _recorded_training(metadata: dict[str, Any]) -> dict[str, Any]:
    trained = metadata.get("train_config")
    return trained if isinstance(trained, dict) else {}


def preset_for_start(preset: Preset, start: str | os.PathLike) -> Preset:
    """``preset`` for fine-tuning ``start``: its scale, τ and sparse percentile, the knobs it was trained with
    (`INHERITED_KNOBS`), and a learning rate no higher than `FINETUNE_LEARNING_RATE` or the one it last trained at."""
    from napari_deepcolor.predict.network import model_info

    config, metadata = model_info(start)
    trained = _recorded_training(metadata)
    knobs = {k: type(getattr(preset, k))(trained[k]) for k in INHERITED_KNOBS if trained.get(k) is not None}
    return replace(preset, scale=config.scale, min_size=config.min_size,
                   sparse_percentile=config.sparse_percentile or 0.0,
                   learning_rate=fine_tuning_rate(preset.learning_rate, trained), **knobs)


def fine_tuning_rate(rate: float, trained: dict[str, Any]) -> float:
    """The learning rate of a fine-tuning: ``rate``, at most `FINETUNE_LEARNING_RATE` and the rate the starting model
    last trained at (``trained``: its recorded ``train_config``, `start_training`)."""
    return min([rate, FINETUNE_LEARNING_RATE] + ([float(trained["learning_rate"])] if trained.get("learning_rate")
                                                  else []))


def train_config_for(preset: Preset, *, checkpoint_every: int | None = None, freeze_norm: bool = False,
                     anchor_weight: float = 0.0, freeze_encoder: bool = False) -> TrainConfig:
    """The preset's schedule; a checkpoint every ~10 % of the steps (at least every 50) unless told; with
    `TrainConfig`'s ``freeze_norm`` and ``anchor_weight`` (what keeps a fine-tuned model from forgetting)."""
    every = checkpoint_every or max(1, min(50, preset.steps // 10))
    return TrainConfig(margin=preset.margin, halo_weight=preset.halo_weight, train_halo=preset.train_halo,
                       patch_size=preset.patch_size, batch_size=preset.batch_size, steps=preset.steps,
                       learning_rate=preset.learning_rate, checkpoint_every=every,
                       orientation_prior=preset.orientation_prior, prior_steps=preset.prior_steps,
                       contact_fraction=preset.contact_fraction,
                       validate_every=max(1, preset.steps // 4), freeze_norm=freeze_norm, anchor_weight=anchor_weight,
                       freeze_encoder=freeze_encoder)


def finetune(
    pairs: Sequence[tuple[np.ndarray, np.ndarray]],
    *,
    start: str,
    preset: Preset,
    method: str = "coloring",
    output: str | os.PathLike,
    validation: Sequence[tuple[np.ndarray, np.ndarray]] = (),
    device: str = "cpu",
    threads: int | None = 1,
    log_every: int = 1,
    minutes: float | None = None,
    patience: int | None = 3,
    freeze_norm: bool = FINETUNE_FREEZE_NORM,
    anchor_weight: float = FINETUNE_ANCHOR_WEIGHT,
    replay: float = FINETUNE_REPLAY,
    freeze_encoder: bool = FINETUNE_FREEZE_ENCODER,
):
    """Train on annotated planes (`annotated_planes`), yielding `napari_deepcolor.training.loop.TrainEvent`.

    Parameters
    ----------
    pairs : sequence of (image (Y, X[, C]), labels (Y, X) int32)
    start : str
        `SCRATCH`, a bundled model name (e.g. ``"worms"``) or a checkpoint path.
    preset : Preset
    method : {"coloring", "semiconv"}
        Only used from scratch; fine-tuning keeps the starting model's method (`model_config_for`).
    output : path
        Folder for ``last.safetensors`` / ``best.safetensors``.
    validation : sequence of (image, labels)
        Validation planes (`annotated_planes` of the validation pair: ignored pixels count as background there);
        their metrics come in the "validation" events.
    device : {"auto", "cpu", "cuda", "mps"}
    threads : int, optional
        torch's CPU threads for this process (`torch.set_num_threads`); 1 leaves the other core to the GUI thread.
        None leaves torch's setting alone.
    minutes : float, optional
        Time budget: the number of steps becomes what fits in it (at most the preset's steps).
    patience : int, optional
        Stop after this many validations without a better held-out score.
    freeze_norm, anchor_weight : bool, float
        Fine-tuning only (ignored from scratch): keep the batch-norm statistics and pull the weights towards the
        starting ones (`napari_deepcolor.config.TrainConfig`), so that a few images of one kind do not erase what the
        model knew; the defaults are what docs/finetuning.md measured best.
    freeze_encoder : bool
        Fine-tuning only: train the decoder only (`napari_deepcolor.config.TrainConfig.freeze_encoder`).
    replay : float
        Fine-tuning only: about this fraction of the training patches comes from images of the kind the starting
        model learned from (`napari_deepcolor.training.replay`), where that is known; 0 turns replay off.

    When the starting model finds none of the annotated objects at any size (a new kind of image for it), the
    whole network trains without replay and the result keeps no size model of the start's (`NEW_KIND`).

    Without ``validation``, part of the annotations is held out for a score (`napari_deepcolor.training.holdout`);
    a "holdout" event says how, first. Fine-tuning scores the starting model on it before the first step, keeps
    the best checkpoint, and its "done" event says whether that beats the starting model (``improved``).

    Closing the generator stops training; the checkpoints already written stay valid.
    """
    from napari_deepcolor.predict.torch_import import import_torch
    from napari_deepcolor.training.dataset import model_sample
    from napari_deepcolor.training.loop import TrainEvent, train

    torch = import_torch()  # a session's first import of torch, in the Train worker: the window stays free
    if threads:
        torch.set_num_threads(threads)
    steps = train_config_for(preset).steps
    if not validation:
        from napari_deepcolor.training.holdout import split_holdout

        split = split_holdout(list(pairs))
        pairs, validation = split.training, split.held_out
        yield TrainEvent("holdout", 0, steps, note=split.note)
    in_channels = 3 if any(image.ndim == 3 for image, _ in pairs) else 1
    model_config = model_config_for(start, preset, in_channels=in_channels, method=method)
    metadata: dict[str, Any] = {}
    start_config = model_config  # the starting model's own scale: replay images keep the size it learned
    if start != SCRATCH:
        model_config, metadata = sized_for_training(start, [image for image, _ in pairs], model_config, device,
                                                    labels=[labels for _, labels in pairs])
        yield TrainEvent("object_size", 0, steps, note=metadata["trained_object_size_note"])
    samples = [model_sample(image, labels, model_config) for image, labels in pairs]
    if start != SCRATCH and not metadata.get("start_fits", True):
        replay, freeze_encoder = 0.0, False
        hint = kind_hint(start, pairs[0][0])
        yield TrainEvent("new_kind", 0, steps, note=f"{NEW_KIND}; {hint}" if hint else NEW_KIND)
    if start != SCRATCH:
        samples, note = with_replay(samples, start, start_config, replay, metadata)
        if note:
            yield TrainEvent("replay", 0, steps, note=note)
    checked = _validation_pairs(validation, model_config)
    train_config = _schedule(preset, start, freeze_norm=freeze_norm, anchor_weight=anchor_weight,
                             freeze_encoder=freeze_encoder)
    run = train(samples, model_config=model_config, train_config=train_config, output=Path(output),
                validation=checked, init=None if start == SCRATCH else start, device=device, log_every=log_every,
                metadata=metadata, time_budget=None if minutes is None else 60 * minutes,
                patience=patience if checked else None)
    try:
        yield from run
    finally:
        run.close()


def _validation_pairs(validation: Sequence[tuple[np.ndarray, np.ndarray]], model_config: ModelConfig) -> list:
    """The validation planes as `ValidationPair`s (ignored pixels count as background), checked now for a mask
    model rather than at the first validation."""
    from napari_deepcolor.preprocess import check_mask
    from napari_deepcolor.training.loop import ValidationPair

    if model_config.mask_input:
        for image, _ in validation:
            check_mask(image, what="the validation image")
    return [ValidationPair(image, np.where(np.asarray(truth) > 0, truth, 0).astype(np.int32))
            for image, truth in validation]


def _schedule(preset: Preset, start: str, *, freeze_norm: bool, anchor_weight: float, freeze_encoder: bool
              ) -> TrainConfig:
    """`train_config_for` the preset; fine-tuning (not from scratch) with what keeps a model from forgetting and
    the loss weights the starting model learned with (those that have no knob in the preset)."""
    if start == SCRATCH:
        return train_config_for(preset)
    config = train_config_for(preset, freeze_norm=freeze_norm, anchor_weight=anchor_weight,
                              freeze_encoder=freeze_encoder)
    trained = start_training(start)
    return replace(config, **{k: trained[k] for k in INHERITED_LOSS if trained.get(k) is not None})


def kind_hint(start: str, image: np.ndarray) -> str:
    """For a new kind of image: a sentence naming the bundled model made for the kind ``image`` (a plane, ``(Y, X)``
    or ``(Y, X, C)``) looks like (`napari_deepcolor.zoo.suggest.suggest_kind`), when that is not ``start``; empty
    otherwise. ``ecoli-semiconv`` fine-tuned on 64 real nuclei reached AP50 0.59-0.64 on 67 others, where the bundled
    ``nuclei`` scores 0.843 without training (docs/finetuning.md)."""
    from napari_deepcolor.zoo import bundled_models
    from napari_deepcolor.zoo.suggest import DEFAULT_FOR_KIND, suggest_kind

    try:
        kind, reason = suggest_kind(image, rgb=image.ndim == 3)  # channels last, as `finetune` counts them
    except ValueError:  # channels other than RGB(A): no kind to tell
        return ""
    model = DEFAULT_FOR_KIND.get(kind)
    if model is None or model == start or model not in bundled_models():
        return ""
    return f"{reason}, which the bundled {model} model was made for: it may segment them without any training"


def with_replay(samples: list, start: str, start_config: ModelConfig, fraction: float,
                 metadata: dict[str, Any]) -> tuple[list, str | None]:
    """``samples`` mixed with a ``fraction`` of images of the kind ``start`` learned from (at its own scale), and
    the note that says so (None without replay); the source is recorded in ``metadata`` (even with no replay), so
    that a fine-tuning of the result replays it too."""
    from napari_deepcolor.predict.network import model_info
    from napari_deepcolor.training.dataset import model_sample
    from napari_deepcolor.training.replay import mixed, replay_pairs, replay_source

    source = replay_source(start, model_info(start)[1])
    if source is not None:
        metadata["replay_source"] = source
    if fraction <= 0:
        return samples, None
    if source is None:
        return samples, f"no replay: where {start} learned is not known, so only your images are trained on"
    replay = [replace(model_sample(image, labels, start_config), replay=True)
              for image, labels in replay_pairs(source)]
    return mixed(samples, replay, fraction), (f"replay: {fraction:.0%} of the patches from {len(replay)} "
                                              f"{source} images like those {start} learned from")

