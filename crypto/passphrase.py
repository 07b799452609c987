"""Which new passphrases an identity key may be wrapped under (pure: no file, no Qt).

A key file is only as strong as its passphrase: the one-second scrypt of
:mod:`crypto.pki`'s key files makes each guess slow, a long and unpredictable passphrase
makes the guesses many. A new passphrase (identity creation, a PKCS#12 import that sets one,
a change of passphrase) must:

- be at least :data:`MIN_LENGTH` characters long;
- not be the person's own names or identifier, in any order, case, accents or with digits
  and punctuation around them;
- reach a zxcvbn score of :data:`MIN_SCORE` (zxcvbn estimates how many guesses a cracker
  trying the common passwords, words, names, keyboard patterns, dates and l33t variants
  first needs: 3 is "safely unguessable" offline against a slow hash, over 10^8 guesses);
- in a demonstration profile only, the demonstration's public passphrase :data:`DEMO_PASSPHRASE`
  is accepted as it is; anywhere else it is refused.

:func:`check_passphrase` returns the codes of what is wrong (``app/messages.py`` has a
sentence for each), an empty list when the passphrase may be used. Passphrases already in
use are not re-checked: they keep working.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from collections.abc import Sequence

__all__ = [
    "DEMO_ONLY",
    "DEMO_PASSPHRASE",
    "IS_A_NAME",
    "MIN_LENGTH",
    "MIN_SCORE",
    "PROBLEMS",
    "TOO_SHORT",
    "TOO_WEAK",
    "PassphraseRefused",
    "check_passphrase",
    "require_passphrase",
]

DEMO_PASSPHRASE = "demo"
"""The passphrase of every identity of the demonstration (printed on its console)."""

MIN_LENGTH = 12
"""Fewest characters (Unicode code points, after NFC normalisation) a new passphrase has."""

MIN_SCORE = 3
"""Lowest zxcvbn score (0–4) accepted: 3 means more than 10^8 guesses."""

TOO_SHORT = "passphrase_too_short"
TOO_WEAK = "passphrase_too_weak"
IS_A_NAME = "passphrase_is_a_name"
DEMO_ONLY = "passphrase_demo_only"
PROBLEMS = (TOO_SHORT, TOO_WEAK, IS_A_NAME, DEMO_ONLY)
"""Every code :func:`check_passphrase` may return, in the order it returns them."""

_ZXCVBN_MAX_LENGTH = 72  # zxcvbn refuses longer ones (its matching is quadratic): the start
_MIN_TOKEN = 2  # name parts shorter than this ("M", "J.") are not looked for
# What anyone guessing a Passavant passphrase tries first, on top of the person's names and
# zxcvbn's English lists: the product's words, the AZERTY keyboard's rows (zxcvbn knows only
# QWERTY and Dvorak), and French favourites of the published password leaks.
_CONTEXT_WORDS = (
    *("passavant", "demo", "usmp", "prison", "hopital", "medecin", "docteur"),
    *("secretariat", "specialiste", "dermatologie", "infirmier", "infirmiere"),
    *("azertyuiop", "qsdfghjklm", "wxcvbn", "azerty", "qsdfgh"),
    *("motdepasse", "bonjour", "soleil", "doudou", "loulou", "chouchou", "jetaime"),
    *("marseille", "toulouse", "nicolas", "julien", "camille", "princesse", "chocolat"),
)
_zxcvbn_lock = threading.Lock()  # zxcvbn keeps the user inputs in a module-level dictionary


class PassphraseRefused(ValueError):
    """A new passphrase does not meet the policy. ``problems`` lists the codes of
    :func:`check_passphrase`; ``code`` is the first of them (for ``app.messages.reason``)."""

    def __init__(self, problems: Sequence[str]) -> None:
        super().__init__("passphrase refused: " + ", ".join(problems))
        self.problems = list(problems)
        self.code = self.problems[0] if self.problems else TOO_WEAK


def check_passphrase(passphrase: str, *, demo: bool, names: Sequence[str] = ()) -> list[str]:
    """The problems of a new passphrase, as codes of :data:`PROBLEMS`; ``[]`` when it is fine.

    Args:
        passphrase: The passphrase as typed.
        demo: Whether the profile is the demonstration's (``cases.profile.Profile.demo``):
            only there is :data:`DEMO_PASSPHRASE` accepted.
        names: The person's own names and identifiers (display name, identity id, e-mail…),
            which must not be the passphrase.
    """
    if passphrase == DEMO_PASSPHRASE and demo:
        return []
    text = unicodedata.normalize("NFC", passphrase)
    problems = []
    if len(text) < MIN_LENGTH:
        problems.append(TOO_SHORT)
    if _score(text, names) < MIN_SCORE:
        problems.append(TOO_WEAK)
    if _is_a_name(text, names):
        problems.append(IS_A_NAME)
    if _plain(text) == DEMO_PASSPHRASE:
        problems.append(DEMO_ONLY)
    return problems


def require_passphrase(passphrase: str, *, demo: bool, names: Sequence[str] = ()) -> None:
    """:func:`check_passphrase`, raising :class:`PassphraseRefused` on any problem."""
    problems = check_passphrase(passphrase, demo=demo, names=names)
    if problems:
        raise PassphraseRefused(problems)


def _score(text: str, names: Sequence[str]) -> int:
    if not text:
        return 0  # (zxcvbn fails on an empty string)
    from zxcvbn import zxcvbn  # its word lists take a moment to load: only when needed

    hints = [*_CONTEXT_WORDS]
    for name in names:
        hints += [name, _plain(name), *_tokens(name)]
    with _zxcvbn_lock:
        result = zxcvbn(text[:_ZXCVBN_MAX_LENGTH], user_inputs=[h for h in hints if h])
    return int(result["score"])


def _plain(text: str) -> str:
    """Lower case, no accents, letters and digits only: ``Éloïse-Noël 2`` → ``eloisenoel2``."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if c.isalnum() and not unicodedata.combining(c))


def _tokens(name: str) -> list[str]:
    """The parts of a name or identifier: ``Dr Claire Bernard`` → ``dr``, ``claire``…"""
    decomposed = unicodedata.normalize("NFKD", name.casefold())
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    return [t for t in re.split(r"[\W_]+", bare) if len(t) >= _MIN_TOKEN]


def _is_a_name(text: str, names: Sequence[str]) -> bool:
    """Whether the passphrase's letters are only the person's name parts (any order, any
    repetition), once digits, spaces and punctuation are set aside."""
    tokens = {t for name in names for t in _tokens(name) if not t.isdigit()}
    letters = "".join(c for c in _plain(text) if not c.isdigit())
    if not tokens or not letters:
        return False
    # can ``letters`` be cut into tokens? (dynamic programming over the prefixes)
    reachable = [True] + [False] * len(letters)
    for end in range(1, len(letters) + 1):
        reachable[end] = any(
            reachable[end - len(t)] and letters.endswith(t, 0, end) for t in tokens if len(t) <= end
        )
    return reachable[-1]
