"""User-facing text: French first, English available.

Source strings are French, wrapped in ``_()``. The English catalog is a plain JSON file
(``resources/i18n/en.json``) mapping each French string to its English translation; a
string missing from the catalog falls back to French. ``tests/core/test_i18n.py`` checks
that every ``_()`` string of the code has a translation whose ``{fields}`` match.

The language is chosen per profile and applied at start-up (no Qt needed here).
"""

from __future__ import annotations

import json
import logging
from functools import cache
from pathlib import Path

import resources

log = logging.getLogger(__name__)

LANGUAGES = {"fr": "Français", "en": "English"}
_current = "fr"


def set_language(language: str) -> None:
    """Select ``"fr"`` or ``"en"`` for every string translated from now on."""
    global _current
    _current = language if language in LANGUAGES else "fr"


def language() -> str:
    return _current


@cache
def catalog(language: str) -> dict[str, str]:
    if language == "fr":
        return {}
    merged: dict[str, str] = {}
    for path in catalog_files(language):
        try:
            loaded: dict[str, str] = json.loads(path.read_text("utf-8"))
        except (OSError, ValueError):
            log.exception("translation catalog %s is unreadable; skipping it", path)
            continue
        merged.update(loaded)
    return merged


def catalog_files(language: str) -> list[Path]:
    """``<lang>.json`` and one ``<lang>.<area>.json`` per area of the app (capture, crypto…),
    so that each area keeps its own translations."""
    folder = resources.path("i18n")
    return sorted(folder.glob(f"{language}.json")) + sorted(folder.glob(f"{language}.*.json"))


def _(text: str) -> str:
    """Translate a French source string into the current language."""
    return catalog(_current).get(text, text)
