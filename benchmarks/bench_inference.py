"""Inference throughput in megapixels per second: whole-image network pass, in-memory tiles, out of core; CUDA options.

Run ``python benchmarks/bench_inference.py`` from the repository root (``--device cuda`` on a GPU machine). The image
is a mosaic of BBBC010 wells (``--wells`` folder if present, else the bundled sample), ``--size`` pixels square,
segmented with the bundled ``worms`` model (coloring, depth-4 U-Net of width 16, scale 0.5). Rows, each timed
``--repeats`` times in the same run (median reported), megapixels of the input image per second:

(a) ``predict_probs`` in one network pass over the whole image (the baseline);
(b) ``predict_probs`` in overlapping in-memory tiles of 256 network pixels (overlap 64);
(c) ``segment``: (a) plus ``colors_to_labels``;
(d) ``segment_large``: TIFF in, BigTIFF out, out of core in tiles of ``--tile-size`` image pixels (default halo).

On the CPU it adds (a) with the network in PyTorch's default memory format, as the CPU ran it before 2026-12-07 (now
channels-last there, `load_model`), and the agreement of its argmax colors with (a).
With ``--device cuda`` it adds, for (a), the speed options of ``load_model``: autocast bfloat16 and float16,
channels-last, and ``torch.compile`` (timed after two warm-up passes, so compilation is not counted), with the
agreement of their argmax colors with float32. Results go to ``docs/benchmarks.md`` under
"## Inference throughput (CPU)" or "## Inference throughput (CUDA)" (only that section is replaced), with the device.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from _docs import record  # noqa: E402
from bench_large_image import WELLS, make_mosaic, well_images  # noqa: E402


def interleaved(functions, repeats):
    """Wall times of each ``fn()`` over ``repeats`` rounds, the rows taking turns within a round (so a change of the
    machine's load hits every row alike); per row: (median s, min s, last result)."""
    times = [[] for _ in functions]
    results = [None] * len(functions)
    for _ in range(repeats):
        for k, fn in enumerate(functions):
            start = time.perf_counter()
            results[k] = fn()
            if _sync is not None:
                _sync()
            times[k].append(time.perf_counter() - start)
    return [(statistics.median(t), min(t), r) for t, r in zip(times, results)]


_sync = None


def main(argv=None):
    global _sync
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--size", type=int, default=2048, help="side of the square test image in pixels")
    parser.add_argument("--tile-size", type=int, default=1024, help="out-of-core tile, image pixels")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--wells", type=Path, default=WELLS)
    parser.add_argument("--note", default="", help="machine note written with the numbers")
    parser.add_argument("--no-write", action="store_true", help="do not update docs/benchmarks.md")
    args = parser.parse_args(argv)

    import torch

    from napari_deepcolor.predict.batch import reuse_large_buffers
    from napari_deepcolor.predict.large import segment_large
    from napari_deepcolor.predict.network import load_model, predict_probs, segment

    reuse_large_buffers()  # as `deepcolor predict` does (docs/scale.md)

    if args.device == "cuda":
        _sync = torch.cuda.synchronize
        device_name = f"{torch.cuda.get_device_name()} (torch {torch.__version__}, CUDA {torch.version.cuda})"
    else:
        device_name = (f"CPU: {platform.machine()}, {os.cpu_count()} logical cores, {torch.get_num_threads()} torch "
                       f"thread(s) (torch {torch.__version__})")
    workdir = Path(tempfile.mkdtemp(prefix="bench-inference-"))
    mosaic = workdir / "mosaic.tif"
    make_mosaic(mosaic, args.size, well_images(args.wells))
    import tifffile

    image = tifffile.imread(mosaic)
    megapixels = image.size / 1e6
    model = load_model("worms", device=args.device)
    whole = args.size  # network pixels are half of it: one pass
    predict_probs(model, image[:512, :512], tile_size=whole)  # warm-up

    named = {
        "(a) predict_probs, one pass over the whole image": lambda: predict_probs(model, image, tile_size=whole),
        "(b) predict_probs, in-memory tiles of 256 (overlap 64)":
            lambda: predict_probs(model, image, tile_size=256, overlap=64),
        "(c) segment in memory (a + colors_to_labels)": lambda: segment(model, image)[0],
        f"(d) segment_large, TIFF to BigTIFF, tiles of {args.tile_size}":
            lambda: segment_large(model, mosaic, workdir / "labels.tif", tile_size=args.tile_size),
    }
    if args.device == "cuda":
        for name, options in (("bfloat16 autocast", {"precision": "bfloat16"}),
                              ("float16 autocast", {"precision": "float16"}),
                              ("channels-last", {"channels_last": True}),
                              ("channels-last + bfloat16", {"channels_last": True, "precision": "bfloat16"}),
                              ("torch.compile", {"compile": True}),
                              ("torch.compile + channels-last + bfloat16",
                               {"compile": True, "channels_last": True, "precision": "bfloat16"})):
            fast = load_model("worms", device="cuda", **options)
            for _ in range(2):  # warm-up (compilation)
                predict_probs(fast, image, tile_size=whole)
            named[f"(a) with {name}"] = lambda fast=fast: predict_probs(fast, image, tile_size=whole)
    if args.device == "cpu":
        from dataclasses import replace

        default_format = replace(load_model("worms", device="cpu"), channels_last=False)
        default_format.network.to(memory_format=torch.contiguous_format)
        named["(a) in the default memory format (the CPU before 2026-12-07)"] = \
            lambda: predict_probs(default_format, image, tile_size=whole)
    measured = interleaved(list(named.values()), args.repeats)
    rows = [(name, median, fastest) for name, (median, fastest, _) in zip(named, measured)]
    for name, median, _ in rows:
        print(f"{name:<60} {median:8.2f} s  {megapixels / median:7.2f} Mpx/s")
    reference, instances, large = measured[0][2], measured[2][2], measured[3][2]
    print(f"instances: in memory {instances.n_instances}, out of core {large.n_instances}")
    agreement = {}
    colors = reference.argmax(0)
    agreement = {name: float((result.argmax(0) == colors).mean())
                 for name, (_, _, result) in zip(named, measured) if name.startswith(("(a) with", "(a) in"))}

    base = rows[0][1]
    table = "\n".join(
        f"| {name} | {median:.2f} | {fastest:.2f} | {megapixels / median:.2f} | {base / median:.2f}x |"
        + ((f" {agreement[name]:.5f} |" if name in agreement else " |") if agreement else "")
        for name, median, fastest in rows)
    load = os.getloadavg()[0]
    note = f" ({args.note})" if args.note else ""
    heading = f"## Inference throughput ({'CUDA' if args.device == 'cuda' else 'CPU'})"
    extra_col = " argmax agreement with (a) |" if agreement else ""
    text = f"""{heading}

`python benchmarks/bench_inference.py --device {args.device} --size {args.size} --tile-size {args.tile_size}`:
a {args.size} x {args.size} mosaic of BBBC010 wells ({megapixels:.1f} megapixels, uint16), bundled `worms` model
(depth-4 U-Net, width 16, at scale 0.5, so the network sees {args.size // 2} x {args.size // 2}). Median of
{args.repeats} rounds in which the rows take turns; megapixels of the input image per second; speed-up = time of
(a) / time of the row.
(d) includes reading the TIFF, the intensity pass, decoding, stitching and writing the BigTIFF; (c) and (d) found
{instances.n_instances} and {large.n_instances} instances.

Device: {device_name}{note}. 1-minute load average at the end: {load:.1f}. glibc malloc set up as by
`deepcolor predict` (`batch.reuse_large_buffers`).

| row | median s | min s | megapixels / s | speed-up |{extra_col}
|---|---:|---:|---:|---:|{'---:|' if agreement else ''}
{table}
"""
    if not args.no_write:
        record(heading, text)


if __name__ == "__main__":
    main()
