"""What the person reads about documents: their types, what was removed, why one is refused.

Shared by the command line (``passavant document prepare``) and the request form; Qt-free.
"""

from __future__ import annotations

from app.i18n import _
from capture import pdfsafe


def type_label(code: str) -> str:
    """The name of a document type (``cases.documents.DOCUMENT_TYPES``); a code a later
    version added is shown as it is."""
    labels = {
        "biologie": _("Biologie"),
        "ecg": _("ECG"),
        "imagerie": _("Imagerie"),
        "compte_rendu": _("Compte rendu"),
        "autre": _("Autre"),
    }
    return labels.get(code, code)


def removed_label(code: str) -> str:
    """What a code of ``capture.documents.PreparedDocument.removed`` names."""
    labels = {
        "javascript": _("du JavaScript"),
        "open_action": _("une action lancée à l’ouverture"),
        "launch": _("le lancement d’un programme"),
        "embedded_files": _("des fichiers joints au PDF"),
        "forms": _("un formulaire (ses valeurs restent affichées)"),
        "external_links": _("des liens vers l’extérieur"),
        "actions": _("d’autres actions automatiques"),
        "multimedia": _("des contenus multimédias"),
        "info": _("les propriétés du document (auteur, titre, logiciel)"),
        "xmp": _("les métadonnées XMP"),
        "private_data": _("des données privées d’application"),
        "restrictions": _("des restrictions d’usage (sans mot de passe d’ouverture)"),
        "dicom_identity": _("l’identité du patient et de l’établissement (DICOM)"),
        "dicom_private": _("des éléments DICOM privés"),
    }
    if code in labels:
        return labels[code]
    from app.commands.photo import metadata_label  # an image's metadata

    return _("les métadonnées de la photo ({name})").format(name=metadata_label(code))


def removed_lines(removed: tuple[str, ...]) -> list[str]:
    """One sentence per thing removed, or one saying there was nothing."""
    if not removed:
        return [_("Rien à retirer.")]
    return [_("Retiré : {what}.").format(what=removed_label(code)) for code in removed]


def warning_lines(warnings: tuple[str, ...]) -> list[str]:
    """What the doctor must know about a prepared document (``warnings`` of a DICOM
    document, :mod:`capture.dicom_deid`), one plain sentence each; none when all is well."""
    texts = {
        "dicom_burned_in_text": _(
            "Attention : cette image peut porter du texte incrusté dans ses pixels (nom, date, "
            "établissement). Ce texte n’est pas effacé : vérifiez l’image avant de l’envoyer."
        ),
    }
    return [texts.get(code, code) for code in warnings]


def refusal(code: str | None) -> str:
    """Why a file cannot be attached, in one plain sentence."""
    from app.messages import human_size, reason

    texts = {
        pdfsafe.ENCRYPTED: _(
            "Ce PDF est protégé par un mot de passe : ouvrez-le et enregistrez-le sans "
            "protection, puis joignez-le à nouveau."
        ),
        pdfsafe.DAMAGED: _("Ce PDF est incomplet ou endommagé : il ne peut pas être joint."),
        pdfsafe.TOO_LARGE: _(
            "Ce PDF est trop volumineux ou trop complexe pour une demande (au plus {pages} "
            "pages et {size})."
        ).format(pages=pdfsafe.MAX_PAGES, size=human_size(pdfsafe.MAX_BYTES)),
        "not_a_document": _(
            "Ce fichier n’est ni un PDF, ni une image DICOM, ni une photo : il ne peut pas être "
            "joint."
        ),
        "empty_file": _("Le fichier est vide."),
    }
    return texts.get(code or "", "") or reason(code)
