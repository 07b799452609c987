"""Opening a sealed bundle for this person: the one way a bundle is read at ingestion.

Every bundle, whatever its size, goes through ``crypto.stream.open_file``: one pass over the
sealed bytes (decrypted, the GCM tag and then the signature and the signer's certificate
checked) into a scratch chosen by :func:`cases.reopen.sink_for` (memory up to
:data:`cases.reopen.IN_MEMORY_MAX`, an encrypted temporary file above), then
``cases.bundlestream.unpack_content``: the ZIP checked one member at a time (names, count,
declared sizes summed before inflating, each file's size and SHA-256). Nothing of the
content is readable before the tag and the signature were checked.

The bound on what a bundle may declare follows where its content waits: 512 MiB in memory
(as ``cases.bundle.unpack``), 2 GiB from a temporary file (clips).
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import BinaryIO

from cryptography import x509

from cases.bundleformat import MAX_STREAM_SIZE, MAX_TOTAL_SIZE, Bundle, Party
from cases.bundlestream import unpack_content
from cases.cardidentity import paired_reader
from cases.errors import BundleError
from cases.profile import Profile, UnlockedIdentity
from cases.reopen import IN_MEMORY_MAX, sink_for
from cases.speaking import Speaker, sender_matches
from cases.threads import Opened
from crypto import pki, stream
from crypto._scratch import MemoryScratch

MAX_TRANSIT = timedelta(days=30)
"""How long before the platform received a bundle its signing time may be (an outbox held
through a long outage); a signing time further back, or after the platform received it,
is not believed: a signer whose certificate expired could otherwise sign new bundles by
stating an earlier time."""

CLOCK_SKEW = timedelta(minutes=10)


@dataclass
class OpenedFile:
    """A bundle opened from its sealed file: the document, the SHA-256 of the sealed bytes
    read (for the index), and its content, to :meth:`close` once the document was placed
    (its payloads are read from it until then)."""

    opened: Opened
    sha256: str
    content: stream.StreamContent

    def close(self) -> None:
        self.content.close()


class _Hashing:
    """The sealed file as read by the walk, hashed on the way: its SHA-256 costs no second
    reading."""

    def __init__(self, file: BinaryIO) -> None:
        self._file, self.digest = file, hashlib.sha256()

    def read(self, size: int = -1, /) -> bytes:
        data = self._file.read(size)
        self.digest.update(data)
        return data


def open_sealed(
    sealed: Path | bytes,
    profile: Profile,
    me: UnlockedIdentity,
    in_memory_max: int = IN_MEMORY_MAX,
) -> OpenedFile:
    """Decrypt, verify and unpack one bundle for ``me``; the sender shown is the signer's
    validated certificate, and the manifest must say exactly that.

    Raises:
        CryptoError: not for us, altered, or an untrusted signer.
        CaseError: the bundle is malformed or its sender is not its signer.
        OSError: the file cannot be read.
    """
    if isinstance(sealed, Path):
        sink = sink_for(sealed, in_memory_max)
        file: BinaryIO = sealed.open("rb")
    else:
        sink = MemoryScratch(None, len(sealed), limit=len(sealed))
        file = io.BytesIO(sealed)
    with file:
        hashing = _Hashing(file)
        content = stream.open_file(
            hashing,  # type: ignore[arg-type]  # read() is all the walk needs
            me.certificate, me.key, profile.trust_roots(), crls=profile.crls(), scratch=sink,
        )  # fmt: skip
        hashing.digest.update(file.read())  # nothing follows a whole message: open_file checked
    try:
        assert content.signer is not None  # open_file validated it
        bundle = unpack_content(
            content,
            signer_fingerprint=pki.fingerprint(content.signer),
            reader_fingerprint=me.reader_fingerprint,
            max_size=MAX_TOTAL_SIZE if content.in_memory else MAX_STREAM_SIZE,
        )
        opened = _opened(profile, bundle, content.signer, content.signed_at, content.others)
        return OpenedFile(opened, hashing.digest.hexdigest(), content)
    except BaseException:
        content.close()
        raise


def _opened(
    profile: Profile,
    bundle: Bundle,
    signer_cert: x509.Certificate,
    signed_at: datetime | None,
    others: tuple[x509.Certificate, ...],
) -> Opened:
    """The sender checked against the signer; a card signer's reader paired."""
    claimed = bundle.manifest.sender
    signer = Party.of_certificate(signer_cert, claimed.mailbox)
    if not sender_matches(speaker(claimed), speaker(signer)):
        raise BundleError("sender_not_signer", "the manifest's sender is not its signer")
    reader = None
    if others:  # a card signer's encryption certificate (cases.cardidentity)
        reader = paired_reader(signer_cert, others, profile.trust_roots(), profile.crls())
    return Opened(bundle.manifest.bundle_id, signer, signed_at, bundle, reader)


def speaker(party: Party) -> Speaker:
    """A party as the speaking rules see it."""
    return Speaker(party.fingerprint, party.display_name, party.role, party.organization)


def check_signing_time(signed_at: datetime | None, received_at: str | None) -> None:
    """Refuse a signing time the platform's reception time makes implausible: after it (beyond
    clock skew), or more than :data:`MAX_TRANSIT` before it. The signer's certificate is
    validated at the signing time it states (``crypto.cms``); this bounds how far back that
    statement is believed, so an expired certificate cannot keep signing by backdating.

    Raises:
        BundleError: ``signing_time_implausible``.
    """
    if signed_at is None or not received_at:
        return
    try:
        received = datetime.fromisoformat(received_at.replace("Z", "+00:00"))
    except ValueError:
        return  # not the platform's format: nothing to compare with (the inbox checked it)
    if received.tzinfo is None:
        received = received.replace(tzinfo=UTC)
    if signed_at > received + CLOCK_SKEW or signed_at < received - MAX_TRANSIT:
        raise BundleError(
            "signing_time_implausible",
            f"signed {signed_at.isoformat()}, received by the platform {received.isoformat()}",
        )
