"""Start the Qt application with one window per profile."""

from __future__ import annotations

import logging
import signal
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
from PySide6.QtWidgets import QApplication, QWidget

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


QT_GAPS = {
    "fr": {
        # Qt 6's file dialog labels gained an accelerator that qtbase_fr.qm does not know:
        # without these, "Look in" and "Files of type" stay in English in a French dialog.
        ("QFileDialog", "&Look in:"): "&Voir dans\u00a0:",
        ("QFileDialog", "Files of &type:"): "Fichiers de &type\u00a0:",
    }
}
"""Qt's own texts its catalog misses, by language: (context, source) → translation."""


class QtGaps(QTranslator):
    """The few texts of Qt's own dialogs that Qt's catalog leaves untranslated."""

    def __init__(self, texts: dict[tuple[str, str], str], parent: QApplication) -> None:
        super().__init__(parent)
        self.texts = texts

    def translate(  # type: ignore[override]
        self, context: str, source: str, disambiguation: str | None = None, n: int = -1
    ) -> str | None:
        # None is Qt's null string: "not mine", so the next catalog is asked ("" would be
        # an empty translation)
        return self.texts.get((context, source))

    def isEmpty(self) -> bool:
        return not self.texts


_INSTALLED: list[QTranslator] = []
"""The translators of Qt's own texts installed now (replaced when the language changes)."""


def install_qt_translations(app: QApplication, code: str) -> bool:
    """Qt's own texts (the print and file dialogs, the text fields' context menu) in the
    interface's language, replacing those of the language before; English is Qt's own.
    Returns whether a translation was loaded."""
    while _INSTALLED:
        gone = _INSTALLED.pop()
        app.removeTranslator(gone)
        gone.deleteLater()
    if code == "en":
        return False
    translator = QTranslator(app)
    folder = QLibraryInfo.path(QLibraryInfo.LibraryPath.TranslationsPath)
    if not translator.load(QLocale(code), "qtbase", "_", folder):
        log.warning("no Qt translation for %s in %s: Qt's dialogs stay in English", code, folder)
        return False
    app.installTranslator(translator)
    _INSTALLED.append(translator)
    if gaps := QT_GAPS.get(code):
        patch = QtGaps(gaps, app)
        app.installTranslator(patch)  # installed last: asked first
        _INSTALLED.append(patch)
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
    from widgets.geometry import side_by_side

    windows = [MainWindow(root) for root in profiles]
    # several windows (the demo): side by side, never overlapping, whatever they remember
    side_by_side(windows, [not w.settings.contains("geometry") for w in windows])
    for window in windows:
        window.show()
    for delay in (0, 500):  # once their frames are known (a window manager may take a moment)
        QTimer.singleShot(delay, lambda: side_by_side(windows))
    waker = _end_on_signals(windows)
    log.info("%d window(s) open", len(windows))
    if smoke_test:

        def check() -> None:
            ok = all(w.isVisible() for w in windows)
            log.info("smoke test: %d window(s) visible: %s", len(windows), ok)
            for window in windows:
                window.close()
            app.exit(0 if ok else 1)

        QTimer.singleShot(1000, check)
    code = app.exec()
    waker.stop()
    for window in windows:
        window.shutdown()
    return code


def _end_on_signals(windows: list[QWidget]) -> QTimer:
    """Ctrl+C in the terminal that started the app (SIGINT), or SIGTERM, ends it as closing
    its windows for good does (``MainWindow.end``: drafts sealed, the queue stopped, sends
    resumed at the next start). Without this, the interrupt was raised inside whatever Qt
    slot ran next and the windows stayed open, the demo's platform gone with the signal.

    Python runs a signal handler only between bytecodes, and the Qt event loop is C++: the
    returned timer wakes the interpreter four times a second while the app runs."""

    def end(signum: int, _frame: object) -> None:
        log.info("signal %s: closing the windows", signal.Signals(signum).name)
        for window in windows:
            getattr(window, "end", window.close)()

    signal.signal(signal.SIGINT, end)
    signal.signal(signal.SIGTERM, end)
    waker = QTimer()
    waker.timeout.connect(lambda: None)
    waker.start(250)
    return waker
