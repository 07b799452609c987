"""Qt's own dialogs speak the interface's language (issue 16 §5: the photo file dialog was
half in English, "Look in" and "Files of type", which Qt's French catalog misses).

Run in a child process: the translators a language installs stay for the whole application.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

CHILD = """
import json, sys
from PySide6.QtWidgets import QAbstractButton, QApplication, QFileDialog, QLabel
from app.gui import install_qt_translations
app = QApplication([])
installed = install_qt_translations(app, sys.argv[1])
dialog = QFileDialog(None, "t", ".", "Images (*.jpg)")
dialog.show()
app.processEvents()
texts = [w.text() for w in dialog.findChildren(QLabel) + dialog.findChildren(QAbstractButton)]
texts += [w.toolTip() for w in dialog.findChildren(QAbstractButton)]
print(json.dumps({"installed": installed, "texts": [t for t in texts if t]}))
"""


def dialog_texts(language: str) -> dict[str, object]:
    run = subprocess.run(
        [sys.executable, "-c", CHILD, language],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=Path(__file__).parents[2],
        env={**os.environ, "QT_QPA_PLATFORM": "offscreen"},
        check=True,
    )
    result: dict[str, object] = json.loads(run.stdout.strip().splitlines()[-1])
    return result


ENGLISH = {
    "&Look in:",
    "Files of &type:",
    "File &name:",
    "&Open",
    "Cancel",
    "Back",
    "Parent Directory",
}


def test_the_file_dialog_is_entirely_french() -> None:
    french = dialog_texts("fr")
    assert french["installed"] is True
    texts = set(french["texts"])  # type: ignore[arg-type]
    assert not texts & ENGLISH, texts & ENGLISH
    assert {"&Voir dans\u00a0:", "Fichiers de &type\u00a0:", "&Nom de fichier\u00a0:"} <= texts


def test_english_stays_qt_s_own() -> None:
    english = dialog_texts("en")
    assert english["installed"] is False
    assert {"&Look in:", "Files of &type:", "File &name:"} <= set(english["texts"])  # type: ignore[arg-type]
