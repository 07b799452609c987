"""Passphrase-protected private key files (encrypted PKCS#8 PEM), RSA or EC.

Keys are wrapped with PBES2 (RFC 8018): the passphrase goes through **scrypt** (RFC 7914,
memory-hard), whose 256-bit output encrypts the PKCS#8 ``PrivateKeyInfo`` with AES-256-CBC.
That is a standard ``ENCRYPTED PRIVATE KEY`` PEM that ``openssl pkey -passin`` opens (OpenSSL
1.1 and 3), and pyca reads it back. pyca cannot write it (its ``BestAvailableEncryption`` is
PBKDF2 at 2,048 rounds and its PKCS#8 ``encryption_builder`` does not exist), so the
structure is assembled here with asn1crypto.

The cost (:data:`KEY_WRAPPING`, N = 2^14, r = 8, p = 32) takes about one second to unlock on
the reference machine (2 cores; measured: the KDF alone 0.76 s with one core free, a whole
``Profile.unlock`` of an RSA-3072 identity 1.2–1.5 s with both cores busy), and needs 16 MiB
per guess. The 2,048 rounds of PBKDF2 used before took 2 ms (a whole unlock 0.09–0.16 s, nearly
all of it pyca checking the RSA key). N·r stays at 2^17 because
OpenSSL refuses scrypt parameters needing more than 32 MiB when it decrypts a PBES2 file; the
time comes from p, which OpenSSL computes one lane after the other in those same 16 MiB.
Files written before with PBKDF2 still load; :func:`key_wrapping` tells them apart, so that
the profile re-wraps them at their next unlock.

Re-exported by :mod:`crypto.pki`; import it from there.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, overload

from asn1crypto import algos as asn1_algos
from asn1crypto import core as asn1_core
from asn1crypto import keys as asn1_keys
from asn1crypto import pem as asn1_pem
from cryptography.hazmat.primitives import padding, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from crypto._keys import PrivateKey, supported_public_key
from crypto.errors import MalformedMessage, WrongPassphrase

log = logging.getLogger(__name__)

_PEM_LABEL = "ENCRYPTED PRIVATE KEY"
_FILE_MODE = 0o600
_SCRYPT_OID = "1.3.6.1.4.1.11591.4.11"  # id-scrypt, RFC 7914 section 7
_SALT_BYTES = 16
_AES_KEY_BYTES = 32


@dataclass(frozen=True)
class KeyWrapping:
    """The scrypt cost of a key file: ``n`` (CPU/memory cost, a power of two), ``r`` (block
    size) and ``p`` (parallelisation). Memory per guess is 128·n·r bytes; time grows with
    n·r·p."""

    n: int
    r: int
    p: int

    @property
    def memory(self) -> int:
        """Bytes of memory one guess needs (scrypt's V array)."""
        return 128 * self.n * self.r

    @property
    def work(self) -> int:
        """Proportional to the time one guess takes."""
        return self.n * self.r * self.p

    def at_least(self, other: KeyWrapping) -> bool:
        """Whether guessing under this cost is at least as hard as under ``other``."""
        return self.memory >= other.memory and self.work >= other.work


KEY_WRAPPING = KeyWrapping(n=2**14, r=8, p=32)
"""Identity keys: about one second to unlock on the reference machine, 16 MiB per guess
(RFC 7914's interactive figure, N = 2^14 and r = 8, with 32 lanes)."""

LIGHT_WRAPPING = KeyWrapping(n=2**12, r=8, p=1)
"""For a passphrase that is public anyway (the demonstration's ``demo``): no cost buys any
protection there, and the demo and its tests unlock often. Never for a real passphrase."""

_MAX_WORK = 64 * KEY_WRAPPING.work
"""A key file asking for more (about a minute and more) is not ours: refused, not computed."""


class _ScryptParams(asn1_core.Sequence):  # type: ignore[misc]  # asn1crypto is untyped
    """``scrypt-params`` of RFC 7914 (asn1crypto knows only PBKDF2 in PBES2)."""

    _fields = [  # noqa: RUF012  # asn1crypto's declaration style
        ("salt", asn1_core.OctetString),
        ("cost_parameter", asn1_core.Integer),
        ("block_size", asn1_core.Integer),
        ("parallelization_parameter", asn1_core.Integer),
        ("key_length", asn1_core.Integer, {"optional": True}),
    ]


def save_private_key(
    path: Path, key: PrivateKey, passphrase: bytes, *, wrapping: KeyWrapping = KEY_WRAPPING
) -> None:
    """Write ``key`` to ``path`` as PKCS#8 PEM encrypted under ``passphrase``.

    The key is wrapped with PBES2: scrypt at ``wrapping``'s cost, then AES-256-CBC (see the
    module's documentation). The file is written atomically: a temporary file in the same
    directory is written, flushed to disk and renamed over ``path``, so a crash leaves
    either the old file or the new one, never a truncated key. The file is readable by its
    owner only (mode 0600).

    Args:
        path: Destination file; its directory must exist.
        key: The private key (RSA or EC).
        passphrase: Non-empty passphrase.
        wrapping: The scrypt cost; :data:`LIGHT_WRAPPING` only for a public passphrase.

    Raises:
        ValueError: ``passphrase`` is empty.
        OSError: The file cannot be written.
    """
    data = _wrap(key, passphrase, wrapping)
    directory = path.parent
    fd, tmp_name = tempfile.mkstemp(dir=directory, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            os.chmod(tmp_name, _FILE_MODE)
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp_name)
        raise
    _fsync_directory(directory)
    log.info("saved private key file %s", path.name)


def _wrap(key: PrivateKey, passphrase: bytes, wrapping: KeyWrapping) -> bytes:
    """The PEM of ``key`` under PBES2 (scrypt, AES-256-CBC)."""
    if not passphrase:
        raise ValueError("a private key file needs a non-empty passphrase")
    salt, iv = os.urandom(_SALT_BYTES), os.urandom(algorithms.AES.block_size // 8)
    secret = Scrypt(
        salt=salt, length=_AES_KEY_BYTES, n=wrapping.n, r=wrapping.r, p=wrapping.p
    ).derive(passphrase)
    plain = key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    padder = padding.PKCS7(algorithms.AES.block_size).padder()
    encryptor = Cipher(algorithms.AES(secret), modes.CBC(iv)).encryptor()
    encrypted = encryptor.update(padder.update(plain) + padder.finalize()) + encryptor.finalize()
    scrypt_params = _ScryptParams(
        {
            "salt": salt,
            "cost_parameter": wrapping.n,
            "block_size": wrapping.r,
            "parallelization_parameter": wrapping.p,
        }
    )
    pbes2 = asn1_algos.Pbes2Params(
        {
            "key_derivation_func": {"algorithm": _SCRYPT_OID, "parameters": scrypt_params},
            "encryption_scheme": {"algorithm": "aes256_cbc", "parameters": iv},
        }
    )
    info = asn1_keys.EncryptedPrivateKeyInfo(
        {
            "encryption_algorithm": {"algorithm": "pbes2", "parameters": pbes2},
            "encrypted_data": encrypted,
        }
    )
    return bytes(asn1_pem.armor(_PEM_LABEL, info.dump()))


def key_wrapping(path: Path) -> KeyWrapping | None:
    """The scrypt cost a key file is wrapped with, or None for another scheme (PBKDF2, as
    pyca and Passavant before scrypt write it, or a legacy PBES1): those are the files to
    re-wrap.

    Raises:
        MalformedMessage: The file is not an encrypted PKCS#8 PEM file.
        OSError: The file cannot be read.
    """
    info = _encrypted_info(path.read_bytes())
    return _scrypt_cost(info)


def _encrypted_info(data: bytes) -> Any:
    """The parsed ``EncryptedPrivateKeyInfo`` of a PEM key file."""
    try:
        label, _headers, der = asn1_pem.unarmor(data)
        if label != _PEM_LABEL:
            raise MalformedMessage(f"key file holds a {label!r} block, not {_PEM_LABEL!r}")
        info = asn1_keys.EncryptedPrivateKeyInfo.load(der, strict=True)
        _ = info.native  # forces a full parse of the structure
    except (ValueError, TypeError, KeyError) as exc:
        raise MalformedMessage("key file is not a valid encrypted PKCS#8 PEM file") from exc
    return info


def _scrypt_cost(info: Any) -> KeyWrapping | None:
    algorithm = info["encryption_algorithm"]
    if algorithm["algorithm"].native != "pbes2":
        return None
    kdf = algorithm["parameters"]["key_derivation_func"]
    if kdf["algorithm"].dotted != _SCRYPT_OID:
        return None
    try:
        params = kdf["parameters"].parse(_ScryptParams)
        cost = KeyWrapping(
            n=int(params["cost_parameter"].native),
            r=int(params["block_size"].native),
            p=int(params["parallelization_parameter"].native),
        )
    except (ValueError, TypeError, KeyError) as exc:
        raise MalformedMessage("key file has unreadable scrypt parameters") from exc
    if min(cost.n, cost.r, cost.p) < 1 or cost.work > _MAX_WORK:
        raise MalformedMessage("key file asks for an unreasonable scrypt cost")
    return cost


def _fsync_directory(directory: Path) -> None:
    """Persist the rename on POSIX; directories cannot be opened this way on Windows."""
    if os.name != "posix":
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@overload
def load_private_key(
    path: Path, passphrase: bytes, *, kind: Literal["rsa"] = "rsa"
) -> rsa.RSAPrivateKey: ...
@overload
def load_private_key(
    path: Path, passphrase: bytes, *, kind: Literal["ec"]
) -> ec.EllipticCurvePrivateKey: ...
@overload
def load_private_key(path: Path, passphrase: bytes, *, kind: Literal["any"]) -> PrivateKey: ...
def load_private_key(
    path: Path, passphrase: bytes, *, kind: Literal["rsa", "ec", "any"] = "rsa"
) -> PrivateKey:
    """Load a private key written by :func:`save_private_key` (scrypt), or by the versions
    before it (PBKDF2).

    ``kind`` says which key the caller expects, and types the result: ``"rsa"`` (the
    default, as before EC keys existed), ``"ec"``, or ``"any"`` for either.

    The PEM envelope and the PKCS#8 ``EncryptedPrivateKeyInfo`` structure are checked first,
    so that a damaged file is told apart from a wrong passphrase. A file whose encrypted
    bytes were altered (but whose structure is intact) cannot be told apart from a wrong
    passphrase and raises :class:`WrongPassphrase`.

    Args:
        path: The key file.
        passphrase: The passphrase it was saved with.
        kind: The kind of key expected.

    Raises:
        WrongPassphrase: The passphrase does not decrypt the key.
        MalformedMessage: The file is not an encrypted PKCS#8 private key of the expected
            kind (or holds an EC key on a curve Passavant does not accept, or asks for a
            scrypt cost far above :data:`KEY_WRAPPING`).
        OSError: The file cannot be read.
    """
    data = path.read_bytes()
    _scrypt_cost(_encrypted_info(data))  # refuses an absurd cost before computing it
    try:
        key = serialization.load_pem_private_key(data, password=passphrase)
    except ValueError as exc:
        log.info("wrong passphrase for key file %s", path.name)
        raise WrongPassphrase("the passphrase does not unlock this private key") from exc
    except TypeError as exc:
        raise MalformedMessage("key file is not encrypted as expected") from exc
    if isinstance(key, rsa.RSAPrivateKey) and kind in ("rsa", "any"):
        return key
    if (
        isinstance(key, ec.EllipticCurvePrivateKey)
        and kind in ("ec", "any")
        and supported_public_key(key.public_key()) is not None
    ):
        return key
    expected = {"rsa": "an RSA", "ec": "a supported EC", "any": "an RSA or supported EC"}[kind]
    raise MalformedMessage(f"key file does not hold {expected} private key")
