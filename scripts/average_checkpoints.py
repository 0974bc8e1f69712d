"""Average the weights of several checkpoints of one training run into one checkpoint (SWA-style).

Usage::

    python scripts/average_checkpoints.py --output runs/worms-p98/averaged.safetensors \
        runs/worms-p98/history/step-3500.safetensors runs/worms-p98/history/step-3550.safetensors ...

Keep a run's checkpoints with ``deepcolor train ... --keep-history`` (or copy ``last.safetensors`` as it is
rewritten). The result is written atomically; evaluate it like any model.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from napari_deepcolor.checkpoint import average_checkpoints, save_checkpoint


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, required=True)
    parser.add_argument("checkpoints", type=Path, nargs="+")
    args = parser.parse_args()
    print(save_checkpoint(args.output, average_checkpoints(args.checkpoints)))


if __name__ == "__main__":
    main()
