"""Losses: the dynamic coloring loss of deep coloring (eqs. 1–3), vectorized over instances and pixels."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

IGNORE = -1


@dataclass
class ColoringInfo:
    """What the color choice did on one batch (for logging and tests).

    Attributes
    ----------
    colors : list of ndarray
        Per sample, the color (>= 1) chosen for each instance, in the order of ``instance_masks``.
    conflicts : int
        Instances that had every color taken by a neighbour (fewer colors than the graph needs).
    """

    colors: list[np.ndarray]
    conflicts: int


def instance_masks(labels: torch.Tensor) -> torch.Tensor:
    """One mask per instance of a label image.

    Parameters
    ----------
    labels : Tensor, shape (H, W), int
        0 = background, > 0 = instance ids, ``IGNORE`` (-1) = excluded from the loss.

    Returns
    -------
    Tensor, shape (K, H, W), bool
        Masks in increasing id order.
    """
    ids = torch.unique(labels)
    ids = ids[ids > 0]
    return labels[None] == ids[:, None, None]


def dilate(masks: torch.Tensor, margin: int) -> torch.Tensor:
    """Dilate masks ``(K, H, W)`` by ``margin`` pixels with a square structuring element (a max-pool)."""
    if masks.shape[0] == 0:
        return masks
    pooled = F.max_pool2d(masks[:, None].float(), 2 * margin + 1, stride=1, padding=margin)
    return pooled[:, 0] > 0


def choose_colors(scores: np.ndarray, adjacency: np.ndarray) -> tuple[np.ndarray, int]:
    """Pick one color per instance, never one already taken by a neighbour when a free one exists.

    Instances are colored greedily, the most decided first (largest score); each takes its best-scoring color
    among those not used by already colored neighbours. This is the graph-coloring constraint the paper describes
    in words, added to eq. 2's argmax because the unconstrained argmax lets all instances collapse to one color.

    Parameters
    ----------
    scores : ndarray, shape (K, C - 1), float
        Eq. 2's objective for each instance and each non-background color.
    adjacency : ndarray, shape (K, K), bool
        True where two instances are within the margin of each other.

    Returns
    -------
    colors : ndarray, shape (K,), int64
        Chosen colors, 1..C-1.
    conflicts : int
        Instances whose neighbours had taken every color (they get their unconstrained best color).
    """
    n_instances, n_colors = scores.shape
    colors = np.zeros(n_instances, dtype=np.int64)
    conflicts = 0
    for k in np.argsort(-scores.max(axis=1), kind="stable"):
        taken = colors[adjacency[k] & (colors > 0)] - 1
        allowed = np.ones(n_colors, dtype=bool)
        allowed[taken] = False
        if not allowed.any():
            conflicts += 1
            allowed[:] = True
        colors[k] = int(np.argmax(np.where(allowed, scores[k], -np.inf))) + 1
    return colors, conflicts


def orientation_prior(masks: torch.Tensor, n_colors: int) -> torch.Tensor:
    """A preference of each instance for the colors whose angle is nearest its principal axis.

    Color c (1..C-1) stands for the angle φ_c = (c − 1) · 180° / (C − 1); an instance whose principal axis (from
    its second moments) lies at θ gets cos(2(θ − φ_c)) for color c: 1 for the nearest color's angle, −1 for the
    perpendicular one. Round instances (no axis) get zeros.

    Parameters
    ----------
    masks : Tensor, shape (K, H, W), bool
    n_colors : int
        C, including background.

    Returns
    -------
    Tensor, shape (K, C - 1), float
    """
    k, height, width = masks.shape
    owned = masks.flatten(1).float()
    sizes = owned.sum(1).clamp(min=1)
    ys = torch.arange(height, device=masks.device, dtype=torch.float32).repeat_interleave(width)
    xs = torch.arange(width, device=masks.device, dtype=torch.float32).repeat(height)
    mean_y, mean_x = owned @ ys / sizes, owned @ xs / sizes
    cov_yy = owned @ (ys * ys) / sizes - mean_y**2
    cov_xx = owned @ (xs * xs) / sizes - mean_x**2
    cov_xy = owned @ (ys * xs) / sizes - mean_y * mean_x
    # 2θ of the principal axis; its strength (anisotropy) scales the preference so round blobs stay neutral
    two_theta = torch.atan2(2 * cov_xy, cov_xx - cov_yy)
    anisotropy = torch.sqrt((cov_xx - cov_yy) ** 2 + 4 * cov_xy**2) / (cov_xx + cov_yy).clamp(min=1e-6)
    angles = torch.arange(n_colors - 1, device=masks.device, dtype=torch.float32) * (torch.pi / (n_colors - 1))
    return anisotropy[:, None] * torch.cos(two_theta[:, None] - 2 * angles[None, :])


def coloring_loss(
    logits: torch.Tensor,
    labels: torch.Tensor,
    *,
    margin: int,
    halo_weight: float,
    train_halo: bool = True,
    prior_weight: float = 0.0,
    background_weight: float = 1.0,
) -> tuple[torch.Tensor, ColoringInfo]:
    """Dynamic coloring loss (deep coloring, eqs. 1–3) over a batch.

    For each instance k, eq. 2 scores every color c >= 1 by the mean log p_c inside the instance plus μ times the
    mean log(1 − p_c) in its halo (its dilation by ``margin`` minus itself); colors are then chosen by
    `choose_colors` (best score, neighbours differ). The loss is eq. 3 as a per-pixel average: −log p_0 on
    background pixels and −log p_{c_k} on instance pixels, each instance's pixels weighted by (mean instance
    size) / (its size) so that small instances count as much as large ones while the foreground keeps its share of
    the pixels. If ``train_halo``, halo pixels add μ × −log(1 − p_{c_k}) with the same per-instance weighting (so μ
    is a weight per pixel, comparable to the log loss). Pixels labelled ``IGNORE`` (overlaps, unannotated regions)
    count nowhere.

    Parameters
    ----------
    logits : Tensor, shape (B, C, H, W), float
        Network outputs before the softmax; channel 0 is background.
    labels : Tensor, shape (B, H, W), int
        0 = background, > 0 = instances, -1 = ignore.
    margin : int
        Halo margin m in pixels.
    halo_weight : float
        μ.
    train_halo : bool
        Whether the halo term is part of the trained loss (it is always part of the color choice).
    prior_weight : float
        Adds this times `orientation_prior` to eq. 2's scores before the choice: a symmetry breaker the network
        can learn from what it sees (touching worms often point different ways), so that early in training
        neighbours get consistent, different colors instead of arbitrary ones (docs/training.md). 0 = the paper.
    background_weight : float
        Weight of a background pixel relative to an instance pixel in eq. 3 (1 = the paper); the average is taken
        over the weights, so the loss stays a per-pixel mean.

    Returns
    -------
    loss : Tensor, scalar
    info : ColoringInfo
    """
    if logits.ndim != 4 or labels.shape != (logits.shape[0], *logits.shape[2:]):
        raise ValueError(f"expected logits (B, C, H, W) and labels (B, H, W), got {tuple(logits.shape)} and "
                         f"{tuple(labels.shape)}")
    log_p = F.log_softmax(logits, dim=1)
    # log(1 - p_c) = log(sum of the other channels' probabilities), stable for p_c -> 1.
    log_not_p = _log_complement(log_p)
    total = logits.new_zeros(())
    weight = 0.0
    chosen, conflicts = [], 0
    for b in range(logits.shape[0]):
        valid = labels[b] != IGNORE
        masks = instance_masks(labels[b])
        if masks.shape[0]:
            dilated = dilate(masks, margin)
            halos = (dilated & ~masks & valid).flatten(1).float()
            owned = masks.flatten(1).float()
            sizes = owned.sum(1)
            halo_sizes = halos.sum(1).clamp(min=1)
            inside = (owned @ log_p[b, 1:].flatten(1).T) / sizes[:, None]
            outside = (halos @ log_not_p[b, 1:].flatten(1).T) / halo_sizes[:, None]
            scores = (inside + halo_weight * outside).detach()
            if prior_weight:
                scores = scores + prior_weight * orientation_prior(masks, logits.shape[1])
            adjacency = ((dilated.flatten(1).float() @ owned.T) > 0).cpu().numpy()
            np.fill_diagonal(adjacency, False)
            colors, n_conflicts = choose_colors(scores.cpu().numpy(), adjacency | adjacency.T)
            chosen.append(colors)
            conflicts += n_conflicts
            index = torch.as_tensor(colors - 1, device=logits.device)[:, None]
            # every instance weighs as much as an instance of mean size: sum_k mean_size * mean_k(-log p_ck)
            total = total - sizes.mean() * inside.gather(1, index).sum()
            weight += float(sizes.sum())
            if train_halo:
                has_halo = halos.sum(1) > 0
                halo_mean_size = halos.sum(1)[has_halo].mean() if has_halo.any() else 0.0
                total = total - halo_weight * halo_mean_size * outside.gather(1, index)[:, 0][has_halo].sum()
        else:
            chosen.append(np.zeros(0, dtype=np.int64))
        background = labels[b] == 0
        total = total - background_weight * log_p[b, 0][background].sum()
        weight += background_weight * float(background.sum())
    return total / max(weight, 1.0), ColoringInfo(chosen, conflicts)


def _log_complement(log_p: torch.Tensor) -> torch.Tensor:
    """log(1 − p_c) for every channel c of log-probabilities ``(B, C, H, W)``."""
    channels = log_p.shape[1]
    others = torch.stack(
        [torch.logsumexp(torch.cat([log_p[:, :c], log_p[:, c + 1 :]], dim=1), dim=1) for c in range(channels)],
        dim=1,
    )
    return others


class ColoringLoss(nn.Module):
    """`coloring_loss` as a module with its margin and halo weight fixed."""

    def __init__(self, *, margin: int, halo_weight: float, train_halo: bool = True,
                 prior_weight: float = 0.0) -> None:
        super().__init__()
        self.margin = margin
        self.halo_weight = halo_weight
        self.train_halo = train_halo
        self.prior_weight = prior_weight

    def forward(self, logits: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, ColoringInfo]:
        return coloring_loss(logits, labels, margin=self.margin, halo_weight=self.halo_weight,
                             train_halo=self.train_halo, prior_weight=self.prior_weight)
