"""``passavant cases|index``: a person's case list and case index, from the command line.

- ``cases list --as IDENTITY [--json] [--with-text]`` prints what that person's list in the
  app shows, one line per case, newest first: the request's bundle id, when it was signed,
  where it stands (the app's words: awaiting an answer and its due day, overdue, answered
  and the outcome advised, withdrawn and why), how many opinions, who sent it and for whom
  (the sender from the signer's validated certificate; the addressee as the signed request
  names them). No clinical text (patient reference, summary, treatments, question, answers,
  opinion text) unless ``--with-text``: then each case is followed by indented lines (or, in
  JSON, a ``clinical`` object), and the audit journal records that the text was shown.

  ``--json`` prints a JSON array, one object per case, always with the same keys:
  ``bundle_id``, ``direction`` (``sent``: the person's own request; ``received``: addressed
  to them), ``state`` (``awaiting_answer``, ``overdue``, ``answered``, ``withdrawn``,
  ``erased``: a withdrawn consent erased this copy, shown this once), ``status`` (the line's
  words), ``urgent``, ``specialty`` (a code), ``signed_at`` (ISO 8601, UTC), ``due`` (the
  local due day ``YYYY-MM-DD`` while an answer is awaited, else ``null``), ``answered_at``
  (the first opinion's signing time), ``outcome`` (the latest opinion's code),
  ``withdrawal_reason`` (a code), ``job_state`` (the outbox state of the request, on the
  sending side, or of the person's latest opinion, on the answering side), ``sender`` and
  ``addressee`` (objects: ``name``, ``organization``, ``role``, ``mailbox``, ``fingerprint``),
  ``opinion_count``, and ``clinical`` (``null`` unless ``--with-text``).

  Bundles set aside (unreadable, or refused by the rules of :mod:`cases.speaking`) are never
  on stdout, so that stdout stays the list (or the JSON array): each is one line on stderr
  after the list, ``passavant: document mis de côté <id> : …`` with its reason code. They do
  not change the exit status (0): the list itself was read.

- ``index rebuild --as IDENTITY`` builds the person's encrypted case index again from the
  sealed bundles (:meth:`cases.workstation.Workstation.rebuild_index`), with its progress on
  stderr (``Indexation : 412 documents sur 1 200…``, rewritten in place on a terminal; a line
  every few seconds and a last one otherwise), then prints how many documents it holds. It is
  refused while the app has that profile open (the app keeps the index open while it runs),
  and the app is refused while it runs (:mod:`cases.profilelock`).

Both work offline: they read the profile's archive and inbox and never call the platform.
Listing is what logging in does in the app: bundles that arrived since are opened once and
placed (journalled), a receipt is queued in the outbox for each request or opinion opened the
first time (the app or ``passavant outbox run`` sends it), and a request whose consent was
withdrawn is erased. A secretary has no cases (nothing is ever encrypted for her): a plain
refusal. Passphrases and the journal: :mod:`app.commands.keys`; failures are one plain line
and a non-zero status (``app.commands.common.dispatch``).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import sys
import time
from collections.abc import Iterator
from typing import TextIO

from app.commands.caselines import describe, print_table
from app.commands.common import CommandError, profile_held
from app.commands.keys import (
    audited,
    cli_profile,
    find_identity,
    journal_event,
    passphrase_options,
    unlock_identity,
)
from app.i18n import _, language
from app.messages import (
    reason,
    role_label,
)
from cases.profile import Profile, UnlockedIdentity
from cases.speaking import REASONS as REFUSALS
from cases.threads import Unreadable
from cases.workstation import Workstation
from crypto import pki

PROGRESS_EVERY_S = 0.1
"""On a terminal, the progress line is rewritten at most this often (and at the end)."""

PROGRESS_LOG_EVERY_S = 5.0
"""Elsewhere (a log file, a pipe), a progress line at most this often (and the last one)."""


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Adds ``cases`` and ``index``."""
    cases = subparsers.add_parser("cases", help="a person's cases, as their list shows them")
    sub = cases.add_subparsers(dest="cases_command", required=True, metavar="ACTION")
    listing = sub.add_parser("list", help="list the cases of an identity, newest first")
    listing.add_argument("--as", dest="identity", required=True, metavar="IDENTITY")
    listing.add_argument("--json", action="store_true", help="a JSON array, for scripts")
    listing.add_argument(
        "--with-text",
        action="store_true",
        help="include the clinical text (patient reference, summary, question, opinions)",
    )
    passphrase_options(listing)
    listing.set_defaults(handler=audited("cases.list", _cases_list))

    index = subparsers.add_parser("index", help="a person's encrypted case index")
    sub = index.add_subparsers(dest="index_command", required=True, metavar="ACTION")
    rebuild = sub.add_parser(
        "rebuild",
        help="build the index again from the sealed bundles (refused while the app is open)",
    )
    rebuild.add_argument("--as", dest="identity", required=True, metavar="IDENTITY")
    passphrase_options(rebuild)
    rebuild.set_defaults(handler=audited("index.rebuild", _index_rebuild))


# --- the workstation, offline ---------------------------------------------------------------


@contextlib.contextmanager
def offline_workstation(profile: Profile) -> Iterator[Workstation]:
    """The profile's :class:`Workstation` with no worker thread and no network.

    Built like :class:`app.session.Session` builds it, but the queue and the inbox are opened
    without their crash repair (``recover=False``; the queue under ``outbox.lock``, as
    ``passavant outbox`` does): the app may be sending from one and fetching into the other
    right now. The platform client is never called by a listing or
    a rebuild; it gets no token, so it could not send anything anyway.
    """
    from app.commands.outbox import queue_lock
    from outbox.inbox import Inbox
    from outbox.platform import PlatformClient, PlatformConfig
    from outbox.queue import Outbox

    with queue_lock(profile.root):
        outbox = Outbox(profile.db_path, profile.path("outbox"), recover=False)
    inbox = Inbox(profile.db_path, profile.path("inbox"), recover=False)
    client = PlatformClient(
        PlatformConfig(url=profile.platform_url or "https://platform.invalid", token="")
    )
    workstation = Workstation(profile, outbox, inbox, client)
    try:
        yield workstation
    finally:
        workstation.close()
        client.close()
        inbox.close()
        outbox.close()


def unlock_reader(args: argparse.Namespace, profile: Profile) -> UnlockedIdentity:
    """The identity ``--as`` names, unlocked; a secretary is refused before her passphrase
    is asked (nothing is encrypted for her: she has no cases, no index)."""
    if not profile.root.is_dir():
        raise CommandError(_("profil introuvable : {path}").format(path=profile.root))
    info = find_identity(profile, args.identity)
    if info.role == "secretary":
        raise CommandError(_no_cases(info.display_name, info.role))
    unlocked = unlock_identity(args, profile, info.id)
    if not pki.can_decrypt(unlocked.cert):
        raise CommandError(_no_cases(info.display_name, info.role))
    return UnlockedIdentity(info, unlocked.cert, unlocked.key)


def _no_cases(name: str, role: str) -> str:
    if role == "secretary":
        return _(
            "{name} ({role}) n’a pas de dossiers : les demandes et les avis ne sont jamais "
            "chiffrés pour le secrétariat."
        ).format(name=name, role=role_label(role))
    return _(
        "{name} n’a pas de dossiers : son certificat ne permet pas de déchiffrer les documents."
    ).format(name=name)


@contextlib.contextmanager
def quiet_core_log(args: argparse.Namespace) -> Iterator[None]:
    """Keep the core's log off the console while the store works (``-v`` keeps it).

    The store logs each bundle it sets aside, with a traceback for an unexpected failure;
    these commands say it in their own lines (one per bundle), never as a traceback.
    """
    if getattr(args, "verbose", False):
        yield
        return
    handlers = [
        h
        for h in logging.getLogger().handlers
        if type(h) is logging.StreamHandler and h.stream in (sys.stderr, sys.__stderr__)
    ]
    levels = [h.level for h in handlers]
    for handler in handlers:
        handler.setLevel(logging.CRITICAL + 1)
    try:
        yield
    finally:
        for handler, level in zip(handlers, levels, strict=True):
            handler.setLevel(level)


# --- progress -------------------------------------------------------------------------------


def count_text(n: int) -> str:
    """``1 200`` in French (a no-break space), ``1,200`` in English."""
    text = f"{n:,}"
    return text.replace(",", "\u00a0") if language() == "fr" else text


class Progress:
    """The ``Indexation : n documents sur total…`` line on ``stream``: rewritten in place on a
    terminal, else a line every :data:`PROGRESS_LOG_EVERY_S` seconds and the last one."""

    def __init__(self, stream: TextIO, *, terminal: bool | None = None) -> None:
        self.stream = stream
        self.terminal = stream.isatty() if terminal is None else terminal
        self.every = PROGRESS_EVERY_S if self.terminal else PROGRESS_LOG_EVERY_S
        # on a terminal the first document shows at once; elsewhere a first line comes
        # after a while (or at the end), so that a quick run writes one line only
        self._shown = -float("inf") if self.terminal else time.monotonic()
        self._open = False  # a line rewritten in place waits for its newline

    def __call__(self, n: int, total: int) -> None:
        now = time.monotonic()
        last = n >= total
        if not last and now - self._shown < self.every:
            return
        self._shown = now
        text = self.text(n, total)
        if self.terminal:
            self.stream.write("\r" + text)
            self._open = True
            if last:
                self.finish()
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    @staticmethod
    def text(n: int, total: int) -> str:
        if n > 1:
            line = _("Indexation : {n} documents sur {total}…")
        else:
            line = _("Indexation : {n} document sur {total}…")
        return line.format(n=count_text(n), total=count_text(total))

    def finish(self) -> None:
        """End a line left open (the work stopped midway, or is done)."""
        if self._open:
            self.stream.write("\n")
            self.stream.flush()
            self._open = False


def _cases_list(args: argparse.Namespace) -> int:
    profile = cli_profile(args)
    me = unlock_reader(args, profile)
    progress = Progress(sys.stderr) if sys.stderr.isatty() else None
    with quiet_core_log(args), offline_workstation(profile) as workstation:
        try:
            threads, unreadable = workstation.threads(me, progress)
        finally:
            if progress is not None:
                progress.finish()
        states = _set_aside_states(workstation, me, unreadable)
    lines = [describe(t, me.fingerprint, with_text=args.with_text) for t in threads]
    if args.json:
        print(json.dumps([line.to_json() for line in lines], ensure_ascii=False, indent=1))
    else:
        print_table(lines, me.info.display_name)
    sys.stdout.flush()
    for item in unreadable:
        print(f"passavant: {set_aside_line(item, states.get(item.bundle_id, ''))}", file=sys.stderr)
    journal_event(
        profile,
        "cases_listed",
        me.info.id,
        count=len(lines),
        format=("json" if args.json else "table") + ("+text" if args.with_text else ""),
    )
    return 0


def _set_aside_states(
    workstation: Workstation, me: UnlockedIdentity, unreadable: list[Unreadable]
) -> dict[str, str]:
    """``refused`` or ``unreadable``, for each bundle set aside (the index says which)."""
    index = workstation.store(me).index
    found = {}
    for item in unreadable:
        row = index.get(item.bundle_id)
        found[item.bundle_id] = row.state if row is not None else ""
    return found


def set_aside_line(item: Unreadable, state: str) -> str:
    if state == "refused" or item.code in REFUSALS:
        text = _("document mis de côté {id} : refusé ({code}) — {why}")
    else:
        text = _("document mis de côté {id} : illisible ({code}) — {why}")
    return text.format(id=item.bundle_id, code=item.code, why=reason(item.code))


def _index_rebuild(args: argparse.Namespace) -> int:
    profile = cli_profile(args)
    me = unlock_reader(args, profile)
    progress = Progress(sys.stderr)
    # it replaces the index file the app reads: never while the app has the profile open
    with (
        profile_held(profile.root, "index rebuild"),
        quiet_core_log(args),
        offline_workstation(profile) as workstation,
    ):
        try:
            count = workstation.rebuild_index(me, progress)
        finally:
            progress.finish()
    journal_event(profile, "index_rebuilt", me.info.id, count=count)
    if count > 1:
        text = _("Index de {name} reconstruit : {n} documents.")
    else:
        text = _("Index de {name} reconstruit : {n} document.")
    print(text.format(name=me.info.display_name, n=count_text(count)))
    return 0
