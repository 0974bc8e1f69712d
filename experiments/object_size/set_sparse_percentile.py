"""Set a bundled model's `ModelConfig.sparse_percentile` (the normalization's high limit on fields of few bright
objects; sparse_limits.py chose 99.99 for `nuclei`) and rewrite its checkpoint atomically; the weights and the
metadata are unchanged.

    python experiments/object_size/set_sparse_percentile.py nuclei 99.99
    python experiments/object_size/set_sparse_percentile.py nuclei none
"""

from __future__ import annotations

import argparse
from dataclasses import replace

from napari_deepcolor.checkpoint import load_checkpoint, save_checkpoint
from napari_deepcolor.zoo import bundled_models


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", choices=sorted(bundled_models()))
    parser.add_argument("value", help="a percentile above the model's upper one, or 'none'")
    args = parser.parse_args()
    path = bundled_models()[args.model]
    checkpoint = load_checkpoint(path)
    value = None if args.value.lower() == "none" else float(args.value)
    checkpoint.config = replace(checkpoint.config, sparse_percentile=value)
    save_checkpoint(path, checkpoint)
    print(f"{args.model}: sparse_percentile {value}")


if __name__ == "__main__":
    main()
