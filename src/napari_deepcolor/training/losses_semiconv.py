"""Losses of the semi-convolutional method (Novotny et al. 2018), vectorized over instances and pixels.

- `embedding_loss`: eq. 5, the non-squared distance of each pixel's embedding Ψ_u to its instance's mean, averaged
  over the instance's pixels, then over the instances of the batch (the paper sums over instances; the mean keeps
  the scale independent of how many objects a patch holds).
- the kernel term, sec. 3.5: binary cross-entropy between the steered Laplacian kernel K_σ(u_s, u) = exp(−‖Ψ_u − Ψ_s‖/σ)
  of eq. 10, taken from a seed u_s of each instance, and that instance's mask. As in the paper, the seed embedding
  is the expectation of Ψ under a softmax of the seed logits over the instance (a differentiable "most confident
  pixel"). Positives (the instance) and negatives (every other valid pixel, background included) are averaged
  separately and weighted equally: an instance is a small part of a patch, and plain BCE is then dominated by easy
  far-away negatives. σ is learnable; this is the only term that gives it a gradient.
- the foreground term: log loss of the foreground logit against ``labels > 0``, averaged over foreground and over
  background pixels separately and weighted equally (worms are 4–7 % of BBBC010's pixels: with a plain mean the
  foreground head stayed below 0.5 everywhere after 400 steps).
- the seed term: log loss of the seed logit against K_σ(Ψ_u, mean of u's instance) (detached) on instance pixels,
  so the seed confidence says how central a pixel's embedding is; decoding starts from the most confident pixel.

Pixels labelled ``IGNORE`` (-1: overlaps, unannotated) count in no term.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from napari_deepcolor.models.semiconv import add_positions, split_output

IGNORE = -1
_EPS = 1e-6


@dataclass
class SemiconvInfo:
    """The terms of one `semiconv_loss` evaluation (floats, unweighted) and the number of instances."""

    embedding: float
    foreground: float
    kernel: float
    seed: float
    instances: int


def _distance(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Euclidean distance, differentiable at 0: ``a (..., D)``, ``b (..., D)`` broadcast."""
    return torch.sqrt(((a - b) ** 2).sum(-1) + _EPS**2)


def _instances(labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Instance ids (K,) and each pixel's instance index (N,) (-1 outside instances) of flat labels (N,)."""
    ids = torch.unique(labels)
    ids = ids[ids > 0]
    index = torch.searchsorted(ids, labels.clamp(min=0))
    inside = labels > 0
    index = torch.where(inside, index.clamp(max=max(len(ids) - 1, 0)), torch.full_like(index, -1))
    return ids, index


def embedding_loss(embeddings: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Eq. 5: mean over instances of the mean non-squared distance of their pixels' embeddings to their mean.

    Parameters
    ----------
    embeddings : Tensor, shape (B, D, *spatial), float
        Ψ (or Φ, for a purely convolutional embedding).
    labels : Tensor, shape (B, *spatial), int
        0 = background, > 0 = instances, -1 = ignore.

    Returns
    -------
    Tensor, scalar
        0 when every instance's embeddings equal their mean; a zero with a gradient when there is no instance.
    """
    _check(embeddings, labels)
    terms = [_per_sample(embeddings[b], labels[b])[0] for b in range(embeddings.shape[0])]
    terms = [t for t in terms if t.numel()]
    return torch.cat(terms).mean() if terms else embeddings.sum() * 0


def _per_sample(psi: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor,
                                                                   torch.Tensor]:
    """Eq. 5 per instance (K,), the flat embeddings (N, D), instance index per pixel (N,) and means (K, D)."""
    x = psi.flatten(1).T  # (N, D)
    ids, index = _instances(labels.flatten())
    k = len(ids)
    inside = index >= 0
    sizes = torch.bincount(index[inside], minlength=k).to(x.dtype)
    sums = x.new_zeros((k, x.shape[1])).index_add_(0, index[inside], x[inside])
    means = sums / sizes.clamp(min=1)[:, None]
    dist = _distance(x[inside], means[index[inside]])
    per_instance = x.new_zeros(k).index_add_(0, index[inside], dist) / sizes.clamp(min=1)
    return per_instance, x, index, means


def kernel_log(distance: torch.Tensor, sigma: torch.Tensor | float) -> tuple[torch.Tensor, torch.Tensor]:
    """log K_σ and log(1 − K_σ) of eq. 10 for distances ≥ 0, stable at both ends."""
    t = (distance / sigma).clamp(min=_EPS)
    return -t, torch.log(-torch.expm1(-t))


def semiconv_loss(
    output: torch.Tensor,
    labels: torch.Tensor,
    *,
    sigma: torch.Tensor,
    coordinate_scale: float,
    embedding_weight: float = 1.0,
    foreground_weight: float = 1.0,
    kernel_weight: float = 1.0,
    seed_weight: float = 1.0,
    positions: bool = True,
) -> tuple[torch.Tensor, SemiconvInfo]:
    """The semi-convolutional training loss over a batch (see the module docstring for the terms).

    Parameters
    ----------
    output : Tensor, shape (B, D + 2, *spatial), float
        Network output: Φ (D channels), foreground logit, seed logit (`SemiConvNet.forward`).
    labels : Tensor, shape (B, *spatial), int
        0 = background, > 0 = instances, -1 = ignore.
    sigma : Tensor, scalar
        σ of eq. 10 (``SemiConvNet.sigma``), embedding units.
    coordinate_scale : float
        Network pixels per embedding unit of the positions û.
    embedding_weight, foreground_weight, kernel_weight, seed_weight : float
        Weights of the four terms.
    positions : bool
        Add the positions (Ψ = Φ + û, semi-convolutional); False trains the purely convolutional Ψ = Φ (the
        ablation of the paper's sec. 4.1).

    Returns
    -------
    loss : Tensor, scalar
    info : SemiconvInfo
    """
    if output.ndim < 4 or output.shape[1] < 4:
        raise ValueError(f"expected an output (B, D + 2, Y, X) with D >= 2, got shape {tuple(output.shape)}")
    dims = output.shape[1] - 2
    phi, fg_logit, seed_logit = split_output(output, dims)
    _check(phi, labels)
    psi = add_positions(phi, coordinate_scale) if positions else phi
    valid = labels != IGNORE
    fg_target = (labels > 0).to(output.dtype)
    fg_loss = _balanced_log_loss(fg_logit[valid], fg_target[valid], output)
    eq5, kernel, seed = [], [], []
    for b in range(output.shape[0]):
        per_instance, x, index, means = _per_sample(psi[b], labels[b])
        if not per_instance.numel():
            continue
        eq5.append(per_instance)
        k = len(per_instance)
        inside = index >= 0
        flat_valid = valid[b].flatten()
        member = index[None, :] == torch.arange(k, device=index.device)[:, None]  # (K, N)
        s = seed_logit[b].flatten()
        weights = torch.softmax(torch.where(member, s[None, :], torch.full_like(s, -torch.inf)[None, :]), dim=1)
        seeds = weights @ x  # (K, D): expected embedding under the softmax of the seed logits in each instance
        log_k, log_not_k = kernel_log(_distance(x[None, :, :], seeds[:, None, :]), sigma)  # (K, N)
        positive = member.to(x.dtype)
        negative = (~member & flat_valid[None, :]).to(x.dtype)
        pos_term = -(log_k * positive).sum(1) / positive.sum(1).clamp(min=1)
        neg_term = -(log_not_k * negative).sum(1) / negative.sum(1).clamp(min=1)
        kernel.append(0.5 * (pos_term + neg_term))
        with torch.no_grad():
            centrality = torch.exp(kernel_log(_distance(x[inside], means[index[inside]]), sigma)[0])
        seed.append(F.binary_cross_entropy_with_logits(s[inside], centrality, reduction="none"))
    zero = output.sum() * 0
    eq5_loss = torch.cat(eq5).mean() if eq5 else zero
    kernel_term = torch.cat(kernel).mean() if kernel else zero + sigma * 0
    seed_loss = torch.cat(seed).mean() if seed else zero
    loss = (embedding_weight * eq5_loss + foreground_weight * fg_loss + kernel_weight * kernel_term
            + seed_weight * seed_loss)
    info = SemiconvInfo(float(eq5_loss.detach()), float(fg_loss.detach()), float(kernel_term.detach()),
                        float(seed_loss.detach()), sum(len(t) for t in eq5))
    return loss, info


def _balanced_log_loss(logits: torch.Tensor, target: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """Mean of the log losses of the positive and of the negative pixels (each a mean over its pixels)."""
    loss = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
    parts = [loss[target > 0.5].mean()] if (target > 0.5).any() else []
    parts += [loss[target <= 0.5].mean()] if (target <= 0.5).any() else []
    return torch.stack(parts).mean() if parts else like.sum() * 0


def _check(embeddings: torch.Tensor, labels: torch.Tensor) -> None:
    if embeddings.ndim < 3 or labels.shape != (embeddings.shape[0], *embeddings.shape[2:]):
        raise ValueError(f"expected embeddings (B, D, *spatial) and labels (B, *spatial), got "
                         f"{tuple(embeddings.shape)} and {tuple(labels.shape)}")
    if labels.dtype.is_floating_point:
        raise ValueError(f"labels must be integers (0 = background, -1 = ignore), got dtype {labels.dtype}")
