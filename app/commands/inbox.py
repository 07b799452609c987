"""``passavant inbox fetch [--as IDENTITY]``: polls the mailboxes once and stores what arrived.

Without ``--as``, the mailbox of every identity of the profile is polled, but a secretary's.
What arrives is verified and stored in the profile's inbox exactly as the
application's fetcher does it (:class:`outbox.inbox.InboxFetcher`, one step).
"""

from __future__ import annotations

import argparse
from typing import Any

from app.commands.common import CommandError
from app.commands.station import platform_config, platform_options, profile_of
from app.i18n import _
from app.messages import human_size

__all__ = ["register_inbox"]


def register_inbox(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Adds ``inbox fetch`` (registered by :func:`app.commands.outbox.register`)."""
    inbox = subparsers.add_parser("inbox", help="the mailboxes of this workstation")
    inbox_sub = inbox.add_subparsers(dest="inbox_command", required=True, metavar="ACTION")
    fetch = inbox_sub.add_parser("fetch", help="download what waits in the mailboxes")
    fetch.add_argument("--as", dest="identity", metavar="IDENTITY", help="only this mailbox")
    platform_options(fetch)
    fetch.set_defaults(handler=_fetch)


def _fetch(args: argparse.Namespace) -> int:
    from outbox.errors import OutboxError
    from outbox.inbox import Inbox, InboxFetcher
    from outbox.platform import PlatformClient

    profile = profile_of(args)
    if args.identity:
        mailboxes = [args.identity]
    else:
        mailboxes = [i.id for i in profile.identities() if i.role != "secretary"]
    if not mailboxes:
        raise CommandError(_("aucune boîte à relever : précisez --as IDENTITÉ."))
    config = platform_config(args, profile)
    # No crash repair: the app may be fetching into this inbox right now (see Inbox).
    inbox = Inbox(profile.db_path, profile.path("inbox"), recover=False)
    stored: list[Any] = []
    try:
        with PlatformClient(config) as client:
            fetcher = InboxFetcher(inbox, client, mailboxes)
            fetcher.subscribe(stored.append)
            fetcher.step()
            status = fetcher.status
    finally:
        inbox.close()
    for item in stored:
        print(
            _("Reçu : {id} pour {to} ({size})").format(
                id=item.bundle_id, to=item.recipient_id, size=human_size(item.size)
            )
        )
    if status.error_code is not None:
        raise OutboxError(status.error_code, status.error_detail or "")
    print(_("{n} document(s) reçu(s).").format(n=len(stored)))
    return 0
