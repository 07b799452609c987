"""A test PKI built once per test session: RSA-3072 key generation is the slow part.

``world()`` returns the Passavant CA with a doctor, two specialists, a secretary and a TLS
server, plus a rogue CA that issued a look-alike doctor certificate. Helpers write
certificates and unencrypted keys to files for ``openssl``.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from crypto import pki


@dataclass(frozen=True)
class Identity:
    """A certificate and its private key."""

    cert: x509.Certificate
    key: rsa.RSAPrivateKey

    def write(self, folder: Path, name: str) -> tuple[Path, Path]:
        """Write ``name.pem`` (certificate) and ``name.key`` (unencrypted PKCS#8 key)."""
        cert_path, key_path = folder / f"{name}.pem", folder / f"{name}.key"
        cert_path.write_bytes(pki.cert_to_pem(self.cert))
        key_path.write_bytes(
            self.key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        return cert_path, key_path


@dataclass(frozen=True)
class World:
    """Everything a crypto test needs; read-only, shared by the whole session."""

    ca: Identity
    doctor: Identity
    specialist: Identity
    other_specialist: Identity
    secretary: Identity
    server: Identity
    rogue_ca: Identity
    rogue_doctor: Identity

    @property
    def roots(self) -> list[x509.Certificate]:
        """The trust roots of a Passavant workstation."""
        return [self.ca.cert]


def _person(ca: Identity, name: str, role: str, organization: str) -> Identity:
    key = pki.new_private_key()
    cert = pki.issue_person_certificate(
        ca.cert,
        ca.key,
        key.public_key(),
        common_name=name,
        role=role,
        organization=organization,
        can_decrypt=role != "secretary",
    )
    return Identity(cert, key)


@functools.cache
def world() -> World:
    """Build the test PKI on first use (about a second), then return the same one."""
    ca = Identity(*pki.create_ca("Passavant Test — Autorité de certification"))
    rogue_ca = Identity(*pki.create_ca("Passavant Test — Autorité de certification"))
    server_key = pki.new_private_key()
    server_cert = pki.issue_server_certificate(
        ca.cert, ca.key, server_key.public_key(), hosts=["127.0.0.1", "localhost"]
    )
    return World(
        ca=ca,
        doctor=_person(ca, "Dr Claire Martin", "doctor", "USMP Fresnes"),
        specialist=_person(ca, "Dr Paul Lefèvre", "specialist", "Hôpital Saint-Louis"),
        other_specialist=_person(ca, "Dr Ana Costa", "specialist", "Hôpital Cochin"),
        secretary=_person(ca, "Mme Julie Bernard", "secretary", "USMP Fresnes"),
        server=Identity(server_cert, server_key),
        rogue_ca=rogue_ca,
        rogue_doctor=_person(rogue_ca, "Dr Claire Martin", "doctor", "USMP Fresnes"),
    )
