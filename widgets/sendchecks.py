"""The doctor's warnings before a request goes (the rules: :mod:`cases.sendchecks`)."""

from __future__ import annotations

from collections.abc import Sequence

from app.i18n import _
from cases.model import Case
from cases.sendchecks import send_warnings
from cases.threads import CaseThread
from widgets.acts import fifth_act_warning


def warning_texts() -> dict[str, str]:
    return {
        "no_photo": _("Aucune photo : le spécialiste ne pourra pas voir la lésion."),
        "other_specialty": _("Le spécialiste choisi exerce une autre spécialité que la demande."),
        "pending_same_patient": _(
            "Une demande pour ce patient attend encore sa réponse (pour la compléter, "
            "faites plutôt un suivi de cette demande)."
        ),
        "no_treatments": _(
            "Les traitements du patient ne sont pas renseignés (écrire « aucun » ?)."
        ),
    }


def before_send_warning(
    case: Case, recipient_specialty: str | None, threads: Sequence[CaseThread]
) -> str | None:
    """What the form shows before ``case`` goes (``None``: nothing to warn of). A warning,
    not a refusal: a second click on "Envoyer la demande" sends."""
    texts = warning_texts()
    lines = ["• " + texts[code] for code in send_warnings(case, recipient_specialty, threads)]
    act = fifth_act_warning(case, threads)  # it says how to send anyway
    if act is not None:
        return "\n".join([*lines, act])
    if not lines:
        return None
    again = _("Cliquez de nouveau sur « Envoyer la demande » pour l’envoyer quand même.")
    return "\n".join([*lines, again])
