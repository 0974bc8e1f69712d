"""The plugin's docks in napari's window: when one is closed with its title bar's "x", and how one finds another.

napari's close button removes the dock (``remove_dock_widget``: ``setParent(None)``) without destroying the widget,
so neither ``destroyed`` nor ``closeEvent`` comes; the widget's own worker would go on writing into the viewer.
`on_removed` watches for the widget losing the parent it was docked into.

The Segment and Train / fine-tune docks reach each other through the viewer's window, which lists its docks
(`find_dock`), or open the other from the plugin's manifest (`open_dock`): no module-level registry of widgets, so
two viewers each have their own pair.
"""

from __future__ import annotations

import contextlib
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from qtpy.QtCore import QEvent, QObject, QTimer
from qtpy.QtWidgets import QDockWidget, QWidget

if TYPE_CHECKING:
    import napari

PLUGIN = "napari-deepcolor"
_W = TypeVar("_W", bound=QWidget)
#: The main window's property that says its activity dock has shown a progress bar (`warm_activity_dock`)
_WARM = "napari_deepcolor_activity_warm"
#: Milliseconds after the dock is shown that `warm_activity_dock` makes its progress bar: on the next pass, with the
#: dock's own first layout and paint (at 300 ms the dock's first 2 s held the window longer, median 87.5 ms against
#: 68.5; experiments/gui/warm_after.py, docs/benchmarks.md)
WARM_AFTER_MS = 0


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


def find_dock(viewer: napari.viewer.Viewer, kind: type[_W]) -> _W | None:
    """The widget of type ``kind`` docked in ``viewer``'s window (the newest, if several), or None."""
    found = [widget for widget in viewer.window.dock_widgets.values() if isinstance(widget, kind)]
    return found[-1] if found else None


def open_dock(viewer: napari.viewer.Viewer, kind: type[_W], name: str) -> _W:
    """The docked widget of type ``kind``, opened from the manifest's widget ``name`` if there is none; shown and
    raised (its tab brought forward)."""
    widget = find_dock(viewer, kind)
    if widget is None:
        _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, name)
    dock = widget.parentWidget()
    while dock is not None and not isinstance(dock, QDockWidget):
        dock = dock.parentWidget()
    if dock is not None:
        dock.show()
        dock.raise_()
    return widget


def warm_activity_dock(widget: QWidget) -> None:
    """Once the dock is shown, have napari make and close a progress bar in its window's activity dock, once per
    window.

    napari's first progress bar in a window held the GUI thread about 100 ms (measured on the project's 2-core CPU:
    the bar made, its activity indicator shown for the first time and the canvas laid out around it); the next ones
    take about 3 ms. Paid here, it falls in the dock's own opening instead of the first Segment run or fine-tuning.
    """

    def warm() -> None:
        try:
            window = widget.window()
        except RuntimeError:  # Qt deleted the widget first
            return
        if widget.parent() is None or window is widget or window.property(_WARM):
            return
        window.setProperty(_WARM, True)
        from napari.utils import progress

        # painted here, in the bar's own processEvents(), on purpose: with the window's paint held for a later
        # pass (`hold_paint`) the bar took 12-16 ms instead of 66-71 (idle), but the Train dock's first fine-tuning
        # then held the window 176-211 ms in a paint, against 67-80 (docs/benchmarks.md, 2026-12-07)
        progress(total=0, desc="napari-deepcolor").close()

    QTimer.singleShot(WARM_AFTER_MS, warm)


def hold_paint(window: QWidget | None) -> Callable[[], None] | None:
    """Switch ``window``'s painting off (Qt's ``setUpdatesEnabled``) until the function returned is called, which
    repaints it: work done meanwhile on the GUI thread (napari adding a layer) and the window's paint of it come on two
    event-loop passes instead of one stretch, with the window's timers and input between. Not for widgets made and
    closed meanwhile: their first paint moves to the next time they are shown (`warm_activity_dock`).
    None where nothing is held (no window, or its painting is off already). The function holds the window weakly and
    does nothing once it has been closed and deleted."""
    if window is None or not window.updatesEnabled():
        return None
    window.setUpdatesEnabled(False)
    held = weakref.ref(window)

    def release() -> None:
        window = held()
        if window is not None:
            with contextlib.suppress(RuntimeError):  # "wrapped C/C++ object ... has been deleted"
                window.setUpdatesEnabled(True)

    return release
