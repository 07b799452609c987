"""The tele-expertise report's sentences: its error codes, and what a check established.

No Qt: the command line (``passavant report``) and the window say the same words.
"""

from __future__ import annotations

from datetime import datetime

from app.i18n import _
from app.messages import role_label
from cases.bundle import Party
from cases.pades import TimestampCheck
from cases.teleexpertise_report import ReportCheck
from cases.timestamp import INVALID, REFUSED, UNREACHABLE, Stamp


def report_reason(code: str) -> str | None:
    """The sentence for a report's error code, or ``None`` when it is not one of them."""
    texts = {
        "not_answered": _(
            "Cette demande n’a pas encore d’avis : le compte rendu se fait une fois l’avis "
            "envoyé ou reçu."
        ),
        "opinion_unreadable": _(
            "L’avis signé n’a pas pu être relu sur ce poste (fichier absent ou illisible) : "
            "le compte rendu n’est pas fait."
        ),
        "signature_failed": _("Le compte rendu n’a pas pu être signé."),
        "pdfa_failed": _(
            "Le compte rendu n’a pas pu être mis au format d’archivage PDF/A : il n’est pas écrit."
        ),
        "no_font": _("Aucune police à incorporer n’est installée (paquet fonts-dejavu-core)."),
        "not_a_pdf": _("Ce fichier n’est pas un PDF lisible."),
        "report_too_large": _("Ce fichier est trop volumineux pour un compte rendu."),
        "too_many_signatures": _("Ce fichier porte trop de signatures pour être vérifié."),
        "unknown_request": _("Aucune demande de ce numéro parmi les dossiers de cette personne."),
        "report_exists": _("Le fichier existe déjà ; choisissez un autre nom."),
        "tsa_settings": _(
            "Le serveur d’horodatage configuré pour ce poste (reports.ini, section "
            "[timestamp]) n’est pas utilisable : adresse http(s) ou certificat illisible."
        ),
    }
    return texts.get(code)


def _when(moment: datetime | None) -> str:
    if moment is None:
        return _("date non indiquée")
    return moment.astimezone().strftime("%d/%m/%Y %H:%M")


def who(party: Party) -> str:
    """``Pr Marc Dubois (spécialiste, Hôpital Saint-Louis)``."""
    facts = ", ".join(
        x for x in (role_label(party.role) if party.role else "", party.organization) if x
    )
    return f"{party.display_name} ({facts})" if facts else party.display_name


def stamp_text(stamp: Stamp) -> str:
    """What came of asking for the time-stamp, a sentence ("" when none was asked)."""
    if not stamp.asked:
        return ""
    if stamp.at is not None:
        return _("Horodaté par le serveur d’horodatage le {date}.").format(date=_when(stamp.at))
    why = {
        UNREACHABLE: _("le serveur d’horodatage n’a pas répondu"),
        REFUSED: _("le serveur d’horodatage a refusé la demande"),
        INVALID: _("la réponse du serveur d’horodatage n’est pas valable"),
        "tsa_settings": _("le serveur d’horodatage configuré n’est pas utilisable"),
    }.get(stamp.problem, stamp.problem)
    return _(
        "Horodatage absent ({why}) : le compte rendu est signé, mais son heure est celle "
        "de ce poste."
    ).format(why=why)


def timestamp_line(stamp: TimestampCheck | None) -> str:
    """What a signature's time-stamp establishes, a sentence."""
    if stamp is None:
        return _("Horodatage : absent (l’heure de signature est celle déclarée par le signataire).")
    if not stamp.intact:
        return _("Horodatage : présent mais invalide ; ne vous fiez pas à cette heure.")
    if not stamp.trusted:
        return _(
            "Horodatage : valide, le {date}, mais son autorité ({name}) n’est pas reconnue "
            "par ce poste."
        ).format(date=_when(stamp.at), name=stamp.authority or "?")
    return _("Horodatage : valide, le {date}, par {name}.").format(
        date=_when(stamp.at), name=stamp.authority or "?"
    )


def check_lines(check: ReportCheck) -> list[str]:
    """What ``check`` established, a sentence a line, the verdict last."""
    lines = []
    for sig in check.signatures:
        lines.append(
            _("Signé par {who} le {date}.").format(who=who(sig.signer), date=_when(sig.signed_at))
        )
        lines.append(
            _("Fichier intact : {answer}.").format(
                answer=_("oui") if sig.intact and sig.whole_file else _("non")
            )
        )
        lines.append(
            _("Certificat reconnu par ce poste : {answer}.").format(
                answer=_("oui") if sig.trusted else _("non")
            )
        )
        lines.append(timestamp_line(sig.timestamp))
    for opinion in check.opinions:
        if opinion.author is None:
            lines.append(
                _("Avis joint {id} : sa signature ne se vérifie pas ({code}).").format(
                    id=opinion.bundle_id, code=opinion.code
                )
            )
        else:
            lines.append(
                _("Avis joint {id} : écrit et signé par {who} le {date}.").format(
                    id=opinion.bundle_id, who=who(opinion.author), date=_when(opinion.signed_at)
                )
            )
    lines.append(verdict_text(check))
    return lines


def verdict_text(check: ReportCheck) -> str:
    signer = check.signer
    name = signer.signer.display_name if signer is not None else ""
    texts = {
        "author": _("Compte rendu authentique, signé par l’auteur de l’avis, {name}."),
        "copy": _(
            "Copie établie par {name}, qui n’est pas l’auteur de l’avis : l’avis joint porte "
            "la signature de son auteur."
        ),
        "unsigned": _("Ce PDF n’est pas signé : rien n’en établit l’auteur."),
        "modified": _("Ce fichier a été modifié après sa signature : ne vous y fiez pas."),
        "untrusted": _(
            "Le certificat de {name} n’est pas reconnu par ce poste (autorité inconnue, expiré "
            "ou révoqué)."
        ),
        "no_opinion": _(
            "Signé par {name}, mais aucun avis signé n’y est joint : l’auteur de l’avis n’est "
            "pas établi."
        ),
        "not_a_specialist": _(
            "L’avis joint n’est pas signé par un spécialiste : ce n’est pas un avis recevable."
        ),
        "bad_timestamp": _(
            "Signé par {name}, mais son horodatage ne se vérifie pas : l’heure qu’il affirme "
            "peut être fausse ; ne vous y fiez pas."
        ),
    }
    return texts.get(check.verdict, check.verdict).format(name=name)
