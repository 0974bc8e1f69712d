"""Generated fluorescence images of cell nuclei with exact labels, for the ``nuclei`` model.

No real nuclei image may be shipped with the project, so the model is trained on these. What they imitate is what
widefield and confocal images of DAPI- or Hoechst-stained nuclei show: round to oval nuclei with a ragged outline,
grainy chromatin and darker nucleoli, a few small and very bright mitotic figures, dim and bright nuclei side by side
(a 5-10x range), clumps where nuclei touch and overlap a little, some out of focus, debris, an uneven background
above the camera's offset, optical blur, and photon (Poisson) plus read noise, saved as 16- or 8-bit.

No torch here; numpy and scipy only.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage as ndi

from napari_deepcolor.training._draw import relabel_small, smooth_noise
from napari_deepcolor.training.nuclei_artefacts import jpeg_like, jpeg_quality, optical_artefacts


def _centres(rng: np.random.Generator, shape: tuple[int, int], radii: np.ndarray, layout: str) -> list[tuple]:
    """Nucleus centres (y, x, radius) for one layout, with little overlap: scattered, clumped or packed."""
    height, width = shape
    placed: list[tuple[float, float, float]] = []
    clumps = [(rng.uniform(0, height), rng.uniform(0, width), rng.uniform(1.5, 4.0)) for _ in range(rng.integers(1, 6))]
    # how close two nuclei may come, as a fraction of the sum of their radii (below 1: they overlap a little)
    closest = {"scattered": 1.15, "clumped": 0.85, "packed": 0.9}[layout]
    for r in radii:
        for _ in range(30):
            if layout == "clumped" and rng.random() < 0.8:
                cy, cx, spread = clumps[rng.integers(len(clumps))]
                y, x = cy + rng.normal(0, spread * r * 1.6), cx + rng.normal(0, spread * r * 1.6)
            else:
                y, x = rng.uniform(-r / 2, height + r / 2), rng.uniform(-r / 2, width + r / 2)
            if all((y - py) ** 2 + (x - px) ** 2 >= (closest * (r + pr)) ** 2 for py, px, pr in placed):
                placed.append((y, x, float(r)))
                break
    return placed


def _nucleus(rng: np.random.Generator, radius: float, mitotic: bool) -> tuple[np.ndarray, np.ndarray]:
    """One nucleus centred in its own box: its mask and its brightness there (mean ~1)."""
    half = int(math.ceil(radius * 1.9)) + 2
    yy, xx = np.mgrid[-half:half + 1, -half:half + 1].astype(np.float32)
    angle = rng.uniform(0, np.pi)
    elongation = rng.uniform(1.6, 2.4) if mitotic else 1 + abs(rng.normal(0, 0.22))
    a, b = radius * math.sqrt(elongation), radius / math.sqrt(elongation)
    u = xx * math.cos(angle) + yy * math.sin(angle)
    v = -xx * math.sin(angle) + yy * math.cos(angle)
    theta = np.arctan2(yy, xx)
    # a ragged outline: a few low harmonics of the radius, stronger for the irregular mitotic figures
    wobble = 1 + sum(rng.normal(0, (0.08 if not mitotic else 0.25) / k) * np.cos(k * theta + rng.uniform(0, 2 * np.pi))
                     for k in range(2, 6))
    rho = np.sqrt((u / a) ** 2 + (v / b) ** 2) / wobble
    mask = rho <= 1
    grain = smooth_noise(rng, mask.shape, rng.uniform(0.7, 1.6), mode="reflect")
    brightness = (0.8 + 0.2 * np.sqrt(np.clip(1 - rho**2, 0, 1))) * (1 + rng.uniform(0.05, 0.25) * grain)
    for _ in range(int(rng.integers(0, 4)) if not mitotic else 0):  # nucleoli: darker round spots inside
        cy, cx = rng.normal(0, radius * 0.35, 2)
        brightness *= 1 - rng.uniform(0.2, 0.5) * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (radius * 0.18) ** 2)
    # a soft edge: real nuclei fade over a pixel or two, so brightness spills just past the label
    fade = np.clip((1.25 - rho) / 0.25, 0, 1) ** 1.5
    return mask, (brightness * fade).astype(np.float32)


def nuclei_field(seed: int = 0, *, shape: tuple[int, int] = (256, 256), diameter: tuple[float, float] = (16.0, 24.0),
                 coverage: tuple[float, float] = (0.08, 0.45), min_visible: int = 25, artefacts: bool = False
                 ) -> tuple[np.ndarray, np.ndarray]:
    """A fluorescence image of stained nuclei and their labels.

    Parameters
    ----------
    seed : int
        Everything is drawn from ``numpy.random.default_rng(seed)``.
    shape : (int, int)
        Image size (Y, X), pixels.
    diameter : (float, float)
        Range of the image's typical nucleus diameter, pixels; single nuclei vary about it by ~15 % (log-normal),
        mitotic figures are smaller.
    coverage : (float, float)
        Range of the fraction of the image covered by nuclei (their number follows from it).
    min_visible : int
        Nuclei with fewer visible pixels than this (mostly cut by the border or covered) are not labelled.
    artefacts : bool
        Also draw what real images often have (`nuclei_artefacts`: uneven illumination, cytoplasmic stain, stronger
        blur, saturation, JPEG compression), each at its own chance; the same seed without them gives the same
        image as ever.

    Returns
    -------
    image : ndarray, shape (Y, X), uint16 (about 70 % of seeds) or uint8
        Camera counts: offset + background + nuclei, with photon and read noise.
    labels : ndarray, shape (Y, X), int32
        Nuclei ``1..N`` (consecutive), 0 = background and debris. Where two overlap, the one drawn later (on top)
        owns the pixels.
    """
    rng = np.random.default_rng(seed)
    height, width = shape
    typical = rng.uniform(*diameter) / 2
    layout = str(rng.choice(["scattered", "clumped", "packed"], p=[0.35, 0.4, 0.25]))
    target = rng.uniform(*coverage) * (1.6 if layout == "packed" else 1.0)
    count = max(1, int(target * height * width / (math.pi * typical**2)))
    radii = typical * np.exp(rng.normal(0, 0.15, count))

    signal = np.zeros(shape, np.float32)
    labels = np.zeros(shape, np.int32)
    # nuclei brightness spans 5-10x in one image (cell-cycle stage, staining); a few are out of focus
    level_spread = rng.uniform(0.3, 0.6)
    number = 0
    for y, x, r in _centres(rng, shape, radii, layout):
        mitotic = rng.random() < 0.04
        mask, bright = _nucleus(rng, r * (0.6 if mitotic else 1.0), mitotic)
        bright *= math.exp(rng.normal(0, level_spread)) * (2.5 if mitotic else 1.0)
        if rng.random() < 0.12:  # out of focus: blurred and dimmer, still a nucleus
            bright = ndi.gaussian_filter(bright, rng.uniform(1.5, 3.5)) * 0.8
        half = mask.shape[0] // 2
        y0, x0 = int(round(y)) - half, int(round(x)) - half
        ys, xs = slice(max(y0, 0), min(y0 + mask.shape[0], height)), slice(max(x0, 0), min(x0 + mask.shape[1], width))
        if ys.start >= ys.stop or xs.start >= xs.stop:
            continue
        local = (slice(ys.start - y0, ys.stop - y0), slice(xs.start - x0, xs.stop - x0))
        number += 1
        signal[ys, xs] += bright[local]
        labels[ys, xs][mask[local]] = number
    labels = relabel_small(labels, min_size=min_visible)

    # debris: bright specks and short fibres that are not nuclei
    for _ in range(int(rng.integers(0, 12))):
        cy, cx = rng.uniform(0, height), rng.uniform(0, width)
        yy, xx = np.ogrid[:height, :width]
        signal += rng.uniform(0.5, 3.0) * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / rng.uniform(0.5, 3.0) ** 2)
    # background: autofluorescence that varies slowly, plus vignetting
    yy, xx = np.mgrid[:height, :width].astype(np.float32)
    vignette = 1 - rng.uniform(0, 0.35) * (((yy / height - 0.5) ** 2 + (xx / width - 0.5) ** 2) * 2)
    level = rng.uniform(0.01, 0.15)  # drawn before the texture: the same images as ever for each seed
    background = level * (1 + 0.5 * np.abs(smooth_noise(rng, shape, rng.uniform(20, 60), mode="reflect")))
    optical = ndi.gaussian_filter(signal, rng.uniform(0.6, 1.6)) + background
    quality = None
    if artefacts:  # from a generator of their own: the main one draws what it always drew
        extra = np.random.default_rng([seed, 1])
        optical, quality = optical_artefacts(extra, optical, labels), jpeg_quality(extra)
    # camera: photons (Poisson), read noise, offset, then 16- or 8-bit
    photons = rng.uniform(15, 1500)  # mean photons of a typical nucleus: dim and noisy to bright and clean
    counts = rng.poisson(np.clip(optical * vignette * photons, 0, None)).astype(np.float32)
    gain = rng.uniform(0.5, 4.0)
    counts = counts * gain + rng.normal(0, rng.uniform(1, 8), shape) + rng.uniform(0, 500)
    if rng.random() < 0.3 or quality is not None:  # an 8-bit export, scaled by its maximum like most software does
        image = np.clip(counts / max(np.percentile(counts, 99.9), 1) * rng.uniform(180, 255), 0, 255).astype(np.uint8)
        if quality is not None:
            image = jpeg_like(image, quality)
    else:
        image = np.clip(counts, 0, 65535).round().astype(np.uint16)
    return image, labels

