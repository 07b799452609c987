"""Sealing a bundle as it is packed: each file fed to the ZIP and the cipher in blocks.

:func:`cases.bundle.pack_case` builds the whole ZIP in memory, fine for an opinion or a
receipt; a request with clips and documents runs to hundreds of megabytes. Here a bundle's
files are :class:`Member` objects, each its manifest entry (name, media type, size, SHA-256)
and where its bytes come from: a file on disk, bytes already in memory (read through a view,
never copied), or a :class:`cases.photos.Payload` that can ``open()`` a stream (a draft's clip
or document in its own sealed file, :mod:`cases.draftpayloads`, or in a draft of an earlier
version opened through :mod:`crypto.stream`: the plaintext waits in a temporary file encrypted
under a key held in memory, released only once authenticated). ``zipfile`` writes the ZIP
straight into a :class:`crypto.stream.Sealer`; the manifest goes first, so each file's size and
digest are known before it is written, and each is checked against them as it goes: a file
that differs leaves nothing behind (``ValueError``). No plaintext is ever written to disk in
clear, and memory does not grow with the size (``bench/stream.py``).
"""

from __future__ import annotations

import hashlib
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography import x509

from cases.bundleformat import (
    MANIFEST,
    MAX_STREAM_SIZE,
    FileEntry,
    Party,
    _json,
    check_file_name,
    compression,
    media_type,
)
from cases.bundlepack import manifest_for
from cases.model import Case
from cases.photos import Payload, Photo
from crypto._keys import PrivateKey
from crypto.stream import Progress, Sealer

BLOCK = 1 << 20
"""Bytes read from a file or a payload at a time."""

Source = bytes | Path | Payload
"""Where a member's bytes come from."""


@dataclass(frozen=True)
class Member:
    """One file of a bundle to seal: its manifest entry and where its bytes come from."""

    entry: FileEntry
    source: Source


@dataclass(frozen=True)
class Sealed:
    """A bundle just sealed: where it lies, the manifest exactly as signed (what the case
    store indexes it from, nothing being decrypted), and the ZIP's size."""

    path: Path
    manifest_json: bytes
    size: int


def sha256_file(path: Path) -> str:
    """The hex SHA-256 of a file, read in blocks."""
    return _digest(source_blocks(path))[1]


def file_member(name: str, path: Path) -> Member:
    """A file on disk, read once here for its size and SHA-256 (and again when sealed)."""
    size, digest = _digest(source_blocks(path))
    return Member(FileEntry(check_file_name(name), media_type(name), size, digest), path)


def bytes_member(name: str, data: bytes) -> Member:
    """Bytes in memory."""
    digest = hashlib.sha256(data).hexdigest()
    return Member(FileEntry(check_file_name(name), media_type(name), len(data), digest), data)


def declared_member(name: str, source: Source, size: int, sha256: str) -> Member:
    """A file whose size and SHA-256 are known already (a document's or a clip's): read
    only once, when sealed, and checked then."""
    return Member(FileEntry(check_file_name(name), media_type(name), size, sha256), source)


def case_members(case: Case) -> list[Member]:
    """A request's files, in :func:`cases.bundle.pack_case`'s order: the photos, then the
    documents and the clips (read only while sealing). A photo in memory is hashed here; one
    in its own sealed file (a draft's, :mod:`cases.draftpayloads`), whose size and SHA-256
    are known, is streamed from there like a clip."""
    members = [_photo_member(p) for p in case.photos]
    members += [
        declared_member(f"documents/{d.name}", d.payload, d.size, d.sha256) for d in case.documents
    ]
    members += [declared_member(f"clips/{c.name}", c.payload, c.size, c.sha256) for c in case.clips]
    return members


def _photo_member(photo: Photo) -> Member:
    name, payload = f"photos/{photo.name}", photo.payload
    size = getattr(payload, "size", None)
    if isinstance(payload, bytes) or not isinstance(size, int) or not hasattr(payload, "open"):
        return bytes_member(name, photo.data)
    return declared_member(name, payload, size, photo.sha256)  # checked as it is read


def seal_case(
    destination: Path,
    bundle_id: str,
    case: Case,
    sender: Party,
    recipients: Sequence[Party],
    signer: tuple[x509.Certificate, PrivateKey],
    encrypt_to: Sequence[x509.Certificate],
    *,
    in_reply_to: str | None = None,
    created: datetime | None = None,
    now: datetime | None = None,
    extra_certificates: Sequence[x509.Certificate] = (),
    progress: Progress | None = None,
) -> Sealed:
    """Seal ``case`` as a ``request`` (the bundle :func:`cases.bundle.pack_case` makes)
    into ``destination``, streaming its documents and clips (see :func:`seal_members`)."""
    return seal_members(
        destination, bundle_id, "request", case_members(case), sender, recipients, signer,
        encrypt_to, case_id=case.case_id, in_reply_to=in_reply_to, clinical=case.to_json(),
        created=created, now=now, extra_certificates=extra_certificates, progress=progress,
    )  # fmt: skip


def seal_members(
    destination: Path,
    bundle_id: str,
    kind: str,
    members: Sequence[Member],
    sender: Party,
    recipients: Sequence[Party],
    signer: tuple[x509.Certificate, PrivateKey],
    encrypt_to: Sequence[x509.Certificate],
    *,
    case_id: str | None = None,
    in_reply_to: str | None = None,
    clinical: Mapping[str, Any] | None = None,
    created: datetime | None = None,
    now: datetime | None = None,
    extra_certificates: Sequence[x509.Certificate] = (),
    progress: Progress | None = None,
    max_size: int = MAX_STREAM_SIZE,
) -> Sealed:
    """Pack ``members`` and seal the ZIP into ``destination`` as it is written (see
    :class:`crypto.stream.Sealer`, whose ``now`` and ``extra_certificates`` these are);
    ``progress`` gets the ZIP bytes done and an estimate of the total.

    Raises:
        ValueError: As :func:`cases.bundle.pack_files`; more than ``max_size`` bytes (what a
            reader opens); a member whose bytes differ from its entry (nothing is left).
        OSError: A file could not be read, or the destination written (nothing is left).
    """
    entries = [member.entry for member in members]
    declared = sum(entry.size for entry in entries)
    if declared > max_size:
        raise ValueError(f"the bundle's files hold {declared} bytes, above {max_size}")
    manifest, stamp = manifest_for(
        bundle_id, kind, sender, recipients, entries,
        case_id=case_id, in_reply_to=in_reply_to, clinical=clinical, created=created,
    )  # fmt: skip
    raw = _json(manifest)
    # An estimate (the ZIP's headers, a deflated file's size), until the end says the size.
    estimate = declared + len(raw) + 200 * (len(entries) + 1)

    def report(done: int, _total: int | None) -> None:
        if progress is not None:
            progress(done, max(estimate, done))

    with Sealer(
        destination, signer[0], signer[1], encrypt_to, now=now,
        extra_certificates=extra_certificates, total=estimate, progress=report,
    ) as sealer:  # fmt: skip
        with zipfile.ZipFile(sealer, "w") as archive:  # type: ignore[call-overload]
            _write(archive, MANIFEST, zipfile.ZIP_DEFLATED, stamp, _view_blocks(raw), None)
            for member in members:
                entry = member.entry
                method = compression(entry.media_type)
                _write(archive, entry.name, method, stamp, source_blocks(member.source), entry)
        path = sealer.finish()
    if progress is not None:
        progress(sealer.size, sealer.size)  # the whole, said at the end
    return Sealed(path, raw, sealer.size)


def _write(
    archive: zipfile.ZipFile,
    name: str,
    method: int,
    stamp: tuple[int, int, int, int, int, int],
    blocks: Iterator[bytes | memoryview],
    expected: FileEntry | None,
) -> None:
    """One ZIP entry, from ``blocks``, checked against ``expected`` (its size bounds what is
    read: a source that grew is not read past it)."""
    info = zipfile.ZipInfo(name, date_time=stamp)
    info.compress_type = method
    info.external_attr = 0o600 << 16
    limit = None if expected is None else expected.size
    if limit is not None:
        info.file_size = limit  # below 4 GiB: no ZIP64 record (format §1)
    digest, size = hashlib.sha256(), 0
    with archive.open(info, "w") as out:
        for block in blocks:
            size += len(block)
            if limit is not None and size > limit:
                break
            digest.update(block)
            out.write(block)
    if expected is not None and (size, digest.hexdigest()) != (expected.size, expected.sha256):
        raise ValueError(f"{name} differs from what its manifest entry says")


def _digest(blocks: Iterator[bytes | memoryview]) -> tuple[int, str]:
    digest, size = hashlib.sha256(), 0
    for block in blocks:
        digest.update(block)
        size += len(block)
    return size, digest.hexdigest()


def source_blocks(source: Source) -> Iterator[bytes | memoryview]:
    """The bytes of ``source`` in blocks of at most :data:`BLOCK` (a stream is opened,
    read and closed as the blocks are taken: a draft's clip in its sealed file,
    ``cases.draftpayloads``, is authenticated before its first block)."""
    if isinstance(source, bytes | bytearray | memoryview):
        yield from _view_blocks(source)
    elif isinstance(source, Path):
        with source.open("rb") as file:
            while block := file.read(BLOCK):
                yield block
    elif callable(getattr(source, "open", None)):  # a stream: never held whole
        with source.open() as file:  # type: ignore[attr-defined]
            while block := file.read(BLOCK):
                yield block
    else:
        yield from _view_blocks(source.read())


def _view_blocks(data: bytes | bytearray | memoryview) -> Iterator[memoryview]:
    with memoryview(data) as view:
        for start in range(0, len(view), BLOCK):
            yield view[start : start + BLOCK]
