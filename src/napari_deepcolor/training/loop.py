"""Training as a generator of progress events, so the CLI prints them and a GUI can drive and cancel it.

Stopping the iteration (``close()``, or just not asking for the next event) cancels training; the checkpoints
already written stay valid because every save is atomic.
"""

from __future__ import annotations

import math
import os
import shutil
import time
from collections.abc import Generator, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from napari_deepcolor.checkpoint import Checkpoint, load_checkpoint, load_weights, read_header, save_checkpoint
from napari_deepcolor.config import ConfigError, ModelConfig, TrainConfig
from napari_deepcolor.io import remove_stale_temporaries, write_atomic
from napari_deepcolor.methods import get_method
from napari_deepcolor.methods.coloring import touching_color_agreement  # noqa: F401 - experiments import it here
from napari_deepcolor.predict.torch_import import no_cyclic_collection
from napari_deepcolor.training.dataset import PatchSampler, Sample


@dataclass
class TrainEvent:
    """One thing that happened during training.

    Attributes
    ----------
    kind : {"step", "validation", "checkpoint", "size_model", "done"}
        "size_model": the steps are done, and the size model is being fitted (`predict.object_size`).
        Fine-tuning (`napari_deepcolor.training.finetune.finetune`) says before the first step, in ``note``:
        "holdout" (what is held out for the score), "object_size" (the size it trains at), "new_kind" (the starting
        model finds none of the objects) and "replay" (what is replayed).
    step, total : int
        Steps done and asked for.
    loss : float
        Mean training loss since the previous event of kind "step" (NaN before the first step).
    elapsed : float
        Seconds since training (this run) started.
    metrics : dict
        Validation metrics for "validation" (`evaluate_model`: ``ap50``, ``mean_ap``, ``sbd``, ``abs_dic``, and
        ``colors_used``, ``touching_same_color`` for coloring or ``sigma``, ``foreground_iou`` for semiconv); empty
        otherwise.
    path : str or None
        The checkpoint written, for "checkpoint" and "done".
    """

    kind: str
    step: int
    total: int
    loss: float = math.nan
    elapsed: float = 0.0
    metrics: dict[str, float] = field(default_factory=dict)
    path: str | None = None
    note: str = ""
    #: "done" with a held-out score and a starting model: whether the kept checkpoint beats the starting model's
    #: held-out AP50 (None: no score to tell); ``start_metrics`` is the starting model's score.
    improved: bool | None = None
    start_metrics: dict[str, float] = field(default_factory=dict)
    #: "done": the held-out AP50 a checkpoint had to reach to count as better (`improvement_bar`; NaN: none).
    needed: float = math.nan

    @property
    def below_bar(self) -> bool:
        """"done", not improved: the kept checkpoint scores higher than the starting model, but by less than the bar
        (`needed`) that counts as better on so few held-out objects (what the CLI and the Train dock say then)."""
        start, kept = self.start_metrics.get("ap50", math.nan), self.metrics.get("ap50", math.nan)
        return self.improved is False and math.isfinite(self.needed) and kept > start


def _count_objects(pairs: Sequence[ValidationPair]) -> int:
    """Ground-truth objects in validation pairs (label images or mask stacks)."""
    return sum(int(pair.truth.shape[0]) if pair.truth.dtype == bool and pair.truth.ndim == 3
               else int(np.unique(pair.truth[pair.truth > 0]).size) for pair in pairs)


@dataclass
class ValidationPair:
    """A validation image at its own resolution with its ground truth.

    ``truth`` is a label image ``(Y, X)`` int or a stack of possibly overlapping masks ``(K, Y, X)`` bool.
    """

    image: np.ndarray
    truth: np.ndarray


def train(
    samples: Sequence[Sample],
    *,
    model_config: ModelConfig,
    train_config: TrainConfig,
    output: str | os.PathLike,
    validation: Sequence[ValidationPair] = (),
    init: str | os.PathLike | None = None,
    resume: bool = False,
    device: str = "auto",
    log_every: int = 10,
    keep_history: bool = False,
    size_model: bool = True,
    metadata: dict[str, Any] | None = None,
    time_budget: float | None = None,
    patience: int | None = None,
) -> Iterator[TrainEvent]:
    """Train a network of either method (``model_config.method``), yielding events.

    The loop, events, checkpoints and validation are shared; the method (`napari_deepcolor.methods.get_method`)
    gives the loss: `coloring_loss` for ``"coloring"``, `napari_deepcolor.training.losses_semiconv.semiconv_loss`
    for ``"semiconv"`` (whose learnable σ is part of the network, so it is saved with the weights and also written
    to the metadata as ``sigma``).

    Parameters
    ----------
    samples : sequence of Sample
        Preprocessed training pairs (`napari_deepcolor.training.dataset.model_sample` with ``model_config``).
    model_config, train_config : the network and the schedule.
    output : path
        Folder for ``last.safetensors`` (every ``checkpoint_every`` steps and at the end) and
        ``best.safetensors`` (best validation AP50, when validation pairs are given).
    validation : sequence of ValidationPair
        Evaluated every ``validate_every`` steps and at the end.
    init : path or bundled model name, optional
        Start from these weights (fine-tuning); its config must match ``model_config``'s network.
    resume : bool
        Continue from ``output/last.safetensors`` if it exists (weights and step count; Adam restarts).
    device : {"auto", "cpu", "cuda", "mps"}
    log_every : int
        Steps between "step" events.
    keep_history : bool
        Also keep every checkpoint as ``output/history/step-<N>.safetensors`` (for weight averaging,
        `napari_deepcolor.checkpoint.average_checkpoints`).
    size_model : bool
        At the end, fit the automatic object size's model on the training samples and store it in the last and
        best checkpoints (`napari_deepcolor.predict.size_fit.attach_size_model`; seconds to two minutes on a CPU);
        not with fewer than `MIN_SIZE_IMAGES` distinct images: a fine-tuned model then keeps the size model of
        ``init`` (`napari_deepcolor.predict.size_fit.carry_size_model`), else it runs at object size 1. A fine-tuned
        model whose encoder kept ``init``'s weights (``freeze_encoder``) also keeps ``init``'s where the one fitted on
        its images is not usable (cross-validated error above `napari_deepcolor.predict.object_size.MAX_CV_ERROR`).
    metadata : dict, optional
        Extra JSON-ready entries for every checkpoint's metadata (e.g. the object size fine-tuning ran at).
    time_budget : float, optional
        Seconds of training: after the first steps the number of steps becomes what fits in the budget (at most
        ``train_config.steps``); the learning-rate schedule and validations follow the new number.
    patience : int, optional
        Stop early after this many validations in a row without a better held-out AP50.

    Fine-tuning (``init``) with validation pairs scores the starting model first (a "validation" event at step 0,
    note "starting model"); the "done" event says whether the kept checkpoint beats it (``improved``) by at least
    `improvement_bar` (1 / √n AP50 for n held-out objects): less is within the noise of so few objects.
    The best checkpoint is written only when it beats both the starting model and every earlier validation.
    """
    run = _Run(samples, model_config, train_config, Path(output), validation, init, device, keep_history, metadata)
    run.restore(resume)
    run.started = time.perf_counter()
    if validation and init is not None and run.start_step == 0:
        yield run.score_start()
    yield from run.steps(log_every, time_budget, patience)
    yield from run.finish(size_model)


class _Run:
    """The state `train`'s parts share: the network, its optimizer and sampler, the checkpoints, the best score so
    far and the number of steps (which a time budget or early stopping lowers)."""

    def __init__(self, samples: Sequence[Sample], model_config: ModelConfig, train_config: TrainConfig,
                 output: Path, validation: Sequence[ValidationPair], init: str | os.PathLike | None, device: str,
                 keep_history: bool, metadata: dict[str, Any] | None) -> None:
        import torch

        from napari_deepcolor.models import create_model
        from napari_deepcolor.predict.network import resolve_device

        self.samples, self.model_config, self.train_config = samples, model_config, train_config
        self.output, self.validation, self.init, self.keep_history = output, validation, init, keep_history
        self.start_note = None if init is None else str(init)  # what checkpoints record as the start (`started_from`)
        self.extra = dict(metadata or {})
        self.device = resolve_device(device)
        torch.manual_seed(train_config.seed)
        # a mask has no contrast or noise to vary
        augment = train_config.augment_intensity and not model_config.mask_input
        self.sampler = PatchSampler(list(samples), patch_size=train_config.patch_size, augment_intensity=augment,
                                    seed=train_config.seed,
                                    contact_fraction=train_config.contact_fraction, margin=train_config.margin,
                                    zoom=train_config.zoom, fade=train_config.fade_objects)
        self.network = create_model(model_config)
        self.start_step, self.best, self.best_metrics = 0, -math.inf, {}
        self.bar = -math.inf  # what a better checkpoint must reach (`score_start` raises it when fine-tuning)
        self.last_path, self.best_path = output / "last.safetensors", output / "best.safetensors"
        self.total = train_config.steps
        self.metrics: dict[str, float] = {}  # the last validation's
        self.start_metrics: dict[str, float] = {}  # the starting model's, when fine-tuning with validation
        self.started = time.perf_counter()

    def restore(self, resume: bool) -> None:
        """Resume from ``last.safetensors`` (weights, step, best score), or start from ``init``'s weights; then
        the network on its device, its loss and its optimizer."""
        import torch

        from napari_deepcolor.predict.network import runs_channels_last
        from napari_deepcolor.zoo import resolve_model

        config, train_config = self.model_config, self.train_config
        if resume and self.last_path.is_file():
            state = load_checkpoint(self.last_path)
            _check_same_network(state.config, config, self.last_path)
            if state.config.mask_input != config.mask_input:
                raise ConfigError(f"{self.last_path} was trained on {'masks' if state.config.mask_input else 'images'}"
                                  f"; resuming it on {'masks' if config.mask_input else 'images'} would change what "
                                  "it sees: train into a new output folder with --init instead")
            load_weights(self.network, state, self.last_path)
            self.start_step = int(state.metadata.get("step", 0))
            self.start_note = state.metadata.get("init", self.start_note)
            self.best = state.metadata.get("best_ap50") or -math.inf
            if self.best_path.is_file():
                self.best_metrics = read_header(self.best_path)[1].get("validation") or {}
            self.sampler.rng = np.random.default_rng(train_config.seed + self.start_step)
        elif self.init is not None:
            source = resolve_model(self.init)
            state = load_checkpoint(source)
            _check_same_network(state.config, config, self.init)
            load_weights(self.network, state, self.init)
            self.start_note = started_from(self.init, source, state.metadata)
        self.network.to(self.device)
        if runs_channels_last(self.device):  # as `load_model` runs it there: the same arithmetic, faster steps
            self.network.to(memory_format=torch.channels_last)
        self.compute_loss = _loss_function(self.network, config, train_config)
        self.anchor = None  # the starting weights, for the L2-SP penalty
        if train_config.anchor_weight and self.init is not None:
            self.anchor = [p.detach().clone() for p in self.network.parameters()]
        if train_config.freeze_encoder and self.init is not None:
            from napari_deepcolor.models.unet import unets

            for unet in unets(self.network):  # the contracting path keeps the starting weights
                unet.down.requires_grad_(False)
        with no_cyclic_collection():  # Adam's first construction imports torch._dynamo
            self.optimizer = torch.optim.Adam([p for p in self.network.parameters() if p.requires_grad],
                                              lr=train_config.learning_rate, weight_decay=train_config.weight_decay)

    def learning_rate(self, step: int) -> float:
        """Cosine from lr to lr / 20 over the steps."""
        t = min(step / max(self.total, 1), 1.0)
        return self.train_config.learning_rate * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * t)))

    def save(self, path: Path, step: int, metrics: dict[str, float]) -> Path:
        metadata = {**(self.extra or {}), "step": step, "train_config": self.train_config.to_dict(),
                    "validation": metrics, "best_ap50": self.best if self.best > -math.inf else None,
                    "init": self.start_note}
        metadata.update(get_method(self.model_config.method).checkpoint_metadata(self.network))
        return save_checkpoint(path, Checkpoint(self.model_config, self.network.state_dict(), metadata))

    def save_last(self, step: int, metrics: dict[str, float], *, history: bool = True) -> Path:
        # a run killed while saving leaves its temporary file (70 MB for a large network): remove those of ours
        # (`io.is_stale_temporary`); a full disk raises `io.WriteError`, the previous checkpoint intact
        for folder in (self.output, self.output / "history"):
            remove_stale_temporaries(folder)
        path = self.save(self.last_path, step, metrics)
        if self.keep_history and history:  # the same bytes under the step's name, copied, not serialized again
            write_atomic(self.output / "history" / f"step-{step}.safetensors", lambda tmp: shutil.copyfile(path, tmp))
        return path

    def validate(self) -> dict[str, float]:
        from napari_deepcolor.predict.network import LoadedModel, runs_channels_last

        self.network.eval()
        loaded = LoadedModel(self.network, self.model_config, {}, self.device, "training",
                             channels_last=runs_channels_last(self.device))
        metrics = evaluate_model(loaded, self.validation)
        self.train_mode()
        return metrics

    def train_mode(self) -> None:
        """The network in training mode; its batch-norm layers stay in eval mode with ``freeze_norm``."""
        import torch

        self.network.train()
        if self.train_config.freeze_norm:
            for module in self.network.modules():
                if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
                    module.eval()

    def score_start(self) -> TrainEvent:
        """The starting model's score: a checkpoint is "best" only if it beats it."""
        self.start_metrics = self.validate()
        self.best = self.start_metrics["ap50"]
        self.bar = self.best + improvement_bar(_count_objects(self.validation))
        return TrainEvent("validation", 0, self.total, elapsed=time.perf_counter() - self.started,
                          metrics=self.start_metrics, note="starting model")

    def step(self, step: int) -> float:
        """One optimizer step on a new batch; its loss."""
        import torch

        for group in self.optimizer.param_groups:
            group["lr"] = self.learning_rate(step)
        images, labels = self.sampler.batch(self.train_config.batch_size)
        loss = self.compute_loss(self.network(images.to(self.device)), labels.to(self.device), step)
        if self.anchor is not None:
            drift = sum(((p - p0) ** 2).sum() for p, p0 in zip(self.network.parameters(), self.anchor))
            loss = loss + self.train_config.anchor_weight * drift
        if not torch.isfinite(loss):
            raise FloatingPointError(f"the loss became {loss.item()} at step {step}; lower the learning rate")
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return loss.item()

    def steps(self, log_every: int, time_budget: float | None, patience: int | None) -> Iterator[TrainEvent]:
        """The steps, with their "step", "validation", "early_stop" and "checkpoint" events."""
        losses: list[float] = []
        every = self.train_config.validate_every
        stale = 0
        self.train_mode()
        step = self.start_step
        while step < self.total:
            step += 1
            losses.append(self.step(step))
            elapsed = time.perf_counter() - self.started
            if time_budget is not None and step == self.start_step + BUDGET_PROBE_STEPS:
                self.total, every = _fit_budget(self.total, every, step, elapsed, time_budget,
                                                self.train_config.validate_every)
            if step % log_every == 0 or step == self.total:
                yield TrainEvent("step", step, self.total, float(np.mean(losses)), elapsed)
                losses = []
            if self.validation and (step % every == 0 or step == self.total):
                stale = yield from self.validation_events(step, elapsed, stale, patience)
            if step % self.train_config.checkpoint_every == 0 and step != self.total:
                yield TrainEvent("checkpoint", step, self.total, elapsed=elapsed,
                                 path=str(self.save_last(step, self.metrics)))

    def validation_events(self, step: int, elapsed: float, stale: int, patience: int | None
                          ) -> Generator[TrainEvent, None, int]:
        """Validate (keeping a better checkpoint as the best), then stop early after ``patience`` validations in a
        row without a better score; returns that count."""
        self.metrics = metrics = self.validate()
        if metrics["ap50"] > self.best and metrics["ap50"] >= self.bar:
            self.best, self.best_metrics, stale = metrics["ap50"], metrics, 0
            self.save(self.best_path, step, metrics)
        else:
            stale += 1
        yield TrainEvent("validation", step, self.total, elapsed=elapsed, metrics=metrics)
        if patience is not None and stale >= patience and step < self.total:
            yield TrainEvent("early_stop", step, self.total, elapsed=elapsed, note=f"no better held-out score in "
                             f"{stale} validations: stopping at step {step} of {self.total}")
            self.total = step
        return stale

    def finish(self, size_model: bool) -> Iterator[TrainEvent]:
        """The final checkpoint, the size model fitted into it and into the best one, and the "done" event."""
        final = self.save_last(self.total, self.metrics, history=not size_model)  # with one: copied once fitted
        # the model is the best checkpoint when there is one: report its validation, not the last one's
        kept = self.best_path if self.best_path.is_file() else final
        unique = list({id(sample.image): sample for sample in self.samples}.values())  # repeats once
        if size_model:
            yield from self._size_model(list(dict.fromkeys((final, kept))), unique)
            if self.keep_history:  # the history's last step as the final file is now: its size model fitted or carried
                write_atomic(self.output / "history" / f"step-{self.total}.safetensors",
                             lambda tmp: shutil.copyfile(final, tmp))
        improved = (None if not (self.validation and self.start_metrics)
                    else kept == self.best_path and self.best_path.is_file())
        metrics = self.best_metrics if kept == self.best_path and self.best_metrics else self.metrics
        yield TrainEvent("done", self.total, self.total, elapsed=time.perf_counter() - self.started,
                         metrics=metrics, path=str(kept), improved=improved, start_metrics=self.start_metrics,
                         needed=self.bar if improved is not None else math.nan)

    def _size_model(self, paths: list[Path], unique: list[Sample]) -> Iterator[TrainEvent]:
        """The automatic object size's model of the checkpoints at ``paths``: fitted on the ``unique`` training
        images, or the start's carried (`napari_deepcolor.predict.size_fit.carry_size_model`) where there are too few
        of them, or where the fitted one is not usable and the start's still reads this network's features (its
        encoder kept the starting weights)."""
        from napari_deepcolor.predict.object_size import MAX_CV_ERROR
        from napari_deepcolor.predict.size_fit import attach_size_model, carry_size_model

        # a new kind of image for the start: its sizes do not apply
        can_carry = self.init is not None and self.extra.get("start_fits", True)
        factor = float(self.extra.get("trained_object_size", 1.0))
        elapsed = time.perf_counter() - self.started
        if len(unique) < MIN_SIZE_IMAGES:
            replayed = sum(sample.replay for sample in unique)
            counted = f" ({len(unique) - replayed} of yours and {replayed} replayed)" if replayed else ""
            few = (f"trained on {len(unique)} image{'s' * (len(unique) != 1)}{counted}: too few to learn object sizes "
                   f"from (at least {MIN_SIZE_IMAGES}), so ")
            if can_carry and carry_size_model(self.init, paths, factor):
                note = few + f"it keeps the automatic object size of {self.init}, the model it started from"
            else:
                note = few + "the model runs at object size 1, the size it was trained at, unless one is given"
            yield TrainEvent("size_model", self.total, self.total, elapsed=elapsed, note=note)
            return
        yield TrainEvent("size_model", self.total, self.total, elapsed=elapsed)
        images, labels = [s.image for s in unique], [np.maximum(s.labels, 0) for s in unique]
        fitted = {path: attach_size_model(path, images, prescaled=True, device=self.device, labels=labels)
                  for path in paths}
        unusable = {path: fit.cv_error for path, fit in fitted.items() if not fit.cv_error <= MAX_CV_ERROR}
        # the start's regression reads the same features where the encoder kept its weights (the dock's default)
        if unusable and can_carry and self.train_config.freeze_encoder and carry_size_model(self.init, list(unusable),
                                                                                             factor):
            yield TrainEvent("size_model", self.total, self.total, elapsed=time.perf_counter() - self.started,
                             note=f"the automatic object size fitted on the training images is not reliable "
                                  f"(cross-validated error {max(unusable.values()):.2f}, above {MAX_CV_ERROR:g}), so "
                                  f"the model keeps that of {self.init}, the model it started from, whose encoder it "
                                  "shares")


def improvement_bar(n_objects: int) -> float:
    """How much a fine-tuned model's held-out AP50 must beat the starting model's to count as better: 1 / √n for n
    held-out objects (at least one object's worth, 1 / n).

    Two models' AP50 on the same n objects differ by chance by about √(discordant objects) / n; with a third of the
    objects discordant that is 0.55 / √n, so 1 / √n is nearly two of those. One object's worth alone was too little:
    a 4-object strip of the E. coli colony "improved" by 0.25 while the model fell from 0.79 to 0.71 on the rest of
    the colony's top half (experiments/finetune/few_shot.py --cases select-ecoli --variant plain).
    """
    return 1 / math.sqrt(max(1, n_objects))


#: Fewest training images a size model is fitted on: fitted on fewer (a fine-tuning on a few corrected images) it
#: mistook sizes, and a fine-tuned model then ran at a wrong size on the user's next images.
MIN_SIZE_IMAGES = 8

#: Steps timed before a time budget sets the number of steps.
BUDGET_PROBE_STEPS = 3


def _fit_budget(total: int, every: int, step: int, elapsed: float, budget: float, validate_every: int
                ) -> tuple[int, int]:
    """Steps that fit in ``budget`` seconds at the pace of the first ``step`` steps (validation included roughly by
    keeping 10 % spare), at most ``total``; validations every quarter of them unless asked more often."""
    per_step = elapsed / max(step, 1)
    fitting = max(step + 1, int(0.9 * budget / max(per_step, 1e-6)))
    new_total = min(total, fitting)
    return new_total, max(1, min(validate_every, new_total // 4)) if new_total < total else every


def _loss_function(network: Any, model_config: ModelConfig, train_config: TrainConfig) -> Any:
    """``loss(output, labels, step) -> scalar tensor`` for the config's method (`Method.loss_function`)."""
    return get_method(model_config.method).loss_function(network, model_config, train_config)


def _check_same_network(found: ModelConfig, wanted: ModelConfig, source: Any) -> None:
    keys = ("method", "architecture", "in_channels", "n_colors", "depth", "width", "batch_norm", "embedding_dims",
            "coordinate_scale", "members", "test_time_flips")
    diff = {k: (getattr(found, k), getattr(wanted, k)) for k in keys if getattr(found, k) != getattr(wanted, k)}
    if diff:
        raise ConfigError(f"{source} has a different network than asked for: "
                          + ", ".join(f"{k}={a!r} vs {b!r}" for k, (a, b) in diff.items()))


def evaluate_model(model: Any, pairs: Sequence[ValidationPair]) -> dict[str, float]:
    """`evaluate_coloring` or `evaluate_semiconv`, by the model's method, at its recommended decoding knobs."""
    return _evaluate(model, pairs, {})


def evaluate_semiconv(model: Any, pairs: Sequence[ValidationPair], *, min_size: float | None = None,
                      threshold: float | None = None, foreground_threshold: float | None = None) -> dict[str, float]:
    """Mean metrics of a semi-convolutional model over validation pairs.

    Returns ``ap50``, ``mean_ap``, ``sbd``, ``abs_dic`` (means over images, like `evaluate_coloring`), ``sigma``
    (the trained kernel width) and ``foreground_iou`` (IoU of the predicted foreground with the union of the
    ground-truth instances, pooled over images). None takes the model's recommended knob.
    """
    if model.config.method != "semiconv":
        raise ConfigError(f"evaluate_semiconv needs a semiconv model, got a {model.config.method} model; use "
                          "evaluate_coloring or evaluate_model")
    return _evaluate(model, pairs, {"min_size": min_size, "threshold": threshold,
                                    "foreground_threshold": foreground_threshold})


def evaluate_coloring(model: Any, pairs: Sequence[ValidationPair], *, min_size: float | None = None,
                      merge_distance: float | None = None, absorb_fragments: bool | None = None) -> dict[str, float]:
    """Mean metrics of a coloring model over validation pairs, plus how it uses its colors.

    Returns ``ap50``, ``mean_ap``, ``sbd``, ``abs_dic`` (means over images), ``colors_used`` (colors taking at
    least 2 % of the predicted foreground) and ``touching_same_color`` (fraction of touching ground-truth pairs
    whose majority predicted colors agree: the merge rate the coloring is meant to keep low).
    """
    config = model.config
    if config.method != "coloring":
        raise ConfigError(f"evaluate_coloring needs a coloring model, got a {config.method} model; use "
                          "evaluate_semiconv or evaluate_model")
    return _evaluate(model, pairs, {"min_size": min_size, "merge_distance": merge_distance,
                                    "absorb_fragments": absorb_fragments})


def _evaluate(model: Any, pairs: Sequence[ValidationPair], given: dict[str, Any]) -> dict[str, float]:
    """Segment each pair at the knobs ``given`` (None: the model's) and score them (`Method.evaluate`)."""
    from napari_deepcolor.predict.network import segment

    method = get_method(model.config.method)
    knobs = method.resolve_knobs(model.config, model.source, **given)
    results = []
    for pair in pairs:
        instances, output = segment(model, pair.image, **knobs)
        results.append((pair.truth, instances, output))
    return method.evaluate(model.config, results, knobs)


def started_from(init: str | os.PathLike, source: Path, metadata: dict[str, Any]) -> str:
    """What a checkpoint records as its start: ``init`` as given. A bundled model's file is replaced when a newer
    version is bundled, so for one (by name or by its file) the version is said too: its step and its own start."""
    from napari_deepcolor.zoo import zoo_dir

    if Path(source).resolve().parent != zoo_dir().resolve():
        return str(init)
    return (f"{init} (the bundled {Path(source).stem} as installed then: step {metadata.get('step')}, started from "
            f"{metadata.get('init') or 'random weights'})")
