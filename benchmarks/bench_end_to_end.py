"""End-to-end images per second on BBBC010: the batch command against a straightforward pipeline, in one run.

Run ``python benchmarks/bench_end_to_end.py`` from the repository root. Images: the BBBC010 wells in ``--wells``
(default ``/work/shared/data/bbbc010/train/images``), else the bundled sample well copied ``--count`` times. Model:
the bundled ``worms`` (coloring, scale 0.5, τ = 200 px, ρ = 0). Each pipeline reads every TIFF and writes one label
TIFF per image into its own folder:

(a) straightforward: ``tifffile.imread``, ``predict_probs``, ``argmax``, ``skimage.measure.label`` per color
    (8-connectivity), size filter, ``tifffile.imwrite`` (zlib);
(b) ours: ``deepcolor predict`` as a library call (`batch.run_jobs`, one process, atomic writes);
(c) ours on dask.distributed: ``deepcolor predict --dask --workers W`` (a local cluster of W processes, one torch
    thread each), cluster start-up and shutdown included.

Every timing is wall time over the whole folder; (a) and (b) must give the same instances (checked, up to
renumbering). Results go to ``docs/benchmarks.md`` under "## End to end on BBBC010" (only that section is replaced).
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from _docs import record  # noqa: E402

HEADING = "## End to end on BBBC010"
WELLS = Path("/work/shared/data/bbbc010/train/images")


def straightforward(model, images: list[Path], out: Path, *, min_size: float) -> None:
    """Read, predict, argmax, label each color, drop small components, write."""
    import tifffile
    from skimage.measure import label

    from napari_deepcolor.predict.network import predict_probs

    out.mkdir(parents=True, exist_ok=True)
    for path in images:
        probs = predict_probs(model, tifffile.imread(path))
        colors = probs.argmax(axis=0)
        labels = np.zeros(colors.shape, np.int32)
        n = 0
        for c in range(1, probs.shape[0]):
            components, count = label(colors == c, connectivity=2, return_num=True)
            sizes = np.bincount(components.ravel(), minlength=count + 1)
            keep = np.flatnonzero(sizes >= min_size)
            keep = keep[keep > 0]
            lut = np.zeros(count + 1, np.int32)
            lut[keep] = np.arange(n + 1, n + 1 + len(keep))
            labels = np.where(components > 0, lut[components], labels)
            n += len(keep)
        tifffile.imwrite(out / f"{path.stem}_labels.tif", labels.astype(np.uint16), compression="zlib")


def same_instances(a: np.ndarray, b: np.ndarray) -> bool:
    """The two label images hold the same pixel sets (ids may differ)."""
    if a.shape != b.shape or (a > 0).tolist() != (b > 0).tolist():
        return False
    pairs = np.unique(np.stack([a[a > 0], b[b > 0]]), axis=1)
    return len(np.unique(pairs[0])) == len(np.unique(pairs[1])) == pairs.shape[1]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wells", type=Path, default=WELLS, help="folder of BBBC010 wells")
    parser.add_argument("--count", type=int, default=20, help="copies of the bundled sample when --wells is absent")
    parser.add_argument("--workers", type=int, default=2, help="local dask cluster size for (c)")
    parser.add_argument("--note", default="", help="machine note written with the numbers")
    parser.add_argument("--no-write", action="store_true", help="do not update docs/benchmarks.md")
    args = parser.parse_args(argv)

    import tifffile
    import torch

    from napari_deepcolor.predict.batch import Settings, find_images, plan_jobs, reuse_large_buffers, run_jobs
    from napari_deepcolor.predict.network import load_model

    reuse_large_buffers()  # as `deepcolor predict` does, for (a) and (b) alike

    workdir = Path(tempfile.mkdtemp(prefix="bench-e2e-"))
    if args.wells.is_dir():
        images, source = find_images([args.wells]), f"the {len(find_images([args.wells]))} wells of {args.wells}"
    else:
        (workdir / "in").mkdir()
        sample = ROOT / "src" / "napari_deepcolor" / "samples" / "bbbc010_A01.tif"
        for k in range(args.count):
            shutil.copy(sample, workdir / "in" / f"A01_{k:03d}.tif")
        images, source = find_images([workdir / "in"]), f"the bundled sample well copied {args.count} times"
    n = len(images)
    model = load_model("worms", device="cpu")
    straightforward(model, images[:1], workdir / "warm", min_size=model.config.min_size)  # warm-up

    timings = {}
    start = time.perf_counter()
    straightforward(model, images, workdir / "a", min_size=model.config.min_size)
    timings["(a) straightforward: imread, predict_probs, label per color, size filter, imwrite"] = \
        time.perf_counter() - start

    settings = Settings(model="worms", device="cpu")
    start = time.perf_counter()
    results = run_jobs(plan_jobs(images, workdir / "b", settings), settings)
    timings["(b) ours: deepcolor predict (batch.run_jobs), one process"] = time.perf_counter() - start
    assert len(results) == n

    command = [str(Path(sys.executable).with_name("deepcolor")), "predict", "--model", "worms", "--device", "cpu",
               "--output", str(workdir / "c"), "--dask", "--workers", str(args.workers), *map(str, images)]
    start = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    timings[f"(c) ours on dask: deepcolor predict --dask --workers {args.workers} (start-up included)"] = \
        time.perf_counter() - start

    mismatches = [p.stem for p in images if not same_instances(tifffile.imread(workdir / "a" / f"{p.stem}_labels.tif"),
                                                               tifffile.imread(workdir / "b" / f"{p.stem}_labels.tif"))]
    if mismatches:
        raise SystemExit(f"(a) and (b) disagree on {mismatches}")
    print(f"(a) and (b) give the same instances on all {n} images")

    base = next(iter(timings.values()))
    for name, seconds in timings.items():
        print(f"{name:<90} {seconds:7.1f} s  {n / seconds:6.2f} images/s  {base / seconds:5.2f}x")
    load = os.getloadavg()[0]
    note = f" ({args.note})" if args.note else ""
    table = "\n".join(f"| {name} | {seconds:.1f} | {n / seconds:.2f} | {base / seconds:.2f}x |"
                      for name, seconds in timings.items())
    text = f"""{HEADING}

`python benchmarks/bench_end_to_end.py --workers {args.workers}`: {source} (520 x 696, uint16), bundled `worms`
model (scale 0.5, τ = 200 px), each pipeline reading every TIFF and writing one label TIFF per image; wall time over
all {n} images, measured in one run; speed-up = time of (a) / time of the row. (a) and (b) were checked to give the
same instances on every image. The network dominates every row (see "Inference throughput (CPU)"); what the batch
command adds is atomic writes, skipping finished images, out-of-core images and dask, not speed on one core.
(c) pays for starting and stopping its worker processes (each imports torch) and shares the 2 cores with the
rest of the machine's load: dask is for more cores and machines than this one.

Machine: {platform.machine()}, {os.cpu_count()} logical cores{note}; torch {torch.__version__} with
{torch.get_num_threads()} thread(s) in (a) and (b), 1 per dask worker in (c). 1-minute load average at the end:
{load:.1f}.

| pipeline | seconds | images / s | speed-up |
|---|---:|---:|---:|
{table}
"""
    if not args.no_write:
        record(HEADING, text)


if __name__ == "__main__":
    main()
