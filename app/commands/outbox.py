"""``passavant outbox|inbox|faultproxy``: the send queue, the mailboxes and the fault proxy.

- ``outbox enqueue FILE --to RECIPIENT [--priority urgent]`` queues a sealed bundle
  (:mod:`app.commands.outbox_enqueue`).
- ``outbox run [--until-idle] [--timeout S]`` runs the sender until stopped (SIGINT, SIGTERM),
  until nothing is left to send, or until the timeout.
- ``outbox status [--json]`` lists the jobs (:mod:`app.commands.outbox_status`).
- ``outbox pause|resume [BUNDLE_ID | --all]``, ``outbox retry|cancel BUNDLE_ID [--reason T]``.
- ``inbox fetch [--as IDENTITY]`` polls the mailboxes once (:mod:`app.commands.inbox`).
- ``faultproxy --listen H:P --target H:P [...]`` runs :class:`refplatform.faultproxy.FaultProxy`
  (:mod:`app.commands.faultproxy`).

This module registers them all, and runs ``outbox run`` and the operator's actions. The platform
URL comes from the profile, the station token from the keyring when one holds it (service
``passavant``, account ``<station id>/station-token``), else from the profile's
``station.token`` (mode 0600). ``--platform URL``, ``--token-file FILE`` and ``--ca-file PEM``
override them, for scripts (:mod:`app.commands.station`). Opening the queue repairs what a crash
left behind; the commands that open it hold ``<profile>/outbox.lock`` meanwhile, so two of them
never repair at once. Only ``outbox run`` opens it with that repair, so it also holds the
profile's lock (:mod:`cases.profilelock`) while it runs: it is refused while the app has the
profile open, and the app is refused while it runs.
"""

from __future__ import annotations

import argparse
import logging
import threading
import time
from typing import Any

from app.commands import outbox_enqueue, outbox_status
from app.commands.common import CommandError, profile_held
from app.commands.faultproxy import register_faultproxy
from app.commands.inbox import register_inbox
from app.commands.outbox_enqueue import looks_sealed, resolve_recipient
from app.commands.outbox_status import ACTIVE_STATES, QueueView
from app.commands.station import (
    open_outbox,
    platform_config,
    platform_options,
    profile_of,
    queue_lock,
    station_token,
    stop_on_signals,
)
from app.i18n import _
from app.messages import job_state_label

# Importable from here as before the split (tests, bench/outbox.py, app/commands/casestore.py).
__all__ = [
    "ACTIVE_STATES",
    "QueueView",
    "looks_sealed",
    "platform_config",
    "queue_lock",
    "register",
    "resolve_recipient",
    "station_token",
]

log = logging.getLogger(__name__)

_POLL_S = 0.5


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Adds ``outbox``, ``inbox`` and ``faultproxy``."""
    outbox = subparsers.add_parser("outbox", help="the send queue (store and forward)")
    sub = outbox.add_subparsers(dest="outbox_command", required=True, metavar="ACTION")

    outbox_enqueue.add_parser(sub)

    run = sub.add_parser("run", help="send what is queued")
    run.add_argument("--until-idle", action="store_true", help="stop once nothing is left")
    run.add_argument("--timeout", type=float, metavar="S", help="stop after S seconds")
    run.add_argument(
        "--max-retry-delay", type=float, metavar="S", help="never wait more than S s to retry"
    )
    platform_options(run)
    run.set_defaults(handler=_run)

    outbox_status.add_parser(sub)

    for name, what in (("pause", "hold"), ("resume", "release")):
        action = sub.add_parser(name, help=f"{what} one bundle or all of them")
        which = action.add_mutually_exclusive_group(required=True)
        which.add_argument("bundle_id", nargs="?", metavar="BUNDLE_ID")
        which.add_argument("--all", action="store_true", help="every bundle")
        action.set_defaults(handler=_pause_resume, action=name)
    for name, what in (("retry", "retry now"), ("cancel", "cancel")):
        action = sub.add_parser(name, help=f"{what} one bundle")
        action.add_argument("bundle_id", metavar="BUNDLE_ID")
        action.add_argument("--reason", metavar="TEXT", help="why (kept with the job)")
        action.set_defaults(handler=_retry_cancel, action=name)

    register_inbox(subparsers)
    register_faultproxy(subparsers)


# --- run ------------------------------------------------------------------------------------


def _sender(outbox: Any, client: Any, max_retry_delay: float | None) -> Any:
    from outbox import backoff
    from outbox.sender import Sender

    options: dict[str, Any] = {}
    if max_retry_delay is not None:
        cap = max(0.0, max_retry_delay)
        options["retry_delay"] = lambda attempt: min(cap, backoff.retry_delay(attempt))
    return Sender(outbox, client, **options)


def _run(args: argparse.Namespace) -> int:
    """Sends the queue, repairing it first: never beside the app, which sends from it too
    (:func:`app.commands.common.profile_held`)."""
    profile = profile_of(args)
    config = platform_config(args, profile)
    with profile_held(profile.root, "outbox run"):
        return _send_queue(args, profile, config)


def _send_queue(args: argparse.Namespace, profile: Any, config: Any) -> int:
    from outbox.platform import PlatformClient

    with queue_lock(profile.root):
        outbox = open_outbox(profile, recover=True)
    view = QueueView(profile.db_path)
    client = PlatformClient(config)
    sender = _sender(outbox, client, args.max_retry_delay)
    stop = threading.Event()
    deadline = None if args.timeout is None else time.monotonic() + args.timeout
    idle = timed_out = False
    try:
        with stop_on_signals(stop):
            sender.start()
            while not stop.wait(_POLL_S):
                sender.wake()  # pick up what other processes changed (resume, retry, enqueue)
                if args.until_idle and (
                    view.all_paused() or not ACTIVE_STATES & set(view.counts())
                ):
                    idle = True
                    break
                if deadline is not None and time.monotonic() >= deadline:
                    timed_out = True
                    break
    finally:
        sender.stop()
        client.close()
        outbox.close()
    counts = view.counts()
    waiting = sum(n for state, n in counts.items() if state in ACTIVE_STATES)
    print(
        _("{delivered} remis, {waiting} en attente, {failed} bloqués.").format(
            delivered=counts.get("delivered", 0) + counts.get("acknowledged", 0),
            waiting=waiting,
            failed=counts.get("failed", 0) + counts.get("quarantined", 0),
        )
    )
    if args.until_idle and timed_out and not idle:
        raise CommandError(
            _("délai dépassé : {n} envoi(s) restent en attente.").format(n=waiting), status=1
        )
    return 0


# --- operator actions -----------------------------------------------------------------------


def _pause_resume(args: argparse.Namespace) -> int:
    profile = profile_of(args)
    pausing = args.action == "pause"
    with queue_lock(profile.root):
        outbox = open_outbox(profile)
        try:
            if args.all:
                print(_all(outbox, pausing))
                return 0
            job = _act(outbox, "pause" if pausing else "resume", args.bundle_id)
        finally:
            outbox.close()
    expected = "paused" if pausing else None
    if (pausing and job.state != expected) or (not pausing and job.state == "paused"):
        raise CommandError(_not_applicable(job))
    print(_("{id} : {state}").format(id=job.bundle_id, state=job_state_label(job.state)))
    return 0


def _all(outbox: Any, pausing: bool) -> str:
    """Pauses or resumes everything; returns what to tell the operator.

    With the queue's ``pause_all``/``resume_all`` it is the outage mode (jobs keep their
    states; it survives a restart); without them, each job is paused or resumed in turn.
    """
    bulk = getattr(outbox, "pause_all" if pausing else "resume_all", None)
    if callable(bulk):
        bulk()
        if pausing:
            return _("Toute la file est en pause, même après un redémarrage.")
        return _("La file d’envoi reprend.")
    changed = 0
    for job in outbox.jobs():
        if pausing and job.state in ACTIVE_STATES:
            changed += outbox.pause(job.bundle_id).state == "paused"
        elif not pausing and job.state == "paused":
            changed += outbox.resume(job.bundle_id).state != "paused"
    text = _("{n} envoi(s) mis en pause.") if pausing else _("{n} envoi(s) repris.")
    return text.format(n=changed)


def _act(outbox: Any, method: str, bundle_id: str, **options: str) -> Any:
    try:
        job = getattr(outbox, method)(bundle_id, **options)
    except KeyError:
        job = None
    if job is None:
        raise CommandError(_("aucun envoi {id} dans la file.").format(id=bundle_id))
    return job


def _not_applicable(job: Any) -> str:
    return _("{id} est « {state} » : action impossible dans cet état.").format(
        id=job.bundle_id, state=job_state_label(job.state)
    )


def _retry_cancel(args: argparse.Namespace) -> int:
    profile = profile_of(args)
    with queue_lock(profile.root):
        outbox = open_outbox(profile)
        try:
            if args.action == "retry":
                if args.reason:
                    log.info("retry of %s asked: %s", args.bundle_id, args.reason)
                job = _act(outbox, "retry_now", args.bundle_id)
                applied = job.state in ("pending", "queued")
            else:
                options = {}
                if args.reason:
                    options["reason"] = args.reason
                before = _act(outbox, "get", args.bundle_id)
                job = _act(outbox, "cancel", args.bundle_id, **options)
                applied = before.state != "cancelled" and job.state == "cancelled"
        finally:
            outbox.close()
    if not applied:
        raise CommandError(_not_applicable(job))
    print(_("{id} : {state}").format(id=job.bundle_id, state=job_state_label(job.state)))
    return 0
