"""A package flag set for one measurement and put back: the candidates of these experiments live in the package
behind a module flag while their rule runs, and most leave it afterwards."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType
from typing import Any


def require(module: ModuleType, *names: str, commit: str) -> None:
    """Stop the script where ``module`` no longer has a flag: setting it would change nothing, and every arm would
    measure the package as it is. ``commit`` is where the candidate still lived."""
    missing = [name for name in names if not hasattr(module, name)]
    if missing:
        raise SystemExit(f"{module.__name__}.{missing[0]} left the package: measure at commit {commit} "
                         "(judging saved rows works anywhere)")


@contextmanager
def flag(module: ModuleType, name: str, value: Any, *, commit: str = "") -> Iterator[None]:
    """``module.name = value`` inside the block, its value before after it (`require`d first)."""
    require(module, name, commit=commit or "where it was added")
    before = getattr(module, name)
    setattr(module, name, value)
    try:
        yield
    finally:
        setattr(module, name, before)
