"""Plain-language reasons for every error code the core can raise, for the UI.

The core raises exceptions with stable ``code`` attributes (crypto, outbox, cases); this is
the one place that turns them into sentences a doctor or a secretary can act on.
"""

from __future__ import annotations

import logging
import math

from app.card_text import card_reason
from app.i18n import _, language
from app.identity_text import identity_reason

log = logging.getLogger(__name__)


def reason(code: str | None) -> str:
    """The sentence for an error code; a generic sentence for an unknown one."""
    if code is None:
        return ""
    texts = {
        # network and platform (outbox)
        "network_unreachable": _("La plateforme est injoignable (réseau coupé ou serveur arrêté)."),
        "timeout": _("La plateforme ne répond pas à temps ; nouvel essai automatique."),
        "proxy_error": _(
            "Le proxy du réseau de l’établissement refuse la connexion ; nouvel essai automatique."
        ),
        "tls_error": _("La connexion sécurisée a échoué (certificat de la plateforme refusé)."),
        "auth_failed": _("La plateforme a refusé ce poste (jeton d’accès invalide)."),
        "server_error": _("La plateforme a rencontré une erreur ; nouvel essai automatique."),
        "rejected": _("La plateforme a refusé cet envoi."),
        "unknown_recipient": _("Le destinataire est inconnu de la plateforme."),
        "too_large": _("L’envoi dépasse la taille acceptée par la plateforme."),
        "checksum_mismatch": _("L’envoi est arrivé altéré ; il sera renvoyé."),
        "upload_expired": _("L’envoi partiel a expiré sur la plateforme ; il sera repris."),
        "disk_error": _("Erreur d’écriture sur le disque de ce poste."),
        # the platform's limits (refplatform/quotas.py); the detail gives the platform's reason
        "quota_exceeded": _(
            "Quota de ce poste atteint sur la plateforme ; nouvel essai automatique plus tard."
        ),
        "platform_full": _(
            "La plateforme manque d’espace disque ; nouvel essai automatique plus tard."
        ),
        "route_forbidden": _(
            "La plateforme n’autorise pas ce poste à écrire à ce destinataire ; "
            "voyez avec son administrateur."
        ),
        # two PCs on one desk (outbox/handover.py)
        "handover_unreachable": _(
            "Le dossier de remise est absent (clé USB retirée ou partage déconnecté) ; "
            "nouvel essai automatique."
        ),
        "handover_refused": _(
            "Le poste relié au réseau a refusé ce document (ce n’est pas un envoi scellé "
            "pour ce destinataire)."
        ),
        # inbox bounds (outbox/fetcher.py): the document stays on the platform
        "inbox_item_too_large": _(
            "Document reçu trop volumineux pour être ouvert sur ce poste : il n’est pas "
            "téléchargé et reste sur la plateforme."
        ),
        "inbox_full": _(
            "Plus de place pour recevoir ce document (limite de la boîte de réception ou disque "
            "presque plein) : il attend sur la plateforme."
        ),
        # crypto
        "wrong_passphrase": _("Mot de passe incorrect."),
        "malformed": _("Le document reçu est illisible ou endommagé."),
        "not_a_recipient": _("Ce document ne vous est pas destiné."),
        "decryption_failed": _("Le document a été altéré : il ne peut pas être ouvert."),
        "bad_signature": _("La signature du document est invalide."),
        "untrusted_signer": _("L’expéditeur n’est pas reconnu par ce poste."),
        "invalid_recipient": _("Le certificat du destinataire n’est pas valable."),
        "certificate_expired": _(
            "Le certificat de l’expéditeur n’était plus valable à la date de signature (expiré)."
        ),
        "certificate_revoked": _(
            "Le certificat de l’expéditeur a été révoqué : le document ne peut pas être accepté."
        ),
        "truncated": _(
            "Le document reçu est tronqué (réception incomplète) ; il faut le renvoyer."
        ),
        # cases and photos
        "unreadable": _("Le fichier ne peut pas être lu."),
        "not_an_image": _(
            "Ce fichier n’est pas une photo lisible (format inconnu ou fichier abîmé)."
        ),
        "malformed_bundle": _("Le document reçu est incomplet ou endommagé."),
        "draft_payload_damaged": _(
            "Une photo, un clip ou un document de ce brouillon est manquant ou endommagé sur ce"
            " poste : retirez-le et joignez-le à nouveau."
        ),
        "sender_mismatch": _("L’expéditeur du document ne correspond pas à sa signature."),
        "not_addressed_to_you": _("Ce document n’a pas été adressé à vous."),
        "unsupported_format": _(
            "Ce document est d’une version que ce poste ne sait pas lire ; mettez Passavant à jour."
        ),
        "already_opened": _("Ce document a déjà été ouvert sur ce poste (copie ou rejeu)."),
        # who may speak in a case (cases/speaking.py) and the case store
        "sender_not_signer": _(
            "L’expéditeur que le document annonce n’est pas celui qui l’a signé."
        ),
        "request_not_from_doctor": _(
            "Une demande ne peut venir que d’un médecin ; celle-ci est refusée."
        ),
        "case_id_taken": _(
            "Le document se dit d’un dossier qui appartient à une autre personne : il est refusé."
        ),
        "follows_foreign_case": _(
            "Le document se dit la suite d’un dossier d’un autre établissement : il est refusé."
        ),
        "opinion_not_from_addressee": _(
            "Un avis ne peut venir que du spécialiste à qui la demande était adressée : refusé."
        ),
        "withdrawal_not_from_author": _(
            "Seul l’auteur d’une demande peut la retirer : ce retrait est refusé."
        ),
        "receipt_not_from_recipient": _(
            "Un accusé de réception ne venant pas d’un destinataire du document est refusé."
        ),
        "receipt_for_another": _(
            "Un accusé de réception d’un document qui n’est pas le vôtre est refusé."
        ),
        "case_mismatch": _("Le document ne correspond pas à la demande qu’il cite."),
        "wrong_target": _("Le document ne correspond pas à la demande qu’il cite."),
        "unknown_kind": _("Ce genre de document n’est pas connu de ce poste."),
        "internal_error": _(
            "Une erreur inattendue a empêché de lire ce document ; les autres ne sont pas touchés."
        ),
        "signing_time_implausible": _(
            "La date de signature du document ne concorde pas avec sa réception : refusé."
        ),
        "bundle_gone": _("Le document n’est plus sur ce poste."),
        "bundle_changed": _(
            "Le document a été modifié sur le disque depuis sa réception : il n’est plus montré."
        ),
        # trust store, address book, audit journal (cases/trust.py, crypto/audit.py)
        "not_a_ca": _("Ce certificat n’est pas une autorité de certification."),
        "not_end_entity": _(
            "Une autorité de certification ne s’épingle pas : ajoutez-la comme autorité."
        ),
        "untrusted_crl": _(
            "Cette liste de révocation n’est signée par aucune autorité de confiance."
        ),
        "stale_crl": _(
            "Une liste de révocation plus récente de cette autorité est déjà enregistrée."
        ),
        "unknown_contact": _("Ni fichier ni contact de ce nom dans le carnet d’adresses."),
        "ambiguous_contact": _(
            "Plusieurs contacts correspondent : précisez le nom ou l’empreinte complète."
        ),
        "duplicate_contact": _("Un autre contact porte déjà ce nom."),
        "addressbook_damaged": _("Le carnet d’adresses de ce poste est illisible."),
        "audit_refused": _(
            "Entrée refusée par le journal d’audit (elle pourrait contenir du texte libre)."
        ),
        "missing_patient_ref": _("Indiquez la référence du patient."),
        "missing_consent": _("Le consentement du patient est requis."),
        "missing_specialty": _("Choisissez une spécialité."),
        "missing_summary": _("Rédigez le résumé clinique."),
        "missing_question": _("Posez la question au spécialiste."),
        "too_many_photos": _("Trop de photos pour une seule demande."),
        "too_many_documents": _("Trop de documents pour une seule demande."),
        "documents_too_large": _("Les documents joints sont trop volumineux pour une demande."),
        "missing_opinion": _("Rédigez l’avis avant de l’envoyer."),
        "missing_outcome": _("Choisissez la conduite à tenir."),
        "bad_review_delay": _("Le délai de contrôle va de 1 à 52 semaines."),
        "missing_colleague": _("Choisissez le confrère dont l’avis est à demander."),
        "missing_recipient": _("Choisissez le spécialiste destinataire."),
        "profile_error": _("Le profil de ce poste est incomplet ou illisible."),
        # passphrases and unlocking (crypto/passphrase.py, cases/attempts.py)
        "passphrase_too_short": _(
            "Mot de passe trop court : il faut au moins 12 caractères (une phrase de "
            "plusieurs mots se retient mieux)."
        ),
        "passphrase_too_weak": _(
            "Mot de passe trop facile à deviner (mot courant, suite de touches, date…) : "
            "choisissez plusieurs mots sans lien entre eux."
        ),
        "passphrase_is_a_name": _(
            "Le mot de passe ne doit pas reprendre votre nom ni votre identifiant."
        ),
        "passphrase_demo_only": _(
            "« demo » est le mot de passe de la démonstration : il est refusé hors démonstration."
        ),
        "unlock_delayed": _(
            "Trop de mots de passe erronés : patientez un moment avant de réessayer."
        ),
        # capture: sources, preparation, anonymisation (capture/errors.py)
        "empty_file": _("Le fichier est vide."),
        "image_too_large": _(
            "Cette image est trop grande (plus de 100 millions de pixels) : elle est refusée."
        ),
        "unsupported_image_format": _(
            "Ce format d’image n’est pas accepté (JPEG, PNG, TIFF ou HEIC seulement)."
        ),
        "camera_unavailable": _(
            "La caméra est introuvable ou déjà utilisée : vérifiez qu’elle est branchée."
        ),
        "camera_disconnected": _(
            "La caméra ne répond plus (débranchée ?) : rebranchez-la, puis relancez la capture."
        ),
        "anonymisation_unconfirmed": _(
            "Confirmez les zones à flouter (visages) avant d’ajouter la photo à la demande."
        ),
        "not_wiped": _(
            "Le fichier d’origine n’a pas pu être effacé du dossier surveillé : "
            "supprimez-le vous-même."
        ),
        "not_a_plain_file": _(
            "Fichier laissé de côté : ce n’est pas une simple photo du dossier surveillé "
            "(lien vers un autre emplacement, fichier à plusieurs noms ou fichier spécial)."
        ),
        # capture: wound measurement and DICOM (capture/measure.py, capture/dicom.py)
        "no_marker": _(
            "Aucun marqueur trouvé : mesures en pixels. Posez le marqueur de 20 mm à plat près "
            "de la plaie, entièrement visible et net."
        ),
        "bad_points": _("Tracé de mesure invalide : il faut au moins 3 points et une surface."),
        "outside_plane": _("Un point de mesure est hors du plan du marqueur."),
        "not_a_jpeg": _("Ce fichier n’est pas une photo JPEG."),
        "jpeg_not_baseline": _(
            "Cette photo JPEG (progressive ou d’un format étendu) doit être réencodée avant "
            "l’export DICOM."
        ),
        "jpeg_rotated": _("Cette photo doit être redressée avant l’export DICOM."),
        "bad_patient_ref": _(
            "Référence patient invalide : 1 à 64 caractères, sans ^, = ni barre oblique inverse."
        ),
        "unknown_site": _("Localisation anatomique inconnue."),
        "not_dicom": _("Ce fichier n’est pas un fichier DICOM lisible."),
        "dicom_no_pixels": _("Ce fichier DICOM ne contient pas d’image."),
        "dicom_unsupported": _("La compression de cette image DICOM n’est pas prise en charge."),
        "dicom_damaged": _(
            "L’image de ce fichier DICOM est endommagée : elle ne peut pas être lue."
        ),
        "dicom_too_large": _(
            "Ce fichier DICOM est trop volumineux pour être importé (trop d’images, image trop "
            "grande ou mémoire insuffisante) : il est refusé."
        ),
        "unexpected": _("Une erreur inattendue est survenue ; elle est consignée dans le journal."),
    }
    if code not in texts and (text := identity_reason(code)) is not None:
        return text  # the patient's identity and the act: app.identity_text
    if code not in texts and (text := card_reason(code)) is not None:
        return text  # card identities (PKCS#11): app.card_text
    if code not in texts:
        from app.report_text import report_reason  # here: it imports this module

        if (text := report_reason(code)) is not None:
            return text  # the tele-expertise report: app.report_text
    return texts.get(code, _("Erreur inattendue ({code}).").format(code=code))


def error_reason(exc: BaseException) -> str:
    """The sentence for a core exception, by its ``code``. An exception without one is a
    bug: it is logged with its traceback and the user reads the generic sentence."""
    code = getattr(exc, "code", None)
    if code is None:
        log.error("unexpected error in background work", exc_info=exc)
    seconds = getattr(exc, "seconds_left", None)
    if code == "unlock_delayed" and isinstance(seconds, int | float):
        return unlock_delay_reason(seconds)
    name = getattr(exc, "name", None)
    if code == "draft_payload_damaged" and isinstance(name, str) and name:
        return _(
            "Le fichier {name} de ce brouillon est manquant ou endommagé sur ce poste :"
            " retirez-le de la demande et joignez-le à nouveau."
        ).format(name=name)
    problems = getattr(exc, "problems", None)
    if isinstance(problems, list) and code in PASSPHRASE_PROBLEMS:
        return passphrase_reason(problems)
    return reason(str(code) if code else "unexpected")


PASSPHRASE_PROBLEMS = (
    "passphrase_too_short",
    "passphrase_too_weak",
    "passphrase_is_a_name",
    "passphrase_demo_only",
)
"""The codes of ``crypto.passphrase.check_passphrase``."""


def passphrase_reason(problems: list[str]) -> str:
    """One sentence per problem of a new passphrase (``crypto.passphrase`` codes)."""
    return " ".join(reason(code) for code in problems)


def unlock_delay_reason(seconds: float) -> str:
    """Why an identity cannot be unlocked yet, with the time left (``unlock_delayed``)."""
    return _("Trop de mots de passe erronés : nouvel essai possible dans {delay}.").format(
        delay=human_duration(max(1, math.ceil(seconds)))
    )


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


def answer_label(key: str) -> str:
    """The question of a specialty (``cases.sections``) under ``key``, translated; the key
    itself for a question this version does not know."""
    labels = {
        "onset": _("Début et évolution"),
        "itch": _("Prurit"),
        "extent": _("Extension"),
        "skin_history": _("Antécédents cutanés"),
        "wound_age": _("Ancienneté de la plaie"),
        "pain": _("Douleur (EVA 0–10)"),
        "infection": _("Signes d’infection"),
        "dressing": _("Pansement actuel"),
        "hba1c": _("Dernière HbA1c"),
        "glucose": _("Glycémies"),
        "weight": _("Poids, IMC"),
        "procedure": _("Intervention prévue"),
        "asa": _("Score ASA"),
        "airway": _("Voies aériennes, intubation"),
        "liver_tests": _("Bilan hépatique"),
        "serology": _("Sérologies (VHB, VHC, VIH)"),
        "alcohol": _("Alcool, toxiques"),
        "ecg": _("ECG"),
        "blood_pressure": _("Tension, fréquence cardiaque"),
        "symptoms": _("Symptômes (douleur, dyspnée, syncope)"),
    }
    return labels.get(key, key)


def withdrawal_label(code: str) -> str:
    """Why a request was withdrawn (``cases.model.WITHDRAWAL_REASONS``), translated; a reason
    this version does not know is named by its code."""
    labels = {
        "released": _("patient libéré ou transféré"),
        "consent_withdrawn": _("consentement retiré par le patient"),
        "not_needed": _("demande devenue sans objet"),
        "sent_in_error": _("envoyée par erreur"),
    }
    return labels.get(code) or code


def outcome_label(code: str) -> str:
    """What an opinion advises (``cases.model.OUTCOMES``), translated; an outcome this
    version does not know is named by its code."""
    labels = {
        "on_site": _("Prise en charge sur place"),
        "new_request": _("Nouvelle demande à prévoir"),
        "more_information": _("Compléments nécessaires (photos, examens)"),
        "refer": _("Avis d’un confrère à demander"),
        "consultation": _("Consultation à l’hôpital à programmer"),
        "urgent_transfer": _("Extraction urgente"),
    }
    return labels.get(code) or _("Conduite non reconnue ({code})").format(code=code)


def body_site_label(code: str) -> str:
    """The label of a body site code of ``capture.photo.BODY_SITES``, translated."""
    labels = {
        "visage": _("visage"),
        "cuir_chevelu": _("cuir chevelu"),
        "cou": _("cou"),
        "thorax": _("thorax"),
        "abdomen": _("abdomen"),
        "dos": _("dos"),
        "membre_superieur_droit": _("membre supérieur droit"),
        "membre_superieur_gauche": _("membre supérieur gauche"),
        "main_droite": _("main droite"),
        "main_gauche": _("main gauche"),
        "membre_inferieur_droit": _("membre inférieur droit"),
        "membre_inferieur_gauche": _("membre inférieur gauche"),
        "pied_droit": _("pied droit"),
        "pied_gauche": _("pied gauche"),
        "organes_genitaux": _("organes génitaux"),
        "autre": _("autre"),
    }
    return labels.get(code, code)


def role_label(role: str) -> str:
    labels = {
        "doctor": _("Médecin de l’unité"),
        "secretary": _("Secrétariat"),
        "specialist": _("Spécialiste"),
        "unit": _("Archives de l’unité"),
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
        "acknowledged": _("Accusé de réception reçu"),
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


def cancel_reason_label(code: str) -> str:
    """The secretary's words for a cancellation reason code (``app.session.CANCEL_REASONS``)."""
    labels = {
        "duplicate": _("Envoi en double"),
        "wrong_recipient": _("Mauvais destinataire"),
        "request_withdrawn": _("Demande retirée par le médecin"),
        "patient_released": _("Patient libéré ou transféré"),
        "other": _("Autre motif"),
    }
    return labels.get(code, code)


def busy_text(holder: str) -> str:
    """Why the window cannot open its profile: ``holder`` (:class:`cases.profilelock.
    ProfileBusy`) has it, another window of the app or a command that repairs the queue."""
    if holder == "app":
        return _(
            "Passavant est déjà ouvert sur ce poste : dans une autre fenêtre, ou en arrière-plan "
            "le temps de finir ses envois (son icône près de l’horloge le rouvre). Deux Passavant "
            "ouverts sur le même profil enverraient les mêmes demandes."
        )
    return _(
        "La commande « passavant {command} » travaille sur le profil de ce poste : "
        "rouvrez Passavant quand elle aura fini."
    ).format(command=holder)
