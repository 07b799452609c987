"""The hand-over of the kept photos to the request form, and what each becomes there.

:class:`PhotoHandover` (a mixin of :class:`widgets.capture.CaptureStation`) prepares every
kept, confirmed photo in the background, one after the other, hands them over, and wipes the
watched folder's files of those now in the request. :func:`build_photo` turns a prepared
photo into the ``cases.photos.Photo`` the request form takes.

The engine measures and annotates in upright full-resolution pixels; the prepared JPEG may
be smaller (its long edge is capped). Points are scaled to the JPEG's pixels here, so that
what travels with the photo lines up with it; pixel lengths and areas scale too, while
millimetres and square centimetres do not depend on the picture's size.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from PySide6.QtCore import SignalInstance
from PySide6.QtWidgets import QLabel, QProgressBar, QPushButton

from app.i18n import _
from app.messages import error_reason, reason
from app.tasks import BoundRunner
from capture.errors import CaptureError
from capture.folder import wipe
from capture.measure import Measurement
from capture.photo import Annotation, Arrow, Circle, KeptPhoto, Strip, Text
from capture.prepare import Prepared, prepare
from capture.regions import Regions
from cases.photos import Photo
from widgets.capture_sources import SourceBar


def scaled_measurement(m: Measurement, factor: float) -> dict[str, Any]:
    """``m`` as plain data, its points (and pixel values) scaled by ``factor``."""
    data = m.to_dict()
    data["points"] = [[x * factor, y * factor] for x, y in m.points]
    if not m.calibrated:
        data["length"] = m.length * factor
        if m.perimeter is not None:
            data["perimeter"] = m.perimeter * factor
        if m.area is not None:
            data["area"] = m.area * factor * factor
    return data


def scaled_annotation(a: Annotation, factor: float) -> dict[str, object]:
    """``a`` as plain data, its coordinates scaled by ``factor``."""
    if isinstance(a, Arrow):
        scaled: Annotation = Arrow(
            (a.start[0] * factor, a.start[1] * factor), (a.end[0] * factor, a.end[1] * factor)
        )
    elif isinstance(a, Circle):
        scaled = Circle((a.centre[0] * factor, a.centre[1] * factor), a.radius * factor)
    else:
        assert isinstance(a, Text)
        scaled = Text((a.position[0] * factor, a.position[1] * factor), a.text)
    return scaled.to_dict()


def build_photo(
    prepared: Prepared,
    kept: KeptPhoto,
    original_size: tuple[int, int],
    measurements: Sequence[Measurement],
    annotations: Sequence[Annotation],
) -> Photo:
    """The form's :class:`Photo`: the prepared JPEG with the site, note, measurements and
    annotations of ``kept`` (coordinates in the JPEG's pixels)."""
    factor = prepared.width / original_size[0]
    measures: tuple[Mapping[str, Any], ...] = tuple(
        scaled_measurement(m, factor) for m in measurements
    )
    return Photo(
        name=prepared.name,
        payload=prepared.data,
        width=prepared.width,
        height=prepared.height,
        site=kept.body_site,
        note=kept.note,
        measurements=measures,
        annotations=tuple(scaled_annotation(a, factor) for a in annotations),
    )


class PhotoHandover:
    """Prepares the kept, confirmed photos and hands them to the request form.

    Besides the attributes below, the station provides ``say()``, ``_failed()``,
    ``_forget()``, ``refresh_strip()``, ``accept()`` and the ``photos_ready`` signal.
    """

    runner: BoundRunner
    strip: Strip
    pages: Strip
    measures: dict[str, list[Measurement]]
    deleted: list[tuple[int, KeptPhoto]]
    sources: SourceBar
    progress: QProgressBar
    progress_label: QLabel
    add_button: QPushButton
    photos_ready: SignalInstance

    def _init_handover(self) -> None:
        self._preparing: list[KeptPhoto] = []
        self._prepared: list[Photo] = []
        self._waiting: list[str] = []
        self._prepare_errors: list[tuple[KeptPhoto, str]] = []
        self._started = 0.0

    def add_to_request(self) -> None:
        """Prepares every kept, confirmed photo in the background and hands them over."""
        if self._preparing:
            return
        ready, waiting = self._readiness()
        self._waiting = waiting
        if not ready:
            self.say(
                "\n".join(waiting) or _("Aucune photo gardée : capturez ou importez une photo."),
                problem=True,
            )
            return
        self._preparing, self._prepared = ready, []
        self._started = time.monotonic()
        self.progress.setRange(0, len(ready))
        self.progress.setValue(0)
        self.progress.setVisible(True)
        self.add_button.setEnabled(False)
        self._prepare_next()

    def _readiness(self) -> tuple[list[KeptPhoto], list[str]]:
        """The photos ready to join the request, and a sentence for each other one, named by
        its number in the strip as it is now."""
        ready, waiting = [], []
        for number, photo in enumerate(self.strip, start=1):
            if photo.regions is None:
                waiting.append(_("Photo {n} : analyse en cours.").format(n=number))
            elif not photo.regions.confirmed:
                waiting.append(
                    _("Photo {n} : {why}").format(n=number, why=reason("anonymisation_unconfirmed"))
                )
            else:
                ready.append(photo)
        return ready, waiting

    def _prepare_next(self) -> None:
        done_count = len(self._prepared) + len(self._prepare_errors)
        total = len(self._preparing)
        self.progress.setValue(done_count)
        self.progress_label.setText(
            _("Préparation {n} / {total} — {s} s").format(
                n=done_count, total=total, s=round(time.monotonic() - self._started)
            )
        )
        if done_count >= total:
            self._finish_preparing()
            return
        photo = self._preparing[done_count]
        assert photo.original is not None
        assert photo.regions is not None
        original = photo.original
        regions = Regions(photo.regions.size, list(photo.regions))  # the set confirmed now
        regions.confirm()
        measures = list(self.measures.get(photo.id, []))
        annotations = list(photo.annotations)

        def work() -> Photo:
            prepared = prepare(original, regions=regions)
            return build_photo(prepared, photo, original.size, measures, annotations)

        def done(result: Photo) -> None:
            self._prepared.append(result)
            self._prepare_next()

        def failed(exc: BaseException) -> None:
            self._prepare_errors.append((photo, error_reason(exc)))
            self._prepare_next()

        self.runner.run(work, done, failed)

    def _finish_preparing(self) -> None:
        handed = self._prepared
        failed = {p.id: why for p, why in self._prepare_errors}
        sources = [p.source for p in self._preparing if p.id not in failed and p.source]
        sources += self._deleted_sources()  # the undo ends here
        for photo in self._preparing:
            if photo.id not in failed:
                with contextlib.suppress(KeyError):
                    self.strip.delete(photo.id)
                self._forget(photo.id)
        waiting = self._readiness()[1]  # numbered as the strip shows them now
        notes = [_("{n} photo(s) ajoutée(s) à la demande.").format(n=len(handed)), *waiting]
        notes += [
            _("Une photo n’a pas pu être préparée : {why}").format(why=w) for w in failed.values()
        ]
        self._preparing, self._prepared, self._prepare_errors = [], [], []
        self.add_button.setEnabled(True)
        self.progress.setVisible(False)
        self.deleted.clear()
        self.refresh_strip()
        self.say("\n".join(notes), problem=len(notes) > 1 or not handed)
        if handed:
            self.photos_ready.emit(handed)
        close = bool(handed) and len(self.strip) == 0 and len(self.pages) == 0
        if sources and self.sources.wipe_folder_files():
            self._wipe(sources, close_after=close)  # closes once the files are gone
        elif close:
            self.accept()

    def _deleted_sources(self) -> list[Path]:
        """The watched folder's files of the photos deleted from the strip."""
        return [photo.source for _row, photo in self.deleted if photo.source is not None]

    def _wipe(self, paths: list[Path], *, close_after: bool) -> None:
        """Overwrites and removes the watched folder's files of photos now in the request
        (in the background); a file that resists is named, and the station stays open."""

        def work() -> list[str]:
            failures = []
            for path in paths:
                try:
                    wipe(path)
                except CaptureError as exc:
                    failures.append(f"{path.name} : {reason(exc.code)}")
            return failures

        def done(failures: list[str]) -> None:
            if failures:
                self.say("\n".join(failures), problem=True)
            elif close_after:
                self.accept()

        self.runner.run(work, done, self._failed)
