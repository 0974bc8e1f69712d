"""Model and training configurations: plain dataclasses, stored next to the weights as JSON.

No torch here: a checkpoint's config can be read (and validated) without loading the network.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

METHODS = ("coloring", "semiconv")
#: `ModelConfig.test_time_flips` allowed: none, the 4 flips, the 8 flips and transposes
FLIP_COUNTS = (1, 4, 8)

#: The largest network a config may describe. A checkpoint's config is read before its network is built, and a
#: damaged or hostile header (depth 40, width 4096) would otherwise ask for terabytes: it is refused instead.
#: The bundled models are depth 3-4, width 12-16, under 2 M parameters per network.
MAX_DEPTH = 8
MAX_WIDTH = 512
MAX_COLORS = 64
MAX_EMBEDDING_DIMS = 64
MAX_MEMBERS = 16
#: Weights and buffers of all networks together (about 800 MB in float32).
MAX_PARAMETERS = 200_000_000
#: Activations of one forward pass, in float32 values per network pixel (`network_size`): 4096 is 16 GiB for the
#: 1024 x 1024 tiles of inference (width 128 at depth 4 needs about 2300). The bundled models need about 300.
MAX_ACTIVATIONS_PER_PIXEL = 4096
#: `TrainConfig` bounds: a patch batch of 64 x 2048 x 2048 pixels is already far beyond a CPU's memory.
MAX_PATCH_SIZE = 2048
MAX_BATCH_SIZE = 1024
MAX_MARGIN = 256
#: `TrainConfig.zoom`: beyond this a patch's window is 16 times its pixels, or a sixteenth.
MAX_ZOOM = 4.0
#: `ModelConfig.scale`: below 0.01 a 1000-pixel image reaches the network as fewer than 10 pixels.
SCALE_RANGE = (0.01, 4.0)


class ConfigError(ValueError):
    """A configuration has an unknown key or an invalid value."""


def _from_dict(cls: type, data: dict[str, Any]) -> Any:
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ConfigError(f"unknown {cls.__name__} keys {unknown}; valid keys are {sorted(names)}")
    values = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}
    return cls(**values)


def _check_finite(config: Any, names: Iterable[str]) -> None:
    """Refuse NaN and infinite values (every range check below passes NaN: NaN < 0 is False)."""
    for name in names:
        value = getattr(config, name)
        values = value if isinstance(value, tuple) else (value,)
        for v in values:
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise ConfigError(f"{name} must be a number, got {v!r}")
            if not math.isfinite(v):
                raise ConfigError(f"{name} must be a finite number, got {v}")


def _check_int(config: Any, names: Iterable[str]) -> None:
    for name in names:
        value = getattr(config, name)
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{name} must be an integer, got {value!r}")


def network_size(config: ModelConfig) -> tuple[int, int]:
    """Weights and activations of the network a config describes, computed from the config alone (no torch).

    Returns
    -------
    values : int
        Elements of the state dict (weights, biases, batch-norm statistics and counters, σ, the ensemble's color
        permutation): exactly what a checkpoint of this config holds.
    activations_per_pixel : int
        float32 values of one forward pass per network pixel (each convolution's output at its level's
        resolution, the skips and the concatenations): an estimate of inference memory.
    """
    if config.architecture != "unet":  # only the U-Net is registered (`napari_deepcolor.models.MODELS`)
        return 0, 0
    widths = [config.width * 2**i for i in range(config.depth + 1)]

    def block(c_in: int, w: int) -> int:
        convs = 9 * c_in * w + 9 * w * w  # two 3x3 convolutions
        # two batch norms (weight, bias, running mean and variance, step counter), or the convolutions' biases
        extra = 2 * (4 * w + 1) if config.batch_norm else 2 * w
        return convs + extra

    values, c_in = 0, config.in_channels
    for w in widths:
        values += block(c_in, w)
        c_in = w
    for i in reversed(range(config.depth)):
        values += 4 * widths[i + 1] * widths[i] + widths[i]  # transposed convolution 2x2
        values += block(2 * widths[i], widths[i])
    values += config.width * config.out_channels + config.out_channels  # 1x1 head
    activations = 0.0
    for i, w in enumerate(widths):
        level = 4.0**-i
        activations += 4 * w * level  # two convolutions, each with its normalized copy (ReLU in place)
        if i < config.depth:
            activations += 5 * w * level  # the skip, the upsampled tensor, their concatenation (2w), the up block
    activations += config.out_channels
    if config.method == "semiconv":
        values += 1  # log σ
    if config.is_ensemble:
        values = values * config.members + config.members * config.test_time_flips * config.n_colors
        activations += 2 * config.n_colors  # the running mean of the probabilities
    return values, int(math.ceil(activations))


@dataclass(frozen=True)
class ModelConfig:
    """What a checkpoint needs to rebuild its own network and preprocess images like in training.

    Attributes
    ----------
    method : {"coloring", "semiconv"}
        Deep coloring (``n_colors`` softmax channels, color 0 = background) or semi-convolutional embeddings
        (``embedding_dims`` embedding channels, then a foreground logit and a seed-confidence logit).
    architecture : str
        Name in the model registry (`napari_deepcolor.models.MODELS`).
    in_channels : int
        1 for gray images, 3 for RGB.
    n_colors : int
        Output colors C of a coloring network, background included.
    depth, width : int
        U-Net poolings and channels of the first level (doubled at each level).
    batch_norm : bool
        Batch normalization after each convolution.
    scale : float
        Images are resized by this factor before the network (0.5 = half resolution); outputs are resized back.
    percentiles : tuple of float
        Per-image intensity normalization: these percentiles are mapped to 0 and 1.
    sparse_percentile : float or None
        Where bright objects on a dark background are too few to reach the upper of ``percentiles`` (it lies less than
        halfway to this percentile; `napari_deepcolor.preprocess.limits_of`), this percentile is mapped to 1 instead:
        a fluorescence field of a few nuclei, whose 99.8th percentile is background noise. None: not used.
    intensity_max : float or None
        Normalized intensities above this are clipped to it (None: no clipping). With a low upper percentile it
        keeps faint objects' contrast the same from image to image while a few very bright ones cannot dominate
        the input (BBBC010: faint live worms next to bright dead ones).
    mask_input : bool
        The network takes a foreground mask, not a microscope image: every nonzero pixel becomes 1, the rest 0
        (``percentiles`` and ``intensity_max`` are not used). For splitting touching objects in a binary
        segmentation made elsewhere, the protocol of the published BBBC010 results.
    min_size, merge_distance : float
        Recommended τ (pixels, at the input image's resolution) and ρ (0 = no merging) for decoding.
    absorb_fragments : bool
        Recommended decoding: components below τ that touch other components join the neighbour they share the
        longest boundary with instead of being dropped (`postprocess.fragment_absorbers`; not in the paper).
    embedding_dims : int
        Semiconv only: D >= 2 embedding dimensions. The first two are a predicted offset plus the pixel's position
        (axis order y, x), the other D - 2 are appearance dimensions (semi-convolutional paper, sec. 3.3).
    coordinate_scale : float
        Semiconv only: network pixels per embedding unit. A pixel's position enters the embedding as
        ``(y, x) / coordinate_scale`` (network pixels, i.e. after ``scale``), so an object of radius R network
        pixels needs offsets of at most about R / coordinate_scale: of order 1 for R ≈ coordinate_scale, which a
        network's last 1×1 convolution reaches without large weights.
    kernel_threshold : float
        Semiconv only: recommended threshold on K_σ(seed, u) in (0, 1) when growing an instance from a seed.
    foreground_threshold : float
        Semiconv only: pixels whose foreground probability is at least this are segmented.
    members : int
        Coloring only: networks of this description averaged as one model (an ensemble,
        `napari_deepcolor.models.ensemble.Ensemble`; 1 = a single network).
    test_time_flips : {1, 4, 8}
        Coloring only: each network also runs on the flipped (4) or flipped and transposed (8) image, and the color
        probabilities are averaged (1 = no test-time augmentation).
    """

    method: str = "coloring"
    architecture: str = "unet"
    in_channels: int = 1
    n_colors: int = 9
    depth: int = 4
    width: int = 16
    batch_norm: bool = True
    scale: float = 1.0
    percentiles: tuple[float, float] = (1.0, 99.8)
    intensity_max: float | None = None
    sparse_percentile: float | None = None
    mask_input: bool = False
    min_size: float = 0.0
    merge_distance: float = 0.0
    absorb_fragments: bool = False
    embedding_dims: int = 8
    coordinate_scale: float = 32.0
    kernel_threshold: float = 0.5
    foreground_threshold: float = 0.5
    members: int = 1
    test_time_flips: int = 1

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ConfigError(f"unknown method {self.method!r}; valid methods are {list(METHODS)}")
        _check_int(self, ("in_channels", "n_colors", "depth", "width", "embedding_dims", "members",
                          "test_time_flips"))
        _check_finite(self, ("scale", "percentiles", "min_size", "merge_distance", "coordinate_scale",
                             "kernel_threshold", "foreground_threshold")
                      + (("intensity_max",) if self.intensity_max is not None else ())
                      + (("sparse_percentile",) if self.sparse_percentile is not None else ()))
        if self.in_channels not in (1, 3):
            raise ConfigError(f"in_channels must be 1 (gray) or 3 (RGB), got {self.in_channels}")
        if not 2 <= self.n_colors <= MAX_COLORS:
            raise ConfigError(f"n_colors must be between 2 (background and one color) and {MAX_COLORS}, got "
                              f"{self.n_colors}")
        if not (1 <= self.depth <= MAX_DEPTH and 1 <= self.width <= MAX_WIDTH):
            raise ConfigError(f"depth must be between 1 and {MAX_DEPTH} and width between 1 and {MAX_WIDTH}, got "
                              f"depth={self.depth}, width={self.width} (the bundled models use depth 3-4, width "
                              "12-16)")
        low_scale, high_scale = SCALE_RANGE
        if not low_scale <= self.scale <= high_scale:
            raise ConfigError(f"scale must be between {low_scale:g} and {high_scale:g} (the factor images are "
                              f"resized by before the network), got {self.scale:g}")
        low, high = self.percentiles
        if not 0 <= low < high <= 100:
            raise ConfigError(f"percentiles must satisfy 0 <= low < high <= 100, got {self.percentiles}")
        if self.sparse_percentile is not None and not self.percentiles[1] < self.sparse_percentile <= 100:
            raise ConfigError(f"sparse_percentile must lie between the upper percentile and 100, or be None; got "
                              f"{self.sparse_percentile}")
        if self.intensity_max is not None and not self.intensity_max > 0:
            raise ConfigError(f"intensity_max must be > 0 (1 = the upper percentile) or None, got {self.intensity_max}")
        if self.min_size < 0 or self.merge_distance < 0:
            raise ConfigError(f"min_size and merge_distance must be >= 0, got {self.min_size} and "
                              f"{self.merge_distance}")
        if not 2 <= self.embedding_dims <= MAX_EMBEDDING_DIMS:
            raise ConfigError(f"embedding_dims must be between 2 (the two offset dimensions) and "
                              f"{MAX_EMBEDDING_DIMS}, got {self.embedding_dims}")
        if not self.coordinate_scale > 0:
            raise ConfigError(f"coordinate_scale must be > 0 (network pixels per embedding unit), got "
                              f"{self.coordinate_scale}")
        if self.mask_input and self.method != "coloring":
            raise ConfigError("mask_input is for coloring models: a semiconv model predicts its own foreground")
        if not 1 <= self.members <= MAX_MEMBERS:
            raise ConfigError(f"members must be at least 1 and at most {MAX_MEMBERS}, got {self.members}")
        if self.test_time_flips not in FLIP_COUNTS:
            raise ConfigError(f"test_time_flips must be 1, 4 or 8, got {self.test_time_flips}")
        if self.is_ensemble and self.method != "coloring":
            raise ConfigError("ensembles and test-time flips are for coloring models (members and test_time_flips "
                              "must be 1 for a semiconv model)")
        for name in ("kernel_threshold", "foreground_threshold"):
            if not 0 < getattr(self, name) < 1:
                raise ConfigError(f"{name} must be in (0, 1), got {getattr(self, name)}")
        values, activations = network_size(self)
        if values > MAX_PARAMETERS or activations > MAX_ACTIVATIONS_PER_PIXEL:
            raise ConfigError(
                f"a {self.architecture} of depth {self.depth} and width {self.width}"
                + (f" x {self.members} members" if self.members > 1 else "")
                + f" would have {values / 1e6:.0f} M weights and need about "
                f"{activations * 4 * 1024**2 / 2**30:.1f} GiB of activations per 1024 x 1024 tile; the most this "
                f"plugin builds is {MAX_PARAMETERS // 1_000_000} M weights and "
                f"{MAX_ACTIVATIONS_PER_PIXEL * 4 * 1024**2 / 2**30:.0f} GiB: choose a smaller depth or width")

    @property
    def is_ensemble(self) -> bool:
        """Several networks or test-time flips averaged (`napari_deepcolor.models.ensemble.Ensemble`), not one plain
        network."""
        return self.members > 1 or self.test_time_flips > 1

    @property
    def out_channels(self) -> int:
        """Network output channels: ``n_colors`` (coloring) or ``embedding_dims + 2`` (semiconv: embedding,
        foreground logit, seed logit)."""
        if self.method == "semiconv":
            return self.embedding_dims + 2
        return self.n_colors

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelConfig:
        return _from_dict(cls, data)


@dataclass(frozen=True)
class TrainConfig:
    """Hyperparameters of a training run (stored in the checkpoint for the record).

    Attributes
    ----------
    margin : int
        Halo margin m in network pixels (after ``ModelConfig.scale``): instances closer than this are neighbours
        and must get different colors.
    halo_weight : float
        μ of eq. 2 (color choice); also the weight of the halo term in the loss when ``train_halo``.
    train_halo : bool
        Add μ × mean log(1 − p_c) over each instance's halo to the trained loss (see docs/training.md).
    patch_size, batch_size, steps, learning_rate : training schedule.
    validate_every, checkpoint_every : int
        Steps between validations and between checkpoints.
    seed : int
        Seed of the patch sampler, augmentation and initialization.
    orientation_prior : float
        Coloring only: weight of `training.losses.orientation_prior` in the color choice at the start of
        training (0 = the paper's choice alone).
    prior_steps : int
        Steps over which that weight falls linearly to 0 (0 = it stays constant).
    contact_fraction : float
        Fraction of patches centred on a pixel where two instances come within the margin of each other, so that
        the network sees touching objects often; the rest are half foreground-centred, half uniform.
    background_weight : float
        Coloring only: weight of each background pixel in eq. 3 relative to an instance pixel (1 = the paper).
        Below 1 it counters sparse objects' class imbalance: faint objects whose probability is spread over
        several colors then still beat the background in the argmax.
    embedding_weight, foreground_weight, kernel_weight, seed_weight : float
        Semiconv only: weights of eq. 5, of the foreground log loss, of the kernel cross-entropy (sec. 3.5) and of
        the seed-confidence regression in the loss (`napari_deepcolor.training.losses_semiconv.semiconv_loss`).
    freeze_norm : bool
        Keep the batch-norm layers' running statistics as the starting weights have them (fine-tuning on a few
        images: their patches' statistics are not those of the images the model knew).
    anchor_weight : float
        Fine-tuning only: weight of the L2-SP penalty, the squared distance of the weights from the starting
        weights summed over the network (Li et al., 2018), which keeps what the model knew (0 = off).
    freeze_encoder : bool
        Fine-tuning only: train the U-Net's decoder and head, not its encoder (the contracting path keeps the
        starting weights, so the features the automatic object size reads stay those of the starting model).
    zoom : float
        Each patch is cut from a window ``z`` times its side and resized to it, ``z`` log-uniform in [1/zoom,
        zoom], so the network sees its objects up to ``zoom`` times smaller or larger than at its scale and
        tolerates an object size that is off by as much (1 = off).
    fade_objects : float
        Probability that a patch's objects are faded: half of them, at random, keep 20-80 % of their contrast
        against the background around them (`napari_deepcolor.training.dataset.fade_objects`), so the network
        also sees fainter versions of the objects it is shown (0 = off).
    """

    margin: int = 6
    halo_weight: float = 2.0
    train_halo: bool = True
    patch_size: int = 160
    batch_size: int = 8
    steps: int = 2000
    learning_rate: float = 1e-3
    weight_decay: float = 0.0
    validate_every: int = 200
    checkpoint_every: int = 100
    seed: int = 0
    augment_intensity: bool = True
    orientation_prior: float = 0.0
    prior_steps: int = 0
    contact_fraction: float = 0.0
    background_weight: float = 1.0
    embedding_weight: float = 1.0
    foreground_weight: float = 1.0
    kernel_weight: float = 1.0
    seed_weight: float = 1.0
    freeze_norm: bool = False
    anchor_weight: float = 0.0
    freeze_encoder: bool = False
    zoom: float = 1.0
    fade_objects: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _check_int(self, ("margin", "patch_size", "batch_size", "steps", "validate_every", "checkpoint_every",
                          "seed", "prior_steps"))
        _check_finite(self, ("halo_weight", "learning_rate", "weight_decay", "orientation_prior",
                             "contact_fraction", "background_weight", "embedding_weight", "foreground_weight",
                             "kernel_weight", "seed_weight", "anchor_weight", "zoom", "fade_objects"))
        if not 1 <= self.margin <= MAX_MARGIN:
            raise ConfigError(f"margin must be between 1 and {MAX_MARGIN} pixels, got {self.margin}")
        if self.halo_weight < 0:
            raise ConfigError(f"halo_weight must be >= 0, got {self.halo_weight}")
        if not (16 <= self.patch_size <= MAX_PATCH_SIZE and 1 <= self.batch_size <= MAX_BATCH_SIZE) or self.steps < 0:
            raise ConfigError(f"patch_size must be between 16 and {MAX_PATCH_SIZE}, batch_size between 1 and "
                              f"{MAX_BATCH_SIZE} and steps >= 0, got {self.patch_size}, {self.batch_size} and "
                              f"{self.steps}")
        if self.validate_every < 1 or self.checkpoint_every < 1:
            raise ConfigError(f"validate_every and checkpoint_every must be >= 1 step, got {self.validate_every} and "
                              f"{self.checkpoint_every}")
        if self.learning_rate <= 0:
            raise ConfigError(f"learning_rate must be > 0, got {self.learning_rate}")
        if self.weight_decay < 0:
            raise ConfigError(f"weight_decay must be >= 0, got {self.weight_decay}")
        if self.orientation_prior < 0 or self.prior_steps < 0:
            raise ConfigError("orientation_prior and prior_steps must be >= 0")
        for name in ("contact_fraction", "fade_objects"):
            if not 0 <= getattr(self, name) <= 1:
                raise ConfigError(f"{name} must be in [0, 1], got {getattr(self, name)}")
        if not self.background_weight > 0:
            raise ConfigError(f"background_weight must be > 0, got {self.background_weight}")
        if not 1 <= self.zoom <= MAX_ZOOM:
            raise ConfigError(f"zoom must be between 1 (off) and {MAX_ZOOM:g}, got {self.zoom}")
        weights = ("embedding_weight", "foreground_weight", "kernel_weight", "seed_weight", "anchor_weight")
        if any(getattr(self, name) < 0 for name in weights):
            raise ConfigError(f"the loss weights {', '.join(weights)} must be >= 0")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def prior_weight(self, step: int) -> float:
        """The orientation prior's weight at ``step`` (1-based)."""
        if not self.prior_steps:
            return self.orientation_prior
        return self.orientation_prior * max(0.0, 1.0 - (step - 1) / self.prior_steps)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        return _from_dict(cls, data)


def dumps(config: ModelConfig | TrainConfig) -> str:
    return json.dumps(config.to_dict(), sort_keys=True)


def read_recipe(path: str | os.PathLike, options: dict[str, type | None], *, path_options: Iterable[str] = ()
                ) -> dict[str, Any]:
    """Read a training recipe: a TOML file whose keys are command-line options.

    Keys are the long option names, with dashes or underscores (``val-last`` or ``val_last``), at the top level
    or inside the tables ``[data]``, ``[model]`` and ``[training]`` (which only group them for the reader).
    Relative paths are resolved against the TOML file's folder, so a recipe works from any working directory.

    Parameters
    ----------
    path : path
        The TOML file.
    options : dict
        Valid keys (underscore spelling) and the type of their value: ``int``, ``float``, ``str``, ``bool`` (a
        switch), ``Path`` (resolved as above), or None (any).
    path_options : iterable of str
        Keys whose values are paths.

    Returns
    -------
    dict
        Values by key (underscore spelling).

    Raises
    ------
    ConfigError
        Unreadable TOML, an unknown key or table (the message names it and lists the valid ones), or a value of
        the wrong type.
    """
    import sys
    from pathlib import Path

    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10
        import tomli as tomllib

    path = Path(path)
    try:
        with path.open("rb") as file:
            data = tomllib.load(file)
    except FileNotFoundError:
        raise FileNotFoundError(f"no such recipe file: {path}") from None
    except IsADirectoryError:
        raise ConfigError(f"{path} is a folder; --config takes a recipe file (.toml), e.g. "
                          "recipes/worms/worms.toml") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path} is not valid TOML: {error}") from error
    flat: dict[str, tuple[Any, str]] = {}
    for key, value in data.items():
        if isinstance(value, dict):
            if key not in RECIPE_TABLES:
                raise ConfigError(f"{path}: unknown table [{key}]; tables are {list(RECIPE_TABLES)} (or none)")
            items = [(k, v, f"[{key}] {k}") for k, v in value.items()]
        else:
            items = [(key, value, key)]
        for k, v, where in items:
            name = k.replace("-", "_")
            if name not in options:
                raise ConfigError(f"{path}: unknown key {where!r}; valid keys are "
                                  f"{', '.join(sorted(options))}")
            if name in flat:
                raise ConfigError(f"{path}: {name!r} is given twice ({flat[name][1]!r} and {where!r})")
            flat[name] = (_check_recipe_value(path, where, v, options[name]), where)
    base = path.resolve().parent
    paths = set(path_options)
    return {k: (base / v if k in paths else v) for k, (v, _) in flat.items()}


#: Tables a recipe may group its keys in (`read_recipe`).
RECIPE_TABLES = ("data", "model", "training")


def _check_recipe_value(path: Any, where: str, value: Any, kind: type | None) -> Any:
    if callable(kind) and not isinstance(kind, type):  # a function, not a type (int, float, Path, ...)
        # an option's own parser (e.g. --object-size's: a number or "auto"): a number or a string, parsed by it
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise ConfigError(f"{path}: {where!r} must be a number or a string, got {value!r}")
        from argparse import ArgumentTypeError

        try:
            return kind(str(value))
        except (ValueError, TypeError, ArgumentTypeError) as error:
            raise ConfigError(f"{path}: {where!r}: {error}") from None
    ok = {
        None: True,
        bool: isinstance(value, bool),
        int: isinstance(value, int) and not isinstance(value, bool),
        float: isinstance(value, (int, float)) and not isinstance(value, bool),
        str: isinstance(value, str),
    }.get(kind, isinstance(value, str))  # paths are strings in TOML
    if not ok:
        wanted = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}.get(kind, "a path "
                                                                                                       "string")
        raise ConfigError(f"{path}: {where!r} must be {wanted}, got {value!r}")
    return float(value) if kind is float else value
