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
    path = resources.path("i18n", f"{language}.json")
    try:
        loaded: dict[str, str] = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError):
        log.exception("translation catalog %s is unreadable; using French", path)
        return {}
    return loaded


def _(text: str) -> str:
    """Translate a French source string into the current language."""
    return catalog(_current).get(text, text)
