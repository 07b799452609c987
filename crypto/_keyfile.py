"""Passphrase-protected private key files (encrypted PKCS#8 PEM), RSA or EC.

Re-exported by :mod:`crypto.pki`; import it from there.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
from pathlib import Path
from typing import Literal, overload

from asn1crypto import keys as asn1_keys
from asn1crypto import pem as asn1_pem
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from crypto._keys import PrivateKey, supported_public_key
from crypto.errors import MalformedMessage, WrongPassphrase

log = logging.getLogger(__name__)

_PEM_LABEL = "ENCRYPTED PRIVATE KEY"
_FILE_MODE = 0o600


def save_private_key(path: Path, key: PrivateKey, passphrase: bytes) -> None:
    """Write ``key`` to ``path`` as PKCS#8 PEM encrypted under ``passphrase``.

    The file is written atomically: a temporary file in the same directory is written,
    flushed to disk and renamed over ``path``, so a crash leaves either the old file or the
    new one, never a truncated key. The file is readable by its owner only (mode 0600).

    Args:
        path: Destination file; its directory must exist.
        key: The private key (RSA or EC).
        passphrase: Non-empty passphrase (pyca's best available PKCS#8 encryption).

    Raises:
        ValueError: ``passphrase`` is empty.
        OSError: The file cannot be written.
    """
    data = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(passphrase),
    )
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
    """Load a private key written by :func:`save_private_key`.

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
            kind (or holds an EC key on a curve Passavant does not accept).
        OSError: The file cannot be read.
    """
    data = path.read_bytes()
    try:
        label, _headers, der = asn1_pem.unarmor(data)
        if label != _PEM_LABEL:
            raise MalformedMessage(f"key file holds a {label!r} block, not {_PEM_LABEL!r}")
        info = asn1_keys.EncryptedPrivateKeyInfo.load(der, strict=True)
        _ = info.native  # forces a full parse of the structure
    except (ValueError, TypeError, KeyError) as exc:
        raise MalformedMessage("key file is not a valid encrypted PKCS#8 PEM file") from exc
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
