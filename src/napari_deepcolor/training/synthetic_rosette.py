"""Generated top views of potted rosette plants (Arabidopsis-like) with exact leaf labels.

`rosette` draws what a phenotyping photo of one Arabidopsis plant shows: a round black pot seen from above in an
orange tray (rim, inner wall, neighbouring pots and the tray's ridges and edges at the border), peat soil with
crumbs and perlite, in some images yellow-green moss, and the plant: leaves on thin petioles from one centre,
rounded blades, young leaves small and on top, then a camera (uneven light, defocus, chroma noise, JPEG blocks).
`rosette_plain` is the earlier generator (a plant on bare soil), kept bit for bit because the bundled ``leaves``
models and the ``leaves`` sample were made with it. Both are pure functions of their seed and return
``(image, labels)``; what they are modelled on is in docs/models/leaves.md. The tray, pots, soil and moss behind
`rosette`'s plant are drawn in `_rosette_tray`.

No torch here; numpy and scipy only.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage as ndi

from napari_deepcolor.training import _rosette_tray as tray
from napari_deepcolor.training._draw import capsule, noise_field, rgb, smooth_noise
from napari_deepcolor.training._jpeg import jpeg_rgb
from napari_deepcolor.training.rosette_artefacts import photo_artefacts

def _leaf(shape: tuple[int, int], base: tuple[float, float], angle: float, length: float, petiole: float,
          half_width: float, widest: float, bluntness: float, bend: float, teeth: tuple[float, float],
          petiole_width: float, pad: int) -> tuple[tuple[slice, slice], np.ndarray, np.ndarray, np.ndarray] | None:
    """One leaf: a thin petiole from ``base`` along ``angle``, then a rounded (obovate) blade, bent to one side.

    The blade's half width at ``t`` (0 where it starts, 1 at the tip) follows ``t**a (1 - t)**b`` with its maximum,
    ``half_width``, at ``widest``; ``bluntness`` is ``b`` (small: a round tip); ``teeth`` = (depth, count) serrates
    the edge. Returns the bounding box (padded by ``pad``), the mask there, the position along the blade (``t``,
    negative on the petiole) and across it (-1..1 at the edges).
    """
    by, bx = base
    dy, dx = math.sin(angle), math.cos(angle)
    ey, ex = by + dy * length, bx + dx * length
    margin = half_width + abs(bend) * length + pad + 2
    y0, y1 = max(int(min(by, ey) - margin), 0), min(int(max(by, ey) + margin) + 1, shape[0])
    x0, x1 = max(int(min(bx, ex) - margin), 0), min(int(max(bx, ex) + margin) + 1, shape[1])
    if y0 >= y1 or x0 >= x1:
        return None
    yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
    along = (yy - by) * dy + (xx - bx) * dx
    across = -(yy - by) * dx + (xx - bx) * dy - bend * along**2 / length
    blade = length - petiole
    t = (along - petiole) / blade
    tt = np.clip(t, 0, 1)
    a = bluntness * widest / (1 - widest)
    peak = widest**a * (1 - widest) ** bluntness
    profile = tt**a * (1 - tt) ** bluntness / peak
    depth, count = teeth
    if depth > 0:
        profile = profile * (1 + depth * tt * (2 * np.abs((count * tt) % 1 - 0.5) - 0.5))
    width = np.where((t > 0) & (t < 1), half_width * profile, 0.0)
    in_blade = np.abs(across) <= width
    in_petiole = (along >= -petiole_width) & (t <= 0.1) & (np.abs(across) <= petiole_width)
    rel_across = across / np.maximum(width, petiole_width)
    return (slice(y0, y1), slice(x0, x1)), in_blade | in_petiole, t, np.clip(rel_across, -1, 1)


def _camera(rng: np.random.Generator, image: np.ndarray, jpeg: float) -> np.ndarray:
    """Uneven light, colour cast, defocus, luminance and chroma noise, sometimes JPEG: ``uint8 (Y, X, 3)``."""
    height, wide = image.shape[:2]
    ny = np.arange(height, dtype=np.float32)[:, None] / height - 0.5
    nx = np.arange(wide, dtype=np.float32)[None, :] / wide - 0.5
    light = (rng.uniform(0.75, 1.3) * (1 + rng.uniform(-0.3, 0.3) * ny + rng.uniform(-0.3, 0.3) * nx)
             * (1 - rng.uniform(0, 0.5) * (ny**2 + nx**2)) * (1 + 0.05 * noise_field(rng, (height, wide), 80)))
    image = image * light[..., None] * (1 + rng.normal(0, 0.04, 3)).astype(np.float32)
    image = ndi.gaussian_filter(image, (rng.uniform(0.5, 1.4),) * 2 + (0,))
    grain = rng.uniform(0.004, 0.015) * rng.standard_normal((height, wide), dtype=np.float32)
    blotches = ndi.gaussian_filter(rng.standard_normal((height, wide, 3), dtype=np.float32), (1.0, 1.0, 0))
    image = image + grain[..., None] + (rng.uniform(0.01, 0.03) / float(blotches.std())) * blotches
    if rng.random() < jpeg:
        image = jpeg_rgb(np.clip(image, 0, 1), rng.uniform(55, 92))
    return (np.clip(image, 0, 1) * 255).round().astype(np.uint8)


def _visible_leaves(shape: tuple[int, int], leaves: list[tuple], min_visible: int) -> list[int]:
    """Indices of the leaves ``(box, mask)`` (drawn in order, later ones on top) that keep at least ``min_visible``
    visible pixels; leaves dropped uncover others, so this is repeated (three times at most)."""
    keep = list(range(len(leaves)))
    for _ in range(3):
        owner = np.full(shape, -1, np.int32)
        for k in keep:
            box, mask = leaves[k]
            owner[box][mask] = k
        visible = np.bincount(owner[owner >= 0], minlength=len(leaves))
        still = [k for k in keep if visible[k] >= min_visible]
        if still == keep:
            break
        keep = still
    return keep


def rosette(seed: int = 0, *, shape: tuple[int, int] = (512, 512),
            plant_diameter: tuple[float, float] = (100.0, 400.0), leaves: tuple[int, int] = (6, 18),
            moss: float = 0.4, jpeg: float = 0.5, min_visible: int = 40,
            radius: tuple[float, float] | None = None, artefacts: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """An RGB top view of a potted Arabidopsis-like rosette in a tray, and its leaf labels.

    The scene, back to front: an orange tray with moulded ridges (in half the images its edge or a corner, with the
    bench beyond); round black pots on a grid, one near the centre and parts of its neighbours at the border, each
    with a grey rim and highlight, a black inner wall and peat soil (crumbs lit from one side, perlite specks, wood
    fibres) shaded by the rim; in a fraction ``moss`` of the images, fine yellow-green moss and darker algae over
    part of the soil; then the plant. Leaves start at one centre in a phyllotactic spiral (golden angle with
    jitter), each a thin petiole and a rounded blade (obovate, widest beyond its middle, sometimes serrated, bent a
    little); older leaves are longer, with longer petioles, and lie below the younger ones, so the small young
    leaves sit on top at the centre and each label holds a leaf's visible part. Each plant has its own green; young
    leaves are paler, some plants have darker leaves or an anthocyanin (purple) tint on older leaves and edges;
    leaves are lit as domes with a paler midrib, some gloss and a soft shadow on what lies below. Last the camera:
    exposure, colour cast, light gradient and vignetting, defocus blur, luminance and blotchy chroma noise, and in a
    fraction ``jpeg`` of the images JPEG compression (quality 55–92). About 0.15 s of CPU time an image at
    512 × 512 (one thread; 0.13–0.16 s measured next to a training run on a 2-core machine).

    Parameters
    ----------
    seed : int
        Everything is drawn from ``numpy.random.default_rng(seed)``.
    shape : (int, int)
        Image size (Y, X), pixels. The pot's diameter is 72–94 % of the smaller side.
    plant_diameter : (float, float)
        Range of the plant's diameter, pixels: the leaves are scaled so that the largest distance across their
        outlines (the labelled plant's Feret diameter, to within about 1 %) is drawn from this range. Capped so
        that the plant fits in the image (96 % of the smaller side, less for a lopsided plant).
    leaves : (int, int)
        Range of the number of leaves drawn (inclusive); hidden or tiny ones are dropped afterwards.
    moss, jpeg : float
        Probability that an image has moss on the soil, and that it is compressed as JPEG.
    min_visible : int
        Leaves with fewer visible pixels than this are not drawn.
    radius : (float, float), optional
        The earlier knob: the plant's radius as a fraction of the image's smaller side; replaces
        ``plant_diameter`` when given.
    artefacts : bool
        Also what consumer photos often have (`rosette_artefacts`: white balance, gamma, colour saturation, defocus,
        a hard shadow, strong JPEG), each at its own chance; the same seed without them gives the same image as ever.

    Returns
    -------
    image : ndarray, shape (Y, X, 3), uint8
        RGB.
    labels : ndarray, shape (Y, X), int32
        Leaves ``1..N`` (consecutive, oldest first), 0 = everything else (soil, moss, pot, tray).

    Raises
    ------
    ValueError
        An empty or non-positive ``plant_diameter`` range, or an empty ``leaves`` range.
    """
    if radius is not None:
        plant_diameter = (2 * radius[0] * min(shape), 2 * radius[1] * min(shape))
    if not 0 < plant_diameter[0] <= plant_diameter[1]:
        raise ValueError(f"plant_diameter must be a range (low, high) with 0 < low <= high, got {plant_diameter}")
    if not 1 <= leaves[0] <= leaves[1]:
        raise ValueError(f"leaves must be a range (low, high) with 1 <= low <= high, got {leaves}")
    rng = np.random.default_rng(seed)
    height, wide = shape
    light = rng.uniform(0, 2 * np.pi)  # where the light comes from, in the image plane
    soil = tray.peat(rng, shape, light, specks=rng.uniform(20, 250))
    if rng.random() < moss:
        soil = tray.moss(rng, shape, soil)
    image, pot_centre, soil_radius = tray.pots(rng, shape, light, soil)

    # the plant: its leaves' shapes and colours, then its size and its centre (in the pot, in the image)
    diameter = min(rng.uniform(*plant_diameter), 0.96 * min(shape))
    offset = rng.uniform(-0.12, 0.12, 2) * soil_radius
    n_leaves = int(rng.integers(leaves[0], leaves[1] + 1))
    start = rng.uniform(0, 2 * np.pi)
    golden = math.radians(137.5)
    green = rgb(0.36, 0.54, 0.16) + rng.uniform(0, 1) * rgb(-0.2, -0.22, 0.0)  # yellowish .. bluish
    green = green * rng.uniform(0.8, 1.15)
    purple = rng.uniform(0.3, 0.85) if rng.random() < 0.3 else 0.0
    darker = rng.uniform(0.2, 0.5) if rng.random() < 0.3 else 0.0
    teeth = (rng.uniform(0.05, 0.12), rng.uniform(5, 10)) if rng.random() < 0.35 else (0.0, 1.0)
    gloss = rng.uniform(0, 0.08)
    plan = []
    for i in range(n_leaves):  # i = 0 is the oldest (outermost, longest) leaf
        age = 1 - i / max(n_leaves - 1, 1)
        length = 1.0 if i == 0 else (0.12 + 0.88 * age**1.1) * rng.uniform(0.9, 1.0)
        petiole = np.clip(0.12 + 0.25 * age + rng.normal(0, 0.04), 0.05, 0.45)  # of the length
        width = (1 - petiole) * rng.uniform(0.32, 0.46)  # the blade's half width, of the length
        angle = start + i * golden + rng.normal(0, 0.12)
        shape_knobs = (rng.uniform(0.55, 0.68), rng.uniform(0.3, 0.45), rng.normal(0, 0.06))
        colour = green * rng.uniform(0.88, 1.12) + rng.normal(0, 0.012, 3).astype(np.float32) + rgb(
            0.05, 0.07, 0) * (1 - age)  # young leaves paler
        if darker and rng.random() < 0.5:
            colour = colour * (1 - darker)
        plan.append((length, petiole, width, angle, rng.normal(0, 0.6, 2), shape_knobs, colour,
                     purple * age * rng.uniform(0.3, 1.0)))
    # sized so that the plant's outline (leaf tips and the blades' widest points) spans ``diameter``, capped so
    # that the plant fits in the image
    outline = [np.zeros((1, 2))]
    t = np.linspace(0.2, 1, 17)
    for length, petiole, width, angle, _, (widest, bluntness, bend), _, _ in plan:
        a = bluntness * widest / (1 - widest)
        half = width * t**a * (1 - t) ** bluntness / (widest**a * (1 - widest) ** bluntness)
        along = petiole + t * (1 - petiole)
        for side in (-1, 1):
            across = bend * along**2 + side * half
            outline.append(length * np.stack([along * math.sin(angle) - across * math.cos(angle),
                                              along * math.cos(angle) + across * math.sin(angle)], 1))
    outline = np.concatenate(outline)
    spread = max(float(np.sqrt(((outline[:, None] - outline[None]) ** 2).sum(-1)).max()), 1e-3)
    reach = float(np.sqrt((outline**2).sum(-1)).max())
    scale = min(diameter / spread, (min(shape) / 2 - 2) / reach)
    reach *= scale
    cy = float(np.clip(pot_centre[0] + offset[0], reach + 1, height - reach - 1))
    cx = float(np.clip(pot_centre[1] + offset[1], reach + 1, wide - reach - 1))
    shadow_shift = (round(-3 * math.sin(light)), round(-3 * math.cos(light)))
    drawn = []
    for length, petiole, width, angle, jitter, (widest, bluntness, bend), colour, tint in plan:
        length *= scale
        leaf = _leaf(shape, (cy + jitter[0], cx + jitter[1]), angle, length, petiole * length, width * length,
                     widest, bluntness, bend, teeth, max(0.9, 0.06 * width * length), pad=6)
        if leaf is not None and leaf[1].any():
            drawn.append((leaf, colour, tint, math.sin(angle - light)))
    # keep leaves with enough visible area, then paint them in order (younger on top)
    keep = _visible_leaves(shape, [d[0][:2] for d in drawn], min_visible)

    labels = np.zeros(shape, np.int32)
    texture = noise_field(rng, shape, 1.2)
    anthocyanin = rgb(0.26, 0.09, 0.18)
    for number, k in enumerate(keep, start=1):
        (box, mask, t, across), colour, tint, facing = drawn[k]  # facing: > 0 when across > 0 faces the light
        region = image[box]
        below = ndi.gaussian_filter(np.roll(mask, shadow_shift, (0, 1)).astype(np.float32), 2.5)
        region *= (1 - 0.45 * below * ~mask)[..., None]
        # lit as a low dome, the side towards the light brighter; a paler midrib and faint side veins
        dome = np.sqrt(np.clip(1 - across**2, 0, 1))
        in_blade = (t > 0) & (t < 0.85)
        midrib = np.exp(-(across * 9) ** 2) * in_blade
        phase = 6 * t - 2 * np.abs(across)
        veins = np.exp(-((phase - np.round(phase)) * 5) ** 2) * in_blade * (np.abs(across) < 0.8)
        shading = (0.8 + 0.22 * dome + 0.12 * facing * across + 0.05 * texture[box] + 0.1 * midrib
                   + 0.04 * veins)
        tinted = colour + tint * (0.7 + 0.3 * across[..., None] ** 2) * (anthocyanin - colour)
        petiole = t <= 0
        tinted = np.where(petiole[..., None], colour * 1.1 + rgb(0.04, 0.04, 0.0) + tint * (anthocyanin - colour),
                          tinted)
        shine = gloss * np.exp(-((across - 0.5 * facing) / 0.2) ** 2) * (t > 0.1) * (t < 0.9)
        leaf_rgb = tinted * shading[..., None] + shine[..., None]
        region[mask] = leaf_rgb[mask]
        labels[box][mask] = number
    photo = _camera(rng, image, jpeg)
    if artefacts:  # from a generator of their own: the main one drew what it always drew
        photo = photo_artefacts(np.random.default_rng([seed, 1]), photo)
    return photo, labels


def _leaf_mask(shape: tuple[int, int], base: tuple[float, float], angle: float, petiole: float, blade: float,
               half_width: float, petiole_width: float, tip: float
               ) -> tuple[tuple[slice, slice], np.ndarray, np.ndarray, np.ndarray] | None:
    """One leaf of `rosette_plain` (a stalk then an ovate blade) along ``angle`` from ``base``.

    Returns the bounding box, the mask there, and per pixel the position along the leaf (0 at the base, 1 at the
    tip) and across it (-1..1 at the blade's edges).
    """
    by, bx = base
    dy, dx = math.sin(angle), math.cos(angle)
    reach = petiole + blade + half_width + 2
    ey, ex = by + dy * (petiole + blade), bx + dx * (petiole + blade)
    y0, y1 = max(int(min(by, ey) - half_width - 2), 0), min(int(max(by, ey) + half_width + 3), shape[0])
    x0, x1 = max(int(min(bx, ex) - half_width - 2), 0), min(int(max(bx, ex) + half_width + 3), shape[1])
    if y0 >= y1 or x0 >= x1 or reach <= 0:
        return None
    yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
    along = (yy - by) * dy + (xx - bx) * dx
    across = -(yy - by) * dx + (xx - bx) * dy
    t = (along - petiole) / blade
    # ovate blade: widest at ~40 % of its length, rounded towards the tip (``tip`` sharpens it)
    profile = np.where((t > 0) & (t < 1), np.clip(t, 0, 1) ** 0.45 * np.clip(1 - t, 0, 1) ** tip, 0.0)
    peak = (0.45 / (0.45 + tip)) ** 0.45 * (tip / (0.45 + tip)) ** tip
    width_here = half_width * profile / peak
    in_blade = np.abs(across) <= width_here
    in_stalk = (along >= 0) & (along <= petiole + 0.15 * blade) & (np.abs(across) <= petiole_width)
    mask = in_blade | in_stalk
    rel_across = np.where(width_here > 0, across / np.maximum(width_here, 1e-3), across / max(petiole_width, 1))
    return (slice(y0, y1), slice(x0, x1)), mask, np.clip(along / (petiole + blade), 0, 1), np.clip(rel_across, -1, 1)


def _soil(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    """Textured soil of `rosette_plain`: brown to grey-brown, clumps at two scales, grains and pebbles.

    ``float32 (Y, X, 3)`` in 0..1.
    """
    base = np.array([0.36, 0.27, 0.19]) * rng.uniform(0.7, 1.25) + rng.uniform(-0.04, 0.04, 3)
    grey = rng.uniform(0, 0.5)
    base = (1 - grey) * base + grey * base.mean()
    texture = 0.10 * smooth_noise(rng, shape, 6) + 0.06 * smooth_noise(rng, shape, 1.5) + \
        0.05 * smooth_noise(rng, shape, 0.6)
    image = base[None, None, :] * (1 + texture[..., None])
    # grains: a few bright and dark specks; pebbles: a few larger pale blobs
    specks = rng.random(shape)
    image[specks < 0.01] *= 0.55
    image[specks > 0.993] = image[specks > 0.993] * 1.6 + 0.05
    for _ in range(int(rng.integers(0, 8))):
        box = capsule(shape, (rng.uniform(0, shape[0]), rng.uniform(0, shape[1])), rng.uniform(0, np.pi),
                      rng.uniform(3, 9), rng.uniform(1.5, 3.5))
        if box is not None:
            (sy, sx), mask = box
            image[sy, sx][mask] = np.array([0.55, 0.5, 0.45]) * rng.uniform(0.7, 1.1)
    return np.clip(image, 0, 1).astype(np.float32)


def rosette_plain(seed: int = 0, *, shape: tuple[int, int] = (256, 256), leaves: tuple[int, int] = (5, 14),
                  radius: tuple[float, float] = (0.18, 0.45), min_visible: int = 40) -> tuple[np.ndarray, np.ndarray]:
    """The earlier generator: an RGB top view of a plant rosette on bare soil and its leaf labels.

    The bundled ``leaves`` and ``leaves-semiconv`` models were trained on it (as ``rosette``, seeds 0–399) and the
    ``leaves`` sample is its seed 2,000,007; it is kept unchanged so that those stay reproducible.

    Leaves radiate from a centre in a phyllotactic spiral (golden angle with jitter); older leaves are longer and
    lie below younger ones, so leaves overlap and the labels hold each leaf's visible part. Each plant gets its own
    green (yellowish to bluish, light to dark), leaves shade darker towards their edges with a paler midrib, cast
    a soft shadow on what lies below, and the whole scene gets a random exposure, colour cast and light gradient.

    Parameters
    ----------
    seed : int
        Everything is drawn from ``numpy.random.default_rng(seed)``.
    shape : (int, int)
        Image size (Y, X), pixels.
    leaves : (int, int)
        Range of the number of leaves drawn (inclusive); hidden or tiny ones are dropped afterwards.
    radius : (float, float)
        Range of the rosette's radius as a fraction of the image's smaller side.
    min_visible : int
        Leaves with fewer visible pixels than this are not drawn.

    Returns
    -------
    image : ndarray, shape (Y, X, 3), uint8
        RGB.
    labels : ndarray, shape (Y, X), int32
        Leaves ``1..N`` (consecutive, oldest first), 0 = background.
    """
    rng = np.random.default_rng(seed)
    height, wide = shape
    soil = _soil(rng, shape)
    centre = (height / 2 + rng.uniform(-0.12, 0.12) * height, wide / 2 + rng.uniform(-0.12, 0.12) * wide)
    plant_radius = rng.uniform(*radius) * min(shape)
    n_leaves = int(rng.integers(leaves[0], leaves[1] + 1))
    start = rng.uniform(0, 2 * np.pi)
    golden = math.radians(137.5)
    green = np.array([0.22, 0.45, 0.14]) * rng.uniform(0.7, 1.3) + np.array([rng.uniform(-0.06, 0.1),
                                                                              rng.uniform(-0.05, 0.05),
                                                                              rng.uniform(-0.05, 0.08)])
    drawn = []
    for i in range(n_leaves):  # i = 0 is the oldest (outermost, longest) leaf
        age = 1 - i / max(n_leaves, 2)
        reach = plant_radius * (0.35 + 0.65 * age) * rng.uniform(0.85, 1.1)
        petiole = reach * rng.uniform(0.15, 0.4)
        blade = reach - petiole
        half_width = blade * rng.uniform(0.22, 0.38)
        angle = start + i * golden + rng.normal(0, 0.15)
        base = (centre[0] + rng.normal(0, 1.0), centre[1] + rng.normal(0, 1.0))
        leaf = _leaf_mask(shape, base, angle, petiole, blade, half_width, max(1.2, half_width * 0.12),
                          rng.uniform(0.5, 0.9))
        if leaf is None or not leaf[1].any():
            continue
        colour = green * rng.uniform(0.85, 1.15) + rng.normal(0, 0.015, 3) + 0.06 * (1 - age)  # young: paler
        drawn.append((leaf, colour))
    # keep leaves with enough visible area, then paint them in order (younger on top)
    keep = _visible_leaves(shape, [d[0][:2] for d in drawn], min_visible)

    image = soil.copy()
    labels = np.zeros(shape, np.int32)
    texture = smooth_noise(rng, shape, 1.2)
    for number, k in enumerate(keep, start=1):
        (box, mask, along, across), colour = drawn[k]
        # a soft shadow of this leaf on what lies below it
        below = ndi.gaussian_filter(mask.astype(np.float32), 2.0)
        region = image[box]
        region *= (1 - 0.35 * below * ~mask)[..., None]
        edge = np.abs(across) ** 2
        midrib = np.exp(-(np.abs(across) * 12) ** 2) * (along > 0.1)
        light = 1.05 - 0.35 * edge + 0.25 * midrib + 0.04 * texture[box] + 0.15 * (along - 0.5)
        leaf_rgb = colour[None, None, :] * light[..., None] + 0.08 * midrib[..., None]
        region[mask] = leaf_rgb[mask]
        labels[box][mask] = number
    # lighting: exposure, colour cast, a gradient, then a little blur and sensor noise
    yy, xx = np.mgrid[:height, :wide].astype(np.float32)
    gradient = 1 + rng.uniform(-0.25, 0.25) * (yy / height - 0.5) + rng.uniform(-0.25, 0.25) * (xx / wide - 0.5)
    cast = 1 + rng.normal(0, 0.04, 3)
    image = image * rng.uniform(0.7, 1.35) * cast[None, None, :] * gradient[..., None]
    image = ndi.gaussian_filter(image, (rng.uniform(0.4, 0.9),) * 2 + (0,))
    image = image + rng.normal(0, rng.uniform(0.005, 0.02), image.shape)
    return (np.clip(image, 0, 1) * 255).round().astype(np.uint8), labels
