"""What a PKCS#11 module shows to someone registering a card (``widgets.cardsetup``): where
its usual modules are, which tokens are present, which certificates a token carries, and
which private key goes with a certificate.

Tokens and certificates are public: they are read without the PIN. Private keys are
private objects on a card (not even listed before ``C_Login``), so :func:`signing_key_label`
logs in with the PIN typed and finds the key whose public numbers are the certificate's:
a CPS card labels its certificate and its key differently. What a token hands over is
bounded: at most :data:`MAX_CERTIFICATES` certificates of at most :data:`MAX_CERTIFICATE`
bytes each, :data:`MAX_TOKENS` tokens.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pkcs11
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from pkcs11 import exceptions as p11

from crypto.pkcs11 import (
    CardAbsent,
    CardKeyMissing,
    CardSlot,
    _close_quietly,
    _library,
    _login,
    _public_of,
    _token,
    pin_state_of,
)

__all__ = [
    "MAX_CERTIFICATE",
    "MAX_CERTIFICATES",
    "MAX_TOKENS",
    "MODULE_PLACES",
    "TokenCertificate",
    "TokenInfo",
    "list_certificates",
    "list_tokens",
    "module_path",
    "proposed_modules",
    "signing_key_label",
]

log = logging.getLogger(__name__)

MAX_TOKENS = 64
_INITIALIZED = 0x00000400  # CKF_TOKEN_INITIALIZED: a blank token names nobody
MAX_CERTIFICATES = 32
MAX_CERTIFICATE = 16 * 1024
_MAX_KEYS = 32

MODULE_PLACES: dict[str, tuple[str, ...]] = {
    # Cryptolib CPS (the CPS card's middleware), OpenSC, SoftHSM2 (a test token)
    "linux": (
        "/usr/lib/libcps3_pkcs11_lux.so",
        "/usr/lib64/libcps3_pkcs11_lux.so",
        "/usr/local/lib/libcps3_pkcs11_lux.so",
        "/usr/lib/x86_64-linux-gnu/opensc-pkcs11.so",
        "/usr/lib/x86_64-linux-gnu/pkcs11/opensc-pkcs11.so",
        "/usr/lib64/opensc-pkcs11.so",
        "/usr/lib/softhsm/libsofthsm2.so",
        "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
    ),
    "win32": (
        r"C:\Windows\System32\cps3_pkcs11_w64.dll",
        r"C:\Windows\System32\cps3_pkcs11_w32.dll",
        r"C:\Windows\SysWOW64\cps3_pkcs11_w32.dll",
        r"C:\Windows\System32\opensc-pkcs11.dll",
        r"C:\Program Files\OpenSC Project\OpenSC\pkcs11\opensc-pkcs11.dll",
    ),
    "darwin": (
        "/usr/local/lib/libcps3_pkcs11_osx.dylib",
        "/Library/OpenSC/lib/opensc-pkcs11.so",
    ),
}


@dataclass(frozen=True)
class TokenInfo:
    """A token present in a reader: its label (what a card identity names it by), who made
    it, its serial number, the reader's description, and what it says of its PIN
    (``crypto.pkcs11.pin_state``: ``"locked"``, ``"final"``, ``"low"`` or ``None``)."""

    label: str
    manufacturer: str
    model: str
    serial: str
    reader: str
    pin: str | None


@dataclass(frozen=True)
class TokenCertificate:
    """A certificate a token carries, with the label it carries it under."""

    label: str
    certificate: x509.Certificate


def proposed_modules(platform: str | None = None) -> list[str]:
    """The usual places of PKCS#11 modules on this system that hold a file."""
    places = MODULE_PLACES.get(_family(platform or sys.platform), ())
    return [place for place in places if Path(place).is_file()]


def _family(platform: str) -> str:
    return "linux" if platform.startswith("linux") else platform


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    return str(value).strip().strip("\x00").strip()


def list_tokens(module: str) -> list[TokenInfo]:
    """The tokens present in the readers ``module`` serves (a reader that fails to answer
    is skipped). Raises ``CardModuleMissing``, and ``CardAbsent`` when no reader answers."""
    library = _library(module)
    try:
        slots = list(library.get_slots(token_present=True))[: 2 * MAX_TOKENS]
    except (p11.PKCS11Error, RuntimeError) as exc:
        raise CardAbsent("the card readers do not answer") from exc
    found: list[TokenInfo] = []
    for slot in slots:
        if len(found) >= MAX_TOKENS:
            break
        try:
            token = slot.get_token()
            label = _text(token.label)
            if not int(token.flags) & _INITIALIZED or not label:
                continue
            state = pin_state_of(int(token.flags))
            found.append(
                TokenInfo(
                    label,
                    _text(token.manufacturer_id),
                    _text(token.model),
                    _text(token.serial),
                    _text(slot.slot_description),
                    state,
                )
            )
        except (p11.PKCS11Error, RuntimeError, CardAbsent):
            continue  # this card went away while being looked at
    return found


def list_certificates(module: str, token_label: str) -> list[TokenCertificate]:
    """The X.509 certificates the token carries (public objects: no PIN). One that does not
    parse, or is larger than :data:`MAX_CERTIFICATE`, is left out. Raises ``CardAbsent``
    (the token is gone or does not answer) and ``CardModuleMissing``."""
    token = _token(CardSlot(module, token_label, "-"))
    try:
        session = token.open()
        try:
            objects = session.get_objects(
                {
                    pkcs11.Attribute.CLASS: pkcs11.ObjectClass.CERTIFICATE,
                    pkcs11.Attribute.CERTIFICATE_TYPE: pkcs11.CertificateType.X_509,
                }
            )
            raw = [(_label(o), bytes(o[pkcs11.Attribute.VALUE])) for o in _first(objects)]
        finally:
            _close_quietly(session)
    except (p11.PKCS11Error, RuntimeError) as exc:
        raise CardAbsent(f"the token {token_label!r} does not answer") from exc
    found = []
    for label, value in raw:
        if len(value) > MAX_CERTIFICATE:
            continue
        try:
            found.append(TokenCertificate(label, x509.load_der_x509_certificate(value)))
        except ValueError:
            log.info("a certificate of the token %s does not parse", token_label)
    return found


def _first(objects: Iterable[Any]) -> list[Any]:
    taken = []
    for n, item in enumerate(objects):
        if n >= MAX_CERTIFICATES:
            break
        taken.append(item)
    return taken


def _label(handle: Any) -> str:
    with contextlib.suppress(p11.PKCS11Error, RuntimeError, KeyError):
        return _text(handle[pkcs11.Attribute.LABEL])
    return ""


def signing_key_label(
    module: str, token_label: str, pin: str, certificate: x509.Certificate
) -> str:
    """Log in with ``pin`` and return the label of the private key that is
    ``certificate``'s (the same RSA public numbers).

    Raises:
        CardKeyMissing: No private key of the card is the certificate's, or it has no label
            (or shares it with another key: the label is how the identity finds it again).
        CardKeyUnsupported: The matching key is no RSA key of 2048 bits or more.
        CardPinWrong, CardLocked, CardAbsent, CardModuleMissing: As
            ``crypto.pkcs11.open_signing_key``.
    """
    session = _login(CardSlot(module, token_label, "-"), pin)
    wanted = certificate.public_key()
    try:
        keys = list(session.get_objects({pkcs11.Attribute.CLASS: pkcs11.ObjectClass.PRIVATE_KEY}))[
            :_MAX_KEYS
        ]
        labels = [_label(k) for k in keys]
    except (p11.PKCS11Error, RuntimeError) as exc:
        raise CardAbsent(f"the token {token_label!r} does not answer") from exc
    numbers = wanted.public_numbers() if isinstance(wanted, rsa.RSAPublicKey) else None
    for handle, label in zip(keys, labels, strict=True):
        if numbers is None or not _same_modulus(handle, numbers.n):
            continue
        if _public_of(handle) != wanted:  # too short a key, or another exponent
            continue
        if not label or labels.count(label) != 1:
            raise CardKeyMissing("the certificate's key has no label of its own")
        return label
    raise CardKeyMissing("no private key of the card is the certificate's")


def _same_modulus(handle: Any, modulus: int) -> bool:
    try:
        if handle.key_type != pkcs11.KeyType.RSA:
            return False
        return int.from_bytes(handle[pkcs11.Attribute.MODULUS], "big") == modulus
    except (p11.PKCS11Error, RuntimeError) as exc:
        raise CardAbsent("the token does not answer") from exc


def module_path(text: str) -> str:
    """A module path as typed or picked, made absolute (the identity keeps it)."""
    return os.path.abspath(os.path.expanduser(text.strip()))
