"""Several coloring checkpoints, or one with test-time flips, as one model file (`models.ensemble.Ensemble`).

Each member's colors, on each flip, are aligned to the first member's plain prediction by the Hungarian algorithm on
their soft overlap, summed over example images; the permutations are stored with the weights. The result is an
ordinary checkpoint: the CLI, the widgets, tiling and out-of-core prediction use it like any other model.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from napari_deepcolor.checkpoint import Checkpoint
from napari_deepcolor.config import ModelConfig
from napari_deepcolor.methods import get_method
from napari_deepcolor.predict.network import load_model, predict_probs

if TYPE_CHECKING:
    import torch

    from napari_deepcolor.predict.network import LoadedModel

#: config fields that may differ between members: the recommended decoding, not the network or its input
DECODING_FIELDS = ("min_size", "merge_distance", "absorb_fragments")


def make_ensemble(sources: Sequence[str | os.PathLike], images: Sequence[np.ndarray], *,
                  flips: int = 1) -> Checkpoint:
    """One checkpoint averaging the color probabilities of ``sources`` over ``flips`` transforms of the input.

    Parameters
    ----------
    sources : sequence of str or path
        Bundled model names or checkpoint files of coloring networks with the same network and input settings
        (architecture, colors, scale, normalization, mask input). The first one's decoding knobs are kept.
    images : sequence of ndarray, shape (Y, X) or (Y, X, 3|4)
        Examples on which the members' colors are aligned (objects of several orientations; training images).
    flips : {1, 4, 8}
        Test-time transforms per member (`ModelConfig.test_time_flips`).

    Returns
    -------
    Checkpoint
        Config with ``members = len(sources)`` and ``test_time_flips = flips``; weights ``members.<m>.*`` and the
        ``permutation`` (one source without flips: its own weights, unwrapped); metadata ``ensemble`` with the
        sources and, per member and flip, the share of the reference's overlap that the alignment keeps
        (``aligned_overlap``; absent for one source without flips, where nothing is aligned).

    Raises
    ------
    ValueError
        No source or no image, a semiconv model or an ensemble among the sources, or members that differ in more
        than their decoding knobs.
    """
    import torch
    from scipy.optimize import linear_sum_assignment

    if not sources or not images:
        raise ValueError("make_ensemble needs at least one model and one example image (to align the colors)")
    models = [load_model(source, device="cpu") for source in sources]
    first = models[0].config
    for source, model in zip(sources, models):
        config = model.config
        if not get_method(config.method).ensembles or config.is_ensemble:
            raise ValueError(f"{source} is a {config.method} model{' ensemble' if config.is_ensemble else ''}; an "
                             "ensemble is made of single coloring networks")
        if _network(config) != _network(first):
            raise ValueError(f"{source} is another network than {sources[0]} (they differ in more than the decoding "
                             "knobs); an ensemble needs members of one description")
    config = dataclasses.replace(first, members=len(models), test_time_flips=flips)
    metadata = {"ensemble": {"sources": [str(s) for s in sources],
                             "steps": [model.metadata.get("step") for model in models], "flips": flips}}
    if len(models) == 1 and flips == 1:  # nothing to average: the network itself (`create_model` does not wrap it)
        return Checkpoint(config, models[0].network.state_dict(), metadata)
    n_colors = first.n_colors
    overlap = np.zeros((len(models), flips, n_colors - 1, n_colors - 1))
    for image in images:
        image = torch.from_numpy(np.asarray(image, dtype=np.float32))
        reference = None
        for m, model in enumerate(models):
            for t in range(flips):
                probs = flipped_probs(model, image, t)
                reference = probs if reference is None else reference
                overlap[m, t] += np.einsum("cyx,dyx->cd", reference[1:], probs[1:])
    permutation = np.tile(np.arange(n_colors), (len(models), flips, 1))
    agreement = np.zeros((len(models), flips))
    for m in range(len(models)):
        for t in range(flips):
            rows, cols = linear_sum_assignment(-overlap[m, t])
            permutation[m, t, 1 + rows] = 1 + cols
            agreement[m, t] = overlap[m, t][rows, cols].sum() / max(overlap[m, t].sum(), 1e-12)
    state = {f"members.{m}.{name}": tensor for m, model in enumerate(models)
             for name, tensor in model.network.state_dict().items()}
    state["permutation"] = torch.from_numpy(permutation)
    metadata["ensemble"]["aligned_overlap"] = np.round(agreement, 4).tolist()
    return Checkpoint(config, state, metadata)


def _network(config: ModelConfig) -> ModelConfig:
    return dataclasses.replace(config, **{name: getattr(ModelConfig(), name) for name in DECODING_FIELDS})


def flipped_probs(model: LoadedModel, image: torch.Tensor | np.ndarray, t: int) -> np.ndarray:
    """``model``'s probabilities ``(C, Y, X)`` for flip ``t`` (`models.ensemble.flip`, 0-7) of ``image`` (Y, X[, C]),
    flipped back: test-time augmentation done outside the network, one image at a time."""
    import torch

    from napari_deepcolor.models.ensemble import flip, unflip

    if not isinstance(image, torch.Tensor):
        image = torch.from_numpy(np.asarray(image, dtype=np.float32))

    probs = predict_probs(model, np.ascontiguousarray(flip(image, t, dims=(0, 1)).numpy()))
    return np.ascontiguousarray(unflip(torch.from_numpy(probs), t, dims=(1, 2)).numpy())


def member_checkpoint(checkpoint: Checkpoint, member: int = 0) -> Checkpoint:
    """One network of an ensemble checkpoint as a checkpoint of its own, without flips (e.g. to compare with the
    ensemble, or to fine-tune it alone). A single network without flips is returned as it is."""
    config = checkpoint.config
    if not config.is_ensemble:
        return checkpoint
    if not 0 <= member < config.members:
        raise ValueError(f"the ensemble has {config.members} members; member {member} does not exist")
    prefix = f"members.{member}."
    state = {name[len(prefix):]: tensor for name, tensor in checkpoint.state_dict.items() if name.startswith(prefix)}
    source = checkpoint.metadata.get("ensemble", {}).get("sources", [None] * config.members)[member]
    return Checkpoint(dataclasses.replace(config, members=1, test_time_flips=1), state,
                      {"member_of_ensemble": member, "source": source})
