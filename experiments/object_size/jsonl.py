"""The rows of an experiment: measured and saved one JSON object per line, or read back to be judged again."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from pathlib import Path


def read_rows(paths: Iterable[str | Path]) -> list[dict]:
    """The rows of the files ``paths``, in order."""
    return [json.loads(line) for path in paths for line in Path(path).read_text().splitlines()]


def load_or_measure(load: Iterable[str | Path] | None, save: Path | None,
                    measure: Callable[[], list[dict]]) -> list[dict]:
    """The rows of ``load`` where given; else ``measure()``'s, written to ``save`` where given."""
    if load:
        return read_rows(load)
    measured = measure()
    if save:
        save.write_text("".join(json.dumps(row) + "\n" for row in measured))
    return measured
