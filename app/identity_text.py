"""The words of the patient's identity and of the tele-expertise act (``cases.identity``,
``cases.acts``): labels of statuses and sexes, and the sentence for each problem code. Qt-free:
``app.messages.reason`` asks here for the codes it does not hold itself."""

from __future__ import annotations

from app.i18n import _
from cases.identity import PatientIdentity


def status_label(status: str) -> str:
    """``qualifiée``… (a status a later version adds is shown as its code)."""
    return {
        "provisional": _("provisoire"),
        "recovered": _("récupérée"),
        "validated": _("validée"),
        "qualified": _("qualifiée"),
    }.get(status, status)


def sex_label(sex: str) -> str:
    return {"F": _("féminin"), "M": _("masculin")}.get(sex, sex)


def identity_reason(code: str) -> str | None:
    """The sentence for an ``identity_*``, ``consent_date_*`` or ``act_*`` code, or ``None``."""
    return {
        "identity_birth_name": _("Identité : indiquez le nom de naissance (lettres seulement)."),
        "identity_first_names": _(
            "Identité : indiquez le ou les prénoms de naissance (lettres seulement)."
        ),
        "identity_used_name": _("Identité : le nom utilisé ne doit contenir que des lettres."),
        "identity_sex": _("Identité : indiquez le sexe."),
        "identity_birth_date": _(
            "Identité : date de naissance invalide (JJ/MM/AAAA, ni future, ni avant 1890)."
        ),
        "identity_birthplace": _(
            "Identité : le lieu de naissance est un code INSEE de 5 caractères "
            "(99 suivi du code du pays pour une naissance à l’étranger)."
        ),
        "identity_status": _("Identité : choisissez le statut de l’identité."),
        "identity_ins_format": _(
            "INS : 15 caractères attendus (13 chiffres, 2A ou 2B pour la Corse, puis la clé)."
        ),
        "identity_ins_key": _("INS : la clé ne correspond pas au numéro (erreur de saisie ?)."),
        "identity_ins_oid": _("INS : précisez s’il s’agit d’un NIR ou d’un NIA."),
        "identity_ins_sex": _("INS : le premier chiffre ne correspond pas au sexe indiqué."),
        "identity_ins_birth": _(
            "INS : l’année ou le mois de naissance ne correspondent pas à la date indiquée."
        ),
        "consent_date_future": _("La date de l’accord du patient ne peut pas être future."),
        "act_requester_rpps": _("RPPS du demandeur absent"),
        "act_expert_rpps": _("RPPS de l’expert absent"),
        "act_consent": _("date du consentement absente"),
        "act_identity": _("identité du patient absente"),
        "act_codes": _("pas de cotation à cette date"),
    }.get(code)


def identity_line(identity: PatientIdentity) -> str:
    """``LEFÈVRE Jeanne Marie (nom utilisé MARTIN), F, née le 14/03/1985 à 75112``."""
    born = identity.birth_date.strftime("%d/%m/%Y")
    text = f"{identity.birth_name.upper()} {identity.first_names}"
    if identity.used_name:
        text += " " + _("(nom utilisé {name})").format(name=identity.used_name.upper())
    if identity.sex == "F":
        text += ", " + _("née le {date}").format(date=born)
    else:
        text += ", " + _("né le {date}").format(date=born)
    if identity.birthplace:
        text += " " + _("(lieu de naissance {code})").format(code=identity.birthplace)
    return text
