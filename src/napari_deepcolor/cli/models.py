"""``deepcolor models``: list the bundled models, then the user's own, with their settings and validation scores."""

from __future__ import annotations

import argparse
from pathlib import Path

from napari_deepcolor.cli._common import add_command, log


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Add ``models`` to the ``deepcolor`` subcommands."""
    m = add_command(subparsers, "models", help="list the bundled models and your own (trained with --name or in the "
                    "napari Train widget); rename or remove one of yours")
    change = m.add_mutually_exclusive_group()
    change.add_argument("--rename", nargs=2, metavar=("OLD", "NEW"), help="call your model OLD NEW instead, as the "
                        "widgets' model lists do (default: list only)")
    change.add_argument("--remove", metavar="NAME", help="forget your model NAME and delete its copy in your model "
                        "folder (default: list only)")
    m.set_defaults(run=run)
    return m


def run(args: argparse.Namespace) -> int:
    """Print one line per bundled model, then one per user model: name, method and settings, description and
    scores, tab-separated (a user model has a fourth column, ``your model: <file>``); 0."""
    from napari_deepcolor.zoo import bundled_models, user

    if getattr(args, "rename", None) or getattr(args, "remove", None):
        return _change(args, user)
    models = bundled_models()
    if not models:
        print("no bundled models")
    for name, path in models.items():
        print(_line(name, path))
    mine = {name: user.path(name) for name in user.names()}
    log.info("your models, in %s (NAPARI_DEEPCOLOR_MODELS moves them): %s", user.models_dir(),
             f"{len(mine)}, after the bundled ones" if mine else "none yet (deepcolor train --name NAME, or Train / "
             "fine-tune in napari, adds one)")
    for name, path in mine.items():
        try:
            print(_line(name, path) + f"\tyour model: {path}")
        except (OSError, ValueError) as error:  # a damaged file must not hide the others
            log.warning("%s: %s cannot be read: %s", name, path, error)
    return 0


def _change(args: argparse.Namespace, user) -> int:
    """``--rename`` or ``--remove`` one of the user's models; an unknown name or a taken one is a one-line error."""
    try:
        if args.rename:
            old, new = args.rename
            log.info("your model %r is now called %r", old, user.rename(old, new))
        else:
            user.remove(args.remove)
            log.info("your model %r is removed", args.remove)
    except KeyError as error:  # (its message quoted by KeyError)
        raise ValueError(error.args[0]) from error
    return 0


def _line(name: str, path: Path) -> str:
    """One model's line: name, method and settings, description and scores, card."""
    from napari_deepcolor.methods import get_method
    from napari_deepcolor.predict.network import model_info

    config, metadata = model_info(path)
    val = metadata.get("validation") or {}
    scores = ", ".join(f"{k} {val[k]:.3f}" for k in ("ap50", "mean_ap", "sbd") if k in val)
    knobs = get_method(config.method).describe(config, metadata)
    card = f" (card: {metadata['card']})" if metadata.get("card") else ""
    knobs += ", input: a foreground mask" if config.mask_input else ""
    if config.members > 1:
        knobs += f", ensemble of {config.members} networks"
    if config.test_time_flips > 1:
        knobs += f", {config.test_time_flips} test-time flips"
    if metadata.get("description"):  # a bundled model's ends where its scores begin ("validation wells D09-E03:")
        about = f"{metadata['description']} {scores}".rstrip()
    else:
        about = "; ".join(part for part in (_provenance(metadata), scores and f"held out: {scores}") if part)
    return f"{name}\t{config.method}, {knobs}\t{about}" + card


def _provenance(metadata: dict) -> str:
    """What a model trained here (no description of its own) started from, from its checkpoint's metadata: "fine-tuned
    from nuclei" (`training.loop.train`'s ``init`` note starts with the start's name) or "trained from scratch"."""
    init = str(metadata.get("init") or "").strip()
    if not init:
        return "trained from scratch" if "train_config" in metadata else ""
    return f"fine-tuned from {init.split(' (', 1)[0]}"
