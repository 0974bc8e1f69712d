"""What the screenshot scripts share: waiting for the GUI while Qt keeps processing events."""

from __future__ import annotations

import time
from collections.abc import Callable

from qtpy.QtWidgets import QApplication


def wait(condition: Callable[[], bool], seconds: float = 600.0) -> None:
    """Process Qt events until ``condition()`` holds or ``seconds`` have passed."""
    app, start = QApplication.instance(), time.time()
    while not condition() and time.time() - start < seconds:
        app.processEvents()
        time.sleep(0.02)
