"""Bundles of hundreds of megabytes: packing from files and unpacking one member at a time.

:mod:`cases.bundle` packs and unpacks whole in-memory buffers. Here the same format
(docs/bundle-format.md) goes through files, with memory that does not grow with the size:

* :func:`seal_files` reads each file twice, in blocks: once for its size and SHA-256 (the
  manifest, first in the ZIP, lists them), then into the ZIP that ``zipfile`` writes straight
  into a :class:`crypto.stream.Sealer` (signed, encrypted and written as it goes), with
  progress (:mod:`cases.bundleseal`, which also seals a case's payloads).
* :func:`unpack_content` checks a bundle opened by :func:`crypto.stream.open_file` as
  :func:`cases.bundle.unpack` does (names, count, declared sizes summed before inflating, the
  manifest, each file's size and SHA-256, sender and reader), reading one member at a time,
  and returns a :class:`~cases.bundle.Bundle` whose payloads are read from the opened content
  when asked for (and checked against the manifest's SHA-256 again then).
"""

from __future__ import annotations

import hashlib
import json
import zipfile
import zlib
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from cryptography import x509

from cases.bundlefields import _bundle, _manifest
from cases.bundleformat import (
    MANIFEST,
    MAX_MANIFEST_SIZE,
    MAX_STREAM_SIZE,
    Bundle,
    FileEntry,
    Party,
)
from cases.bundleseal import file_member, seal_members, sha256_file
from cases.bundleunpack import check_entries
from cases.errors import MalformedBundle, NotAddressedToYou, SenderMismatch
from crypto._keys import PrivateKey
from crypto.stream import Progress, StreamContent

__all__ = ["MAX_STREAM_SIZE", "seal_files", "sha256_file", "unpack_content"]

_BLOCK = 1 << 20


def seal_files(
    destination: Path,
    bundle_id: str,
    files: Mapping[str, Path],
    sender: Party,
    recipients: Sequence[Party],
    signer: tuple[x509.Certificate, PrivateKey],
    encrypt_to: Sequence[x509.Certificate],
    kind: str = "request",
    *,
    case_id: str | None = None,
    in_reply_to: str | None = None,
    clinical: Mapping[str, Any] | None = None,
    created: datetime | None = None,
    progress: Progress | None = None,
) -> Path:
    """Pack ``files`` (bundle name → file on disk) as :func:`cases.bundle.pack_files` does
    and seal the ZIP into ``destination`` as it is written (:func:`cases.bundleseal.seal_members`);
    ``progress`` gets the ZIP bytes done and an estimate of the total.

    Raises:
        ValueError: As :func:`cases.bundle.pack_files`; a file that changed between the two
            readings.
        OSError: A file could not be read, or the destination written (nothing is left).
    """
    members = [file_member(name, path) for name, path in files.items()]
    return seal_members(
        destination, bundle_id, kind, members, sender, recipients, signer, encrypt_to,
        case_id=case_id, in_reply_to=in_reply_to, clinical=clinical, created=created,
        progress=progress,
    ).path  # fmt: skip


# --- unpacking ---------------------------------------------------------------------------


class _Member:
    """A payload file read from the opened content when asked for
    (:class:`cases.photos.Payload`), checked against the manifest's SHA-256."""

    __slots__ = ("_content", "name", "sha256")

    def __init__(self, content: StreamContent, name: str, sha256: str) -> None:
        self._content, self.name, self.sha256 = content, name, sha256

    def read(self) -> bytes:
        with zipfile.ZipFile(self._content.open()) as archive:
            body = archive.read(self.name)
        if hashlib.sha256(body).hexdigest() != self.sha256:
            raise MalformedBundle(f"{self.name} changed since the bundle was opened")
        return body

    def open(self) -> IO[bytes]:
        """The file as a stream, never held whole (a clip sealed again from a draft: the
        sealer checks its SHA-256 as it reads; the temporary copy it comes from is
        authenticated chunk by chunk, ``crypto._scratch``)."""
        return zipfile.ZipFile(self._content.open()).open(self.name)


def unpack_content(
    content: StreamContent,
    *,
    signer_fingerprint: str,
    reader_fingerprint: str,
    max_size: int = MAX_STREAM_SIZE,
) -> Bundle:
    """:func:`cases.bundle.unpack` over opened content, one member at a time; the bundle's
    ``files`` stays empty and its payloads read from ``content`` (keep it open meanwhile).

    Raises: the errors of :func:`cases.bundle.unpack`.
    """
    try:
        with zipfile.ZipFile(content.open()) as archive:
            raw_manifest = _check_archive(archive, max_size)
            manifest = _manifest(json.loads(raw_manifest.decode("utf-8")))
            _check_members(archive, manifest.files)
        if manifest.sender.fingerprint != signer_fingerprint:
            raise SenderMismatch("the signer is not the bundle's sender")
        if reader_fingerprint not in manifest.recipient_fingerprints:
            raise NotAddressedToYou("the bundle does not name this reader")
        digests = {entry.name: entry.sha256 for entry in manifest.files}
        payload: Callable[[str], _Member] = lambda name: _Member(content, name, digests[name])  # noqa: E731
        return _bundle(manifest, raw_manifest, payload, {})
    except (zipfile.BadZipFile, zipfile.LargeZipFile, KeyError, ValueError, TypeError) as exc:
        raise MalformedBundle(f"not a Passavant bundle: {type(exc).__name__}") from exc
    except (EOFError, NotImplementedError, RuntimeError, OSError, zlib.error) as exc:
        raise MalformedBundle(f"unreadable archive: {type(exc).__name__}") from exc


def _check_archive(archive: zipfile.ZipFile, max_size: int) -> bytes:
    """Names, count and declared sizes (summed before inflating); the manifest's bytes."""
    check_entries(archive, max_size)
    try:
        info = archive.getinfo(MANIFEST)
    except KeyError:
        raise MalformedBundle(f"no {MANIFEST}") from None
    if info.file_size > MAX_MANIFEST_SIZE:
        raise MalformedBundle("the manifest is too large")
    with archive.open(info) as member:
        body = member.read(MAX_MANIFEST_SIZE + 1)
    if len(body) != info.file_size:
        raise MalformedBundle("an entry's size differs from its header")
    return body


def _check_members(archive: zipfile.ZipFile, listed: Sequence[FileEntry]) -> None:
    """Exactly the listed files, each of its listed size and SHA-256, read in blocks (the
    declared size also bounds decompression)."""
    names = {entry.name for entry in listed}
    if len(names) != len(listed):
        raise MalformedBundle("a file is listed twice")
    present = {info.filename for info in archive.infolist()} - {MANIFEST}
    if names != present:
        raise MalformedBundle(
            f"{len(names - present)} listed file(s) missing, {len(present - names)} unlisted"
            " file(s)"
        )
    for entry in listed:
        info = archive.getinfo(entry.name)
        if info.file_size != entry.size:
            raise MalformedBundle("a file does not match its size or digest")
        digest, size = hashlib.sha256(), 0
        with archive.open(info) as member:
            while block := member.read(min(_BLOCK, entry.size - size + 1)):
                digest.update(block)
                size += len(block)
                if size > entry.size:
                    break
        if size != entry.size or digest.hexdigest() != entry.sha256:
            raise MalformedBundle("a file does not match its size or digest")
