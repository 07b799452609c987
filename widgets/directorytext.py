"""How the platform's directory is shown: a recipient's label, RPPS number and tooltip, and
the RPPS numbers a case's signatures and the directory disagree on.

The directory's RPPS number helps a person choose a recipient (homonyms, locums); the act
takes the number signed into the request or the opinion (``cases.acts``). When the
directory lists another one for a signer, the view says so beside the signed one
(:func:`rpps_disagreements`), which stays the act's.
"""

from __future__ import annotations

from collections.abc import Sequence

from app.i18n import _
from app.messages import specialty_label
from cases.bundleformat import Party
from cases.threads import CaseThread
from outbox.platform import DirectoryEntry, rpps_discrepancy

__all__ = ["entry_label", "entry_tooltip", "rpps_caption", "rpps_disagreements"]


def entry_label(entry: DirectoryEntry) -> str:
    """``Pr Marc Dubois — Dermatologie``: a chooser's line."""
    if entry.specialty:
        return entry.display_name + " — " + specialty_label(entry.specialty)
    return entry.display_name


def rpps_caption(entry: DirectoryEntry | None) -> str:
    """``RPPS 10002345675``, under a chooser, for the recipient chosen."""
    if entry is None:
        return ""
    if entry.rpps is None:
        return _("RPPS non indiqué par l’annuaire")
    return _("RPPS {rpps}").format(rpps=entry.rpps)


def entry_tooltip(entry: DirectoryEntry) -> str:
    """A chooser's line in full, with the RPPS number the directory lists."""
    return "\n".join((entry_label(entry), rpps_caption(entry)))


def _entry_of(party: Party, directory: Sequence[DirectoryEntry]) -> DirectoryEntry | None:
    """The directory's entry for a signer: its certificate, else its mailbox (a card's
    signing certificate is not the directory's)."""
    for entry in directory:
        if entry.certificate_sha256 and entry.certificate_sha256 == party.fingerprint:
            return entry
    for entry in directory:
        if party.mailbox and entry.id == party.mailbox:
            return entry
    return None


def rpps_disagreements(thread: CaseThread, directory: Sequence[DirectoryEntry]) -> list[str]:
    """A sentence for each signer of ``thread`` whose signed RPPS number the directory
    contradicts (the requester's in the request, each expert's in their opinion)."""
    signed: list[tuple[Party, str]] = []
    case = thread.case.bundle.case
    if case is not None:
        signed.append((thread.case.sender, case.requester_rpps))
    for opened in thread.opinions:
        if opened.bundle.opinion is not None:
            signed.append((opened.sender, opened.bundle.opinion.expert_rpps))
    found = []
    for party, number in signed:
        listed = rpps_discrepancy(number, _entry_of(party, directory))
        if listed is not None:
            found.append(
                _(
                    "{name} a signé avec le RPPS {signed} ; l’annuaire de la plateforme "
                    "indique {listed}. L’acte retient le RPPS signé."
                ).format(name=party.display_name, signed=number, listed=listed)
            )
    return found
