"""The policy for new passphrases (crypto/passphrase.py) and its sentences (app/messages.py)."""

from __future__ import annotations

import threading

import pytest

from app import i18n
from app.messages import PASSPHRASE_PROBLEMS, error_reason, reason
from crypto.passphrase import (
    DEMO_ONLY,
    DEMO_PASSPHRASE,
    IS_A_NAME,
    MIN_LENGTH,
    PROBLEMS,
    TOO_SHORT,
    TOO_WEAK,
    PassphraseRefused,
    check_passphrase,
    require_passphrase,
)

NAMES = ("dr-bernard", "Dr Claire Bernard")


@pytest.mark.parametrize(
    "passphrase",
    [
        "lanterne quai brume vingt",
        "correct horse battery staple",
        "Soleil du matin sur Fresnes",
        "s3cret phrase",  # what the command-line tests use
        "x" * 30 + "Q7#kd9!vLm2@pz",  # longer than zxcvbn takes: its start is judged
    ],
)
def test_good_passphrases(passphrase: str) -> None:
    assert check_passphrase(passphrase, demo=False, names=NAMES) == []
    assert check_passphrase(passphrase, demo=True, names=NAMES) == []


@pytest.mark.parametrize(
    ("passphrase", "problems"),
    [
        ("", [TOO_SHORT, TOO_WEAK]),
        ("Tr0ub4dor&3", [TOO_SHORT]),  # 11 characters, strong enough otherwise
        ("password1234", [TOO_WEAK]),
        ("azertyuiopqsdf", [TOO_WEAK]),  # the French keyboard's rows
        ("motdepasse2024!", [TOO_WEAK]),
        ("aaaaaaaaaaaaaaaaaaaa", [TOO_WEAK]),
        ("Claire Bernard 2024!", [IS_A_NAME]),
        ("bernard.claire.bernard", [IS_A_NAME]),
        ("CLAIRE-BERNARD-Dr-1975", [IS_A_NAME]),
        ("drbernard99", [TOO_SHORT, TOO_WEAK, IS_A_NAME]),
        ("demo", [TOO_SHORT, TOO_WEAK, DEMO_ONLY]),
        ("Démo", [TOO_SHORT, TOO_WEAK, DEMO_ONLY]),
    ],
)
def test_weak_passphrases(passphrase: str, problems: list[str]) -> None:
    assert check_passphrase(passphrase, demo=False, names=NAMES) == problems


def test_the_demo_passphrase_only_behind_the_demo_setting() -> None:
    assert check_passphrase(DEMO_PASSPHRASE, demo=True) == []
    assert DEMO_ONLY in check_passphrase(DEMO_PASSPHRASE, demo=False)
    assert check_passphrase("Demo", demo=True) != []  # exactly the demo's, nothing like it
    assert check_passphrase("demo1", demo=True) != []


def test_names_are_only_the_persons_own() -> None:
    assert check_passphrase("Claire Bernard 2024!", demo=False) == []  # nobody's name given
    assert check_passphrase("Claire Bernard 2024!", demo=False, names=["Paul Roux"]) == []
    assert check_passphrase("clairement bernardin", demo=False, names=NAMES) == []


def test_require_raises_with_every_problem() -> None:
    require_passphrase("lanterne quai brume vingt", demo=False)
    with pytest.raises(PassphraseRefused) as refused:
        require_passphrase("demo", demo=False)
    assert refused.value.problems == [TOO_SHORT, TOO_WEAK, DEMO_ONLY]
    assert refused.value.code == TOO_SHORT


def test_checks_from_several_threads_keep_their_own_names() -> None:
    """zxcvbn keeps the names it is given in a global: the module serialises its calls."""
    results: list[list[str]] = []
    start = threading.Barrier(8)

    def check(names: tuple[str, ...]) -> None:
        start.wait()
        for _ in range(20):
            results.append(check_passphrase("Marguerite Duras lit", demo=False, names=names))

    threads = [
        threading.Thread(target=check, args=(names,))
        for names in [("Marguerite Duras",), ("Paul Roux",)] * 4
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(results) == 160
    assert results.count([TOO_WEAK]) == 80  # her name, in zxcvbn's eyes
    assert results.count([]) == 80


def test_every_code_has_a_sentence_in_both_languages() -> None:
    assert set(PASSPHRASE_PROBLEMS) == set(PROBLEMS)
    generic = reason("no_such_code")
    try:
        for language in ("fr", "en"):
            i18n.set_language(language)
            for code in (*PROBLEMS, "unlock_delayed"):
                assert reason(code) != generic, code
            assert str(MIN_LENGTH) in reason(TOO_SHORT)
            both = error_reason(PassphraseRefused([TOO_SHORT, DEMO_ONLY]))
            assert both == f"{reason(TOO_SHORT)} {reason(DEMO_ONLY)}"
    finally:
        i18n.set_language("fr")
