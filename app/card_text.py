"""The words of card identities (``crypto.pkcs11``, ``cases.cardidentity``): the sentence for
each card error code, and the login page's card labels. Qt-free: ``app.messages.reason`` asks
here for the codes it does not hold itself."""

from __future__ import annotations

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

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


# --- registering a card identity (``widgets.cardsetup``) ------------------------------------
def setup_reason(code: str) -> str | None:
    """The sentence for what stops a card's registration, where the login page's would
    mislead ("log in again"), or ``None`` (then ``card_reason`` or ``app.messages``)."""
    return {
        "card_absent": _(
            "La carte ne répond plus : vérifiez qu’elle est bien insérée dans le lecteur, "
            "puis cliquez sur « Actualiser ». Rien n’a été enregistré."
        ),
        "card_key_missing": _(
            "Aucune clé de cette carte ne correspond au certificat choisi : choisissez le "
            "certificat de signature de la carte."
        ),
        "card_role_missing": _(
            "Le certificat ne dit pas le rôle de son titulaire : choisissez-le dans la liste."
        ),
        "identity_exists": _(
            "Une identité de ce nom existe déjà sur ce poste : changez l’identifiant."
        ),
        "identity_id_refused": _(
            "Identifiant refusé : lettres sans accent, chiffres, point et tiret seulement."
        ),
        "untrusted_signer": _(
            "Ce certificat n’est pas délivré par une autorité reconnue par ce poste : voyez "
            "avec l’administrateur."
        ),
        "certificate_expired": _("Ce certificat n’est plus (ou pas encore) valable."),
        "certificate_revoked": _("Ce certificat a été révoqué par son autorité."),
        "wrong_passphrase": _("Mot de passe du fichier de chiffrement incorrect."),
        "malformed": _(
            "Ce fichier n’est pas un fichier PKCS#12 (.p12, .pfx) lisible portant une clé "
            "et son certificat."
        ),
        "file_unreadable": _("Ce fichier ne peut pas être lu."),
        "no_module": _("Choisissez le module PKCS#11 de la carte (le logiciel du lecteur)."),
        "no_token": _(
            "Aucune carte n’est présente dans les lecteurs de ce module : insérez la carte, "
            "puis cliquez sur « Actualiser »."
        ),
        "no_certificate": _(
            "Cette carte ne porte aucun certificat lisible : elle ne peut pas servir à signer ici."
        ),
        "no_pin": _("Saisissez le code PIN de la carte."),
        "no_encryption": _("Choisissez le fichier de chiffrement (.p12) et ouvrez-le."),
    }.get(code)


def pairing_reason(reason: str) -> str:
    """Why a card's certificate and the encryption certificate are not one person's pair
    (``cases.cardidentity.CardPairingRefused.reason``)."""
    return {
        "issuer": _("Les deux certificats ne sont pas délivrés par la même autorité : refusé."),
        "subject": _("Les deux certificats ne sont pas ceux de la même personne : refusé."),
        "signing_usage": _(
            "Ce certificat ne permet pas de signer (usage « signature numérique » absent) : "
            "choisissez le certificat de signature de la carte."
        ),
        "encryption_usage": _(
            "Le certificat du fichier ne permet pas de recevoir des documents chiffrés : "
            "choisissez le fichier de chiffrement."
        ),
        "card_key": _("La clé de la carte n’est pas celle du certificat choisi : refusé."),
    }.get(reason, card_reason("card_pairing") or "")


def pin_state_text(state: str | None) -> str:
    """What the card says of its PIN's tries (``crypto.pkcs11.pin_state``)."""
    return {
        "locked": _(
            "Carte bloquée : trop de codes PIN erronés. Faites-la débloquer avant de l’enregistrer."
        ),
        "final": _("Dernier essai : un code PIN erroné de plus bloquera la carte."),
        "low": _("Des codes PIN erronés ont été saisis : il reste peu d’essais."),
    }.get(state or "", _("Essais du code PIN : la carte ne signale aucun code erroné."))


def usage_names(cert: x509.Certificate) -> str:
    """A certificate's key usages (and client authentication), as a person reads them."""
    try:
        usage: x509.KeyUsage | None = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    except (x509.ExtensionNotFound, ValueError):
        usage = None
    try:
        purposes = list(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)
    except (x509.ExtensionNotFound, ValueError):
        purposes = []
    names = []
    if usage is not None and usage.digital_signature:
        names.append(_("signature numérique"))
    if usage is not None and usage.content_commitment:
        names.append(_("non-répudiation"))
    if usage is not None and (usage.key_encipherment or usage.key_agreement):
        names.append(_("chiffrement"))
    if ExtendedKeyUsageOID.CLIENT_AUTH in purposes:
        names.append(_("authentification"))
    return ", ".join(names) or _("aucun usage déclaré")
