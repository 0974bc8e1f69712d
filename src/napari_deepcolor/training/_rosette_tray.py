"""The scene behind a `synthetic_rosette.rosette` plant: an orange tray of round black pots seen from above, peat
soil in them and, in some images, moss over it. Pure functions of a random generator (numpy and scipy only); each
keeps its sequence of random draws, which the bundled leaves samples depend on bit for bit."""

from __future__ import annotations

import math

import numpy as np

from napari_deepcolor.training._draw import capsule, noise_field, rgb


def peat(rng: np.random.Generator, shape: tuple[int, int], light: float, specks: float) -> np.ndarray:
    """Dark potting soil: crumbs lit from ``light`` (radians), dark gaps, white perlite. ``float32 (Y, X, 3)``."""
    base = rgb(0.21, 0.15, 0.105) * rng.uniform(0.75, 1.15) + rng.uniform(-0.015, 0.015, 3).astype(np.float32)
    crumbs = noise_field(rng, shape, rng.uniform(1.5, 3.0))
    relief = 0.7 * crumbs + 0.3 * noise_field(rng, shape, 1.0)
    gy, gx = np.gradient(relief)
    shade = -(gy * math.sin(light) + gx * math.cos(light))  # slopes facing the light are brighter
    value = 1 + 0.25 * relief + 1.0 * shade + 0.15 * noise_field(rng, shape, 25)
    value = np.where(crumbs < -1.3, value * 0.5, value)  # gaps between crumbs
    soil = np.clip(value, 0.1, None)[..., None] * base
    # perlite: small white grains with a shadow on the side away from the light; a few pale wood fibres
    area = shape[0] * shape[1] / 512**2
    away = (round(2 * -math.sin(light)), round(2 * -math.cos(light)))
    for _ in range(int(rng.poisson(specks * area))):
        box = capsule(shape, (rng.uniform(0, shape[0]), rng.uniform(0, shape[1])), rng.uniform(0, np.pi),
                      rng.uniform(2, 7), rng.uniform(1.0, 2.8))
        if box is None:
            continue
        (sy, sx), mask = box
        soil[sy, sx][np.roll(mask, away, (0, 1)) & ~mask] *= 0.4
        soil[sy, sx][mask] = rng.uniform(0.65, 0.95) * rgb(1.0, 0.98, 0.93) * rng.uniform(0.85, 1.05, mask.sum())[
            :, None]
    for _ in range(int(rng.poisson(6 * area))):
        box = capsule(shape, (rng.uniform(0, shape[0]), rng.uniform(0, shape[1])), rng.uniform(0, np.pi),
                      rng.uniform(6, 18), rng.uniform(0.6, 1.2))
        if box is not None:
            (sy, sx), mask = box
            soil[sy, sx][mask] = rgb(0.45, 0.33, 0.2) * rng.uniform(0.5, 1.0)
    return soil


def moss(rng: np.random.Generator, shape: tuple[int, int], soil: np.ndarray) -> np.ndarray:
    """Cover part of ``soil`` with patches of fine, yellow-green moss and darker algae (in place); return it."""
    cover = rng.uniform(0.1, 0.75)
    patches = noise_field(rng, shape, rng.uniform(12, 40)) + 0.3 * noise_field(rng, shape, 4) + 0.15 * noise_field(rng, shape, 1)
    level = np.quantile(patches[::4, ::4], 1 - cover)
    weight = np.clip((patches - level) * 5, 0, 1)
    yellow = rgb(0.50, 0.54, 0.17) * rng.uniform(0.55, 1.05) + rgb(rng.uniform(-0.08, 0.04), 0, 0)
    algae = rgb(0.20, 0.28, 0.09) * rng.uniform(0.7, 1.2)
    mix = np.clip(0.5 + 0.5 * noise_field(rng, shape, 15), 0, 1)[..., None] * rng.uniform(0, 0.8)
    # fine grains: shoots of a pixel or two, lighter tips, dark gaps between them
    grains = noise_field(rng, shape, 0.6)
    fine = 1 + 0.3 * grains + 0.12 * noise_field(rng, shape, 2.0)
    fine = np.where(grains < -1.0, fine * 0.45, fine)
    moss = ((1 - mix) * yellow + mix * algae) * np.clip(fine, 0.2, None)[..., None]
    soil += weight[..., None] * (moss - soil)
    return soil


def pots(rng: np.random.Generator, shape: tuple[int, int], light: float, soil: np.ndarray
          ) -> tuple[np.ndarray, tuple[float, float], float]:
    """An orange tray holding round black pots on a grid, one near the centre: ``(image, centre, soil_radius)``.

    Each pot, seen from above: a grey rim with a highlight on the side of the light, a black inner wall shaded by
    the light's direction, ``soil`` inside with the rim's shadow. The tray shows moulded ridges between the pots and,
    in some images, its edge or corner with the bench beyond it.
    """
    height, wide = shape
    side = min(shape)
    sin_l, cos_l = math.sin(light), math.cos(light)
    yy, xx = np.arange(height, dtype=np.float32)[:, None], np.arange(wide, dtype=np.float32)[None, :]
    radius = rng.uniform(0.36, 0.47) * side
    pitch = 2 * radius * rng.uniform(1.02, 1.14)
    centre = (height / 2 + rng.uniform(-0.08, 0.08) * side, wide / 2 + rng.uniform(-0.08, 0.08) * side)
    orange = rgb(0.83, 0.40, 0.08) * rng.uniform(0.7, 1.05) + rgb(0, rng.uniform(-0.06, 0.08), rng.uniform(0, 0.05))
    shading = 1 + 0.05 * noise_field(rng, shape, 40) + 0.015 * noise_field(rng, shape, 1.0)
    # ridges of the tray between the pots, lit on one side
    ridge_width = rng.uniform(5, 12)
    for coord, along, direction in ((yy, 0, sin_l), (xx, 1, cos_l)):
        u = (coord - centre[along]) / pitch - 0.5
        offset = (u - np.round(u)) * pitch
        shading = shading * (1 + 0.08 * np.exp(-(offset / ridge_width) ** 2) * (1 - 1.5 * direction * np.sign(offset)))
    image = orange * shading[..., None]
    # the tray's edge (and so sometimes a corner) beyond the central pot, with the bench outside
    inside_tray = np.ones(shape, bool)
    if rng.random() < 0.5:
        bench = rgb(0.5, 0.5, 0.48) * rng.uniform(0.2, 1.2) * (1 + 0.06 * noise_field(rng, shape, 8))[..., None]
        lip = rng.uniform(6, 14)
        for side_index in rng.permutation(4)[:int(rng.integers(1, 3))]:
            along, sign = divmod(int(side_index), 2)
            sign = 1 if sign else -1
            beyond = ((yy, xx)[along] - centre[along] - sign * (pitch / 2 + rng.uniform(0, 20))) * sign
            beyond = np.broadcast_to(beyond, shape)
            rim = (beyond > 0) & (beyond <= lip)
            image[rim] = orange * (1.25 - 0.5 * beyond[rim] / lip)[:, None]
            image[beyond > lip] = bench[beyond > lip]
            inside_tray &= beyond <= 0
    rim_width = radius * rng.uniform(0.04, 0.07)
    wall_width = radius * rng.uniform(0.04, 0.09)
    soil_radius = radius - rim_width - wall_width
    grey = rng.uniform(0.12, 0.24)
    black = rng.uniform(0.025, 0.055)
    shine = rng.uniform(0.25, 0.6)
    for i in (-1, 0, 1):
        for j in (-1, 0, 1):
            cy = centre[0] + i * pitch + (rng.normal(0, 0.01 * pitch) if i or j else 0)
            cx = centre[1] + j * pitch + (rng.normal(0, 0.01 * pitch) if i or j else 0)
            reach = radius + 12
            y0, y1 = max(int(cy - reach), 0), min(int(cy + reach) + 1, height)
            x0, x1 = max(int(cx - reach), 0), min(int(cx + reach) + 1, wide)
            if y0 >= y1 or x0 >= x1 or not inside_tray[min(max(int(cy), 0), height - 1),
                                                       min(max(int(cx), 0), wide - 1)]:
                continue
            box = (slice(y0, y1), slice(x0, x1))
            py, px = yy[y0:y1] - cy, xx[:, x0:x1] - cx
            r = np.maximum(np.hypot(py, px), 1e-3)
            facing = (py * sin_l + px * cos_l) / r  # 1 on the side of the pot nearest the light
            region = image[box]
            # the pot's shadow on the tray, away from the light
            near = (r > radius) & (r < radius + 12) & inside_tray[box]
            region[near] *= (1 - 0.45 * np.exp(-(r[near] - radius) / 5) * (0.6 - 0.4 * facing[near]))[:, None]
            rim = (r <= radius) & (r > radius - rim_width)
            s = (radius - r[rim]) / rim_width  # 0 at the outer edge, 1 at the inner
            f = facing[rim]
            region[rim] = (grey * (0.7 + 0.5 * np.sin(np.pi * s)) + shine * np.clip(f, 0, 1) ** 3 * np.exp(
                -((s - 0.4) / 0.2) ** 2) + 0.3 * shine * np.clip(-f, 0, 1) ** 4 * np.exp(-((s - 0.6) / 0.2) ** 2)
                           )[:, None]
            wall = (r <= radius - rim_width) & (r > soil_radius)
            depth = (radius - rim_width - r[wall]) / wall_width  # 0 at the rim, 1 down at the soil
            region[wall] = (black * (1.3 - 0.6 * depth) * (1 - 0.5 * facing[wall]))[:, None]
            inner = r <= soil_radius
            shadow = 1 - 0.55 * np.exp(-(soil_radius - r[inner]) / (wall_width * 1.5)) * (0.5 + 0.5 * facing[inner])
            region[inner] = soil[box][inner] * shadow[:, None]
    return image, centre, soil_radius
