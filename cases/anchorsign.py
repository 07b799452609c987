"""A checkpoint's signed content, and what its signature shows (``cases.anchor``).

When a person unlocks, the checkpoint of the audit journal sent then is signed with their key:
CMS SignedData over :func:`checkpoint_content`, which names :data:`FORMAT` so that a signature
made for anything else never counts. :func:`verify_signature` and :func:`signature_checks`
say, for each signed checkpoint the platform lists, whether its signature covers it, and who
signed. ``cases.anchor`` sends the checkpoints and re-exports every name here.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from cryptography import x509

from cases.profile import Profile, UnlockedIdentity
from crypto import cms, pki
from crypto.errors import BadSignature, CryptoError, MalformedMessage, UntrustedSigner
from outbox.platform import JournalCheckpoint

__all__ = [
    "FORMAT",
    "SignatureCheck",
    "checkpoint_content",
    "identity_fingerprints",
    "sign_checkpoint",
    "signature_checks",
    "verify_signature",
]

FORMAT = "passavant-audit-checkpoint/1"
"""Named in the signed content, so that a signature made for something else never counts."""


def checkpoint_content(station: str, count: int, head: str, when: str) -> bytes:
    """The bytes a person signs: canonical JSON (sorted keys, no spaces) of the format name,
    the station, the entry count, the head's hash and the station's time."""
    document = {"format": FORMAT, "station": station, "count": count, "head": head, "time": when}
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode("ascii")


def sign_checkpoint(
    station: str, checkpoint: JournalCheckpoint, me: UnlockedIdentity
) -> JournalCheckpoint:
    """``checkpoint`` with the base64 CMS SignedData of :func:`checkpoint_content` by ``me``."""
    content = checkpoint_content(station, checkpoint.count, checkpoint.head, checkpoint.time)
    signed = cms.sign(content, me.signer_certificate, me.signer_key)
    return dataclasses.replace(checkpoint, signature=base64.b64encode(signed).decode("ascii"))


@dataclass(frozen=True)
class SignatureCheck:
    """What a checkpoint's signature shows.

    Attributes:
        count: The checkpoint's entry count.
        signer: The identity of this profile that signed (its id), else the signing
            certificate's common name; ``None`` when the signature could not be read.
        code: ``None`` when valid; ``bad_signature``, ``content_differs`` or ``malformed``
            when the signature does not vouch for this checkpoint (altered, or made for
            another); ``untrusted_signer``, ``certificate_expired`` or
            ``certificate_revoked`` when its signer cannot be trusted here (today).
        local: Whether the signer is an identity of this profile.
    """

    count: int
    signer: str | None
    code: str | None
    local: bool = False

    @property
    def valid(self) -> bool:
        return self.code is None

    @property
    def contradicts(self) -> bool:
        """The signature does not cover this checkpoint: it was altered or made up."""
        return self.code in ("bad_signature", "content_differs", "malformed")


def verify_signature(
    station: str,
    checkpoint: JournalCheckpoint,
    roots: list[x509.Certificate],
    crls: list[x509.CertificateRevocationList],
    identities: Mapping[str, str],
) -> SignatureCheck:
    """Check a signed checkpoint against the profile's trust anchors.

    Args:
        station: This profile's station id (named in the signed content).
        checkpoint: A checkpoint with a ``signature``.
        roots: The profile's trust anchors.
        crls: The profile's revocation lists.
        identities: Certificate fingerprint -> identity id, for this profile's identities.
    """
    count = checkpoint.count
    try:
        der = base64.b64decode(checkpoint.signature or "", validate=True)
        verified = cms.verify(der, roots, crls=crls)
    except (binascii.Error, ValueError):
        return SignatureCheck(count, None, "malformed")
    except UntrustedSigner as err:
        return SignatureCheck(count, None, err.code)
    except BadSignature:
        return SignatureCheck(count, None, "bad_signature")
    except (MalformedMessage, CryptoError):
        return SignatureCheck(count, None, "malformed")
    fingerprint = pki.fingerprint(verified.signer)
    local = fingerprint in identities
    signer = identities.get(fingerprint) or _common_name(verified.signer)
    expected = checkpoint_content(station, count, checkpoint.head, checkpoint.time)
    if verified.content != expected:
        return SignatureCheck(count, signer, "content_differs", local)
    return SignatureCheck(count, signer, None, local)


def _common_name(cert: x509.Certificate) -> str:
    names = cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    return str(names[0].value) if names else pki.fingerprint(cert)[:16]


def identity_fingerprints(profile: Profile) -> dict[str, str]:
    """Certificate fingerprint -> identity id, for the profile's identities."""
    found: dict[str, str] = {}
    for info in profile.identities():
        try:
            cert = pki.load_cert_pem((profile.identity_folder(info.id) / "cert.pem").read_bytes())
        except (OSError, ValueError, CryptoError):
            continue
        found[pki.fingerprint(cert)] = info.id
    return found


def signature_checks(
    profile: Profile, checkpoints: Iterable[JournalCheckpoint]
) -> list[SignatureCheck]:
    """Check every signed checkpoint against the profile's trust anchors."""
    signed = [c for c in checkpoints if c.signature]
    if not signed:
        return []
    roots, crls = profile.trust_roots(), profile.crls()
    identities = identity_fingerprints(profile)
    return [verify_signature(profile.station_id, c, roots, crls, identities) for c in signed]
