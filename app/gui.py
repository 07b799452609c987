"""Start the Qt application with one window per profile."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from PySide6.QtCore import (
    QLibraryInfo,
    QLocale,
    QTimer,
    QtMsgType,
    QTranslator,
    qInstallMessageHandler,
)
from PySide6.QtWidgets import QApplication

from app.i18n import language, set_language

log = logging.getLogger(__name__)
qt_log = logging.getLogger("qt")


def _qt_message(kind: QtMsgType, context: object, message: str) -> None:
    """Route Qt's own warnings into logging."""
    level = {
        QtMsgType.QtDebugMsg: logging.DEBUG,
        QtMsgType.QtInfoMsg: logging.INFO,
        QtMsgType.QtWarningMsg: logging.WARNING,
    }.get(kind, logging.ERROR)
    qt_log.log(level, "%s", message)


def install_qt_translations(app: QApplication, code: str) -> bool:
    """Qt's own texts (the print and file dialogs, the text fields' context menu) in the
    interface's language; English is Qt's own. Returns whether a translation was loaded."""
    if code == "en":
        return False
    translator = QTranslator(app)
    folder = QLibraryInfo.path(QLibraryInfo.LibraryPath.TranslationsPath)
    if not translator.load(QLocale(code), "qtbase", "_", folder):
        log.warning("no Qt translation for %s in %s: Qt's dialogs stay in English", code, folder)
        return False
    app.installTranslator(translator)
    log.info("Qt's own texts in %s", code)
    return True


def run_gui(profiles: list[Path], *, lang: str | None = None, smoke_test: bool = False) -> int:
    """Open a window per profile (side by side) and run until they are all closed."""
    from cases.profile import Profile

    qInstallMessageHandler(_qt_message)
    app = QApplication.instance() or QApplication(sys.argv)
    assert isinstance(app, QApplication)
    app.setApplicationName("Passavant")
    app.setOrganizationName("Passavant")
    first = Profile(profiles[0]) if profiles else None
    set_language(lang or (first.language if first and first.exists() else "fr"))
    install_qt_translations(app, language())

    from app.mainwindow import MainWindow

    windows = [MainWindow(root) for root in profiles]
    screen = app.primaryScreen().availableGeometry()
    for i, window in enumerate(windows):
        if len(windows) > 1 and not window.settings.contains("geometry"):
            width = screen.width() // len(windows)
            window.setGeometry(screen.x() + i * width, screen.y(), width, screen.height())
        window.show()
    if smoke_test:

        def check() -> None:
            ok = all(w.isVisible() for w in windows)
            log.info("smoke test: %d window(s) visible: %s", len(windows), ok)
            for window in windows:
                window.close()
            app.exit(0 if ok else 1)

        QTimer.singleShot(1000, check)
    code = app.exec()
    for window in windows:
        window.shutdown()
    return code
