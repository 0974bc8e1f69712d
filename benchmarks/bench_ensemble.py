"""Cost of an ensemble model against its first network alone, on the bundled BBBC010 foreground mask.

Run ``python benchmarks/bench_ensemble.py [--model worms-mask] [--device cpu]`` from the repository root. Rows, timed
``--repeats`` times in turn in the same run (median reported): (a) the model's first member alone, without flips
(the baseline); (b) the model as bundled (all members, all test-time flips). Both run ``segment`` on the 520 x 696
mask sample. A model that is not an ensemble is compared with itself. Results go to ``docs/benchmarks.md`` under
"## Ensemble inference (CPU)" or "(CUDA)".
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from _docs import record  # noqa: E402
from bench_inference import interleaved  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="worms-mask")
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--no-write", action="store_true", help="do not update docs/benchmarks.md")
    args = parser.parse_args(argv)

    import bench_inference
    import tifffile
    import torch

    from napari_deepcolor.checkpoint import load_checkpoint, save_checkpoint
    from napari_deepcolor.predict.ensemble import member_checkpoint
    from napari_deepcolor.predict.network import load_model, segment
    from napari_deepcolor.zoo import resolve_model

    if args.device == "cuda":
        bench_inference._sync = torch.cuda.synchronize
        device_name = f"{torch.cuda.get_device_name()} (torch {torch.__version__}, CUDA {torch.version.cuda})"
    else:
        device_name = (f"CPU: {platform.machine()}, {os.cpu_count()} logical cores, {torch.get_num_threads()} torch "
                       f"thread(s) (torch {torch.__version__})")
    image = tifffile.imread(ROOT / "src" / "napari_deepcolor" / "samples" / "bbbc010_A01_foreground.tif")
    full = load_model(args.model, device=args.device)
    with tempfile.TemporaryDirectory() as folder:
        single_path = save_checkpoint(Path(folder) / "member0.safetensors",
                                      member_checkpoint(load_checkpoint(resolve_model(args.model))))
        single = load_model(single_path, device=args.device)
    passes = full.config.members * full.config.test_time_flips
    for model in (single, full):
        segment(model, image)  # warm-up
    named = {"(a) its first network alone (1 pass)": lambda: segment(single, image)[0],
             f"(b) `{args.model}` as bundled ({full.config.members} network(s) x {full.config.test_time_flips} "
             f"flip(s) = {passes} passes)": lambda: segment(full, image)[0]}
    measured = interleaved(list(named.values()), args.repeats)
    base = measured[0][0]
    rows = []
    for name, (median, fastest, instances) in zip(named, measured):
        print(f"{name:<70} {median * 1000:8.0f} ms  {median / base:5.2f}x  {instances.n_instances} instances")
        rows.append(f"| {name} | {median * 1000:.0f} | {fastest * 1000:.0f} | {median / base:.2f}x | "
                    f"{instances.n_instances} |")
    heading = f"## Ensemble inference ({'CUDA' if args.device == 'cuda' else 'CPU'})"
    text = f"""{heading}

`python benchmarks/bench_ensemble.py --model {args.model} --device {args.device}`: `segment` on the bundled
520 x 696 foreground mask (`samples/bbbc010_A01_foreground.tif`), median of {args.repeats} interleaved runs, on
{device_name}; load average {os.getloadavg()[0]:.1f} at the end.

| model | median ms | fastest ms | time against (a) | instances |
|---|---|---|---|---|
""" + "\n".join(rows) + "\n"
    if not args.no_write:
        record(heading, text)


if __name__ == "__main__":
    main()
