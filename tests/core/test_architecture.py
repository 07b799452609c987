"""The layers: the core never imports Qt, nor the app; the platform never imports the client.

This is the check that fails the build when the Qt-free core is broken. It reads the
import statements of every module (so it also catches imports inside functions).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CORE = ("capture", "crypto", "outbox", "cases", "refplatform")
QT = ("PySide6", "shiboken6", "PyQt5", "PyQt6")

#: package -> top-level packages it must never import
FORBIDDEN: dict[str, tuple[str, ...]] = {
    "capture": (*QT, "app", "widgets", "outbox", "refplatform"),
    "crypto": (*QT, "app", "widgets", "cases", "outbox", "capture", "refplatform"),
    "outbox": (*QT, "app", "widgets", "cases", "capture", "refplatform"),
    "cases": (*QT, "app", "widgets", "refplatform"),
    "refplatform": (*QT, "app", "widgets", "cases", "outbox", "capture"),
    "widgets": ("refplatform",),
}
#: modules of app/ that must stay Qt-free (the CLI runs the platform without PySide6)
QT_FREE_APP = ("cli", "demo", "session", "i18n", "messages", "secrets", "__main__", "__init__")


def imported_top_levels(path: Path) -> set[str]:
    tree = ast.parse(path.read_text("utf-8"), str(path))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


def modules(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_package_respects_its_layer(package: str) -> None:
    offenders = {
        str(path.relative_to(ROOT)): sorted(imported_top_levels(path) & set(FORBIDDEN[package]))
        for path in modules(package)
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_qt_free_app_modules() -> None:
    offenders = {}
    paths = [ROOT / "app" / f"{name}.py" for name in QT_FREE_APP]
    paths += sorted((ROOT / "app" / "commands").glob("*.py"))
    for path in paths:
        name = str(path.relative_to(ROOT))
        bad = imported_top_levels(path) & set(QT)
        if bad:
            offenders[name] = sorted(bad)
    assert offenders == {}


def test_the_check_would_catch_a_qt_import(tmp_path: Path) -> None:
    sneaky = tmp_path / "sneaky.py"
    sneaky.write_text("def f():\n    from PySide6.QtCore import QObject\n    return QObject\n")
    assert "PySide6" in imported_top_levels(sneaky)


def test_every_core_package_exists() -> None:
    for package in CORE:
        assert (ROOT / package / "__init__.py").exists(), package
