"""Worker signals handled in order, one at a time, on the GUI thread.

napari's progress bars (and some layer updates) process Qt events, so a handler can be entered again by the next
worker signal while it runs. Both docks put every signal into a `SignalQueue` and handle them from it: a signal that
arrives during a handler waits in the queue and is handled right after, never inside it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any


class SignalQueue:
    """Queue items and hand them to ``dispatch`` one at a time, in order.

    Parameters
    ----------
    dispatch : callable
        Called with each item's arguments (``put(a, b)`` → ``dispatch(a, b)``).
    """

    def __init__(self, dispatch: Callable[..., Any]) -> None:
        self._dispatch = dispatch
        self._items: list[tuple[Any, ...]] = []
        self.busy = False

    def put(self, *item: Any) -> None:
        """Queue an item and handle the queue, unless a handler is running (it handles the item when it ends)."""
        self._items.append(item)
        self.drain()

    def drain(self) -> None:
        """Handle the queued items in order, never one inside another."""
        with self.exclusive() as free:
            if free:
                while self._items:
                    self._dispatch(*self._items.pop(0))

    @contextmanager
    def exclusive(self) -> Iterator[bool]:
        """Run other GUI work as one of the handlers: yields False (do not run it) when a handler is running."""
        if self.busy:
            yield False
            return
        self.busy = True
        try:
            yield True
        finally:
            self.busy = False
