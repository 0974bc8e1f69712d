"""What the ``deepcolor`` commands share: the help format, the progress bar, recipes, ground truth, image channels."""

from __future__ import annotations

import argparse
import logging
import math
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

log = logging.getLogger("napari_deepcolor")

#: ``--device`` choices of predict and train (`napari_deepcolor.predict.network.resolve_device`).
DEVICES = ("auto", "cpu", "cuda", "mps")


class DefaultsHelpFormatter(argparse.HelpFormatter):
    """``--help`` that ends each option's text with its default, ``(default: 0.001)``.

    Left out for positional arguments, required options and switches (off unless given), and where the text already
    says it: ``%(default)s`` in it, or ``default:`` followed by what a default of None means ("default: the model's
    recommendation"), as every option whose default is None should.
    """

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        switch = action.nargs == 0 and not isinstance(action, argparse.BooleanOptionalAction)
        if (not action.option_strings or action.required or switch or action.default in (None, argparse.SUPPRESS)
                or "%(default)" in text or "default:" in text):
            return text
        return f"{text} (default: %(default)s)"


def add_command(subparsers, name: str, **kwargs) -> argparse.ArgumentParser:
    """A subcommand's parser, with `DefaultsHelpFormatter`."""
    return subparsers.add_parser(name, formatter_class=DefaultsHelpFormatter, **kwargs)


def object_size_arg(text: str) -> float | str:
    """``auto`` or a positive number: the argparse type of ``--object-size`` (predict and train)."""
    if text.strip().lower() == "auto":
        return "auto"
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number or 'auto', got {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive number or 'auto', got {text!r}")
    from napari_deepcolor.predict.network import OBJECT_SIZES

    low, high = OBJECT_SIZES
    if not low <= value <= high:  # said before any image is read or model loaded
        raise argparse.ArgumentTypeError(f"expected 'auto' or a number from {low:g} to {high:g} (how large the "
                                         f"objects are against the model's training objects; 1 = the same), got "
                                         f"{text!r}")
    return value


def add_device_option(parser: argparse.ArgumentParser) -> None:
    """``--device``, as predict and train take it."""
    parser.add_argument("--device", default="auto", choices=DEVICES, help="where the network runs: auto = CUDA, "
                        "then Apple MPS, else the CPU")


def progress(total: int, desc: str):
    """A tqdm bar of ``total`` images on stderr, shown only on a terminal."""
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="img", file=sys.stderr, disable=None)


def apply_recipe(parser: argparse.ArgumentParser, argv: Sequence[str] | None, recipe: Path) -> argparse.Namespace:
    """Parse again with the recipe's values as defaults, so options given on the command line win.

    Parameters
    ----------
    parser : argparse.ArgumentParser
        The ``deepcolor`` parser; its ``train_parser`` attribute is the ``train`` subcommand's.
    argv : sequence of str
        The command line.
    recipe : Path
        The TOML file of ``--config``.

    Returns
    -------
    argparse.Namespace
        The options, with ``recipe_options``: the dests the recipe set.
    """
    from napari_deepcolor.config import read_recipe

    train_parser = parser.train_parser  # type: ignore[attr-defined]
    options: dict = {}
    paths = []
    for action in train_parser._actions:  # noqa: SLF001 - argparse has no public list of its options
        if not action.option_strings or action.dest in ("help", "config"):
            continue
        kind = bool if action.nargs == 0 else action.type or str
        if kind is Path:
            paths.append(action.dest)
        options[action.dest] = kind
    values = read_recipe(recipe, options, path_options=paths)
    init = values.get("init")
    if init is not None and ("/" in init or init.endswith(".safetensors")):  # a file, not a bundled model's name
        values["init"] = str(Path(recipe).parent / init)
    for action in train_parser._actions:  # noqa: SLF001
        if action.dest in values and action.choices is not None and values[action.dest] not in action.choices:
            raise ValueError(f"{recipe}: {action.dest!r} must be one of {list(action.choices)}, got "
                             f"{values[action.dest]!r}")
    train_parser.set_defaults(**values)
    args = parser.parse_args(argv)
    args.recipe_options = set(values)
    return args


def given_options(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> set[str]:
    """The ``deepcolor train`` options given on the command line (their dests), whatever their values.

    ``parser`` is a fresh ``deepcolor`` parser: the defaults of its ``train_parser`` are removed.
    """
    for action in parser.train_parser._actions:  # type: ignore[attr-defined]  # noqa: SLF001 - no public list
        action.default = argparse.SUPPRESS
    given = vars(parser.parse_args(argv))
    return set(given) - {"command", "run"}


def truth(paths: list[Path]) -> np.ndarray:
    """The ground truth of one image: its label image, or its per-object masks as one label image."""
    from napari_deepcolor.io import read_annotation, read_mask_stack

    if len(paths) > 1:
        return read_mask_stack(paths)
    return read_annotation(paths)


def channels(args: argparse.Namespace) -> int:
    """Channels of the training images (3 for RGB(A), else 1), from the first of ``--images`` or a generated scene."""
    from napari_deepcolor.io import list_images, read_image

    if args.images is None:
        from napari_deepcolor.training.synthetic_scenes import GENERATORS

        first = GENERATORS[args.synthetic](0)[0]
    else:
        images = list_images(args.images)
        if not images:
            raise FileNotFoundError(f"no images in {args.images} (tif, png, jpg, ...)")
        first = read_image(images[0])
    return 3 if first.ndim == 3 and first.shape[-1] in (3, 4) else 1
