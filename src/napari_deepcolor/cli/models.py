"""``deepcolor models``: list the bundled models, their settings and validation scores."""

from __future__ import annotations

import argparse

from napari_deepcolor.cli._common import add_command


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Add ``models`` to the ``deepcolor`` subcommands."""
    m = add_command(subparsers, "models", help="list the bundled models")
    m.set_defaults(run=run)
    return m


def run(args: argparse.Namespace) -> int:
    """Print one line per bundled model: name, method and settings, description and scores; 0."""
    from napari_deepcolor.predict.network import model_info
    from napari_deepcolor.zoo import bundled_models

    models = bundled_models()
    if not models:
        print("no bundled models")
        return 0
    for name, path in models.items():
        config, metadata = model_info(path)
        val = metadata.get("validation") or {}
        scores = ", ".join(f"{k} {val[k]:.3f}" for k in ("ap50", "mean_ap", "sbd") if k in val)
        if config.method == "semiconv":
            knobs = (f"{config.embedding_dims} dims, σ {metadata.get('sigma', float('nan')):.3g}, scale "
                     f"{config.scale:g}, τ {config.min_size:g}, threshold {config.kernel_threshold:g}, foreground "
                     f"{config.foreground_threshold:g}")
        else:
            knobs = (f"{config.n_colors} colors, scale {config.scale:g}, τ {config.min_size:g}, "
                     f"ρ {config.merge_distance:g}" + (", fragments joined" if config.absorb_fragments else ""))
        card = f" (card: {metadata['card']})" if metadata.get("card") else ""
        knobs += ", input: a foreground mask" if config.mask_input else ""
        if config.members > 1:
            knobs += f", ensemble of {config.members} networks"
        if config.test_time_flips > 1:
            knobs += f", {config.test_time_flips} test-time flips"
        print(f"{name}\t{config.method}, {knobs}\t{metadata.get('description', '')} {scores}".rstrip() + card)
    return 0
