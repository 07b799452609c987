"""The source chooser of the capture station: camera, demo video, watched folder, imports,
and the extra capture key (a foot pedal), remembered in the profile's settings."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSettings, Signal
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QGridLayout,
    QHBoxLayout,
    QKeySequenceEdit,
    QLabel,
    QLineEdit,
    QPushButton,
    QSizePolicy,
    QSpinBox,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from app.i18n import _
from widgets.flow import FlowLayout, narrow_combo

PEDAL_KEY = "capture/pedal_key"
"""The settings key of the extra capture key."""
WIPE_KEY = "capture/wipe_folder_files"
"""The settings key of "erase the watched folder's files once their photos joined a request"."""
DEFAULT_PEDAL = "F8"
RESOLUTIONS = ((1920, 1080), (1280, 720), (640, 480))
CAMERA, VIDEO, FOLDER = "camera", "video", "folder"


class SourceBar(QWidget):
    """Where pictures come from.

    Signals:
        start_requested(), stop_requested(): start or stop the chosen live source.
        import_requested(), dicom_requested(): the doctor wants to import files.
        pedal_key_changed(QKeySequence): the extra capture key was changed (and saved).
    """

    start_requested = Signal()
    stop_requested = Signal()
    import_requested = Signal()
    dicom_requested = Signal()
    pedal_key_changed = Signal(QKeySequence)

    def __init__(self, settings: QSettings | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.settings = settings
        self.source = QComboBox()
        self.source.addItem(_("Caméra"), CAMERA)
        self.source.addItem(_("Vidéo de démonstration"), VIDEO)
        self.source.addItem(_("Dossier surveillé"), FOLDER)
        self.device = QSpinBox()
        self.device.setRange(0, 9)
        self.device.setPrefix(_("n° "))
        self.resolution = QComboBox()
        for width, height in RESOLUTIONS:
            self.resolution.addItem(f"{width} × {height}", (width, height))
        self.video = QLineEdit()
        self.video.setPlaceholderText(_("Vidéo de synthèse (ou chemin d’un fichier vidéo)"))
        self.folder = QLineEdit()
        self.folder.setPlaceholderText(_("Dossier où l’appareil photo dépose ses fichiers"))
        browse = QPushButton(_("Parcourir…"))
        browse.setAutoDefault(False)
        browse.clicked.connect(self._browse_folder)
        self.wipe = QCheckBox(
            _("Effacer du dossier les photos ajoutées à la demande ou supprimées")
        )
        self.wipe.setToolTip(
            _(
                "Les fichiers déposés par l’appareil sont des photos en clair sur ce poste : "
                "une fois ajoutées à la demande (chiffrée), ou supprimées du bandeau et la "
                "suppression plus annulable, elles sont écrasées puis effacées."
            )
        )
        self.wipe.setChecked(self._setting(WIPE_KEY, "true") == "true")
        self.wipe.toggled.connect(
            lambda on: (
                self.settings.setValue(WIPE_KEY, "true" if on else "false")
                if self.settings
                else None
            )
        )
        self.options = QStackedWidget()
        camera = QWidget()
        row = QGridLayout(camera)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.device, 0, 0)
        row.addWidget(self.resolution, 0, 1)
        self.options.addWidget(camera)
        self.options.addWidget(self.video)
        folder = QWidget()
        row = QGridLayout(folder)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.folder, 0, 0)
        row.addWidget(browse, 0, 1)
        row.addWidget(self.wipe, 1, 0, 1, 2)
        self.options.addWidget(folder)
        self.start_button = QPushButton(_("Démarrer"))
        self.stop_button = QPushButton(_("Arrêter"))
        self.import_button = QPushButton(_("Importer des fichiers…"))
        self.dicom_button = QPushButton(_("Importer un DICOM…"))
        self.pedal = QKeySequenceEdit()
        self.pedal.setMaximumSequenceLength(1)
        self.pedal.setKeySequence(self.pedal_key())
        self.pedal.setToolTip(_("Touche supplémentaire de capture (pédale), en plus d’Espace"))
        for button in (self.start_button, self.stop_button, self.import_button, self.dicom_button):
            button.setAutoDefault(False)
        # three short lines rather than one long one: the station fits half a screen
        narrow_combo(self.source, 10)
        narrow_combo(self.resolution, 8)
        first = QHBoxLayout()
        first.addWidget(QLabel(_("Source")))
        first.addWidget(self.source, 1)
        first.addWidget(self.start_button)
        first.addWidget(self.stop_button)
        pedal = QHBoxLayout()
        pedal.setContentsMargins(0, 0, 0, 0)
        pedal.addWidget(QLabel(_("Pédale")))
        pedal.addWidget(self.pedal)
        pedal_box = QWidget()
        pedal_box.setLayout(pedal)
        last = FlowLayout()
        for widget in (self.import_button, self.dicom_button, pedal_box):
            last.addWidget(widget)
        lines = QVBoxLayout(self)
        lines.setContentsMargins(0, 0, 0, 0)
        lines.addLayout(first)
        lines.addWidget(self.options)
        lines.addLayout(last)
        self.source.currentIndexChanged.connect(self._show_options)
        self._show_options(self.source.currentIndex())
        self.start_button.clicked.connect(self.start_requested)
        self.stop_button.clicked.connect(self.stop_requested)
        self.import_button.clicked.connect(self.import_requested)
        self.dicom_button.clicked.connect(self.dicom_requested)
        self.pedal.editingFinished.connect(self._save_pedal)

    def kind(self) -> str:
        return str(self.source.currentData())

    def choose(self, kind: str) -> None:
        self.source.setCurrentIndex(self.source.findData(kind))

    def camera(self) -> tuple[int, tuple[int, int]]:
        """The device index and the resolution asked for."""
        width, height = self.resolution.currentData()
        return self.device.value(), (int(width), int(height))

    def video_path(self) -> Path | None:
        text = self.video.text().strip()
        return Path(text) if text else None

    def folder_path(self) -> Path | None:
        text = self.folder.text().strip()
        return Path(text) if text else None

    def wipe_folder_files(self) -> bool:
        """Whether the watched folder's files are wiped once their photos joined a request
        (on unless the doctor unticked it; remembered)."""
        return self.wipe.isChecked()

    def _setting(self, key: str, default: str) -> str:
        return str(self.settings.value(key, default)) if self.settings else default

    def _show_options(self, index: int) -> None:
        """The options of the source chosen; the others take no room (a folder's two lines
        would otherwise push the preview down for a camera)."""
        self.options.setCurrentIndex(index)
        for page in range(self.options.count()):
            widget = self.options.widget(page)
            shown = QSizePolicy.Policy.Preferred
            policy = shown if page == index else QSizePolicy.Policy.Ignored
            if widget is not None:
                widget.setSizePolicy(policy, policy)
        self.options.adjustSize()

    def pedal_key(self) -> QKeySequence:
        """The extra capture key from the settings (F8 unless changed)."""
        value = self.settings.value(PEDAL_KEY, DEFAULT_PEDAL) if self.settings else DEFAULT_PEDAL
        return QKeySequence(str(value))

    def set_pedal_key(self, sequence: QKeySequence) -> None:
        """Changes the extra capture key and saves it."""
        self.pedal.setKeySequence(sequence)
        self._save_pedal()

    def _save_pedal(self) -> None:
        sequence = self.pedal.keySequence()
        if self.settings is not None:
            self.settings.setValue(PEDAL_KEY, sequence.toString())
            self.settings.sync()
        self.pedal_key_changed.emit(sequence)

    def _browse_folder(self) -> None:
        name = QFileDialog.getExistingDirectory(self, _("Dossier surveillé"))
        if name:
            self.folder.setText(name)
