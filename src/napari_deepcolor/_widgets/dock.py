"""When a dock widget is closed with its title bar's "x".

napari's close button removes the dock (``remove_dock_widget``: ``setParent(None)``) without destroying the widget,
so neither ``destroyed`` nor ``closeEvent`` comes; the widget's own worker would go on writing into the viewer.
`on_removed` watches for the widget losing the parent it was docked into.
"""

from __future__ import annotations

from typing import Callable

from qtpy.QtCore import QEvent, QObject
from qtpy.QtWidgets import QWidget


class _RemovalWatcher(QObject):
    def __init__(self, widget: QWidget, callback: Callable[[], None]) -> None:
        super().__init__(widget)
        self._callback = callback
        self._docked = widget.parent() is not None

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt's name
        if event.type() == QEvent.Type.ParentChange:
            if obj.parent() is not None:
                self._docked = True
            elif self._docked:
                self._docked = False
                self._callback()
        return False


def on_removed(widget: QWidget, callback: Callable[[], None]) -> None:
    """Call ``callback()`` each time ``widget``, once it had a parent, is left without one (its dock was closed)."""
    widget.installEventFilter(_RemovalWatcher(widget, callback))
