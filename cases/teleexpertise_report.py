"""The tele-expertise report for the records (compte rendu de télé-expertise): made, checked.

One PDF/A-3b file (:mod:`cases.pdfa`) that any hospital can file and check: the request
(patient's identity when the request carries one, question, photos with what was measured,
documents' list) and the opinions with what they advise, signed PAdES (:mod:`cases.pades`)
by the person who makes it, with each opinion's own signed form attached.

Who signs. The specialist makes it from the opinion they sent, and signs it as its author.
The doctor makes it from the opinion received and cannot sign as the specialist: the
doctor's report is signed by the doctor as "copie établie par" (the PDF signature's reason
says so), and carries, as associated files, the opinions exactly as their authors signed them
(CMS SignedData, the bundle format's inner layer, which ``openssl cms -verify`` reads). So a
reader always learns two facts, each from a signature: who made this PDF, and who wrote the
opinion it quotes. :func:`check_report` establishes both; a PDF whose signer is not the
author of the opinions it carries is said to be a copy, never presented as the author's.

The layout itself (words, in the interface's language) is the caller's: ``app.report_pdf``.
Nothing here writes a file: the caller writes where the person chose.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from cryptography import x509

from cases.bundle import Party, unpack
from cases.errors import CaseError, MalformedBundle
from cases.pades import ReportError, Signature, check_pdf, sign_pdf
from cases.pdfa import Attachment, archive
from cases.profile import UnlockedIdentity
from cases.threads import CaseThread, Opened
from cases.timestamp import INVALID, Stamp, TimestampError, TsaSettings, ready_timestamper
from cases.workstation import Workstation
from crypto import cms, pki
from crypto.errors import CryptoError

log = logging.getLogger(__name__)

ATTACHMENT_PREFIX = "avis-signe-"
"""Associated files named ``avis-signe-<opinion bundle id>.p7m``: an opinion as signed."""

ATTACHMENT_TYPE = "application/pkcs7-mime"

MAX_ATTACHMENTS = 16

MAX_OPINION = 8 * 1024 * 1024
"""The largest signed opinion read from a report (its manifest is at most 4 MiB)."""

AUTHOR = "author"
COPY = "copy"


@dataclass(frozen=True)
class SignedOpinion:
    """An opinion of the thread and its signed form (CMS SignedData, DER)."""

    opened: Opened
    signed: bytes


def signed_opinions(
    read_sealed: Callable[[str], bytes], me: UnlockedIdentity, thread: CaseThread
) -> list[SignedOpinion]:
    """Each opinion of ``thread`` with the SignedData its author made, taken from the sealed
    bundle ``read_sealed(bundle_id)`` returns (decrypted with ``me``'s key, not verified
    again: the case store verified it when it was ingested).

    Raises:
        ReportError: ``not_answered``, the thread has no opinion; ``opinion_unreadable``, a
            sealed opinion is gone or cannot be decrypted.
    """
    if not thread.opinions:
        raise ReportError("not_answered", "the request has no opinion")
    found = []
    for opened in thread.opinions:
        try:
            sealed = read_sealed(opened.bundle_id)
            signed = cms.decrypt(sealed, me.certificate, me.key)
        except (OSError, CryptoError) as exc:
            raise ReportError("opinion_unreadable", repr(exc)) from exc
        found.append(SignedOpinion(opened, signed))
    return found


def role_of(me: UnlockedIdentity, thread: CaseThread) -> str:
    """:data:`AUTHOR` when ``me`` wrote one of the thread's opinions, else :data:`COPY`."""
    mine = any(o.sender.fingerprint == me.fingerprint for o in thread.opinions)
    return AUTHOR if mine else COPY


@dataclass(frozen=True)
class SignedReport:
    """A signed report's bytes, and what came of asking for its time-stamp."""

    data: bytes
    stamp: Stamp = field(default_factory=Stamp)


def make_report(
    me: UnlockedIdentity,
    thread: CaseThread,
    opinions: Sequence[SignedOpinion],
    layout: Callable[[str], bytes],
    *,
    reason: str,
    location: str = "",
    tsa: TsaSettings | None = None,
) -> SignedReport:
    """The signed PDF/A report of ``thread`` made by ``me``.

    ``layout(role)`` lays the report out (reportlab PDF bytes) for ``role`` (:func:`role_of`);
    ``reason`` is the signature's reason a reader shows ("Auteur de l'avis", "Copie établie
    par …"). With ``tsa``, the signature is time-stamped (PAdES B-T); when the authority
    gives no usable time-stamp, the report is signed without one (B-B) and ``stamp`` says
    why: a report is never held back by an authority.

    Raises:
        ReportError: ``not_answered``, ``signature_failed``.
        PdfaError: ``pdfa_failed``, ``no_font``.
    """
    if not thread.opinions or not opinions:
        raise ReportError("not_answered", "the request has no opinion")
    attachments = [
        Attachment(
            f"{ATTACHMENT_PREFIX}{o.opened.bundle_id}.p7m",
            o.signed,
            ATTACHMENT_TYPE,
            f"Avis signé par {o.opened.sender.display_name} (CMS SignedData)",
        )
        for o in opinions
    ]
    pdfa = archive(layout(role_of(me, thread)), attachments)

    def signed(stamper: object = None) -> bytes:
        return sign_pdf(
            pdfa,
            me.signer_certificate,  # on the card, for a card identity
            me.signer_key,
            reason=reason,
            location=location,
            timestamper=stamper,
        )

    if tsa is None:
        return SignedReport(signed())
    try:
        stamper = ready_timestamper(tsa)
        data = signed(stamper)
    except (TimestampError, ReportError) as exc:  # a key that cannot sign fails again below
        code = exc.code if isinstance(exc, TimestampError) else INVALID
        log.warning("no time-stamp for the report (%s): %s", code, exc)
        return SignedReport(signed(), Stamp(asked=True, problem=code))
    return SignedReport(data, Stamp(asked=True, at=stamper.stamped_at))


# --- checking ---------------------------------------------------------------------------


@dataclass(frozen=True)
class OpinionCheck:
    """An opinion the report carries, as its own signature establishes it."""

    bundle_id: str
    author: Party | None  # None: its signature did not verify
    signed_at: datetime | None
    request_id: str | None
    code: str = ""  # why it did not verify


@dataclass(frozen=True)
class ReportCheck:
    """What a report's signatures establish.

    Attributes:
        signatures: every PAdES signature, checked (the last one made is last).
        opinions: every opinion attached, checked.
        verdict: ``author`` (signed, intact, trusted, by the author of every opinion it
            carries), ``copy`` (the same, by someone else: a copy whose opinions' authors
            are named by their own signatures), ``unsigned``, ``modified`` (a signature does
            not cover the file as it is), ``untrusted`` (the certificate is not one this
            profile trusts), ``no_opinion`` (no attached opinion verifies: who wrote the
            opinion is not established), ``not_a_specialist`` (an opinion's signer is not a
            specialist), ``bad_timestamp`` (a signature carries a time-stamp that does not
            verify: its time must not be believed).
    """

    signatures: list[Signature]
    opinions: list[OpinionCheck] = field(default_factory=list)
    verdict: str = "unsigned"

    @property
    def good(self) -> bool:
        return self.verdict in (AUTHOR, COPY)

    @property
    def signer(self) -> Signature | None:
        return self.signatures[-1] if self.signatures else None


def check_report(
    pdf: bytes,
    trust_roots: Sequence[x509.Certificate],
    crls: Sequence[x509.CertificateRevocationList] = (),
    tsa_roots: Sequence[x509.Certificate] = (),
) -> ReportCheck:
    """Check ``pdf``'s signatures and the opinions it carries against ``trust_roots``
    (``tsa_roots``: the time-stamp authorities' roots trusted besides them).

    Raises:
        ReportError: ``not_a_pdf``, ``report_too_large``, ``too_many_signatures``.
    """
    signatures = check_pdf(pdf, trust_roots, crls, tsa_roots)
    opinions = [_opinion(name, data, trust_roots, crls) for name, data in _attached(pdf)]
    return ReportCheck(signatures, opinions, _verdict(signatures, opinions))


def _verdict(signatures: list[Signature], opinions: list[OpinionCheck]) -> str:
    if not signatures:
        return "unsigned"
    if not all(s.intact for s in signatures) or not signatures[-1].whole_file:
        return "modified"
    if not all(s.trusted for s in signatures):
        return "untrusted"
    if any(s.timestamp is not None and not s.timestamp.intact for s in signatures):
        return "bad_timestamp"
    authors = [o.author for o in opinions if o.author is not None]
    if not authors or len(authors) != len(opinions):
        return "no_opinion"
    if any(a.role != "specialist" for a in authors):
        return "not_a_specialist"
    signer = signatures[-1].signer.fingerprint
    return AUTHOR if any(a.fingerprint == signer for a in authors) else COPY


def _attached(pdf: bytes) -> list[tuple[str, bytes]]:
    """The report's attached signed opinions (name, bytes); at most
    :data:`MAX_ATTACHMENTS`, each inflated to :data:`MAX_OPINION` bytes at most (a larger
    one is left out, so its opinion does not verify)."""
    import io

    import pikepdf

    found = []
    try:
        with pikepdf.open(io.BytesIO(pdf)) as doc:
            names = [n for n in doc.attachments if n.startswith(ATTACHMENT_PREFIX)]
            for name in names[:MAX_ATTACHMENTS]:
                data = _bounded_stream(doc.attachments[name].get_file().obj)
                if data is not None:
                    found.append((name, data))
    except (pikepdf.PdfError, ValueError, KeyError, AttributeError) as exc:
        log.info("the report's attachments cannot be read: %r", exc)
    return found


def _bounded_stream(stream: object) -> bytes | None:
    """A stream's bytes, plain or deflated, never inflated past :data:`MAX_OPINION`."""
    import zlib

    import pikepdf

    assert isinstance(stream, pikepdf.Stream)
    raw = stream.read_raw_bytes()
    filters = stream.get("/Filter")
    if filters is None:
        return raw if len(raw) <= MAX_OPINION else None
    if isinstance(filters, pikepdf.Array):
        filters = filters[0] if len(filters) == 1 else None
    if filters != pikepdf.Name.FlateDecode or stream.get("/DecodeParms") is not None:
        return None
    inflater = zlib.decompressobj()
    try:
        data = inflater.decompress(raw, MAX_OPINION + 1)
    except zlib.error:
        return None
    return data if len(data) <= MAX_OPINION and not inflater.unconsumed_tail else None


def _opinion(
    name: str,
    data: bytes,
    trust_roots: Sequence[x509.Certificate],
    crls: Sequence[x509.CertificateRevocationList],
) -> OpinionCheck:
    bundle_id = name.removeprefix(ATTACHMENT_PREFIX).removesuffix(".p7m")
    try:
        verified = cms.verify(data, trust_roots, crls=crls)
        signer = pki.fingerprint(verified.signer)
        bundle = unpack(verified.content, signer_fingerprint=signer, reader_fingerprint=signer)
    except (CryptoError, CaseError, MalformedBundle, ValueError) as exc:
        code = getattr(exc, "code", type(exc).__name__)
        return OpinionCheck(bundle_id, None, None, None, str(code))
    manifest = bundle.manifest
    if manifest.kind != "opinion" or manifest.bundle_id != bundle_id:
        return OpinionCheck(bundle_id, None, None, None, "not_an_opinion")
    return OpinionCheck(
        bundle_id,
        Party.of_certificate(verified.signer),
        verified.signed_at,
        manifest.in_reply_to,
    )


def sealed_reader(workstation: Workstation) -> Callable[[str], bytes]:
    """Reads a bundle of ``workstation`` as it lies sealed, in the archive (what this
    profile sealed) or in the inbox (what arrived)."""

    def read(bundle_id: str) -> bytes:
        archived = workstation.profile.path("archive") / f"{bundle_id}.cms"
        if archived.is_file():
            return archived.read_bytes()
        item = workstation.inbox.get(bundle_id)
        if item is None:
            raise FileNotFoundError(bundle_id)
        return item.path.read_bytes()

    return read


def find_thread(threads: Sequence[CaseThread], request_id: str) -> CaseThread:
    """The thread whose request has the bundle id (or the case id) ``request_id``.

    Raises:
        ReportError: ``unknown_request``.
    """
    for thread in threads:
        if request_id in (thread.case.bundle_id, thread.case_id):
            return thread
    raise ReportError("unknown_request", request_id)


def write_new(path: Path, data: bytes, *, replace: bool = False) -> Path:
    """Write ``data`` to ``path`` whole or not at all (a temporary file in the same folder,
    fsync, rename), readable by its owner only (it is medical content). When ``path`` exists
    and ``replace`` is false, the name gets ``-2``, ``-3``… (a drop folder never loses a
    file). Returns the path written.

    Raises:
        OSError: the folder cannot be written.
    """
    target = path
    n = 1
    while not replace and target.exists():
        n += 1
        if n > 999:
            raise FileExistsError(str(path))
        target = path.with_name(f"{path.stem}-{n}{path.suffix}")
    handle, temp = tempfile.mkstemp(prefix=".passavant-", suffix=".part", dir=target.parent)
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, target)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    return target
