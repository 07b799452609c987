"""The ``passavant`` command.

``passavant``            open the app on a profile (``--profile DIR``; default: the user data dir)
``passavant demo``       set up the demo if needed, start its platform, open both workstations
``passavant platform``   run the reference platform server

This module stays free of Qt: the GUI is imported only when a window is needed, so the
platform and the tests of the core run without PySide6.
"""

from __future__ import annotations

import argparse
import logging
import logging.handlers
import os
import shutil
import sys
from pathlib import Path

import platformdirs

from app.__version__ import VERSION

log = logging.getLogger(__name__)


def default_profile() -> Path:
    return Path(platformdirs.user_data_dir("passavant", appauthor=False))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="passavant",
        description="Télé-expertise sécurisée pour les unités sanitaires en milieu pénitentiaire.",
    )
    parser.add_argument("--version", action="version", version=f"passavant {VERSION}")
    parser.add_argument(
        "--profile",
        type=Path,
        default=None,
        help="data directory of this workstation (default: the user data directory)",
    )
    parser.add_argument(
        "--lang",
        choices=["fr", "en"],
        default=None,
        help="interface language (default: the profile's, French)",
    )
    parser.add_argument(
        "--smoke-test",
        action="store_true",
        help="show the window, then quit with status 0 (for packaging checks)",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug details")
    sub = parser.add_subparsers(dest="command")
    demo = sub.add_parser("demo", help="set up and run the demonstration")
    demo.add_argument(
        "--dir",
        type=Path,
        default=None,
        help="demo directory (default: <user data dir>/passavant-demo)",
    )
    demo.add_argument("--reset", action="store_true", help="start again from an empty demo")
    demo.add_argument("--setup-only", action="store_true", help="create the demo's files and exit")
    demo.add_argument(
        "--lang", choices=["fr", "en"], default=argparse.SUPPRESS, help="interface language"
    )
    demo.add_argument(
        "--smoke-test",
        action="store_true",
        default=argparse.SUPPRESS,
        help="open the windows, then quit with status 0",
    )
    platform = sub.add_parser("platform", help="run the reference platform server")
    from refplatform import cli as platform_cli

    platform_cli.configure_parser(platform)
    from app import commands

    commands.register_all(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # Administrator commands print one plain line on failure: the log stays quiet on
    # stderr unless -v. The app, the demo and the platform log their progress.
    quiet = getattr(args, "handler", None) is not None
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING if quiet else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if args.command == "platform":
        from refplatform import cli as platform_cli

        return platform_cli.run(args)
    if args.command == "demo":
        return run_demo(args)
    if getattr(args, "handler", None) is not None:
        from app.commands.common import dispatch

        return dispatch(args)
    profile = args.profile or default_profile()
    return _gui([profile], lang=args.lang, smoke_test=args.smoke_test)


def run_demo(args: argparse.Namespace) -> int:
    from app import demo

    root = args.dir or Path(platformdirs.user_data_dir("passavant-demo", appauthor=False))
    layout = demo.DemoLayout(root)
    if args.reset and root.exists():
        shutil.rmtree(root)
    if not layout.is_set_up():
        print(f"Préparation de la démonstration dans {root} …", flush=True)
        demo.set_up(root)
    else:  # set up by an earlier version: the people added since join it
        demo.add_missing_people(layout)
    if args.setup_only:
        print(f"Démonstration prête dans {root}", flush=True)
        return 0
    process, url = demo.start_platform(layout)
    print(f"Plateforme de démonstration : {url}", flush=True)
    print(f"Mot de passe des identités de démonstration : « {demo.DEMO_PASSPHRASE} »", flush=True)
    try:
        return _gui([layout.unit, layout.hospital], lang=args.lang, smoke_test=args.smoke_test)
    finally:
        demo.stop_platform(process)


def _gui(profiles: list[Path], *, lang: str | None, smoke_test: bool) -> int:
    for profile in profiles:
        _log_to_file(profile)
    from app.gui import run_gui

    return run_gui(profiles, lang=lang, smoke_test=smoke_test)


class _PrivateLog(logging.handlers.RotatingFileHandler):
    """A rotating log whose files only their owner reads (0600, whatever the umask)."""

    def _open(self):  # type: ignore[no-untyped-def]
        descriptor = os.open(self.baseFilename, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        os.fchmod(descriptor, 0o600)
        return open(descriptor, self.mode, encoding=self.encoding, errors=self.errors)


def _log_to_file(profile: Path) -> None:
    """A rotating log per profile. Log lines never carry a patient detail."""
    folder = profile / "logs"
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        handler = _PrivateLog(
            folder / "passavant.log", maxBytes=2_000_000, backupCount=3, encoding="utf-8"
        )
    except OSError:
        log.warning("cannot write logs in %s", folder)
        return
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.getLogger().addHandler(handler)


if __name__ == "__main__":
    sys.exit(main())
