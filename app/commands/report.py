"""``passavant report make|verify``: the tele-expertise report for the records.

- ``report make --as IDENTITY REQUEST_ID -o OUT.pdf`` writes the signed PDF/A report of an
  answered request (``REQUEST_ID``: the request's bundle id as ``cases list`` prints it, or its
  case id), as the app makes it (:mod:`app.report_pdf`): signed by the identity as the
  opinion's author (a specialist who answered) or as a copy (the doctor; the opinions are
  attached as their authors signed them). The file is written whole or not at all (a
  temporary file renamed), never over an existing one unless ``--force``; journalled
  (``report_made``: the request's id, the size, the role, whether it is time-stamped;
  nothing clinical). ``--tsa URL`` (or the profile's ``reports.ini``, ``[timestamp]``
  ``url``) asks that time-stamp authority for an RFC 3161 time-stamp of the signature (PAdES
  B-T); when it gives none, the report is still written, signed, and the command says the
  time-stamp is missing.
- ``report verify FILE.pdf [--trust CA.pem ...]`` says who signed it, when, whether the file
  is intact and its certificate recognised, whether a time-stamp is there, valid and by a
  recognised authority (and its time), who wrote each opinion it carries, and a verdict;
  status 0 only for an authentic report or an authentic copy. Without ``--trust``, the
  profile's trust store is used (a hospital can verify with its own).

Offline: nothing here calls the platform.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from app.commands.common import CommandError
from app.commands.keys import audited, cli_profile, journal_event, passphrase_options, read_input
from app.i18n import _
from app.report_text import check_lines, report_reason, stamp_text
from cases.timestamp import TsaSettings, checked_url, tsa_settings
from cases.trust import load_certificate
from crypto.errors import CryptoError

MAX_REPORT = 256 * 1024 * 1024


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Adds ``report``."""
    report = subparsers.add_parser("report", help="the signed tele-expertise report (PDF/A)")
    sub = report.add_subparsers(dest="report_command", required=True, metavar="ACTION")
    make = sub.add_parser("make", help="write the signed PDF/A report of an answered request")
    make.add_argument("--as", dest="identity", required=True, metavar="IDENTITY")
    make.add_argument("request_id", metavar="REQUEST_ID")
    make.add_argument("-o", "--output", required=True, type=Path, metavar="OUT.pdf")
    make.add_argument("--force", action="store_true", help="replace an existing file")
    make.add_argument(
        "--tsa", metavar="URL",
        help="time-stamp authority (RFC 3161) to ask (default: the profile's reports.ini)",
    )  # fmt: skip
    passphrase_options(make)
    make.set_defaults(handler=audited("report.make", _make))
    verify = sub.add_parser("verify", help="who signed a report, when, and whether it is intact")
    verify.add_argument("file", type=Path, metavar="FILE.pdf")
    verify.add_argument(
        "--trust", action="append", type=Path, default=[], metavar="CA.pem",
        help="a certification authority to trust (default: the profile's trust store)",
    )  # fmt: skip
    verify.set_defaults(handler=_verify)


def write_report(path: Path, data: bytes, *, force: bool = False) -> None:
    """Write ``data`` to ``path`` whole or not at all (0600: it is medical content).

    Raises:
        CommandError: the file exists (without ``force``) or cannot be written.
    """
    from cases.teleexpertise_report import write_new

    if path.exists() and not force:
        raise CommandError(report_reason("report_exists") or "")
    try:
        write_new(path, data, replace=True)
    except OSError as exc:
        raise CommandError(_("impossible d’écrire {path}.").format(path=path)) from exc


def _make(args: argparse.Namespace) -> int:
    from app.commands.casestore import offline_workstation, quiet_core_log, unlock_reader
    from app.report_pdf import make_signed
    from cases.teleexpertise_report import find_thread, role_of, sealed_reader, signed_opinions

    profile = cli_profile(args)
    tsa = _tsa(profile.root, args.tsa)
    me = unlock_reader(args, profile)
    if args.output.exists() and not args.force:
        raise CommandError(report_reason("report_exists") or "")
    with quiet_core_log(args), offline_workstation(profile) as workstation:
        threads, _unreadable = workstation.threads(me)
        thread = find_thread(threads, args.request_id)
        opinions = signed_opinions(sealed_reader(workstation), me, thread)
        made = make_signed(thread, me, opinions, tsa)
    data = made.data
    write_report(args.output, data, force=args.force)
    role = role_of(me, thread)
    journal_event(
        profile,
        "report_made",
        me.info.id,
        bundle_id=thread.case.bundle_id,
        size=len(data),
        role=role,
        format="pdfa-3b",
        code="file",
        status=made.stamp.status,
    )
    if role == "author":
        text = _("Compte rendu signé écrit : {path}")
    else:
        text = _("Copie du compte rendu signée écrite : {path}")
    print(text.format(path=args.output))
    if made.stamp.asked:
        print(stamp_text(made.stamp))
    return 0


def _tsa(profile_root: Path, url: str | None) -> TsaSettings | None:
    """The authority to ask: ``--tsa URL`` (with the profile's authority root, if any), else
    the profile's ``reports.ini``.

    Raises:
        CommandError: the URL or the configured certificate is not usable.
    """
    try:
        configured = tsa_settings(profile_root) if profile_root.is_dir() else None
        if url is None:
            return configured
        return TsaSettings(checked_url(url), configured.roots if configured else ())
    except ValueError as exc:
        raise CommandError(report_reason("tsa_settings") or "") from exc


def _verify(args: argparse.Namespace) -> int:
    from app.commands.keys import quiet_console
    from cases.teleexpertise_report import check_report

    quiet_console(args)
    data = read_input(args.file, _("compte rendu"))
    if len(data) > MAX_REPORT:
        raise CommandError(report_reason("report_too_large") or "")
    if args.trust:
        try:
            roots = [load_certificate(read_input(p, _("certificat"))) for p in args.trust]
        except (CryptoError, ValueError) as exc:
            raise CommandError(
                _("certificat illisible : {path}").format(path=args.trust[0])
            ) from exc
        crls: list = []  # type: ignore[type-arg]
        tsa_roots: tuple = ()  # type: ignore[type-arg]
    else:
        profile = cli_profile(args)
        if not profile.root.is_dir():
            raise CommandError(_("profil introuvable : {path}").format(path=profile.root))
        roots, crls = profile.trust_roots(), profile.crls()
        try:
            configured = tsa_settings(profile.root)
        except ValueError:  # the authority's setting is for making reports, not reading
            configured = None
        tsa_roots = configured.roots if configured else ()
    check = check_report(data, roots, crls, tsa_roots)
    for line in check_lines(check):
        print(line)
    sys.stdout.flush()
    return 0 if check.good else 1
