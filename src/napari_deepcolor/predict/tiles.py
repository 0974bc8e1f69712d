"""The tile grid of every tiled pass: `predict_probs` (fixed-size windows) and `segment_large` (clipped windows).

A tile is the window read from the image and the part of it that is kept; the kept parts of a grid cover every
pixel once. Two ways to read around a tile:

- clipped (``fixed=False``, `segment_large`): each tile keeps ``tile_size`` pixels per axis (the last one the
  rest) and is read with ``halo`` pixels around it, clipped at the image's edges;
- fixed (``fixed=True``, `predict_probs`): every window is ``tile_size`` pixels long (the whole axis when it is
  shorter), shifted inside the image at its edges, windows overlap by ``2 * halo`` and each keeps its centre; the
  last tile keeps everything from its start once its window reaches the end.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Tile:
    """One tile of the grid: the window read from the image, and the part of it that is kept."""

    read: tuple[slice, slice]
    keep: tuple[slice, slice]


def plan_tiles(shape: tuple[int, int], tile_size: int, halo: int, *, align: int = 1, fixed: bool = False
               ) -> list[Tile]:
    """A grid of tiles over ``shape (Y, X)``, row by row (see the module for ``fixed``).

    With clipped windows, ``tile_size`` and ``halo`` are rounded up to multiples of ``align``, so every window
    starts on a multiple of it; fixed windows take no ``align``.

    Raises
    ------
    ValueError
        ``tile_size < 1``, ``halo < 0`` or ``align < 1``; fixed windows no longer than twice the halo on an axis
        longer than a window (their tiles would keep nothing).
    """
    if tile_size < 1 or halo < 0 or align < 1:
        raise ValueError(f"expected tile_size >= 1, halo >= 0 and align >= 1, got {tile_size}, {halo}, {align}")
    if fixed and align != 1:
        raise ValueError("fixed windows take no align (their starts shift inside the image at its edges)")
    tile = -(-tile_size // align) * align
    halo = -(-halo // align) * align
    rows, cols = (axis_spans(n, tile, halo, fixed=fixed) for n in shape)
    return [Tile(read=(slice(r0, r1), slice(c0, c1)), keep=(slice(k0, k1), slice(l0, l1)))
            for r0, r1, k0, k1 in rows for c0, c1, l0, l1 in cols]


def axis_spans(length: int, tile_size: int, halo: int, *, fixed: bool = False) -> list[tuple[int, int, int, int]]:
    """(read start, read stop, keep start, keep stop) of each tile along one axis of ``length`` pixels."""
    if not fixed:
        return [(max(0, k - halo), min(length, k + tile_size + halo), k, min(k + tile_size, length))
                for k in range(0, length, tile_size)]
    if length <= tile_size:
        return [(0, length, 0, length)]
    step = tile_size - 2 * halo
    if step < 1:
        raise ValueError(f"tiles of {tile_size} pixels with an overlap of {halo} on each side keep nothing; use "
                         f"tiles longer than {2 * halo} pixels or a smaller overlap")
    out = []
    start = 0
    while True:
        read0 = max(0, min(start - halo, length - tile_size))
        read1 = read0 + tile_size
        keep1 = length if read1 >= length else start + step
        out.append((read0, read1, start, keep1))
        if keep1 >= length:
            return out
        start = keep1
