"""Peak memory and time of out-of-core segmentation of a huge image with the bundled worms model.

Run ``python benchmarks/bench_large_image.py`` from the repository root (default: 16384 x 16384). It builds a mosaic
of BBBC010 wells (``/work/shared/data/bbbc010/train/images`` or ``--wells FOLDER`` when present, else the bundled
sample well, flipped and rotated) as an uncompressed uint16 TIFF, written row block by row block, then runs

    /usr/bin/time -v deepcolor predict --model worms --device cpu --out-of-core-above 0 --output OUT MOSAIC

in a child process with ``OMP_NUM_THREADS`` threads, and reads the peak resident memory ("Maximum resident set size")
and the wall time from ``/usr/bin/time``. It checks the label image (shape, instances numbered 1..N) and writes the
result to ``docs/benchmarks.md`` under "## Out-of-core segmentation of a huge image" (only that section is
replaced).
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from _docs import record  # noqa: E402

HEADING = "## Out-of-core segmentation of a huge image"
WELLS = Path("/work/shared/data/bbbc010/train/images")


def well_images(folder: Path | None) -> list[np.ndarray]:
    """BBBC010 wells (uint16, 520 x 696): the folder's, else the bundled sample in 8 orientations."""
    import tifffile

    if folder is not None and folder.is_dir():
        return [tifffile.imread(p) for p in sorted(folder.glob("*.tif"))]
    sample = tifffile.imread(ROOT / "src" / "napari_deepcolor" / "samples" / "bbbc010_A01.tif")
    return [np.flip(sample, axis) if axis is not None else sample for axis in (None, 0, 1)] + [sample[::-1, ::-1]]


def make_mosaic(path: Path, size: int, wells: list[np.ndarray]) -> None:
    """An uncompressed, contiguous uint16 TIFF of ``size x size`` tiled with the wells, row block by row block."""
    import tifffile

    height, width = wells[0].shape
    out = tifffile.memmap(path, shape=(size, size), dtype=np.uint16, photometric="minisblack")
    k = 0
    for y in range(0, size, height):
        band = np.empty((height, size), np.uint16)
        for x in range(0, size, width):
            well = wells[k % len(wells)]
            k += 1
            band[:, x : x + width] = well[:, : min(width, size - x)]
        out[y : y + height] = band[: min(height, size - y)]
        out.flush()
    del out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=16384, help="side of the square mosaic in pixels")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/deepcolor-large"), help="for the mosaic and labels")
    parser.add_argument("--wells", type=Path, default=WELLS, help="folder of BBBC010 wells (uint16 TIFF)")
    parser.add_argument("--threads", type=int, default=1, help="OMP_NUM_THREADS of the child process")
    parser.add_argument("--tile-size", type=int, default=None, help="passed to deepcolor predict")
    parser.add_argument("--note", default="", help="machine note written with the numbers")
    parser.add_argument("--no-write", action="store_true", help="do not update docs/benchmarks.md")
    args = parser.parse_args(argv)

    import tifffile

    args.workdir.mkdir(parents=True, exist_ok=True)
    mosaic = args.workdir / f"mosaic_{args.size}.tif"
    wells = well_images(args.wells)
    if not mosaic.exists():
        start = time.perf_counter()
        make_mosaic(mosaic, args.size, wells)
        print(f"wrote {mosaic} ({mosaic.stat().st_size / 2**30:.2f} GiB) in {time.perf_counter() - start:.0f} s")
    out = args.workdir / "labels"
    labels_path = out / f"{mosaic.stem}_labels.tif"
    if labels_path.exists():
        labels_path.unlink()
    deepcolor = Path(sys.executable).with_name("deepcolor")
    command = [str(deepcolor), "predict", "--model", "worms", "--device", "cpu", "--out-of-core-above", "0",
               "--output", str(out), str(mosaic)]
    if args.tile_size:
        command[-1:-1] = ["--tile-size", str(args.tile_size)]
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads)}
    print("running:", " ".join(["/usr/bin/time", "-v", *command]))
    load_before = os.getloadavg()[0]
    run = subprocess.run(["/usr/bin/time", "-v", *command], env=env, capture_output=True, text=True)
    if run.returncode != 0:
        raise SystemExit(f"deepcolor failed ({run.returncode}):\n{run.stderr[-3000:]}")
    peak_kib = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", run.stderr).group(1))
    wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): ([\d:.]+)", run.stderr).group(1)
    seconds = sum(float(part) * 60**i for i, part in enumerate(reversed(wall.split(":"))))
    user = float(re.search(r"User time \(seconds\): ([\d.]+)", run.stderr).group(1))
    system = float(re.search(r"System time \(seconds\): ([\d.]+)", run.stderr).group(1))
    load_after = os.getloadavg()[0]
    log_lines = [line for line in run.stderr.splitlines() if line.startswith(("model ", "wrote "))]
    print("\n".join(log_lines))

    with tifffile.TiffFile(labels_path) as tif:
        page = tif.pages[0]
        shape, dtype, tiled, bigtiff = page.shape, page.dtype, page.is_tiled, tif.is_bigtiff
        labels = page.asarray()
    n_instances = int(labels.max())
    assert shape == (args.size, args.size), shape
    present = np.unique(labels)
    assert present[0] == 0 and len(present) == n_instances + 1, "labels are not 1..N"
    megapixels = args.size**2 / 1e6
    print(f"{args.size} x {args.size}: {n_instances} instances, peak RSS {peak_kib / 2**20:.2f} GiB, wall {seconds:.0f} s "
          f"({megapixels / seconds:.2f} Mpx/s), CPU {user:.0f} s user + {system:.0f} s system; labels {dtype}, tiled {tiled}, BigTIFF {bigtiff}")

    note = f" ({args.note})" if args.note else ""
    text = f"""{HEADING}

`python benchmarks/bench_large_image.py --size {args.size}` builds a {args.size} x {args.size} uint16 mosaic of
{len(wells)} BBBC010 wells ({args.size**2 * 2 / 2**30:.2f} GiB, an uncompressed TIFF that is read by rows, never whole) and
segments it with the bundled `worms` model (coloring, scale 0.5, τ = 200 px) out of core, as a user would:

```sh
OMP_NUM_THREADS={args.threads} /usr/bin/time -v deepcolor predict --model worms --device cpu --out-of-core-above 0 \\
    {'--tile-size ' + str(args.tile_size) + ' ' if args.tile_size else ''}--output OUT mosaic_{args.size}.tif
```

| image | megapixels | instances | peak resident memory | wall time | CPU time (user + system) | megapixels per CPU second |
|---|---:|---:|---:|---:|---:|---:|
| {args.size} x {args.size} | {megapixels:.0f} | {n_instances} | {peak_kib / 2**20:.2f} GiB | {seconds / 60:.1f} min | {(user + system) / 60:.1f} min ({user:.0f} s + {system:.0f} s) | {megapixels / (user + system):.2f} |

With one torch thread the process uses at most one core; the wall time was {seconds / (user + system):.1f} times
the CPU time, with other processes (training runs among them) sharing the 2 cores: 1-minute load average
{load_before:.1f} at the start, {load_after:.1f} at the end. Peak memory varies between runs with the heap's
fragmentation (1.9 to 2.4 GiB in two runs of the same code; see docs/scale.md for the allocator setting behind it).

Peak resident memory is `/usr/bin/time`'s "Maximum resident set size" of the whole `deepcolor` process (Python,
torch, the model, one window (tile plus halo) with its 9 probability maps, the stitcher's statistics). The in-memory path
would hold the 9 probability maps of the whole image alone in {9 * args.size**2 * 4 / 2**30:.1f} GiB of float32; it was
not run. The labels ({dtype}, {'tiled ' if tiled else ''}{'BigTIFF' if bigtiff else 'TIFF'}) were checked to number
instances 1..N. Temporary disk: 4 bytes per pixel ({args.size**2 * 4 / 2**30:.1f} GiB) next to the output, removed at
the end.

Machine: {platform.machine()}, {os.cpu_count()} logical cores{note}; torch with OMP_NUM_THREADS={args.threads}.
"""
    if not args.no_write:
        record(HEADING, text)


if __name__ == "__main__":
    main()
