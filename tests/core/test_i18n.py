"""Every French UI string has an English translation with the same {fields}."""

from __future__ import annotations

import ast
import json
import string
from pathlib import Path

import pytest

from app import i18n

ROOT = Path(__file__).resolve().parents[2]
UI_PACKAGES = ("app", "widgets")


def ui_strings() -> dict[str, str]:
    """Every literal passed to ``_()`` in the UI code, with where it is."""
    found: dict[str, str] = {}
    for package in UI_PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text("utf-8"))):
                if (
                    isinstance(node, ast.Call)
                    and isinstance(node.func, ast.Name)
                    and node.func.id == "_"
                    and node.args
                    and isinstance(node.args[0], ast.Constant)
                    and isinstance(node.args[0].value, str)
                ):
                    found.setdefault(node.args[0].value, f"{path.name}:{node.lineno}")
    return found


def fields(text: str) -> set[str]:
    return {name for _lit, name, _spec, _conv in string.Formatter().parse(text) if name}


def catalog() -> dict[str, str]:
    merged: dict[str, str] = {}
    for path in i18n.catalog_files("en"):
        loaded: dict[str, str] = json.loads(path.read_text("utf-8"))
        duplicated = set(loaded) & set(merged)
        assert not duplicated, f"{path.name} repeats {sorted(duplicated)}"
        merged.update(loaded)
    return merged


def test_catalog_is_split_by_area() -> None:
    names = [path.name for path in i18n.catalog_files("en")]
    assert names[0] == "en.json"


def test_every_ui_string_is_translated() -> None:
    missing = {text: where for text, where in ui_strings().items() if text not in catalog()}
    assert missing == {}


def test_translations_keep_their_fields() -> None:
    wrong = {fr: en for fr, en in catalog().items() if fields(fr) != fields(en)}
    assert wrong == {}


def test_no_stale_translations() -> None:
    assert set(catalog()) - set(ui_strings()) == set()


def test_switching_language() -> None:
    try:
        i18n.set_language("en")
        assert i18n._("Se connecter") == "Log in"
        i18n.set_language("fr")
        assert i18n._("Se connecter") == "Se connecter"
        i18n.set_language("xx")
        assert i18n.language() == "fr"
    finally:
        i18n.set_language("fr")


@pytest.mark.parametrize(
    ("size", "fr", "en"),
    [(512, "512 o", "512 B"), (1536, "1,5 Ko", "1.5 KB"), (3 * 1024**2, "3,0 Mo", "3.0 MB")],
)
def test_sizes_read_naturally(size: int, fr: str, en: str) -> None:
    from app.messages import human_size

    try:
        assert human_size(size) == fr
        i18n.set_language("en")
        assert human_size(size) == en
    finally:
        i18n.set_language("fr")
