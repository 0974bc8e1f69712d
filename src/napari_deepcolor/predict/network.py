"""Inference: load a model, normalize and rescale an image, run the network (tiled when large).

A coloring model gives color probabilities (`predict_probs`), a semi-convolutional one embeddings and a foreground
(`predict_embeddings`); each function refuses the other method's model. `segment` does either and decodes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from napari_deepcolor.checkpoint import load_checkpoint, load_weights, read_header
from napari_deepcolor.config import ModelConfig
from napari_deepcolor.preprocess import preprocess
from napari_deepcolor.zoo import resolve_model

if TYPE_CHECKING:
    import torch

    from napari_deepcolor.postprocess.instances import Instances

DEVICES = ("auto", "cpu", "cuda", "mps")
#: Precisions of the network's forward pass; the reduced ones run under CUDA autocast ("auto" picks one on CUDA).
PRECISIONS = ("float32", "bfloat16", "float16", "auto")


def resolve_device(device: str = "auto") -> str:
    """``auto`` picks CUDA, then Apple MPS, else CPU; an explicit device that is not available is an error."""
    import torch

    if device not in DEVICES:
        raise ValueError(f"unknown device {device!r}; choose one of {list(DEVICES)}")
    cuda = torch.cuda.is_available()
    mps = getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
    if device == "auto":
        return "cuda" if cuda else "mps" if mps else "cpu"
    if device == "cuda" and not cuda:
        raise RuntimeError("CUDA was asked for but torch sees no CUDA GPU; use --device cpu or auto")
    if device == "mps" and not mps:
        raise RuntimeError("Apple MPS was asked for but is not available here; use --device cpu or auto")
    return device


def runs_channels_last(device: str) -> bool:
    """Whether a network on ``device`` runs in channels-last memory format unless asked to (`load_model`, training):
    on the CPU, where the same float32 arithmetic runs 1.4-1.9x faster per forward pass and 1.3-1.5x per training step
    (benchmarks/bench_memory_format.py)."""
    return device == "cpu"


@dataclass
class LoadedModel:
    """A network ready for inference, with its config and metadata.

    ``precision``, ``channels_last`` and ``compiled`` are the speed options of `load_model`: on the CPU always
    ``"float32"``, True and None; on MPS ``"float32"``, False and None.
    """

    network: torch.nn.Module
    config: ModelConfig
    metadata: dict[str, Any]
    device: str
    source: str
    precision: str = "float32"
    channels_last: bool = False
    compiled: Callable[[torch.Tensor], torch.Tensor] | None = None
    #: The config as trained (``config`` is resized for an object size other than 1; `at_object_size`)
    base_config: ModelConfig | None = None

    def __post_init__(self) -> None:
        if self.base_config is None:
            self.base_config = self.config

    @property
    def object_size(self) -> float:
        """The object size ``config`` runs at: how much larger the objects are than the training objects."""
        return self.base_config.scale / self.config.scale


def at_object_size(model: LoadedModel, object_size: float) -> LoadedModel:
    """The same network run for objects ``object_size`` times the training size (`resize_objects`)."""
    return replace(model, config=resize_objects(model.base_config, object_size))


def load_model(name_or_path: str | os.PathLike, *, device: str = "auto", precision: str = "float32",
               channels_last: bool = False, compile: bool = False, object_size: float = 1.0) -> LoadedModel:
    """Load a bundled model by name or a checkpoint file onto a device, in eval mode.

    Parameters
    ----------
    name_or_path : str or path
        Bundled model name (`bundled_models`) or checkpoint file.
    device : {"auto", "cpu", "cuda", "mps"}
    precision : {"float32", "bfloat16", "float16", "auto"}
        Precision of the forward pass. The reduced ones run the network under CUDA autocast (outputs are converted
        back to float32); "auto" is bfloat16 on a CUDA GPU that supports it, else float16 on CUDA, and float32 on
        any other device.
    channels_last : bool
        Channels-last memory format for the weights and the input tiles, on CUDA; on the CPU it is always on (the same
        float32 arithmetic, logits within 2e-5, 1.3-2x faster on this project's CPU: benchmarks/bench_inference.py),
        and refused on MPS.
    compile : bool
        CUDA only: run the network through ``torch.compile`` (the first tiles of each size compile, which takes
        time; worth it for many tiles).
    object_size : float
        How large the objects of the images to segment are, in pixels, against those the model was trained on: 2
        for worms twice as long and wide (a higher magnification), 0.5 for half. See `resize_objects`.

    Raises
    ------
    ValueError
        A CUDA option asked for on another device (on CPU the network always runs in float32, channels-last), an
        unknown precision, or an object size the model cannot be run at.
    """
    from napari_deepcolor.models import create_model

    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; choose one of {list(PRECISIONS)}")
    path = resolve_model(name_or_path)
    checkpoint = load_checkpoint(path)
    config = resize_objects(checkpoint.config, object_size)
    network = create_model(checkpoint.config)
    load_weights(network, checkpoint, path)
    resolved = resolve_device(device)
    precision = _resolve_precision(precision, resolved)
    if resolved != "cuda":  # channels-last is no option where it always runs so
        asked = [name for name, on in (("channels_last", channels_last and not runs_channels_last(resolved)),
                                       ("compile", compile)) if on]
        if asked:
            raise ValueError(f"{' and '.join(asked)} {'is a CUDA option' if len(asked) == 1 else 'are CUDA options'}"
                             f", but the model runs on {resolved}; leave {'it' if len(asked) == 1 else 'them'} off "
                             "there")
    import torch

    network = network.to(resolved).eval()
    channels_last = channels_last or runs_channels_last(resolved)
    if channels_last:
        network = network.to(memory_format=torch.channels_last)
    compiled = torch.compile(network) if compile else None
    return LoadedModel(network, config, checkpoint.metadata, resolved, str(path), precision=precision,
                       channels_last=channels_last, compiled=compiled, base_config=checkpoint.config)


#: Object sizes `resize_objects` takes (a model's scale times 1 / size must stay in (0, 4] as well)
OBJECT_SIZES = (0.1, 10.0)


def resize_objects(config: ModelConfig, object_size: float) -> ModelConfig:
    """The config that runs a model on objects ``object_size`` times as large (in pixels) as its training objects.

    The network sees the image at ``config.scale / object_size``, so the objects reach it at their training size,
    and the recommended τ (an area, in image pixels) grows by ``object_size**2`` and ρ (a distance) by
    ``object_size``; the semiconv kernel works in network pixels and is unchanged. 1 returns ``config`` itself.

    Raises
    ------
    ValueError
        ``object_size`` outside `OBJECT_SIZES`, or one that would resize the image above 4 times.
    """
    if object_size == 1:
        return config
    low, high = OBJECT_SIZES
    if not low <= object_size <= high:
        raise ValueError(f"object size must be between {low:g} and {high:g} (how large the objects are against the "
                         f"model's training objects; 1 = the same), got {object_size:g}")
    scale = config.scale / object_size
    if scale > 4:
        raise ValueError(f"object size {object_size:g} would enlarge the image {scale:g} times before the network "
                         f"(this model already runs at scale {config.scale:g}); the most is 4: use an object size of "
                         f"at least {config.scale / 4:g}")
    return replace(config, scale=scale, min_size=config.min_size * object_size ** 2,
                               merge_distance=config.merge_distance * object_size)


def _resolve_precision(precision: str, device: str) -> str:
    import torch

    if precision == "auto":
        if device != "cuda":
            return "float32"
        return "bfloat16" if torch.cuda.is_bf16_supported() else "float16"
    if precision != "float32" and device != "cuda":
        raise ValueError(f"precision {precision} is a CUDA option (autocast), but the model runs on {device}, "
                         "where it stays float32; use precision float32 or auto")
    return precision


def model_info(name_or_path: str | os.PathLike) -> tuple[ModelConfig, dict[str, Any]]:
    """Config and metadata of a model without loading its weights."""
    return read_header(resolve_model(name_or_path))


def predict_probs(
    model: LoadedModel,
    image: np.ndarray,
    *,
    channel_axis: int | None = None,
    tile_size: int = 1024,
    overlap: int = 64,
    progress: Callable[[int, int], None] | None = None,
    limits: tuple[float, float] | None = None,
) -> np.ndarray:
    """Color probabilities of a coloring network for one 2D image.

    Parameters
    ----------
    model : LoadedModel
    image : ndarray, shape (Y, X) or (Y, X, 3|4)
        Gray or RGB(A), any numeric dtype.
    channel_axis : int, optional
        Axis of the color channels when it is not the last one.
    tile_size, overlap : int
        Images larger than ``tile_size`` (network pixels) are processed in overlapping tiles; each tile keeps its
        centre, so the result does not depend on the tiling except at float rounding.
    progress : callable(done, total), optional
        Called after each tile.
    limits : (float, float), optional
        Intensities mapped to 0 and 1 instead of the image's own ``config.percentiles``; `segment_large` passes
        those of the whole image when it predicts one window of it. A mask-input model does not normalize; there,
        limits given mean the caller has checked its whole image (`napari_deepcolor.preprocess.check_mask`), and a
        window or plane is not checked alone.

    Returns
    -------
    probs : ndarray, shape (C, Y, X), float32
        Softmax probabilities at the input's resolution; channel 0 is background. For a mask-input model the
        given foreground decides background (`napari_deepcolor.postprocess.restrict_to_foreground`).

    Raises
    ------
    ValueError
        If the model is not a coloring model (use `predict_embeddings` for a semi-convolutional one), or the image
        is malformed.
    """
    import torch

    _require_method(model, "coloring", "predict_probs")
    mask = None
    if model.config.mask_input:
        from napari_deepcolor.preprocess import binarize, check_mask, to_channels_first

        # one snapshot of the mask (a Labels layer may be painted on meanwhile) for the network and the restriction
        mask = binarize(to_channels_first(image, 1, channel_axis=channel_axis))[0]
        if limits is None:  # a whole image; callers that pass limits checked the whole of theirs
            check_mask(mask)
        image, channel_axis = mask, None
    t = _run_resized(model, image, channel_axis=channel_axis, tile_size=tile_size, overlap=overlap,
                     progress=progress, limits=limits)
    with torch.no_grad():
        # softmax in place: the logits of a large image are C × Y × X float32, and a second array that size was
        # the peak of the whole prediction (e.g. 2.25 GiB more at 8192 × 8192 with 9 colors)
        t.sub_(t.amax(dim=1, keepdim=True)).exp_()
        t.div_(t.sum(dim=1, keepdim=True))
        probs = t[0].numpy()
    if mask is not None:  # the foreground is given: the network only colors it
        from napari_deepcolor.postprocess.coloring import restrict_to_foreground

        restrict_to_foreground(probs, mask > 0)
    return probs


@dataclass
class Embeddings:
    """What a semi-convolutional network predicts for one image, at the image's resolution.

    Attributes
    ----------
    embeddings : ndarray, shape (D, Y, X), float32
        Ψ_u = Φ_u + û in embedding units: dimensions 0 and 1 are offset + position (y, x), with positions
        ``(y, x) / unit`` for image pixel ``(y, x)``; the others are appearance dimensions.
    foreground : ndarray, shape (Y, X), float32
        Foreground probability.
    seeds : ndarray, shape (Y, X), float32
        Seed confidence (how central a pixel's embedding is in its object).
    sigma : float
        The trained σ of the kernel K_σ (eq. 10), embedding units.
    unit : float
        Image pixels per embedding unit (``coordinate_scale / scale``); ``embeddings[:2] * unit`` is the position,
        in image pixels, a pixel votes for (its instance's centre c_k of eq. 4).
    """

    embeddings: np.ndarray
    foreground: np.ndarray
    seeds: np.ndarray
    sigma: float
    unit: float


def predict_embeddings(
    model: LoadedModel,
    image: np.ndarray,
    *,
    channel_axis: int | None = None,
    tile_size: int = 1024,
    overlap: int = 64,
    progress: Callable[[int, int], None] | None = None,
    limits: tuple[float, float] | None = None,
) -> Embeddings:
    """Embeddings, foreground and seed confidence of a semi-convolutional network for one 2D image.

    Parameters are those of `predict_probs` (``limits``: the intensities mapped to 0 and 1). Tiles hold Φ only; the
    positions û are added once for the whole image (at the network's resolution), so tiling changes nothing but
    border effects of the convolutions.

    Returns
    -------
    Embeddings

    Raises
    ------
    ValueError
        If the model is not a semi-convolutional model (use `predict_probs` for a coloring one), or the image is
        malformed.
    """
    import torch

    from napari_deepcolor.models.semiconv import add_positions, split_output

    _require_method(model, "semiconv", "predict_embeddings")
    config = model.config

    def with_positions(raw: torch.Tensor) -> torch.Tensor:
        phi, fg, seed = split_output(raw, config.embedding_dims)
        return torch.cat([add_positions(phi, config.coordinate_scale), fg[:, None], seed[:, None]], dim=1)

    t = _run_resized(model, image, channel_axis=channel_axis, tile_size=tile_size, overlap=overlap,
                     progress=progress, before_resize=with_positions, limits=limits)
    dims = config.embedding_dims
    with torch.no_grad():
        out = t[0]
        return Embeddings(out[:dims].numpy(), torch.sigmoid(out[dims]).numpy(), torch.sigmoid(out[dims + 1]).numpy(),
                          sigma=semiconv_sigma(model), unit=config.coordinate_scale / config.scale)


def semiconv_sigma(model: LoadedModel) -> float:
    """The trained σ of a semi-convolutional model (stored in its weights as ``log_sigma``)."""
    _require_method(model, "semiconv", "semiconv_sigma")
    return float(model.network.sigma.detach().cpu())


def segment(
    model: LoadedModel,
    image: np.ndarray,
    *,
    min_size: float | None = None,
    merge_distance: float | None = None,
    absorb_fragments: bool | None = None,
    threshold: float | None = None,
    foreground_threshold: float | None = None,
    channel_axis: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[Instances, np.ndarray | Embeddings]:
    """Segment one image with either kind of model; None takes the model's recommended value.

    The model's method (`napari_deepcolor.methods.get_method`) takes the knobs and decodes. Coloring:
    `predict_probs` then `colors_to_labels` (``min_size``, ``merge_distance``, ``absorb_fragments``). Semiconv:
    `predict_embeddings` then `cluster_embeddings` (``min_size``, ``threshold`` on the kernel,
    ``foreground_threshold``); ``merge_distance`` must be None or 0 and ``absorb_fragments`` None or False there.

    Returns
    -------
    instances : Instances
    output : ndarray (probs, (C, Y, X)) or Embeddings
    """
    from napari_deepcolor.methods import get_method

    method = get_method(model.config.method)
    knobs = method.resolve_knobs(model.config, model.source, min_size=min_size, merge_distance=merge_distance,
                                 absorb_fragments=absorb_fragments, threshold=threshold,
                                 foreground_threshold=foreground_threshold)
    output = predict_output(model, image, channel_axis=channel_axis, progress=progress)
    return method.decode(output, **knobs), output


def predict_output(model: LoadedModel, image: np.ndarray, **kwargs: Any) -> np.ndarray | Embeddings:
    """The network output of either kind of model for one image: its method's `predict_probs` or
    `predict_embeddings` (``Method.predict_function``), which take the same keyword arguments."""
    from napari_deepcolor.methods import get_method

    return _PREDICT[get_method(model.config.method).predict_function](model, image, **kwargs)


_PREDICT = {"predict_probs": predict_probs, "predict_embeddings": predict_embeddings}


def _require_method(model: LoadedModel, method: str, function: str) -> None:
    from napari_deepcolor.methods import get_method

    found = model.config.method
    if found != method:
        raise ValueError(f"{function} needs a {method} model, but {model.source} is a {found} model; use "
                         f"{get_method(found).predict_function} (or segment, which handles both)")


def _run_resized(model: LoadedModel, image: np.ndarray, *, channel_axis: int | None, tile_size: int, overlap: int,
                 progress: Callable[[int, int], None] | None,
                 before_resize: Callable[[torch.Tensor], torch.Tensor] | None = None,
                 limits: tuple[float, float] | None = None) -> torch.Tensor:
    """Raw network output ``(1, out_channels, Y, X)`` at the input image's resolution (bilinear resize)."""
    import torch

    config = model.config
    planes = np.asarray(image)
    x = preprocess(planes, in_channels=config.in_channels, percentiles=config.percentiles, scale=config.scale,
                   channel_axis=channel_axis, limits=limits, clip_max=config.intensity_max,
                   mask_input=config.mask_input, train_scale=model.base_config.scale, sparse=config.sparse_percentile)
    out_shape = planes.shape[:2] if channel_axis in (None, -1, 2) else np.delete(planes.shape, channel_axis)
    logits = _run_tiled(model, x, tile_size=tile_size, overlap=overlap, progress=progress)
    with torch.no_grad():
        t = torch.from_numpy(logits)[None]
        if before_resize is not None:
            t = before_resize(t)
        if t.shape[-2:] != tuple(out_shape):
            t = torch.nn.functional.interpolate(t, size=tuple(int(s) for s in out_shape), mode="bilinear",
                                                align_corners=False)
        return t


def _run_tiled(model: LoadedModel, x: np.ndarray, *, tile_size: int, overlap: int,
               progress: Callable[[int, int], None] | None) -> np.ndarray:
    import torch

    from napari_deepcolor.predict.tiles import plan_tiles

    height, width = x.shape[1:]
    tiles = plan_tiles((height, width), tile_size, overlap, fixed=True)
    out = np.empty((model.config.out_channels, height, width), dtype=np.float32)
    with torch.inference_mode():
        for done, tile in enumerate(tiles, start=1):
            (r0, r1), (c0, c1) = ((s.start, s.stop) for s in tile.read)
            (k0, k1), (l0, l1) = ((s.start, s.stop) for s in tile.keep)
            window = torch.from_numpy(np.ascontiguousarray(x[:, r0:r1, c0:c1]))[None].to(model.device)
            logits = forward(model, window)[0].float().cpu().numpy()
            out[:, k0:k1, l0:l1] = logits[:, k0 - r0 : k1 - r0, l0 - c0 : l1 - c0]
            if progress is not None:
                progress(done, len(tiles))
    return out


def forward(model: LoadedModel, batch: torch.Tensor) -> torch.Tensor:
    """Network output for a batch ``(B, in_channels, H, W)`` on the model's device, with its speed options.

    Call it under ``torch.inference_mode()``. Reduced precisions give reduced-precision outputs (convert them with
    ``.float()``); on CPU this is ``model.network(batch)`` on the batch in channels-last format.
    """
    import torch

    if model.channels_last:
        batch = batch.contiguous(memory_format=torch.channels_last)
    run = model.compiled if model.compiled is not None else model.network
    if model.precision == "float32":
        return run(batch)
    with torch.autocast(device_type="cuda", dtype=getattr(torch, model.precision)):
        return run(batch)
