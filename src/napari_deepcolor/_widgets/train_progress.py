"""The Train dock's progress: the header (progress bar with Cancel, status line, last score), the bar in napari's
activity dock, and the live loss plot of the *Advanced* section."""

from __future__ import annotations

import math
from typing import Any

from qtpy.QtCore import QPointF, Qt
from qtpy.QtGui import QPainter, QPen, QPolygonF
from qtpy.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QPushButton, QVBoxLayout, QWidget


class Note(QLabel):
    """A wrapped line of text that takes no room while it is empty."""

    def __init__(self, tooltip: str = "") -> None:
        super().__init__("")
        self.setWordWrap(True)
        self.setToolTip(tooltip)
        self.setVisible(False)

    def setText(self, text: str) -> None:  # noqa: N802 - Qt's name
        super().setText(text)
        self.setVisible(bool(text))


class LossPlot(QWidget):
    """A live loss curve: one polyline of the losses so far, scaled to the widget (no plotting library)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.losses: list[float] = []
        self.setMinimumHeight(90)
        self.setToolTip("Training loss (mean over each step); it should fall, then level off")

    def set_losses(self, losses: list[float]) -> None:
        self.losses = [v for v in losses if math.isfinite(v)]
        self.update()

    def paintEvent(self, event: Any) -> None:  # noqa: N802 - Qt's name
        painter = QPainter(self)
        painter.fillRect(self.rect(), self.palette().base())
        width, height, pad = self.width(), self.height(), 6
        painter.setPen(QPen(self.palette().text().color()))
        if len(self.losses) < 2:
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, "loss curve appears here while training")
            return
        low, high = min(self.losses), max(self.losses)
        span = high - low or 1.0
        n = len(self.losses) - 1
        points = [QPointF(pad + (width - 2 * pad) * i / n, pad + (height - 2 * pad) * (high - v) / span)
                  for i, v in enumerate(self.losses)]
        pen = QPen(Qt.GlobalColor.cyan)
        pen.setWidth(2)
        painter.setPen(pen)
        painter.drawPolyline(QPolygonF(points))
        painter.setPen(QPen(self.palette().text().color()))
        painter.drawText(pad, height - pad, f"{self.losses[-1]:.4f}  (max {high:.3f})")


class TrainProgress:
    """The progress part of `napari_deepcolor._widgets.train.TrainWidget` (a mixin: its ``self`` is the widget,
    whose ``cancel`` the Cancel button calls and whose ``_pbar`` is the run's bar in the activity dock)."""

    progress: QProgressBar
    cancel_button: QPushButton
    status: Note
    metrics_label: Note
    _pbar: Any

    def _build_progress(self) -> QVBoxLayout:
        """The top rows: progress (step, loss, time left) with Cancel beside it, the status line and the score."""
        top = QVBoxLayout()
        top.setContentsMargins(6, 6, 6, 0)
        row = QHBoxLayout()
        self.progress = QProgressBar()
        self.progress.setFormat("not training")
        self.progress.setValue(0)
        self.progress.setToolTip("Training progress: step, loss (it should fall, then level off) and time left")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.cancel_button.setToolTip("Stop after the current step; the last checkpoint is kept and offered")
        self.cancel_button.clicked.connect(self.cancel)  # TrainWidget.cancel
        row.addWidget(self.progress, 1)
        row.addWidget(self.cancel_button)
        top.addLayout(row)
        self.status = Note()
        top.addWidget(self.status)
        self.metrics_label = Note("The last validation: AP50 (matched objects at IoU 0.5 over all objects) and SBD "
                                  "(symmetric best Dice), on the validation pair or on the part of your annotations "
                                  "held out for it")
        top.addWidget(self.metrics_label)
        return top

    def _show_step(self, event: Any) -> None:
        """The progress row: step, loss and time left; the activity dock's bar follows."""
        if self.progress.maximum() != event.total:
            self.progress.setRange(0, event.total)
        self.progress.setValue(event.step)
        left = event.elapsed / max(event.step, 1) * (event.total - event.step)
        self.progress.setFormat(f"step %v / %m · loss {event.loss:.4f} · {duration(left)} left")
        if self._pbar is not None:
            if self._pbar.total != event.total:
                self._pbar.total = event.total
            self._pbar.update(event.step - self._pbar.n)


def duration(seconds: float) -> str:
    """A time for people: "45 s", "3 min", "1 h 5 min"."""
    if not math.isfinite(seconds):
        return "?"
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes = round(seconds / 60)
    return f"{minutes} min" if minutes < 60 else f"{minutes // 60} h {minutes % 60} min"
