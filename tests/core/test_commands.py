"""The command-line plumbing shared by every subcommand: one plain line, never a traceback."""

from __future__ import annotations

import argparse
import io

from app.commands.common import CommandError, dispatch


class CodedError(Exception):
    code = "wrong_passphrase"


def run(handler: object) -> tuple[int, str]:
    err = io.StringIO()
    status = dispatch(argparse.Namespace(handler=handler), stderr=err)
    return status, err.getvalue()


def test_success_passes_the_status_through() -> None:
    assert run(lambda _args: 0) == (0, "")


def test_command_error_is_one_plain_line() -> None:
    def fail(_args: argparse.Namespace) -> int:
        raise CommandError("fichier introuvable : x.jpg", status=3)

    status, err = run(fail)
    assert status == 3
    assert err == "passavant: fichier introuvable : x.jpg\n"


def test_core_error_code_becomes_its_sentence() -> None:
    def fail(_args: argparse.Namespace) -> int:
        raise CodedError("details for the log only")

    status, err = run(fail)
    assert status == 1
    assert err == "passavant: Mot de passe incorrect.\n"


def test_unexpected_error_has_no_traceback() -> None:
    def fail(_args: argparse.Namespace) -> int:
        raise ZeroDivisionError("boom")

    status, err = run(fail)
    assert status == 1
    assert err.count("\n") == 1
    assert "Traceback" not in err
    assert "ZeroDivisionError" in err
