"""Who may speak in a case: the one place where a bundle is allowed to join another.

Every join between bundles is an authorisation decision. It is made here, on facts taken from
the **validated signer certificate** and the **signed manifest**, never on the free text a
manifest says of its own author. The case store (:mod:`cases.store`) applies these rules once,
when a bundle arrives or is sealed here, and records the decision in the index.

The rules (also a table in ``docs/bundle-format.md`` and ARCHITECTURE.md):

=============  ===============================================  ===========================
bundle         joins                                            only when
=============  ===============================================  ===========================
any            (is admitted at all)                             the manifest's ``sender``
                                                                 (name, role, organisation,
                                                                 fingerprint) is its signer's
                                                                 certificate
request        starts its own case, identified by its signed    its signer's certificate
               ``bundle_id``                                    says ``doctor``; its
                                                                 ``case_id`` is not already
                                                                 another signer's case here;
                                                                 what it ``follows`` is a case
                                                                 here of the same organisation
opinion        the request its ``in_reply_to`` names            its signer is a recipient of
                                                                 that signed request, with the
                                                                 ``specialist`` role in its
                                                                 certificate, is not the
                                                                 request's author, and the
                                                                 case ids agree
withdrawal     the request its ``in_reply_to`` names            its signer is that request's
                                                                 author and the case ids agree
receipt        the bundle (request or opinion) it acknowledges  its signer is a recipient of
                                                                 that bundle, and the bundle
                                                                 was written by the reader
=============  ===============================================  ===========================

"Its signer is a recipient": by the certificate that signed, or, for a card signer
(``cases.cardidentity``), by the encryption certificate its signature embeds and that was
checked as its pair (:attr:`Speaker.reader`).

A bundle whose target is not here yet *waits* (it is not shown); it is decided again when the
target arrives. Everything refused carries a reason code, journalled with ids only.

This module is pure: no disk, no network, no clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


@dataclass(frozen=True)
class Speaker:
    """A person as their validated certificate describes them (never the manifest's text)."""

    fingerprint: str
    name: str
    role: str  # doctor, secretary, specialist or unit; "" when the certificate says none
    organization: str
    reader: str | None = None
    """A card signer's encryption certificate's fingerprint, embedded in its signature and
    checked as its pair (``cases.cardidentity.paired_reader``): as a recipient, that
    certificate is this person."""


@dataclass(frozen=True)
class Document:
    """What the rules need to know of one bundle, once it was decrypted and verified.

    Attributes:
        bundle_id: The signed bundle id.
        kind: request, opinion, receipt or withdrawal.
        signer: Who signed it (from the validated certificate).
        recipients: Fingerprints of every recipient the signed manifest names.
        case_id: The case id the manifest carries (not a secret: only a label).
        in_reply_to: The bundle it answers, acknowledges or withdraws.
        follows: For a request, the case id of the earlier request it follows up.
    """

    bundle_id: str
    kind: str
    signer: Speaker
    recipients: frozenset[str]
    case_id: str | None = None
    in_reply_to: str | None = None
    follows: str | None = None


class Verdict(Enum):
    ADMIT = "admit"  # shown: a request's own case, or joined to its target
    WAIT = "wait"  # its target is not here (yet): kept, not shown
    REFUSE = "refuse"  # never shown; the reason is told once and journalled


@dataclass(frozen=True)
class Decision:
    """The outcome for one bundle: ``case`` is the bundle id of the request whose case it
    belongs to (for an admitted request, its own id; for a receipt, the bundle it
    acknowledges); ``reason`` is a code when refused."""

    verdict: Verdict
    case: str | None = None
    reason: str = ""


def refuse(reason: str) -> Decision:
    return Decision(Verdict.REFUSE, None, reason)


WAIT = Decision(Verdict.WAIT)

REASONS = (
    "sender_not_signer",
    "request_not_from_doctor",
    "case_id_taken",
    "follows_foreign_case",
    "opinion_not_from_addressee",
    "withdrawal_not_from_author",
    "receipt_not_from_recipient",
    "receipt_for_another",
    "case_mismatch",
    "wrong_target",
    "unknown_kind",
)
"""Every refusal code this module gives (the UI has a sentence for each)."""


def sender_matches(claimed: Speaker, signer: Speaker) -> bool:
    """Whether the manifest's ``sender`` (``claimed``) is exactly the signer's certificate."""
    return claimed == signer


def decide(
    doc: Document,
    target: Document | None,
    *,
    reader: str,
    same_case_id: Document | None = None,
    followed: Document | None = None,
) -> Decision:
    """Where ``doc`` goes in the case store of the person whose fingerprint is ``reader``.

    Args:
        doc: The bundle to decide on.
        target: For an opinion, a withdrawal or a receipt, the bundle its ``in_reply_to``
            names, when the store has it (``None``: not here yet).
        reader: The fingerprint of the person whose store this is.
        same_case_id: For a request, an admitted request already here with the same
            ``case_id``, if any.
        followed: For a request that follows another, the admitted request here with the
            ``case_id`` it follows, if any (absent: the link is simply not shown).
    """
    if doc.kind == "request":
        return _request(doc, same_case_id, followed)
    if doc.kind not in ("opinion", "withdrawal", "receipt"):
        return refuse("unknown_kind")
    if doc.in_reply_to is None:  # it names nothing it could join: never kept waiting
        return refuse("wrong_target")
    if target is None:
        return WAIT
    if target.bundle_id != doc.in_reply_to:
        return refuse("wrong_target")
    if doc.kind == "receipt":
        return _receipt(doc, target, reader)
    if target.kind != "request":
        return refuse("wrong_target")
    if doc.case_id != target.case_id:
        return refuse("case_mismatch")
    if doc.kind == "opinion":
        if (
            _is_recipient(doc.signer, target)
            and doc.signer.role == "specialist"
            and doc.signer.fingerprint != target.signer.fingerprint
        ):
            return Decision(Verdict.ADMIT, target.bundle_id)
        return refuse("opinion_not_from_addressee")
    if doc.signer.fingerprint == target.signer.fingerprint:
        return Decision(Verdict.ADMIT, target.bundle_id)
    return refuse("withdrawal_not_from_author")


def _request(doc: Document, same: Document | None, followed: Document | None) -> Decision:
    if doc.signer.role != "doctor":
        return refuse("request_not_from_doctor")
    if same is not None and same.signer.fingerprint != doc.signer.fingerprint:
        return refuse("case_id_taken")
    if followed is not None and followed.signer.organization != doc.signer.organization:
        return refuse("follows_foreign_case")
    return Decision(Verdict.ADMIT, doc.bundle_id)


def _receipt(doc: Document, target: Document, reader: str) -> Decision:
    if target.kind not in ("request", "opinion") or target.signer.fingerprint != reader:
        return refuse("receipt_for_another")
    if not _is_recipient(doc.signer, target) or doc.signer.fingerprint == target.signer.fingerprint:
        return refuse("receipt_not_from_recipient")
    return Decision(Verdict.ADMIT, target.bundle_id)


def _is_recipient(speaker: Speaker, target: Document) -> bool:
    """Whether ``speaker`` is among ``target``'s recipients: by the certificate that signed,
    or by the encryption certificate paired with a card's (:attr:`Speaker.reader`)."""
    return speaker.fingerprint in target.recipients or (
        speaker.reader is not None and speaker.reader in target.recipients
    )


def waits_for(doc: Document) -> str | None:
    """The bundle id whose arrival decides ``doc`` again when it waits."""
    return doc.in_reply_to if doc.kind != "request" else None
