"""The CPU's memory format: each bundled model's network in channels-last format (how prediction and training run it
on the CPU since 2026-12-07) against PyTorch's default format (before), side by side.

Run ``python benchmarks/bench_memory_format.py`` from the repository root. Per bundled model, rows taking turns in
each round (median of ``--repeats``):

- a forward pass on a 520 x 696 image at the model's scale (inference, as `predict_probs` runs the network), and the
  agreement of its argmax with the default format's;
- a training step: forward, backward and an Adam step on a batch of 8 random patches of 128 network pixels (the Train
  dock's presets), with a mean-square loss: the network's share of a step, not the project's losses or sampling.

The section goes to docs/benchmarks.md under "## The CPU's memory format" (``--no-write``: printed only).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from _docs import record  # noqa: E402


def timed(functions, repeats: int) -> list[float]:
    """Median seconds of each function, the functions taking turns within a round (after one warm-up each)."""
    for fn in functions:
        fn()
    times = [[] for _ in functions]
    for _ in range(repeats):
        for k, fn in enumerate(functions):
            start = time.perf_counter()
            fn()
            times[k].append(time.perf_counter() - start)
    return [statistics.median(t) for t in times]


def measure(name: str, repeats: int) -> tuple[float, float, float, float, float]:
    """(inference s default, channels-last; argmax agreement; training step s default, channels-last)."""
    import torch

    from napari_deepcolor.predict.network import load_model

    formats = (torch.contiguous_format, torch.channels_last)
    model = load_model(name, device="cpu")
    network, config = model.network, model.config
    height, width = round(520 * config.scale), round(696 * config.scale)
    image = torch.rand(1, config.in_channels, height, width, generator=torch.Generator().manual_seed(0))

    def infer(fmt):
        network.eval().to(memory_format=fmt)
        with torch.inference_mode():
            return network(image.contiguous(memory_format=fmt))

    outputs = [infer(fmt) for fmt in formats]
    agreement = float((outputs[0].argmax(1) == outputs[1].argmax(1)).float().mean())
    inference = timed([lambda fmt=fmt: infer(fmt) for fmt in formats], repeats)
    batch = torch.rand(8, config.in_channels, 128, 128, generator=torch.Generator().manual_seed(1))
    optimizer = torch.optim.Adam(network.parameters(), lr=1e-6)

    def step(fmt):
        network.train().to(memory_format=fmt)
        optimizer.zero_grad()
        network(batch.contiguous(memory_format=fmt)).float().square().mean().backward()
        optimizer.step()

    training = timed([lambda fmt=fmt: step(fmt) for fmt in formats], repeats)
    return inference[0], inference[1], agreement, training[0], training[1]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)

    import torch

    from napari_deepcolor.zoo import bundled_models

    rows = []
    for name in sorted(bundled_models()):
        a, b, agree, c, d = measure(name, args.repeats)
        rows.append(f"| `{name}` | {a * 1000:.0f} | {b * 1000:.0f} | {a / b:.2f}x | {agree:.5f} | {c * 1000:.0f} | "
                    f"{d * 1000:.0f} | {c / d:.2f}x |")
        print(rows[-1], flush=True)
    heading = "## The CPU's memory format"
    text = f"""{heading}

`python benchmarks/bench_memory_format.py --repeats {args.repeats}`: each bundled model's network in PyTorch's
default memory format (how the CPU ran it before 2026-12-07) and in channels-last format (how `load_model` and
training run it on the CPU now), side by side, the two taking turns in each of {args.repeats} rounds (medians).
Inference: one forward pass on a 520 x 696 image at the model's scale (random pixels), and how many argmax colors
the two formats share. Training: forward, backward and an Adam step on 8 random patches of 128 network pixels with a
mean-square loss (the network's part of a step). Milliseconds.

Machine: {platform.machine()}, {os.cpu_count()} logical cores, {torch.get_num_threads()} torch threads, torch
{torch.__version__}, Python {platform.python_version()}.

| model | inference, default | inference, channels-last | speed-up | argmax the same | training step, default | training step, channels-last | speed-up |
|---|---:|---:|---:|---:|---:|---:|---:|
""" + "\n".join(rows) + "\n"
    if not args.no_write:
        record(heading, text)


if __name__ == "__main__":
    main()
