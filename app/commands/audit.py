"""``passavant audit verify|show``: the profile's hash-chained audit journal.

- ``audit verify [--offline]``: checks the chain, and compares the journal with the
  checkpoints the platform anchored (``cases.anchor``), or, out of reach, with the profile's
  copy of them (no proof); says which entries are anchored, which are not yet, and which are
  missing or differ, and whether each checkpoint's signature covers it.
- ``audit show [--last N]``: the journal's events, one a line (ids and fingerprints shortened).

Failures are one plain line and a non-zero status (``app.commands.common.dispatch``).
"""

from __future__ import annotations

import argparse
import re
from typing import Any

from app.commands.common import CommandError
from app.commands.keys import cli_profile
from app.i18n import _
from cases.anchor import AnchorSource, SignatureCheck, fetch_anchors, signature_checks
from crypto import audit


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Adds ``audit``."""
    journal = subparsers.add_parser("audit", help="the profile's audit journal")
    sub = journal.add_subparsers(dest="audit_command", required=True, metavar="ACTION")
    check = sub.add_parser(
        "verify", help="check the journal's hash chain and the checkpoints anchored on the platform"
    )
    check.add_argument(
        "--offline",
        action="store_true",
        help="do not ask the platform: compare with the profile's copy of the anchors",
    )
    check.set_defaults(handler=_audit_verify)
    show = sub.add_parser("show", help="list the journal's events")
    show.add_argument("--last", type=int, metavar="N", help="only the last N events")
    show.set_defaults(handler=_audit_show)


def _audit_verify(args: argparse.Namespace) -> int:
    profile = cli_profile(args)
    source = fetch_anchors(profile, offline=args.offline)
    report = audit.verify(profile.audit_path, anchors=source.anchors())
    anchoring = report.anchoring
    assert anchoring is not None
    print(_anchor_source(source))
    for line in _anchor_lines(anchoring, source):
        print(line)
    checks = signature_checks(profile, source.checkpoints)
    for line in _signature_lines(checks):
        print(line)
    first = report.first
    if first is not None:
        raise CommandError(
            _("journal d’audit altéré, ligne {line} : {what} ({n} problème(s)).").format(
                line=first.line, what=_problem(first.kind), n=len(report.problems)
            )
        )
    forged = [c for c in checks if c.contradicts]
    if forged:
        raise CommandError(
            _(
                "point de contrôle {count} : sa signature ne le couvre pas ({code}) ; il a été"
                " modifié ou fabriqué hors de ce poste."
            ).format(count=forged[0].count, code=forged[0].code)
        )
    print(
        _("Journal d’audit intact : {n} entrée(s), dernière empreinte {head}.").format(
            n=report.entries, head=report.head
        )
    )
    return 0


def _span(first: int, last: int) -> str:
    if first == last:
        return _("entrée {n}").format(n=first)
    return _("entrées {first} à {last}").format(first=first, last=last)


def _anchor_source(source: AnchorSource) -> str:
    if source.from_platform:
        return _(
            "Points de contrôle reçus par la plateforme : {n} (la plateforme en garde {total})."
        ).format(n=len(source.checkpoints), total=source.total)
    why = {
        "offline": _("Plateforme non consultée (--offline)"),
        "no_platform": _("Aucune plateforme configurée pour ce poste"),
    }.get(source.unreachable or "") or _("Plateforme injoignable ({code})").format(
        code=source.unreachable
    )
    return _(
        "{why} : comparaison avec la copie locale des derniers points de contrôle ({n}), qui"
        " n’est pas une preuve (qui peut réécrire le journal peut la réécrire aussi)."
    ).format(why=why, n=len(source.checkpoints))


def _anchor_lines(anchoring: audit.Anchoring, source: AnchorSource) -> list[str]:
    if anchoring.anchors == 0:
        return [
            _(
                "Aucun point de contrôle : rien hors de ce poste n’ancre encore le journal (une"
                " réécriture complète ne se verrait pas)."
            )
        ]
    received = {c.count: c.received_at for c in source.checkpoints}
    lines = []
    if anchoring.anchored:
        lines.append(
            _("Ancré ({span}) : conforme au point de contrôle reçu le {when}.").format(
                span=_span(1, anchoring.anchored), when=received.get(anchoring.anchored) or "?"
            )
        )
    if anchoring.rewritten is not None:
        first, last = anchoring.rewritten
        lines.append(
            _(
                "Ancrage contredit ({span}) : le journal n’est plus celui que couvre le point"
                " de contrôle de l’entrée {count}, reçu le {when} : journal réécrit (entrée"
                " modifiée, supprimée, insérée ou déplacée, chaîne recalculée ou non)."
            ).format(span=_span(first, last), count=last, when=received.get(last) or "?")
        )
    if anchoring.missing is not None:
        first, last = anchoring.missing
        lines.append(
            _(
                "Ancrage manquant ({span}) : ancré sur la plateforme, absent du journal, qui"
                " s’arrête à l’entrée {n} : journal tronqué."
            ).format(span=_span(first, last), n=anchoring.entries)
        )
    if anchoring.unanchored is not None:
        lines.append(
            _("Pas encore ancré ({span}) : plus récent que le dernier point de contrôle.").format(
                span=_span(*anchoring.unanchored)
            )
        )
    return lines


def _signature_lines(checks: list[SignatureCheck]) -> list[str]:
    lines = []
    valid = [c for c in checks if c.valid]
    if valid:
        signers = sorted({c.signer or "?" for c in valid})
        lines.append(
            _("Points de contrôle signés : {n}, signatures vérifiées ({signers}).").format(
                n=len(valid), signers=", ".join(signers)
            )
        )
    for check in checks:
        if check.contradicts:
            lines.append(
                _(
                    "Point de contrôle {count} : sa signature ne le couvre pas ({code}) ; il a"
                    " été modifié ou fabriqué hors de ce poste."
                ).format(count=check.count, code=check.code)
            )
        elif not check.valid:
            lines.append(
                _(
                    "Point de contrôle {count} : signature non vérifiable ici ({code}) ; le point"
                    " de contrôle compte quand même comme le témoignage de la plateforme."
                ).format(count=check.count, code=check.code)
            )
    return lines


def _problem(kind: str) -> str:
    texts = {
        "truncated": _("ligne tronquée"),
        "malformed": _("ligne illisible"),
        "hash_mismatch": _("entrée modifiée"),
        "broken_chain": _("chaîne rompue (entrée supprimée, déplacée ou réécrite)"),
        "sequence": _("numérotation rompue"),
        "inserted": _("entrée insérée"),
        "head_mismatch": _("fin du journal inattendue"),
        "anchor_mismatch": _(
            "entrée différente de celle ancrée sur la plateforme (journal réécrit)"
        ),
        "anchor_missing": _("entrées ancrées absentes (journal tronqué)"),
    }
    return texts.get(kind, kind)


def _audit_show(args: argparse.Namespace) -> int:
    entries = audit.read(cli_profile(args).audit_path)
    if args.last is not None:
        entries = entries[-args.last :] if args.last > 0 else []
    if not entries:
        print(_("Le journal d’audit est vide."))
    for e in entries:
        details = " ".join(f"{k}={_short(v)}" for k, v in sorted(e.details.items()))
        print(f"{e.seq:>5} {e.time} {e.event} {e.actor} {details}".rstrip())
    return 0


def _short(value: Any) -> str:
    if isinstance(value, list):
        return ",".join(_short(v) for v in value)
    text = str(value)
    return text[:16] if re.fullmatch(r"[0-9a-f]{64}", text) else text
