"""The capture station's sources: the camera, the video standing in for it, the demo's
synthetic video and the watched folder, started and stopped from the source bar.

A mixin of :class:`widgets.capture.CaptureStation`: it uses the station's source bar, live
preview, state and rate labels, status line (``say()``), runner, strip and file imports
(``import_files()``). The preview's reader runs on the engine's grabber thread; the folder
is polled on the runner, never on the GUI thread.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QLabel, QPushButton

from app.i18n import _
from app.messages import reason
from app.tasks import BoundRunner
from capture.folder import WatchedFolder
from capture.photo import Strip
from capture.sources import CameraSource, VideoFileSource
from widgets.capture_demo import write_demo_video
from widgets.capture_preview import LivePreview, PreviewView
from widgets.capture_sources import VIDEO, SourceBar

FOLDER_POLL_MS = 1000


class SourceControl:
    """Starts, stops and follows the station's source.

    Besides the attributes below, the station provides ``say()``, ``_failed()``,
    ``import_files()`` and ``_tell_refused()``.
    """

    runner: BoundRunner
    sources: SourceBar
    view: PreviewView
    preview: LivePreview
    state_label: QLabel
    fps_label: QLabel
    existing_button: QPushButton
    strip: Strip
    folder_timer: QTimer
    folder: WatchedFolder | None
    _existing: list[Path]
    _folder_busy: bool
    _temp: Path | None

    def _init_sources(self) -> None:
        self.folder = None
        self._existing = []
        self._folder_busy = False
        self._temp = None  # the demo video's folder, removed when the station closes
        self.folder_timer = QTimer(self)  # type: ignore[arg-type]
        self.folder_timer.setInterval(FOLDER_POLL_MS)
        self.folder_timer.timeout.connect(self._poll_folder)

    def start_source(self) -> None:
        """Starts the source chosen in the source bar (camera, demo video or folder)."""
        self.stop_source()
        self.say("")
        kind = self.sources.kind()
        if kind == "camera":
            device, size = self.sources.camera()
            self.preview.start(CameraSource(device, size))
        elif kind == "video":
            path = self.sources.video_path()
            if path is not None:
                self.preview.start(VideoFileSource(path))
            else:
                self._start_demo_video()
        else:
            self._start_folder(self.sources.folder_path())

    def start_video(self, path: Path) -> None:
        """Plays ``path`` as the camera (what the tests and the demo use)."""
        self.stop_source()
        self.sources.choose(VIDEO)
        self.preview.start(VideoFileSource(path))

    def _start_demo_video(self) -> None:
        if self._temp is None:
            self._temp = Path(tempfile.mkdtemp(prefix="passavant-demo-video-"))
        target = self._temp / "demo.avi"
        if target.is_file():
            self.start_video(target)
            return
        self.view.show_message(_("Préparation de la vidéo de démonstration…"))
        self.runner.run(lambda: write_demo_video(target), self.start_video, self._failed)

    def _start_folder(self, path: Path | None) -> None:
        if path is None or not path.is_dir():
            self.say(_("Choisissez un dossier existant à surveiller."), problem=True)
            return
        self.folder = WatchedFolder(path)
        self.folder_timer.start()
        self.view.show_message(
            _("Dossier surveillé : les photos qui y arrivent sont importées.\n{path}").format(
                path=path
            )
        )
        self.state_label.setText(_("Dossier surveillé"))
        in_strip = {photo.source for photo in self.strip}
        self._existing = [path for path in self.folder.existing if path not in in_strip]
        self.existing_button.setText(
            _("Importer les {n} photo(s) déjà présentes").format(n=len(self._existing))
        )
        self.existing_button.setVisible(bool(self._existing))
        self._tell_refused(self.folder.take_refused())

    def import_existing(self) -> None:
        """Imports the photos that were in the watched folder before it was watched (left by
        an earlier session, say) and are not in the strip: like the new ones, they are wiped
        once in a request."""
        self.existing_button.setVisible(False)
        existing, self._existing = self._existing, []
        if existing:
            self.import_files(existing, from_folder=True)

    def stop_source(self) -> None:
        self.preview.stop()
        self.folder_timer.stop()
        self.folder = None
        self.existing_button.setVisible(False)

    def _poll_folder(self) -> None:
        folder = self.folder
        if folder is None or self._folder_busy:
            return
        self._folder_busy = True

        def done(paths: list[Path]) -> None:
            self._folder_busy = False
            if paths:
                self.import_files(paths, from_folder=True)
            self._tell_refused(folder.take_refused())  # links and the like, left out

        def failed(exc: BaseException) -> None:
            self._folder_busy = False
            self._failed(exc)

        self.runner.run(folder.poll, done, failed)

    def _show_stats(self, source_fps: float, shown_fps: float) -> None:
        self.fps_label.setText(
            _("{src} images/s reçues · {shown} affichées").format(
                src=round(source_fps), shown=round(shown_fps)
            )
        )

    def _show_state(self, state: str) -> None:
        labels = {
            "live": _("Caméra connectée"),
            "disconnected": _("Caméra déconnectée — reconnexion…"),
            "failed": _("Caméra perdue"),
            "ended": _("Fin de la vidéo"),
            "closed": _("Source arrêtée"),
        }
        self.state_label.setText(labels.get(state, state))

    def _source_failed(self, code: str) -> None:
        self.say(reason(code), problem=True)
        self.view.show_message(reason(code))
