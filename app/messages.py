"""Plain-language reasons for every error code the core can raise, for the UI.

The core raises exceptions with stable ``code`` attributes (crypto, outbox, cases); this is
the one place that turns them into sentences a doctor or a secretary can act on.
"""

from __future__ import annotations

from app.i18n import _, language


def reason(code: str | None) -> str:
    """The sentence for an error code; a generic sentence for an unknown one."""
    if code is None:
        return ""
    texts = {
        # network and platform (outbox)
        "network_unreachable": _("La plateforme est injoignable (réseau coupé ou serveur arrêté)."),
        "timeout": _("La plateforme ne répond pas à temps ; nouvel essai automatique."),
        "tls_error": _("La connexion sécurisée a échoué (certificat de la plateforme refusé)."),
        "auth_failed": _("La plateforme a refusé ce poste (jeton d’accès invalide)."),
        "server_error": _("La plateforme a rencontré une erreur ; nouvel essai automatique."),
        "rejected": _("La plateforme a refusé cet envoi."),
        "unknown_recipient": _("Le destinataire est inconnu de la plateforme."),
        "too_large": _("L’envoi dépasse la taille acceptée par la plateforme."),
        "checksum_mismatch": _("L’envoi est arrivé altéré ; il sera renvoyé."),
        "upload_expired": _("L’envoi partiel a expiré sur la plateforme ; il sera repris."),
        "disk_error": _("Erreur d’écriture sur le disque de ce poste."),
        # crypto
        "wrong_passphrase": _("Mot de passe incorrect."),
        "malformed": _("Le document reçu est illisible ou endommagé."),
        "not_a_recipient": _("Ce document ne vous est pas destiné."),
        "decryption_failed": _("Le document a été altéré : il ne peut pas être ouvert."),
        "bad_signature": _("La signature du document est invalide."),
        "untrusted_signer": _("L’expéditeur n’est pas reconnu par ce poste."),
        "invalid_recipient": _("Le certificat du destinataire n’est pas valable."),
        # cases and photos
        "unreadable": _("Le fichier ne peut pas être lu."),
        "not_an_image": _(
            "Ce fichier n’est pas une photo lisible (format inconnu ou fichier abîmé)."
        ),
        "malformed_bundle": _("Le document reçu est incomplet ou endommagé."),
        "sender_mismatch": _("L’expéditeur du document ne correspond pas à sa signature."),
        "not_addressed_to_you": _("Ce document n’a pas été adressé à vous."),
        "missing_patient_ref": _("Indiquez la référence du patient."),
        "missing_consent": _("Le consentement du patient est requis."),
        "missing_specialty": _("Choisissez une spécialité."),
        "missing_summary": _("Rédigez le résumé clinique."),
        "missing_question": _("Posez la question au spécialiste."),
        "too_many_photos": _("Trop de photos pour une seule demande."),
        "missing_opinion": _("Rédigez l’avis avant de l’envoyer."),
        "missing_recipient": _("Choisissez le spécialiste destinataire."),
        "profile_error": _("Le profil de ce poste est incomplet ou illisible."),
        "unexpected": _("Une erreur inattendue est survenue ; elle est consignée dans le journal."),
    }
    return texts.get(code, _("Erreur inattendue ({code}).").format(code=code))


def specialty_label(code: str) -> str:
    labels = {
        "dermatology": _("Dermatologie"),
        "wounds": _("Plaies et cicatrisation"),
        "endocrinology": _("Endocrinologie"),
        "anaesthesia": _("Anesthésie"),
        "hepato_gastroenterology": _("Hépato-gastro-entérologie"),
        "cardiology": _("Cardiologie"),
    }
    return labels.get(code, code)


def role_label(role: str) -> str:
    labels = {
        "doctor": _("Médecin de l’unité"),
        "secretary": _("Secrétariat"),
        "specialist": _("Spécialiste"),
    }
    return labels.get(role, role)


def job_state_label(state: str) -> str:
    labels = {
        "pending": _("En attente"),
        "sending": _("Envoi en cours"),
        "retry": _("Nouvel essai prévu"),
        "paused": _("En pause"),
        "failed": _("Bloqué : action requise"),
        "delivered": _("Remis"),
        "cancelled": _("Annulé"),
    }
    return labels.get(state, state)


def human_size(size: float) -> str:
    """``1,2 Mo`` in French, ``1.2 MB`` in English."""
    units = [_("o"), _("Ko"), _("Mo"), _("Go")]
    value, unit = float(size), 0
    while value >= 1024 and unit < len(units) - 1:
        value /= 1024
        unit += 1
    text = f"{value:.0f}" if unit == 0 else f"{value:.1f}"
    if language() == "fr":
        text = text.replace(".", ",")
    return f"{text} {units[unit]}"


def human_duration(seconds: float) -> str:
    seconds = max(0, round(seconds))
    if seconds < 60:
        return _("{s} s").format(s=seconds)
    if seconds < 3600:
        return _("{m} min {s:02d} s").format(m=seconds // 60, s=seconds % 60)
    return _("{h} h {m:02d} min").format(h=seconds // 3600, m=seconds % 3600 // 60)


REFUSALS = ("auth_failed", "tls_error")


def connection_state(reachable: bool, code: str | None) -> str:
    """Short state of the platform connection, for the status bar."""
    if reachable:
        return _("Plateforme joignable")
    if code in REFUSALS:
        return _("Plateforme : connexion refusée")
    return _("Plateforme injoignable")


def connection_detail(reachable: bool, code: str | None, stamp: str) -> str:
    """The connection state with its time and reason, for the secretary."""
    if reachable:
        return _("Plateforme joignable (dernier contact {t}).").format(t=stamp)
    return _("{state} (dernier essai {t}) : {why}").format(
        state=connection_state(reachable, code), t=stamp, why=reason(code)
    )
