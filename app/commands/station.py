"""How the station's commands (``outbox``, ``inbox``, ``faultproxy``) reach what they work on.

- the profile (``--profile``, else the OS user data directory);
- the station token: ``--token-file``, else the keyring (service ``passavant``, account
  ``<station id>/station-token``), else the profile's ``station.token`` (mode 0600);
- the platform: ``--platform URL``, ``--ca-file PEM`` and ``--read-timeout S`` over the profile's;
- the queue, opened under ``<profile>/outbox.lock`` so two commands never repair it at once;
- SIGTERM and SIGINT, which end a command that runs until stopped (``outbox run``,
  ``faultproxy``) cleanly.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from app.commands.common import CommandError
from app.i18n import _

__all__ = [
    "open_outbox",
    "platform_config",
    "platform_options",
    "profile_of",
    "queue_lock",
    "station_token",
    "stop_on_signals",
]


def platform_options(parser: argparse.ArgumentParser) -> None:
    """Adds the options that override the profile's platform (see :func:`platform_config`)."""
    parser.add_argument("--platform", metavar="URL", help="platform URL (default: the profile's)")
    parser.add_argument("--token-file", type=Path, metavar="FILE", help="station token file")
    parser.add_argument("--ca-file", type=Path, metavar="PEM", help="CA of the platform")
    parser.add_argument(
        "--read-timeout", type=float, metavar="S", help="give up on a silent answer after S s"
    )


def profile_of(args: argparse.Namespace) -> Any:
    """The profile the command works on (``--profile``, else the default one)."""
    from app.cli import default_profile
    from cases.profile import Profile

    root: Path = args.profile or default_profile()
    if not root.is_dir():
        raise CommandError(_("profil introuvable : {path}").format(path=root))
    return Profile(root)


def station_token(profile: Any, token_file: Path | None = None) -> str:
    """The station token: ``token_file``, else the profile's (its file, or the keyring)."""
    if token_file is not None:
        try:
            return token_file.read_text("ascii").strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise CommandError(_("jeton illisible : {path}").format(path=token_file)) from exc
    from cases.profile import ProfileError

    try:
        return str(profile.station_token())
    except ProfileError as exc:
        raise CommandError(_("aucun jeton d’accès à la plateforme dans ce profil.")) from exc


def platform_config(args: argparse.Namespace, profile: Any) -> Any:
    """The platform's URL, token and CA: the profile's, overridden by the options."""
    from outbox.platform import PlatformConfig

    url = args.platform or profile.platform_url
    if not url:
        raise CommandError(_("aucune plateforme configurée : précisez --platform URL."))
    ca_file = args.ca_file
    if ca_file is None and url.startswith("https:") and profile.ca_file.exists():
        ca_file = profile.ca_file
    timeouts: dict[str, float] = {}
    if getattr(args, "read_timeout", None) is not None:
        if args.read_timeout <= 0:
            raise CommandError(_("--read-timeout doit être positif."), status=2)
        timeouts["read_timeout"] = args.read_timeout
        timeouts["idle_timeout"] = args.read_timeout
    token = station_token(profile, args.token_file)
    return PlatformConfig(url=url, token=token, ca_file=ca_file, **timeouts)


@contextlib.contextmanager
def queue_lock(root: Path) -> Iterator[None]:
    """Holds ``<root>/outbox.lock`` (no-op where ``fcntl`` is missing)."""
    try:
        import fcntl
    except ImportError:  # Windows: one workstation process at a time anyway
        yield
        return
    with (root / "outbox.lock").open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def open_outbox(profile: Any, *, recover: bool = False) -> Any:
    """The profile's queue. Only ``outbox run`` (the sending process) repairs it on opening;
    the other commands must not requeue the jobs the app may be sending right now, nor
    remove a spool file another process has just written."""
    from outbox.queue import Outbox

    return Outbox(profile.db_path, profile.path("outbox"), recover=recover)


@contextlib.contextmanager
def stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """Turns SIGTERM and SIGINT into ``stop`` (main thread only; restored afterwards)."""
    previous: dict[signal.Signals, Any] = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT):
            previous[sig] = signal.signal(sig, lambda _signum, _frame: stop.set())
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
