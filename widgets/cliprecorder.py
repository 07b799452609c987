"""The window where a doctor makes a short video clip for a request (issue 17 §2).

1. **Filmer** records from the capture station's source (default 20 s, at most 60 s) with a
   countdown, and "Arrêter" stops early; or **Choisir une vidéo…** takes a file. A recording
   is held in memory only (:mod:`capture.recording`): it holds unblurred faces.
2. The doctor trims the start and the end (two spin boxes) and looks at any moment with the
   position slider; frames are decoded on the clips' worker thread, never the GUI thread.
3. Faces are looked for on the key frames (:func:`capture.clips.find_faces`), shown in a
   strip; on each, the doctor removes a false area or draws a missed one
   (:mod:`widgets.clipreview`). The sound is off unless the doctor ticks the clearly
   labelled box, and the doctor must confirm the review before "Ajouter à la demande".
4. The clip is prepared on the worker with its progress (seconds done / total), into
   memory (never into a temporary file), and handed over as a :class:`cases.clips.Clip`.

Signals:
    clip_ready(Clip): the prepared clip, to join the request.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
from PySide6.QtCore import QSize, Qt, QTimer, Signal
from PySide6.QtGui import QCloseEvent, QImage
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDoubleSpinBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QSlider,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from app.handback import hand_back
from app.i18n import _
from capture import clips as engine
from capture.clipreview import ClipReview
from capture.recording import ClipRecording
from capture.regions import Rect
from capture.sources import FrameSource
from cases.clips import MAX_CLIPS_BYTES, Clip, next_name
from widgets.clipreview import KeyFrameStrip, KeyFrameView
from widgets.clipwork import ClipWorker, refusal, seconds, to_image
from widgets.flow import FlowLayout

PREVIEW_EDGE = 960
"""Frames shown are scaled to at most this width before they leave the worker."""


def _scaled(frame: np.ndarray, width: int) -> QImage:
    height = max(1, round(frame.shape[0] * width / frame.shape[1]))
    return to_image(np.asarray(cv2.resize(frame, (width, height), interpolation=cv2.INTER_AREA)))


def frame_at(source: engine.Source, when: float) -> QImage:
    """On the worker: the frame at ``when`` seconds, scaled for the screen."""
    for _when, frame in engine.frames(source, when, when + 1.0):
        return _scaled(frame, min(PREVIEW_EDGE, frame.shape[1]))
    return QImage()


class ClipRecorder(QDialog):
    """Record or choose, trim, review, prepare (see the module).

    Args:
        existing: the clips the request has already (for the name and the bounds).
        make_source: opens the capture station's source, or ``None`` when there is none.
    """

    clip_ready = Signal(object)
    _live = Signal(QImage)  # internal: what the camera sees while recording

    def __init__(
        self,
        existing: tuple[Clip, ...] = (),
        make_source: Callable[[], FrameSource] | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle(_("Clip vidéo"))
        self.existing = existing
        self.make_source = make_source
        self.worker = ClipWorker(self)
        self.source: engine.Source | None = None
        self.info: engine.VideoInfo | None = None
        self.review: ClipReview | None = None
        self.thumbs: list[QImage] = []
        self.recording: ClipRecording | None = None
        self.clip: Clip | None = None
        self.job = ""  # "search" or "prepare" while one runs
        self._build()
        self._connect()
        self._update()

    # --- layout ---------------------------------------------------------------------------
    def _build(self) -> None:
        self.record_button = QPushButton(_("Filmer"))
        self.record_button.setEnabled(self.make_source is not None)
        self.length = QSpinBox()
        self.length.setRange(1, int(engine.MAX_CLIP_S))
        self.length.setValue(int(engine.DEFAULT_CLIP_S))
        self.length.setSuffix(" s")
        self.length.setAccessibleName(_("Durée de l’enregistrement"))
        self.stop_button = QPushButton(_("Arrêter"))
        self.countdown = QLabel()
        self.countdown.setStyleSheet("font-weight: bold; color: #a40000;")
        self.choose_button = QPushButton(_("Choisir une vidéo…"))
        self.view = KeyFrameView()
        self.view.show_message(_("Filmez un clip ou choisissez une vidéo."))
        self.position = QSlider(Qt.Orientation.Horizontal)
        self.position.setAccessibleName(_("Position dans la vidéo"))
        self.start = QDoubleSpinBox()
        self.end = QDoubleSpinBox()
        for box in (self.start, self.end):
            box.setDecimals(1)
            box.setSingleStep(0.5)
            box.setSuffix(" s")
        self.search_button = QPushButton(_("Chercher les visages"))
        self.progress = QProgressBar()
        self.progress.setTextVisible(True)
        self.progress.hide()
        self.strip = KeyFrameStrip()
        self.help = QLabel(
            _(
                "Images clés : cliquez dans une zone pour la retirer ou la remettre (Maj+clic : "
                "sur toutes les images clés où elle est suivie) ; tracez une zone oubliée à la "
                "souris. Vert : flouté ; rouge : retiré ; bleu : ajouté."
            )
        )
        self.help.setWordWrap(True)
        self.sound = QCheckBox(
            _("Garder le son (les voix et les noms dits dans la salle seront transmis)")
        )
        self.confirm = QCheckBox(_("J’ai vérifié les images clés : tous les visages sont floutés."))
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.add_button = QPushButton(_("Ajouter à la demande"))
        self.add_button.setDefault(False)
        self.add_button.setAutoDefault(False)
        self.cancel_button = QPushButton(_("Annuler"))
        top = FlowLayout()
        for widget in (self.record_button, self.length, self.stop_button, self.countdown,
                       self.choose_button):  # fmt: skip
            top.addWidget(widget)
        trim = QHBoxLayout()
        trim.addWidget(QLabel(_("Début")))
        trim.addWidget(self.start)
        trim.addWidget(self.position, 1)
        trim.addWidget(QLabel(_("Fin")))
        trim.addWidget(self.end)
        bottom = QHBoxLayout()
        bottom.addWidget(self.status, 1)
        bottom.addWidget(self.add_button)
        bottom.addWidget(self.cancel_button)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.view, 1)
        layout.addLayout(trim)
        search = QHBoxLayout()
        search.addWidget(self.search_button)
        search.addWidget(self.progress, 1)
        layout.addLayout(search)
        layout.addWidget(self.strip)
        layout.addWidget(self.help)
        layout.addWidget(self.sound)
        layout.addWidget(self.confirm)
        layout.addLayout(bottom)
        self.resize(940, 680)

    def _connect(self) -> None:
        self.record_button.clicked.connect(self.record)
        self._live.connect(self._show_live)
        self.stop_button.clicked.connect(self.stop_recording)
        self.choose_button.clicked.connect(self._choose)
        self.position.valueChanged.connect(self._seek_soon)
        self.start.valueChanged.connect(self._trimmed)
        self.end.valueChanged.connect(self._trimmed)
        self.search_button.clicked.connect(self.find_faces)
        self.strip.currentRowChanged.connect(self.show_key_frame)
        self.view.changed.connect(self._reviewed)
        self.confirm.toggled.connect(self._update)
        self.add_button.clicked.connect(self.prepare)
        self.cancel_button.clicked.connect(self.reject)
        self.worker.progressed.connect(self._progressed)
        self._tick = QTimer(self, interval=200)
        self._tick.timeout.connect(self._count_down)
        self._seek_timer = QTimer(self, singleShot=True, interval=120)
        self._seek_timer.timeout.connect(self._seek)

    # --- recording ------------------------------------------------------------------------
    def record(self) -> None:
        """Records from the source for the chosen length (the countdown shows what is left)."""
        if self.make_source is None or self.recording is not None:
            return
        self._forget_source()
        self.recording = ClipRecording(
            self.make_source(), float(self.length.value()), on_frame=self._recorded_frame
        )
        self.recording.start()
        self.view.show_message(_("Enregistrement…"))
        self._tick.start()
        self._count_down()
        self._update()

    def _recorded_frame(self, frame: np.ndarray, when: float) -> None:
        """On the recording thread: every fifth frame, scaled, for the live picture."""
        recording = self.recording
        if recording is not None and recording.frames % 5 == 1:
            live = _scaled(frame, 640)
            hand_back(self, lambda: self._live.emit(live))  # the window may be gone

    def _show_live(self, image: QImage) -> None:
        if self.recording is not None:
            self.view.show_frame(image, image.size())

    def stop_recording(self) -> None:
        if self.recording is not None:
            self.recording.stop()

    def _count_down(self) -> None:
        recording = self.recording
        if recording is None:
            return
        if recording.running:
            left = max(0.0, recording.seconds - recording.recorded)
            self.countdown.setText(_("● Enregistrement : encore {n} s").format(n=int(left + 0.99)))
            return
        self._tick.stop()
        self.recording = None
        self.countdown.clear()
        if recording.error is not None or not recording.result():
            self._say(refusal(recording.error or Exception()), error=True)
            self.view.show_message(_("Filmez un clip ou choisissez une vidéo."))
            self._update()
            return
        self.use(recording.result())

    # --- choosing and trimming ------------------------------------------------------------
    def _choose(self) -> None:
        name, _filter = QFileDialog.getOpenFileName(
            self, _("Choisir une vidéo"), "",
            _("Vidéos (*.mp4 *.mov *.m4v *.avi *.mkv *.webm)") + ";;" + _("Tous les fichiers (*)"),
        )  # fmt: skip
        if name:
            self.use(Path(name))

    def use(self, source: engine.Source) -> None:
        """Takes a recording (bytes) or a video file, checked on the worker."""
        self._forget_source()
        self._say(_("Lecture de la vidéo…"))
        self.worker.run(
            lambda: engine.probe(source), lambda info: self._opened(source, info), self._failed
        )
        self._update()

    def _opened(self, source: engine.Source, info: engine.VideoInfo) -> None:
        self.source, self.info = source, info
        self._say("")
        for box in (self.start, self.end):
            box.blockSignals(True)
            box.setRange(0.0, round(info.duration, 1))
        self.start.setValue(0.0)
        self.end.setValue(round(min(info.duration, engine.MAX_CLIP_S), 1))
        for box in (self.start, self.end):
            box.blockSignals(False)
        self.position.setRange(0, max(1, int(info.duration * 10)))
        self.position.setValue(0)
        self.sound.setChecked(False)
        if not info.has_sound:
            self.sound.setToolTip(_("Cette vidéo n’a pas de son."))
        self._seek()
        self.find_faces()

    def _trimmed(self) -> None:
        if self.end.value() <= self.start.value():
            self.end.setValue(min(self.end.maximum(), self.start.value() + 1.0))
        self._drop_review()
        self.position.setValue(int(self.start.value() * 10))
        self._update()

    def _seek_soon(self) -> None:
        self._seek_timer.start()

    def _seek(self) -> None:
        source, info = self.source, self.info
        if source is None or info is None:
            return
        when = self.position.value() / 10
        size = QSize(info.width, info.height)
        self.worker.run(
            lambda: frame_at(source, when), lambda image: self.view.show_frame(image, size)
        )

    # --- the review -----------------------------------------------------------------------
    def find_faces(self) -> None:
        """Looks for faces on the key frames of the chosen part (on the worker)."""
        source = self.source
        if source is None:
            return
        self._drop_review()
        start, end = self.start.value(), self.end.value()
        thumbs: list[QImage] = []
        size = KeyFrameStrip.THUMB.width()
        detector = engine.photo_detector()

        def detect(frame: np.ndarray) -> list[Rect]:
            thumbs.append(_scaled(frame, size))
            return detector(frame)

        def work() -> list[tuple[float, list[Rect]]]:
            return engine.find_faces(source, start, end, detect, progress=self.worker.report)

        self._begin("search", _("Recherche des visages… %p %"), 100)
        self.worker.run(work, lambda found: self._found(found, start, end, thumbs), self._failed)
        self._update()

    def _found(
        self, found: list[tuple[float, list[Rect]]], start: float, end: float, thumbs: list[QImage]
    ) -> None:
        self._end()
        if (start, end) != (self.start.value(), self.end.value()):
            return  # trimmed meanwhile: the doctor searches again
        self.review = ClipReview(found, start, end)
        self.thumbs = thumbs
        self.view.review = self.review
        self.strip.fill(self.review, thumbs)
        faces = self.review.counts().found
        self._say(
            _("{n} zone(s) trouvée(s) sur {k} images clés. Vérifiez-les.").format(
                n=faces, k=len(found)
            )
        )
        if found:
            first = next((i for i, (_t, rects) in enumerate(found) if rects), 0)
            self.strip.setCurrentRow(first)
        self._update()

    def show_key_frame(self, index: int) -> None:
        source, info, review = self.source, self.info, self.review
        if source is None or info is None or review is None or not 0 <= index < len(review.found):
            return
        when = review.found[index][0]
        size = QSize(info.width, info.height)
        self.worker.run(
            lambda: frame_at(source, when), lambda image: self._key_frame(index, image, size)
        )

    def _key_frame(self, index: int, image: QImage, size: QSize) -> None:
        if self.strip.currentRow() == index:
            self.view.show_frame(image, size, index)

    def _reviewed(self) -> None:
        if self.review is not None and self.view.sample >= 0:
            self.strip.label(self.review, self.view.sample)
        self.confirm.setChecked(False)  # what was confirmed changed: confirm again
        self._update()

    def _drop_review(self) -> None:
        self.review = None
        self.view.review = None
        self.thumbs = []
        self.strip.clear()
        self.confirm.setChecked(False)

    # --- preparing ------------------------------------------------------------------------
    def prepare(self) -> None:
        """Prepares the clip on the worker (faces blurred, sound as chosen), into memory."""
        source, info, review = self.source, self.info, self.review
        if source is None or info is None or review is None or not self.confirm.isChecked():
            return
        start, end, keep_sound = review.start, review.end, self.sound.isChecked()
        samples, extra, counts = review.samples(), review.extra(), review.counts()
        total = end - start

        def work() -> Clip:
            out = io.BytesIO()
            report = engine.prepare_clip(
                source, out, start=start, end=end, keep_sound=keep_sound, samples=samples,
                extra=extra, progress=self.worker.report,
            )  # fmt: skip
            data = out.getvalue()
            out.close()
            return Clip.of_bytes(
                next_name(self.existing), data, duration=report.seconds, width=report.width,
                height=report.height, sound=report.sound_kept, areas=counts,
            )  # fmt: skip

        text = _("Préparation du clip : {done} / {total}").format(done="%v s", total=seconds(total))
        self._begin("prepare", text, max(1, round(total)))
        self.worker.run(work, self._prepared, self._failed)
        self._update()

    def _prepared(self, clip: Clip) -> None:
        self._end()
        if sum(c.size for c in self.existing) + clip.size > MAX_CLIPS_BYTES:
            self._say(_("Les clips d’une demande ne peuvent dépasser 200 Mo en tout."), error=True)
            self._update()
            return
        self.clip = clip
        self.clip_ready.emit(clip)
        self.accept()

    def _begin(self, job: str, text: str, maximum: int) -> None:
        self.job = job
        self.progress.setRange(0, maximum)
        self.progress.setFormat(text)
        self.progress.setValue(0)
        self.progress.show()

    def _end(self) -> None:
        self.job = ""
        self.progress.hide()

    def _progressed(self, share: float) -> None:
        if self.job:
            self.progress.setValue(round(min(max(share, 0.0), 1.0) * self.progress.maximum()))

    def _failed(self, error: BaseException) -> None:
        self._end()
        self._say(refusal(error), error=True)
        self._update()

    # --- state ----------------------------------------------------------------------------
    def _update(self) -> None:
        recording = self.recording is not None
        busy = bool(self.job)
        self.record_button.setEnabled(self.make_source is not None and not recording and not busy)
        self.length.setEnabled(not recording)
        self.stop_button.setEnabled(recording)
        self.choose_button.setEnabled(not recording and not busy)
        ready = self.source is not None and not recording
        for widget in (self.start, self.end, self.position, self.search_button):
            widget.setEnabled(ready and not busy)
        self.sound.setEnabled(ready and not busy and self.info is not None and self.info.has_sound)
        self.confirm.setEnabled(self.review is not None and not busy)
        self.add_button.setEnabled(
            self.review is not None and self.confirm.isChecked() and not busy
        )

    def _say(self, text: str, *, error: bool = False) -> None:
        self.status.setStyleSheet("color: #a40000;" if error else "")
        self.status.setText(text)

    def _forget_source(self) -> None:
        self.source, self.info = None, None
        self._drop_review()

    def done(self, result: int) -> None:
        if self.recording is not None:
            self.recording.stop()
            self.recording.join(5)
            self.recording = None
        self._tick.stop()
        self._forget_source()  # the recording (unblurred) is dropped from memory
        super().done(result)

    def closeEvent(self, event: QCloseEvent) -> None:
        self.done(QDialog.DialogCode.Rejected)
        event.accept()
