"""The core, the platform and the command line work with PySide6 made unimportable.

This runs in every environment (a subprocess blocks PySide6); ``scripts/check`` also runs
the whole of ``tests/core`` in a virtual environment where PySide6 is not installed at all.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

BLOCK_QT = """
import sys
class BlockQt:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("PySide6", "shiboken6"):
            raise ImportError("Qt is blocked in this test")
sys.meta_path.insert(0, BlockQt())
"""


def run_without_qt(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", BLOCK_QT + code],
        cwd=ROOT,
        text=True,
        capture_output=True,
        timeout=120,
        check=False,
    )


def test_core_modules_import_without_qt() -> None:
    modules = sorted(
        ".".join(path.relative_to(ROOT).with_suffix("").parts)
        for package in ("capture", "crypto", "outbox", "cases", "refplatform")
        for path in (ROOT / package).rglob("*.py")
        if path.name != "__main__.py"
    )
    modules += ["app.cli", "app.demo", "app.session", "app.i18n", "app.messages", "app.secrets"]
    result = run_without_qt(
        f"import importlib\nfor m in {modules!r}: importlib.import_module(m)\nprint('ok')"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_the_blocker_really_blocks() -> None:
    result = run_without_qt("import PySide6.QtCore")
    assert result.returncode != 0
    assert "Qt is blocked" in result.stderr


def test_cli_version_and_platform_help_without_qt() -> None:
    result = run_without_qt("import sys; from app.cli import main; sys.exit(main(['--version']))")
    assert result.returncode == 0
    assert result.stdout.startswith("passavant ")
    result = run_without_qt(
        "import sys; from app.cli import main; sys.exit(main(['platform', '--help']))"
    )
    assert result.returncode == 0
    assert "--tls-cert" in result.stdout


def test_no_qt_environment_is_what_it_claims() -> None:
    """In scripts/check's core environment (PASSAVANT_NO_QT=1), PySide6 is truly absent."""
    has_qt = importlib.util.find_spec("PySide6") is not None
    assert has_qt == (os.environ.get("PASSAVANT_NO_QT") != "1")
