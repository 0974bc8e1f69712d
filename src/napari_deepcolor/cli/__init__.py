"""The ``deepcolor`` command: train, predict, evaluate, ensemble, models.

One module per subcommand (`predict`, `train`, `evaluate`, `ensemble`, `models`), each with ``add_parser(subparsers)``
(its options) and ``run(args) -> int`` (its exit status); what they share is in `_common`.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import sys
from collections.abc import Sequence
from pathlib import Path

from napari_deepcolor.cli import ensemble, evaluate, models, predict, train
from napari_deepcolor.cli._common import apply_recipe, given_options, log

#: The subcommands, in the order ``deepcolor --help`` lists them.
COMMANDS = (predict, train, evaluate, ensemble, models)


#: Set this environment variable to see the traceback of an unexpected error instead of its one-line summary.
TRACEBACK_VARIABLE = "DEEPCOLOR_TRACEBACK"


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``deepcolor``; returns the exit status (0 ok, 1 unexpected error, 2 bad input or some images
    failed, 130 interrupted). Every error is one line on stderr, never a traceback (unless `TRACEBACK_VARIABLE` is
    set)."""
    parser = _parser()
    argv = _dask_without_address(list(sys.argv[1:] if argv is None else argv))
    args = parser.parse_args(argv)
    # our messages at INFO; other libraries' (dask.distributed logs every worker's start and stop) only from WARNING
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    log.setLevel(logging.INFO)
    try:
        if getattr(args, "config", None) is not None:
            args = apply_recipe(parser, argv, args.config)
        if args.command == "train":
            args.given_options = given_options(_parser(), argv)
        return int(args.run(args) or 0)
    except (ValueError, OSError, RuntimeError, FloatingPointError) as error:
        print(f"deepcolor {args.command}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        kept = {"train": "checkpoints written so far are intact (continue with --resume)",
                "predict": "the label images written so far are complete (run the same command to continue)"}
        print(f"deepcolor {args.command}: interrupted; {kept.get(args.command, 'nothing was written')}",
              file=sys.stderr)
        return 130
    except MemoryError:
        print(f"deepcolor {args.command}: error: out of memory; use smaller images, patches or batches (or close other "
              "programs)", file=sys.stderr)
        return 2
    except Exception as error:  # noqa: BLE001 - a bug: one line saying so rather than a traceback
        if os.environ.get(TRACEBACK_VARIABLE):
            raise
        print(f"deepcolor {args.command}: error: unexpected {type(error).__name__} ({error}); this is probably a bug: "
              f"please report it with the command line (set {TRACEBACK_VARIABLE}=1 to see where it happened)",
              file=sys.stderr)
        return 1


class _OneLineParser(argparse.ArgumentParser):
    """An argparse parser whose errors are one line (the option and what is wrong, and where the options are
    listed) instead of the whole usage first; its subcommands' parsers are of this class too."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (`{self.prog} --help` lists the options)\n")


def _parser() -> argparse.ArgumentParser:
    """The ``deepcolor`` parser; its ``train_parser`` attribute is the ``train`` subcommand's (for recipes)."""
    parser = _OneLineParser(prog="deepcolor", description="Instance segmentation by deep coloring or "
                            "semi-convolutional embeddings.")
    commands = parser.add_subparsers(dest="command", required=True)
    subparsers = {command: command.add_parser(commands) for command in COMMANDS}
    parser.train_parser = subparsers[train]  # type: ignore[attr-defined] - for apply_recipe and given_options
    return parser


def _dask_without_address(argv: list[str]) -> list[str]:
    """``--dask plates/``: the optional address of ``--dask`` would swallow the only image argument (and argparse
    then asks for images); a value that is not an address is an image, and ``--dask`` means a local cluster."""
    for i, token in enumerate(argv[:-1]):
        following = argv[i + 1]
        if token == "--dask" and following != "local" and not following.startswith("-") and not _looks_like_address(
                following):
            argv[i] = "--dask=local"
    return argv


def _looks_like_address(value: str) -> bool:
    """A dask scheduler address: ``protocol://...`` or ``host:port``."""
    return "://" in value or re.fullmatch(r"[\w.\-\[\]:]+:\d+", value) is not None and not Path(value).exists()


if __name__ == "__main__":
    sys.exit(main())
