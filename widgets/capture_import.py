"""The capture station's file imports: photos chosen in a file dialog or dropped in the
watched folder.

A mixin of :class:`widgets.capture.CaptureStation`: it uses the station's runner, status
line (``say()``), progress bar and ``keep()``. Files are decoded in the background one after
the other (faces are looked for during the decoding, see
:func:`capture.faces_decoding.load_and_propose`), so each photo joins the strip as soon as it is
ready, in the order chosen, and the progress bar counts them; the status line says, in
French, what could not be imported.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QFileDialog, QLabel, QProgressBar

from app.i18n import _
from app.messages import error_reason, reason
from app.tasks import BoundRunner
from capture.errors import CaptureError
from capture.faces_decoding import load_and_propose
from capture.folder import RefusedFile
from capture.folder import read as read_from_folder
from capture.loading import LoadedImage
from capture.photo import KeptPhoto
from capture.quality import BLURRY, OVEREXPOSED, UNDEREXPOSED, Quality, assess
from capture.regions import Regions

Imported = tuple[LoadedImage, Quality, Regions]


def import_photo(path: Path, *, from_folder: bool = False) -> Imported | str:
    """Decodes a file (looking for faces meanwhile) and checks its quality (worker thread);
    a file that cannot be used gives the sentence that says why, for the message. A watched
    folder's file is read only if it is still the plain file the folder listed, never
    through a link (:func:`capture.folder.read`)."""
    try:
        image, regions = load_and_propose(read_from_folder(path) if from_folder else path)
    except (CaptureError, RefusedFile) as exc:
        return f"{path.name} : {reason(exc.code)}"
    return image, assess(image.pixels(1024), order="rgb"), regions


def quality_question(quality: Quality) -> str:
    """The plain-French question asked about a flagged shot."""
    if BLURRY in quality.flags:
        return _("Photo floue — reprendre ?")
    if OVEREXPOSED in quality.flags:
        return _("Photo surexposée (trop claire) — reprendre ?")
    if UNDEREXPOSED in quality.flags:
        return _("Photo sous-exposée (trop sombre) — reprendre ?")
    return ""


class FileImports:
    """Imports of photo files into the strip, one after the other, in the order chosen.

    Besides the attributes below, the station provides ``keep()`` and ``say()``.
    """

    runner: BoundRunner
    progress: QProgressBar
    progress_label: QLabel
    _preparing: list[KeptPhoto]

    def _init_imports(self) -> None:
        self._imports: list[tuple[Path, bool]] = []  # (file, from the watched folder), in order
        self._import_count = 0  # files of the current import, done and to do
        self._import_notes: list[str] = []
        self._importing = False

    def _stop_imports(self) -> None:
        """Drops the files not imported yet (the station is closing)."""
        self._imports.clear()

    def _choose_files(self) -> None:
        names, _filter = QFileDialog.getOpenFileNames(
            self,
            _("Importer des photos"),
            "",
            _("Images (*.jpg *.jpeg *.png *.tif *.tiff *.heic *.heif)"),
        )
        if names:
            self.import_files([Path(n) for n in names])

    def import_files(self, paths: list[Path], *, from_folder: bool = False) -> None:
        """Decodes ``paths`` in the background, one after the other: each readable photo
        joins the strip as soon as it is decoded, in the order given, and the progress bar
        counts them. Files added while an import runs join its queue. The photos of the
        watched folder's files (``from_folder``) remember their file, to wipe it once they
        have joined a request."""
        self._imports.extend((path, from_folder) for path in paths)
        self._import_count += len(paths)
        if self._importing:
            self._show_import_progress()
        else:
            self._import_next()

    def _tell_refused(self, refused: list[tuple[Path, str]]) -> None:
        """Says which files of the watched folder were left out, and why: at once, and with
        the notes of the import under way or of the next one (which shows its notes as it
        goes, so that the sentence stays until that import is over)."""
        notes = [f"{path.name} : {reason(code)}" for path, code in refused]
        if not notes:
            return
        self._import_notes.extend(notes)
        if not self._importing:
            self.say("\n".join(self._import_notes), problem=True)

    def _show_import_progress(self) -> None:
        """The bar and its label for the file being decoded (the count includes it)."""
        number = self._import_count - len(self._imports)
        self.progress.setRange(0, self._import_count)
        self.progress.setValue(number - 1)
        self.progress.setVisible(True)
        self.progress_label.setText(
            _("Import de la photo {n} sur {total}…").format(n=number, total=self._import_count)
        )

    def _import_next(self) -> None:
        if not self._imports:
            self._importing = False
            if not self._preparing:  # the hand-over shares the bar
                self.progress.setVisible(False)
                self.progress_label.clear()
            self.say("\n".join(self._import_notes), problem=True)
            self._import_count, self._import_notes = 0, []
            return
        self._importing = True
        path, from_folder = self._imports.pop(0)
        self._show_import_progress()
        self.say("\n".join(self._import_notes), problem=True)  # what went wrong so far
        source = path if from_folder else None
        self.runner.run(
            lambda: import_photo(path, from_folder=from_folder),
            lambda result: self._imported(result, source),
            self._import_failed,
        )

    def _imported(self, result: Imported | str, source: Path | None = None) -> None:
        if isinstance(result, str):
            self._import_notes.append(result)
        else:
            image, quality, regions = result
            self.keep(image, quality, regions, source=source)
            if not quality.ok:
                self._import_notes.append(quality_question(quality).split(" — ")[0])
        self._import_next()

    def _import_failed(self, exc: BaseException) -> None:
        self._import_notes.append(error_reason(exc))
        self._import_next()
