"""The specialist plays a request's clip in the app (issue 17 §2).

PySide6-Essentials has no QtMultimedia, so :class:`FrameDecoder` decodes with PyAV on its own
thread (``passavant-clip-player``), from memory: the clip's bytes are read from the sealed
bundle on that thread and never written to the disk. The window asks for frames (play,
pause, one frame forward or back, a place on the slider) and shows what comes back:
:class:`ClipWindow`, with a frame counter and the keys Space, Left and Right. It opens
beside the request, like the document window, from :class:`ClipShelf`.
"""

from __future__ import annotations

import io
import logging
import queue
import threading
from collections.abc import Iterator, Sequence
from typing import Any

import av
import numpy as np
from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QCloseEvent, QImage, QKeyEvent, QPixmap, QResizeEvent
from PySide6.QtWidgets import (
    QDialog,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSizePolicy,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from app.handback import hand_back
from app.i18n import _
from cases.clips import MAX_CLIP_S, MAX_EDGE, Clip
from widgets.clips import describe
from widgets.clipwork import to_image

log = logging.getLogger(__name__)

PLAYER_THREAD = "passavant-clip-player"
MAX_FRAMES = int((MAX_CLIP_S + 1) * 60)
"""A clip is at most a minute at 60 frames a second: a bundle claiming more is not decoded."""


class FrameDecoder(QObject):
    """Decodes a clip on its own thread, on request.

    Signals:
        opened(int, float): the number of frames and the frame rate, once the clip is read.
        frame_shown(int, QImage, str): a frame's index, its picture and the thread that
            decoded it.
        playing_changed(bool): playing or paused.
        failed(): the clip cannot be decoded.
    """

    opened = Signal(int, float)
    frame_shown = Signal(int, QImage, str)
    playing_changed = Signal(bool)
    failed = Signal()

    def __init__(self, clip: Clip, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.clip = clip
        self._commands: queue.Queue[tuple[str, int]] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name=PLAYER_THREAD, daemon=True)
        commands = self._commands  # a window deleted without closing still ends the thread
        self.destroyed.connect(lambda *_args: commands.put(("quit", 0)))
        self.position = -1
        self.count = 0
        self.fps = 25.0
        self.playing = False

    def start(self) -> None:
        self._thread.start()

    def toggle(self) -> None:
        self._commands.put(("toggle", 0))

    def step(self, by: int) -> None:
        self._commands.put(("step", by))

    def seek(self, index: int) -> None:
        self._commands.put(("seek", index))

    def stop(self) -> None:
        self._commands.put(("quit", 0))
        self._thread.join(5)

    # --- on the decoding thread -----------------------------------------------------------
    def _run(self) -> None:
        try:
            data = self.clip.data
            with av.open(io.BytesIO(data), "r") as container:
                self._play(container)
        except Exception as exc:  # noqa: BLE001 - a damaged clip: said plainly in the window
            log.warning("a clip cannot be decoded: %s", type(exc).__name__)
            self._emit("failed")

    def _play(self, container: Any) -> None:
        stream = container.streams.video[0]
        size = (int(stream.codec_context.width), int(stream.codec_context.height))
        if size != (self.clip.width, self.clip.height) or max(size) > MAX_EDGE:
            raise ValueError("the clip's frames are not the size its manifest says")
        times = sorted(p.pts for p in container.demux(stream) if p.pts is not None)
        if len(times) > MAX_FRAMES:
            raise ValueError("more frames than a minute holds")
        self.count = len(times)
        self.fps = float(stream.average_rate or 25)
        if not times:
            raise ValueError("no frame")
        self._emit("opened", self.count, self.fps)
        self._times, self._container, self._stream = times, container, stream
        self._frames: Iterator[Any] | None = None
        self._show(0)
        while True:
            try:
                command, value = self._commands.get(timeout=1 / self.fps if self.playing else None)
            except queue.Empty:
                if self.position + 1 < self.count:
                    self._show(self.position + 1)
                else:
                    self._set_playing(False)
                continue
            if command == "quit":
                return
            if command == "toggle":
                if not self.playing and self.position + 1 >= self.count:
                    self._show(0)  # at the end: play from the start
                self._set_playing(not self.playing)
            elif command == "step":
                self._set_playing(False)
                self._show(min(max(self.position + value, 0), self.count - 1))
            elif command == "seek":
                self._show(min(max(value, 0), self.count - 1))

    def _set_playing(self, playing: bool) -> None:
        if playing != self.playing:
            self.playing = playing
            self._emit("playing_changed", playing)

    def _show(self, index: int) -> None:
        if index == self.position:
            return
        target = self._times[index]
        if index != self.position + 1 or self._frames is None:
            self._container.seek(target, stream=self._stream, backward=True)
            self._frames = self._container.decode(self._stream)
        for frame in self._frames:
            if frame.pts is None or frame.pts < target:
                continue
            self.position = index
            image = to_image(np.asarray(frame.to_ndarray(format="bgr24"), np.uint8))
            self._emit("frame_shown", index, image, threading.current_thread().name)
            return

    def _emit(self, signal: str, *args: Any) -> None:
        """From the decoding thread: emits the signal named ``signal`` on the GUI thread, if
        this object still exists then (app/handback.py)."""
        hand_back(self, lambda: getattr(self, signal).emit(*args))


class ClipWindow(QDialog):
    """A clip played beside the request: play/pause, one frame back or forward, a counter."""

    def __init__(self, clip: Clip, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(_("Clip vidéo — {name}").format(name=describe(clip)))
        self.clip = clip
        self.index = -1
        self.frame = QImage()
        self.decoded_by: set[str] = set()
        self.picture = QLabel(_("Lecture du clip…"))
        self.picture.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.picture.setMinimumSize(320, 180)
        self.picture.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Ignored)
        self.picture.setStyleSheet("background: #202020; color: #e0e0e0;")
        self.back_button = QPushButton(_("◀ Image précédente"))
        self.play_button = QPushButton(_("Lecture"))
        self.forward_button = QPushButton(_("Image suivante ▶"))
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setAccessibleName(_("Position dans le clip"))
        self.counter = QLabel()
        self.keys = QLabel(_("Espace : lecture ou pause ; ← → : image par image"))
        self.keys.setWordWrap(True)
        for button in (self.back_button, self.play_button, self.forward_button):
            button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
            button.setAutoDefault(False)
        self.slider.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        controls = QHBoxLayout()
        controls.addWidget(self.back_button)
        controls.addWidget(self.play_button)
        controls.addWidget(self.forward_button)
        controls.addWidget(self.slider, 1)
        controls.addWidget(self.counter)
        layout = QVBoxLayout(self)
        layout.addWidget(self.picture, 1)
        layout.addLayout(controls)
        layout.addWidget(self.keys)
        self.decoder = FrameDecoder(clip, self)
        self.decoder.opened.connect(self._opened)
        self.decoder.frame_shown.connect(self._shown)
        self.decoder.playing_changed.connect(self._playing)
        self.decoder.failed.connect(self._failed)
        self.back_button.clicked.connect(lambda: self.decoder.step(-1))
        self.forward_button.clicked.connect(lambda: self.decoder.step(1))
        self.play_button.clicked.connect(self.decoder.toggle)
        self.slider.sliderMoved.connect(self.decoder.seek)
        self.resize(900, 600)
        self.decoder.start()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        key = event.key()
        if key == Qt.Key.Key_Space:
            self.decoder.toggle()
        elif key == Qt.Key.Key_Left:
            self.decoder.step(-1)
        elif key == Qt.Key.Key_Right:
            self.decoder.step(1)
        else:
            super().keyPressEvent(event)

    def _opened(self, count: int, fps: float) -> None:
        self.slider.setRange(0, max(0, count - 1))
        self._count(0)

    def _shown(self, index: int, image: QImage, thread: str) -> None:
        self.index, self.frame = index, image
        self.decoded_by.add(thread)
        self.slider.blockSignals(True)
        self.slider.setValue(index)
        self.slider.blockSignals(False)
        self._count(index)
        self._draw()

    def _count(self, index: int) -> None:
        count, fps = self.decoder.count, self.decoder.fps
        self.counter.setText(
            _("Image {n} / {total} — {t} s").format(
                n=index + 1, total=count, t=f"{index / fps:.2f}"
            )
        )

    def _draw(self) -> None:
        if not self.frame.isNull():
            self.picture.setPixmap(
                QPixmap.fromImage(self.frame).scaled(
                    self.picture.size(),
                    Qt.AspectRatioMode.KeepAspectRatio,
                    Qt.TransformationMode.SmoothTransformation,
                )
            )

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._draw()

    def _playing(self, playing: bool) -> None:
        self.play_button.setText(_("Pause") if playing else _("Lecture"))

    def _failed(self) -> None:
        self.picture.setText(_("Ce clip ne peut pas être lu : il est endommagé."))

    def done(self, result: int) -> None:
        self.decoder.stop()
        self.frame = QImage()
        self.picture.clear()
        super().done(result)

    def closeEvent(self, event: QCloseEvent) -> None:
        self.done(QDialog.DialogCode.Rejected)
        event.accept()


class ClipShelf(QWidget):
    """The list of a request's clips; a double-click (or Enter) plays one."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.clips: list[Clip] = []
        self.window_: ClipWindow | None = None
        self.list = QListWidget()
        self.list.setAccessibleName(_("Clips vidéo"))
        self.list.setMaximumHeight(72)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(QLabel(_("Clips vidéo (double-clic pour lire)")))
        layout.addWidget(self.list)
        self.list.itemActivated.connect(lambda item: self.open_clip(self.list.row(item)))

    def set_clips(self, clips: Sequence[Clip]) -> None:
        if [c.name for c in clips] != [c.name for c in self.clips] or not clips:
            self.list.clear()
            for clip in clips:
                self.list.addItem(QListWidgetItem(describe(clip)))
            if self.window_ is not None:
                self.window_.close()
        self.clips = list(clips)
        self.setVisible(bool(self.clips))

    def open_clip(self, row: int) -> ClipWindow | None:
        if not 0 <= row < len(self.clips):
            return None
        if self.window_ is not None:
            self.window_.close()
        self.window_ = ClipWindow(self.clips[row], self)
        self.window_.finished.connect(self._closed)
        self.window_.show()
        self.window_.raise_()
        return self.window_

    def _closed(self) -> None:
        if self.window_ is not None:
            self.window_.deleteLater()
        self.window_ = None
