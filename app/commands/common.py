"""What every subcommand shares: one plain line on failure, never a traceback.

Handlers raise :class:`CommandError` with a sentence for the user, or let a core error
(anything with a ``code`` attribute: crypto, outbox, cases, capture) propagate; it is turned
into the sentence :func:`app.messages.reason` gives for that code. Exit statuses:

- 0 success
- 1 the operation failed (bad input, wrong key, refused bundle…)
- 2 usage error (argparse's own)
- 130 interrupted (Ctrl+C)
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TextIO

from app.i18n import _

log = logging.getLogger(__name__)

Handler = Callable[[argparse.Namespace], int]


class CommandError(Exception):
    """A failure with a sentence the user can act on."""

    def __init__(self, message: str, *, status: int = 1) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


def dispatch(args: argparse.Namespace, *, stderr: TextIO | None = None) -> int:
    """Run ``args.handler(args)``; report any failure as one line on stderr."""
    out = stderr if stderr is not None else sys.stderr
    handler: Handler = args.handler
    try:
        return handler(args)
    except CommandError as error:
        print(f"passavant: {error.message}", file=out)
        return error.status
    except KeyboardInterrupt:
        print(f"passavant: {_('interrompu.')}", file=out)
        return 130
    except Exception as error:  # the one place that must never show a traceback
        code = getattr(error, "code", None)
        if isinstance(code, str):
            from app.messages import reason

            detail = str(error)
            log.debug("command failed: %s (%s)", code, detail, exc_info=True)
            print(f"passavant: {reason(code)}", file=out)
            return 1
        log.debug("unexpected failure", exc_info=True)
        print(
            "passavant: "
            + _("erreur inattendue ({kind}) ; relancez avec -v pour le détail.").format(
                kind=type(error).__name__
            ),
            file=out,
        )
        return 1


@contextlib.contextmanager
def profile_held(root: Path, command: str) -> Iterator[None]:
    """Hold the profile's lock (:mod:`cases.profilelock`) while a command repairs its queue
    or rebuilds its index; refused at once, plainly, while the app or another such command
    has it."""
    from cases.profilelock import ProfileBusy, hold

    try:
        held = hold(root, command)
    except ProfileBusy as busy:
        if busy.holder == "app":
            text = _(
                "Passavant est ouvert sur ce profil : fermez-le avant « passavant {command} », "
                "qui ne peut pas travailler en même temps que lui."
            )
        else:
            text = _(
                "« passavant {holder} » travaille déjà sur ce profil : attendez qu’elle finisse."
            )
        raise CommandError(text.format(command=command, holder=busy.holder)) from None
    with held:
        yield
