"""Synthetic training scenes with exact labels: phase-contrast E. coli colonies and RGB plant rosettes (and, from
`synthetic_nuclei`, fluorescent nuclei).

Each generator is a pure function of its seed and returns ``(image, labels)``; `synthetic_pairs` makes many, and
``deepcolor train --synthetic KIND`` trains on them in memory (``experiments/zoo/make_synthetic.py`` writes them to a
folder). They stand in for data that cannot be shipped or that does not exist here: one real E. coli image, and no
redistributable leaf images at all. What they are modelled on, and how close they come, is in docs/models/.

No torch here; numpy and scipy only.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from functools import partial

import numpy as np
from scipy import ndimage as ndi

from napari_deepcolor.training._draw import capsule as _capsule
from napari_deepcolor.training._draw import relabel_small
from napari_deepcolor.training._draw import smooth_noise as _smooth_noise
from napari_deepcolor.training.synthetic_nuclei import nuclei_field
from napari_deepcolor.training.synthetic_rosette import rosette, rosette_plain

#: Background level of the E. coli images in camera units (the real Omnipose image's background is ~10,400).
ECOLI_BACKGROUND = 10_000.0


def ecoli_colony(seed: int = 0, *, shape: tuple[int, int] = (256, 256), width: tuple[float, float] = (9.0, 11.0),
                 length: tuple[float, float] = (17.0, 40.0), dividing: float = 0.25, stragglers: int = 4
                 ) -> tuple[np.ndarray, np.ndarray]:
    """A phase-contrast image of a packed E. coli micro-colony and its cell labels.

    Rod cells (capsules) are packed into an irregular colony with locally aligned orientations; some are dividing
    (two daughters end to end with a constriction). The image follows phase contrast: cells darker than the
    background, a bright halo around the colony and in the gaps between cells, optical blur, uneven illumination
    and shot-like noise. Sizes and intensities follow the real Omnipose image bundled as the ``ecoli`` sample
    (cells 9–11 px wide, 100–300 px²; cells at ~0.8, halo up to ~2–3 times the background).

    Parameters
    ----------
    seed : int
        Everything is drawn from ``numpy.random.default_rng(seed)``.
    shape : (int, int)
        Image size (Y, X), pixels.
    width, length : (float, float)
        Ranges of cell width and length (pixels).
    dividing : float
        Fraction of rods drawn as two daughters with a constriction.
    stragglers : int
        Up to this many single cells outside the colony.

    Returns
    -------
    image : ndarray, shape (Y, X), uint16
        Background ~10,000, like a camera image.
    labels : ndarray, shape (Y, X), int32
        Cells ``1..N`` (consecutive), 0 = background.
    """
    rng = np.random.default_rng(seed)
    height, wide = shape
    yy, xx = np.mgrid[:height, :wide].astype(np.float32)
    cy, cx, radius, colony = _colony_outline(rng, shape, yy, xx)
    # orientation domains: Voronoi cells of a few seeds, each packed with parallel rows of rods laid end to end,
    # like the domains of aligned cells in a growing colony
    n_domains = int(rng.integers(5, 15))
    seeds = np.stack([rng.uniform(cy - radius, cy + radius, n_domains), rng.uniform(cx - radius, cx + radius,
                                                                                    n_domains)], 1)
    domain = np.argmin((yy[..., None] - seeds[:, 0]) ** 2 + (xx[..., None] - seeds[:, 1]) ** 2, axis=-1)
    packing = _Packing(rng, shape, dividing)
    domain_angles = rng.uniform(0, np.pi, n_domains)
    for d in range(n_domains):
        _pack_domain(packing, d, domain_angles[d], (cy, cx), domain == d, colony, width, length)
    # fill the holes left where domains meet: random short cells, oriented like their domain
    inside = np.flatnonzero(colony & ~ndi.binary_dilation(packing.occupied, iterations=3))
    for _ in range(300 if inside.size else 0):
        y, x = np.unravel_index(inside[rng.integers(inside.size)], shape)
        if not packing.occupied[y, x]:
            packing.place((float(y), float(x)), domain_angles[domain[y, x]] + rng.normal(0, 0.5),
                          rng.uniform(length[0], (length[0] + length[1]) / 2), rng.uniform(*width) / 2)
    # a few cells that swam off or grew apart from the colony
    outside = np.flatnonzero(~ndi.binary_dilation(colony, iterations=12))
    for _ in range(int(rng.integers(0, stragglers + 1))):
        if outside.size:
            y, x = np.unravel_index(outside[rng.integers(outside.size)], shape)
            packing.place((float(y), float(x)), rng.uniform(0, np.pi), rng.uniform(*length), rng.uniform(*width) / 2)
    labels = relabel_small(packing.labels, min_size=60)
    return _phase_contrast(rng, labels, packing.next_label, yy, xx), labels


def ecoli_cells(seed: int = 0, *, shape: tuple[int, int] = (256, 256), cells: tuple[int, int] = (1, 3),
                width: tuple[float, float] = (9.0, 11.0), length: tuple[float, float] = (17.0, 40.0),
                dividing: float = 0.25) -> tuple[np.ndarray, np.ndarray]:
    """A phase-contrast image of a few separate E. coli cells (the first frames of a time-lapse, a sparse field) and
    their labels: ``cells`` rods (an inclusive range; a dividing rod is two daughters, so one label more), drawn like
    `ecoli_colony`'s, none within a cell length of another, rendered the same way (`_phase_contrast`). For the
    few-objects rows of ``benchmarks/bench_object_size.py``, where a colony with most cells removed kept their faint
    rims."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:shape[0], :shape[1]].astype(np.float32)
    packing = _Packing(rng, shape, dividing)
    wanted, margin = int(rng.integers(cells[0], cells[1] + 1)), length[1]
    for _ in range(200):
        if packing.next_label > wanted:
            break
        centre = (rng.uniform(margin, shape[0] - margin), rng.uniform(margin, shape[1] - margin))
        if not packing.occupied[_around(centre, margin, shape)].any():
            packing.place(centre, rng.uniform(0, np.pi), rng.uniform(*length), rng.uniform(*width) / 2)
    labels = relabel_small(packing.labels, min_size=60)
    return _phase_contrast(rng, labels, packing.next_label, yy, xx), labels


def _around(centre: tuple[float, float], radius: float, shape: tuple[int, int]) -> tuple[slice, slice]:
    (y, x), r = centre, int(math.ceil(radius))
    return (slice(max(0, int(y) - r), min(shape[0], int(y) + r + 1)),
            slice(max(0, int(x) - r), min(shape[1], int(x) + r + 1)))


def _colony_outline(rng: np.random.Generator, shape: tuple[int, int], yy: np.ndarray, xx: np.ndarray
                    ) -> tuple[float, float, float, np.ndarray]:
    """The colony: centre (y, x), radius and mask ``(Y, X)`` bool of a blob of random radius and wobbly outline."""
    height, wide = shape
    cy, cx = height / 2 + rng.uniform(-0.1, 0.1) * height, wide / 2 + rng.uniform(-0.1, 0.1) * wide
    radius = rng.uniform(0.3, 0.55) * min(shape)
    theta = np.arctan2(yy - cy, xx - cx)
    wobble = sum(rng.uniform(0, 0.12) * np.cos(k * theta + rng.uniform(0, 2 * np.pi)) for k in range(2, 6))
    stretch = rng.uniform(0.75, 1.0)
    phi = rng.uniform(0, np.pi)
    u = (yy - cy) * math.cos(phi) + (xx - cx) * math.sin(phi)
    v = -(yy - cy) * math.sin(phi) + (xx - cx) * math.cos(phi)
    return cy, cx, radius, np.hypot(u, v / stretch) <= radius * (1 + wobble)


class _Packing:
    """The cells placed so far (``labels``, ``occupied``, ``next_label``) and `place`, which adds one if it fits."""

    def __init__(self, rng: np.random.Generator, shape: tuple[int, int], dividing: float) -> None:
        self.rng, self.shape, self.dividing = rng, shape, dividing
        self.labels = np.zeros(shape, np.int32)
        self.occupied = np.zeros(shape, bool)
        self.next_label = 1

    def place(self, centre: tuple[float, float], angle: float, cell_length: float, cell_radius: float) -> None:
        """A rod (some dividing: two daughters end to end) unless it overlaps the cells placed too much."""
        y, x = centre
        if self.rng.random() < self.dividing and cell_length > 28:
            half = (cell_length - 0.5) / 2
            shift = (half + 0.5) / 2
            parts = [((y + s * shift * math.sin(angle), x + s * shift * math.cos(angle)), half) for s in (-1, 1)]
        else:
            parts = [((y, x), cell_length)]
        shapes = [_capsule(self.shape, c, angle, part_length, cell_radius) for c, part_length in parts]
        if any(s is None or not s[1].any() for s in shapes):
            return
        # a cell may squeeze into at most 8 % of already occupied pixels (cells press on each other)
        if any(self.occupied[box][mask].mean() > 0.08 for box, mask in shapes):
            return
        for box, mask in shapes:
            free = mask & ~self.occupied[box]
            if free.sum() >= 60:
                self.labels[box][free] = self.next_label
                self.occupied[box] |= free
                self.next_label += 1


def _pack_domain(packing: _Packing, d: int, angle: float, centre: tuple[float, float], in_domain: np.ndarray,
                 colony: np.ndarray, width: tuple[float, float], length: tuple[float, float]) -> None:
    """Parallel rows of rods laid end to end at ``angle`` across the colony, kept where they fall in domain ``d``."""
    rng, (height, wide), (cy, cx) = packing.rng, packing.shape, centre
    diagonal = math.hypot(height, wide)
    ay, ax = math.sin(angle), math.cos(angle)  # along the rows
    cell_width = rng.uniform(*width)
    pitch = cell_width + rng.uniform(0.0, 1.0)
    offset = -diagonal / 2 + rng.uniform(0, pitch)
    while offset < diagonal / 2:
        position = -diagonal / 2 + rng.uniform(0, length[1])
        while position < diagonal / 2:
            cell_length = rng.uniform(*length)
            along = position + cell_length / 2
            y = cy + along * ay - offset * ax + rng.normal(0, 0.6)
            x = cx + along * ax + offset * ay + rng.normal(0, 0.6)
            position += cell_length + rng.uniform(0.5, 3.0)
            iy, ix = int(round(y)), int(round(x))
            if not (0 <= iy < height and 0 <= ix < wide) or not in_domain[iy, ix] or not colony[iy, ix]:
                continue
            if rng.random() < 0.02:  # a hole in the colony
                continue
            packing.place((y, x), angle + rng.normal(0, 0.05), cell_length,
                          np.clip(cell_width + rng.normal(0, 0.3), *width) / 2)
        offset += pitch


def _phase_contrast(rng: np.random.Generator, labels: np.ndarray, n_shades: int, yy: np.ndarray, xx: np.ndarray
                    ) -> np.ndarray:
    """The phase-contrast image ``(Y, X)`` uint16 of cells ``labels``: dark cell bodies (touching cells show a seam),
    a bright halo at two scales around every dark mass, blur, uneven illumination, noise."""
    shape = labels.shape
    height, wide = shape
    cells = labels > 0
    seams = (ndi.grey_dilation(labels, size=3) != labels) & cells
    # the labels reach into the bright rim, like Omnipose's: the dark mass is a pixel thinner than the cell
    body = ndi.binary_erosion(cells & ~seams).astype(np.float32)
    body = ndi.gaussian_filter(body, 0.8)
    darkness = rng.uniform(0.15, 0.3)
    near, far = ndi.gaussian_filter(body, rng.uniform(1.5, 2.5)), ndi.gaussian_filter(body, rng.uniform(6, 10))
    halo = rng.uniform(1.8, 2.8)
    image = 1.0 - darkness * body + halo * (0.7 * np.clip(near - body, 0, None) + 0.4 * np.clip(far - body, 0, None))
    # cells have a little internal texture and vary in darkness (one shade per label drawn, before relabelling)
    shade = np.zeros(n_shades + 1, np.float32)
    shade[1:] = rng.normal(0, 0.04, n_shades)
    image = image + shade[labels] * body
    image = ndi.gaussian_filter(image, rng.uniform(0.7, 1.1))
    illumination = 1 + rng.uniform(0.02, 0.06) * _smooth_noise(rng, shape, 60)
    gradient = 1 + rng.uniform(-0.08, 0.08) * (yy / height - 0.5) + rng.uniform(-0.08, 0.08) * (xx / wide - 0.5)
    image = np.clip(image, 0.05, None) * illumination * gradient * ECOLI_BACKGROUND
    noise_level = rng.uniform(0.01, 0.03)
    image = image + rng.standard_normal(shape).astype(np.float32) * noise_level * np.sqrt(image * ECOLI_BACKGROUND)
    return np.clip(image, 0, 65535).astype(np.uint16)


#: Generators by the name ``deepcolor train --synthetic`` and ``experiments/zoo/make_synthetic.py`` take.
#: "rosette" draws realistic photos of potted plants; "rosette-plain" the plants on bare soil the first leaf models
#: (and their recipes) were trained on.
GENERATORS: dict[str, Callable[..., tuple[np.ndarray, np.ndarray]]] = {
    "ecoli": ecoli_colony, "rosette": rosette, "rosette-plain": rosette_plain, "nuclei": nuclei_field,
    "nuclei-artefacts": partial(nuclei_field, artefacts=True), "rosette-artefacts": partial(rosette, artefacts=True)}


def synthetic_pairs(kind: str, count: int, *, seed: int = 0) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """``count`` pairs from generator ``kind``, the i-th drawn with seed ``seed + i``.

    Raises
    ------
    ValueError
        Unknown ``kind`` (the message lists the valid ones) or negative ``count``.
    """
    if kind not in GENERATORS:
        raise ValueError(f"unknown synthetic data {kind!r}; valid kinds are {sorted(GENERATORS)}")
    if count < 0:
        raise ValueError(f"count must be >= 0, got {count}")
    generator = GENERATORS[kind]
    for i in range(count):
        yield generator(seed + i)
