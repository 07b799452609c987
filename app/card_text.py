"""The words of card identities (``crypto.pkcs11``, ``cases.cardidentity``): the sentence for
each card error code, and the login page's card labels. Qt-free: ``app.messages.reason`` asks
here for the codes it does not hold itself."""

from __future__ import annotations

from app.i18n import _


def card_reason(code: str) -> str | None:
    """The sentence for a ``card_*`` code, or ``None``."""
    return {
        "card_pin_wrong": _("Code PIN incorrect."),
        "card_pin_wrong_low": _(
            "Code PIN incorrect. Attention : la carte se bloque après quelques essais erronés."
        ),
        "card_pin_wrong_final": _(
            "Code PIN incorrect. Dernier essai : un nouveau code erroné bloquera la carte."
        ),
        "card_locked": _(
            "Cette carte est bloquée (trop de codes PIN erronés) : faites-la débloquer avec "
            "son code de déblocage ou par son émetteur."
        ),
        "card_absent": _(
            "La carte ne répond pas : vérifiez qu’elle est bien insérée dans le lecteur et que "
            "le lecteur est branché, puis reconnectez-vous."
        ),
        "card_module_missing": _(
            "Le logiciel de la carte (module PKCS#11) est introuvable sur ce poste : "
            "voyez avec l’administrateur."
        ),
        "card_key_missing": _(
            "La clé de signature attendue n’est pas sur cette carte : est-ce bien votre carte ?"
        ),
        "card_key_unsupported": _(
            "La clé de cette carte n’est pas prise en charge (RSA de 2048 bits au moins)."
        ),
        "card_pairing": _(
            "La carte et le certificat de chiffrement ne sont pas ceux d’une même personne "
            "délivrés par la même autorité (ou ce n’est pas la carte enregistrée) : refusé."
        ),
        "card_error": _("La carte a refusé l’opération."),
    }.get(code)


def pin_label() -> str:
    return _("Code PIN de la carte")


def card_hint() -> str:
    return _("Insérez votre carte dans le lecteur, puis saisissez son code PIN.")
