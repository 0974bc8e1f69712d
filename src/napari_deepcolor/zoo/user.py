"""Models the user trained in this napari session: name → checkpoint path, shared by the plugin's widgets.

The training widget adds each fine-tuned model here; a widget that offers models (the Segment widget) lists
`names()` next to the bundled ones and calls `subscribe` to refresh its list when one is added. Plain Python: no
torch, no Qt, so any module can import it cheaply.

A process-wide registry is deliberate: a model trained in one dock widget must appear in another at once, and the
checkpoint files themselves are the state (nothing here is lost that is not on disk).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Callable

log = logging.getLogger(__name__)

_models: dict[str, Path] = {}
_subscribers: list[Callable[[str, Path], None]] = []


def add(name: str, path: str | os.PathLike) -> str:
    """Register a checkpoint under ``name`` and tell the subscribers; returns the name used.

    A name already taken by another file gets a suffix (``"name (2)"``); the same name and file again is a no-op
    (no notification).
    """
    path = Path(path).resolve()
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint file at {path}")
    unique, n = name, 1
    while unique in _models and _models[unique] != path:
        n += 1
        unique = f"{name} ({n})"
    if _models.get(unique) == path:
        return unique
    _models[unique] = path
    for callback in list(_subscribers):
        try:
            callback(unique, path)
        except Exception:  # noqa: BLE001 - one broken subscriber must not stop the others or the caller
            log.exception("a subscriber of napari_deepcolor.zoo.user failed")
    return unique


def names() -> list[str]:
    """Registered names, oldest first."""
    return list(_models)


def path(name: str) -> Path:
    """Checkpoint path of a registered name; `KeyError` listing the names if unknown."""
    try:
        return _models[name]
    except KeyError:
        raise KeyError(f"no user model named {name!r}; registered: {names() or 'none'}") from None


def subscribe(callback: Callable[[str, Path], None]) -> Callable[[], None]:
    """Call ``callback(name, path)`` after each `add`; returns a function that unsubscribes it."""
    _subscribers.append(callback)

    def unsubscribe() -> None:
        if callback in _subscribers:
            _subscribers.remove(callback)

    return unsubscribe


def clear() -> None:
    """Forget every model and subscriber (tests)."""
    _models.clear()
    _subscribers.clear()
