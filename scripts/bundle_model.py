"""Copy a trained checkpoint into the package's model zoo with its recommended decoding knobs and a description.

Usage::

    python scripts/bundle_model.py runs/worms/best.safetensors --name worms --min-size 100 --merge-distance 0 \
        --description "BBBC010 bright-field C. elegans"
    python scripts/bundle_model.py runs/ecoli-semiconv/last.safetensors --name ecoli-semiconv --min-size 60 \
        --kernel-threshold 0.5 --foreground-threshold 0.5 --description "..."

Coloring models take τ (``--min-size``), ρ (``--merge-distance``) and ``--absorb-fragments``; semiconv models τ,
``--kernel-threshold`` and ``--foreground-threshold``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

from napari_deepcolor.checkpoint import Checkpoint, half_precision, load_checkpoint, save_checkpoint
from napari_deepcolor.zoo import zoo_dir


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("--name", required=True)
    parser.add_argument("--min-size", type=float, required=True)
    parser.add_argument("--merge-distance", type=float, default=0.0)
    parser.add_argument("--absorb-fragments", action="store_true", help="recommend joining fragments below τ to a "
                        "touching neighbour (postprocess.fragment_absorbers)")
    parser.add_argument("--kernel-threshold", type=float, help="semiconv: kernel value that joins a pixel to a seed")
    parser.add_argument("--foreground-threshold", type=float, help="semiconv: foreground probability cut")
    parser.add_argument("--description", required=True)
    parser.add_argument("--card", default="", help="path of the model card in docs/")
    parser.add_argument("--half", action="store_true", help="store floating-point weights as float16 (half the file; "
                        "loading casts them back to float32)")
    parser.add_argument("--validation-json", help="validation metrics at the bundled τ/ρ, as JSON (e.g. the last "
                        "line of experiments/zoo/evaluate_zoo.py), replacing those recorded during training at its τ/ρ")
    args = parser.parse_args()
    checkpoint = load_checkpoint(args.checkpoint)
    if checkpoint.config.method == "semiconv":
        if args.merge_distance or args.absorb_fragments:
            parser.error("--merge-distance and --absorb-fragments are coloring decodings, not semiconv ones")
        config = dataclasses.replace(checkpoint.config, min_size=args.min_size, **{
            field: value for field, value in (("kernel_threshold", args.kernel_threshold),
                                              ("foreground_threshold", args.foreground_threshold))
            if value is not None})
    else:
        if args.kernel_threshold is not None or args.foreground_threshold is not None:
            parser.error("--kernel-threshold and --foreground-threshold are semiconv decodings, not coloring ones")
        config = dataclasses.replace(checkpoint.config, min_size=args.min_size, merge_distance=args.merge_distance,
                                     absorb_fragments=args.absorb_fragments)
    # re-bundling a bundled model (new decoding knobs) keeps the name of the run's file it came from
    rebundled = args.checkpoint.resolve().parent == zoo_dir().resolve() and "source" in checkpoint.metadata
    metadata = {**checkpoint.metadata, "description": args.description, "card": args.card,
                "source": checkpoint.metadata["source"] if rebundled else args.checkpoint.name}
    if args.validation_json:
        metadata["validation"] = json.loads(args.validation_json)
    bundled = Checkpoint(config, checkpoint.state_dict, metadata)
    if args.half:
        try:
            bundled = half_precision(bundled)
        except ValueError as error:
            parser.error(f"--half: {error}")
    path = save_checkpoint(zoo_dir() / f"{args.name}.safetensors", bundled)
    print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
