"""The clips of the request being written (issue 17 §2): a small list under the documents.

"Ajouter un clip vidéo…" opens :class:`widgets.cliprecorder.ClipRecorder` (record from the
camera or choose a file, trim, review the faces, prepare); the prepared clip joins the list.
At most :data:`cases.clips.MAX_CLIPS` clips and 200 MB per request.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.i18n import _
from app.messages import human_size
from capture.sources import FrameSource
from cases.clips import MAX_CLIPS, Clip
from cases.draftpayloads import DraftPayload
from widgets.cliprecorder import ClipRecorder
from widgets.clipsource import capture_station_source
from widgets.clipwork import seconds
from widgets.flow import FlowLayout


def describe(clip: Clip) -> str:
    """One line: name, length, frame size, sound, areas blurred, size."""
    return _(
        "{name} — {length} — {width}×{height} — {sound} — {areas} zone(s) floutée(s) — {size}"
    ).format(
        name=clip.name.removesuffix(".mp4"),
        length=seconds(clip.duration),
        width=clip.width,
        height=clip.height,
        sound=_("avec le son") if clip.sound else _("sans son"),
        areas=clip.areas.blurred,
        size=human_size(clip.size),
    )


class ClipList(QWidget):
    """The clips of the request, with "Ajouter un clip vidéo…" and "Retirer le clip".

    Signals:
        changed(): a clip was added or removed.
    """

    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.make_source: Callable[[], FrameSource] | None = capture_station_source
        self._clips: list[Clip] = []
        self.recorder: ClipRecorder | None = None
        self.list = QListWidget()
        self.list.setMaximumHeight(80)
        self.list.setAccessibleName(_("Clips vidéo"))
        self.add_button = QPushButton(_("Ajouter un clip vidéo…"))
        self.add_button.setToolTip(
            _("Filmer avec la caméra ou choisir une vidéo ; visages floutés, sans son par défaut")
        )
        self.remove_button = QPushButton(_("Retirer le clip"))
        label = QLabel(_("Clips vidéo (au plus {n}, une minute chacun)").format(n=MAX_CLIPS))
        label.setWordWrap(True)
        buttons = FlowLayout()
        buttons.addWidget(self.add_button)
        buttons.addWidget(self.remove_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(label)
        layout.addLayout(buttons)
        layout.addWidget(self.list)
        self.add_button.clicked.connect(self.open_recorder)
        self.remove_button.clicked.connect(self.remove_selected)
        self.list.itemSelectionChanged.connect(self._update)
        self._refill()

    def clips(self) -> tuple[Clip, ...]:
        return tuple(self._clips)

    def set_clips(self, clips: list[Clip]) -> None:
        self._clips = list(clips)
        self._refill()

    def adopt(self, sealed: Callable[[str], DraftPayload | None]) -> None:
        """Hold each clip (in memory, or in a draft of the earlier version) by its sealed file
        once the draft has it
        (``sealed(sha256)``, ``cases.draftpayloads``): its bytes are then freed, and read
        back, checked, when the clip is played or sent. Not an edit: nothing is emitted."""
        for row, clip in enumerate(self._clips):
            if not isinstance(clip.payload, DraftPayload) and (kept := sealed(clip.sha256)):
                self._clips[row] = replace(clip, payload=kept)

    def open_recorder(self) -> ClipRecorder | None:
        """Opens the clip window (one at a time)."""
        if len(self._clips) >= MAX_CLIPS:
            return None
        if self.recorder is None:
            self.recorder = ClipRecorder(self.clips(), self.make_source, self)
            self.recorder.clip_ready.connect(self.add)
            self.recorder.finished.connect(self._closed)
        self.recorder.show()
        self.recorder.raise_()
        return self.recorder

    def add(self, clip: Clip) -> None:
        self._clips.append(clip)
        self._refill()
        self.list.setCurrentRow(len(self._clips) - 1)
        self.changed.emit()

    def remove_selected(self) -> None:
        row = self.list.currentRow()
        if 0 <= row < len(self._clips):
            del self._clips[row]
            self._refill()
            self.changed.emit()

    def _closed(self) -> None:
        if self.recorder is not None:
            self.recorder.deleteLater()
        self.recorder = None

    def _refill(self) -> None:
        self.list.clear()
        for clip in self._clips:
            item = QListWidgetItem(describe(clip))
            item.setToolTip(item.text())
            self.list.addItem(item)
        self.list.setVisible(bool(self._clips))
        self._update()

    def _update(self) -> None:
        self.add_button.setEnabled(len(self._clips) < MAX_CLIPS)
        self.remove_button.setEnabled(0 <= self.list.currentRow() < len(self._clips))
