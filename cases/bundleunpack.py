"""Unpacking a bundle held in memory: the archive checked before anything is inflated
(names, count, declared sizes), the manifest read (:mod:`cases.bundlefields`), every file
compared with its size and SHA-256, the sender and the reader checked.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
import zlib
from collections.abc import Callable, Mapping
from dataclasses import replace

from cases.bundlefields import _bundle, _manifest
from cases.bundleformat import (
    MANIFEST,
    MAX_FILES,
    MAX_MANIFEST_SIZE,
    MAX_TOTAL_SIZE,
    Bundle,
    Manifest,
    Party,
    check_file_name,
)
from cases.errors import MalformedBundle, NotAddressedToYou, SenderMismatch
from cases.photos import Payload


def unpack(
    data: bytes,
    *,
    signer_fingerprint: str,
    reader_fingerprint: str,
    max_size: int = MAX_TOTAL_SIZE,
) -> Bundle:
    """Parse a verified bundle and check it is coherent, safe and addressed to the reader.

    Args:
        data: The signed content (the ZIP).
        signer_fingerprint: Fingerprint of the certificate that signed it.
        reader_fingerprint: Fingerprint of the certificate it was decrypted with.
        max_size: Bound on the total uncompressed size of the archive.

    Raises:
        UnsupportedFormat: ``unsupported_format``, a format version other than 1.
        MalformedBundle: ``malformed_bundle``: not a ZIP, a bad manifest, a file whose size
            or hash differs, a missing or extra file, an unsafe name, too large.
        SenderMismatch: ``sender_mismatch``, the signer is not the manifest's sender.
        NotAddressedToYou: ``not_addressed_to_you``, the reader is not a recipient.
    """
    try:
        contents = _read_zip(data, max_size)
        raw_manifest = contents.pop(MANIFEST, None)
        if raw_manifest is None:
            raise MalformedBundle(f"no {MANIFEST}")
        raw = json.loads(raw_manifest.decode("utf-8"))  # UTF-8 only, never a guess
        manifest = _manifest(raw)
        _check_files(manifest, contents)
        if manifest.sender.fingerprint != signer_fingerprint:
            raise SenderMismatch("the signer is not the bundle's sender")
        if reader_fingerprint not in manifest.recipient_fingerprints:
            raise NotAddressedToYou("the bundle does not name this reader")
        return _bundle(manifest, raw_manifest, contents.__getitem__, contents)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, KeyError, ValueError, TypeError) as exc:
        raise MalformedBundle(f"not a Passavant bundle: {type(exc).__name__}") from exc
    except (EOFError, NotImplementedError, RuntimeError, OSError, zlib.error) as exc:
        raise MalformedBundle(f"unreadable archive: {type(exc).__name__}") from exc


def reread(
    manifest_json: bytes,
    payload: Callable[[str], Payload],
    party: Callable[[Party], Party] = lambda p: p,
) -> Bundle:
    """A bundle already checked by :func:`unpack`, from its manifest alone, as the case
    store keeps it in memory for the lists: each payload file is read by ``payload(name)``
    when asked for, never here (``Bundle.files`` stays empty); neither the manifest's text,
    its list of files nor its raw ``clinical`` object is kept (the case or opinion parsed
    from it is), and each party goes through ``party`` (the store shares one object per
    person).

    Raises:
        MalformedBundle: the manifest is not one :func:`unpack` accepts (a damaged index).
    """
    try:
        manifest = _manifest(json.loads(manifest_json.decode("utf-8")))
        bundle = _bundle(manifest, manifest_json, payload, {})
    except (KeyError, ValueError, TypeError) as exc:
        raise MalformedBundle(f"not a Passavant manifest: {type(exc).__name__}") from exc
    light = replace(
        manifest,
        sender=party(manifest.sender),
        recipients=tuple(party(p) for p in manifest.recipients),
        files=(),  # what each file is, the photos say; their hashes stay in the index
        clinical=None,
    )
    return replace(bundle, manifest=light, manifest_json=b"")


def check_entries(archive: zipfile.ZipFile, max_size: int) -> list[zipfile.ZipInfo]:
    """The archive's entries, after checking their count, names and declared sizes (summed
    before anything is inflated)."""
    infos = archive.infolist()
    if len(infos) > MAX_FILES + 1:
        raise MalformedBundle(f"too many entries ({len(infos)})")
    total = sum(info.file_size for info in infos)
    if total > max_size:
        raise MalformedBundle(f"uncompressed size {total} exceeds {max_size}")
    seen: set[str] = set()
    for info in infos:
        _check_entry(info, seen)
    return infos


def _read_zip(data: bytes, max_size: int) -> dict[str, bytes]:
    """Every entry of the archive, after checking names, count and declared sizes."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        infos = check_entries(archive, max_size)
        contents: dict[str, bytes] = {}
        for info in infos:
            limit = MAX_MANIFEST_SIZE if info.filename == MANIFEST else info.file_size
            with archive.open(info) as member:
                body = member.read(limit + 1)  # the declared size also bounds decompression
            if len(body) > limit or len(body) != info.file_size:
                raise MalformedBundle("an entry's size differs from its header")
            contents[info.filename] = body
        return contents


def _check_entry(info: zipfile.ZipInfo, seen: set[str]) -> None:
    name = info.filename
    if name != MANIFEST:
        try:
            check_file_name(name)
        except ValueError as exc:
            raise MalformedBundle(f"unsafe entry name: {exc}") from exc
    if info.is_dir() or (info.external_attr >> 16) & 0o170000 not in (0, 0o100000):
        raise MalformedBundle("only regular files may be in a bundle")
    if info.flag_bits & 0x1:
        raise MalformedBundle("encrypted ZIP entries are not allowed")
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise MalformedBundle("unsupported ZIP compression method")
    folded = name.casefold()
    if folded in seen:
        raise MalformedBundle("duplicate entry name")
    seen.add(folded)


def _check_files(manifest: Manifest, contents: Mapping[str, bytes]) -> None:
    listed = {entry.name for entry in manifest.files}
    if len(listed) != len(manifest.files):
        raise MalformedBundle("a file is listed twice")
    if listed != set(contents):
        raise MalformedBundle(
            f"{len(listed - set(contents))} listed file(s) missing, "
            f"{len(set(contents) - listed)} unlisted file(s)"
        )
    for entry in manifest.files:
        body = contents[entry.name]
        if len(body) != entry.size or hashlib.sha256(body).hexdigest() != entry.sha256:
            raise MalformedBundle("a file does not match its size or digest")


def checked_manifest(
    manifest_json: bytes,
    payload: Callable[[str], Payload],
    *,
    signer_fingerprint: str,
    reader_fingerprint: str,
) -> Bundle:
    """The bundle a manifest describes, checked as :func:`unpack` checks it (every field, the
    sender, the reader) but without its files: for a bundle sealed here a moment ago, whose
    files were written from the very entries the manifest lists and checked against them as
    they were (:mod:`cases.bundlestream`). Its payloads are read by ``payload(name)`` when
    asked for; ``Bundle.files`` stays empty.

    Raises:
        MalformedBundle, UnsupportedFormat, SenderMismatch, NotAddressedToYou: as :func:`unpack`.
    """
    if len(manifest_json) > MAX_MANIFEST_SIZE:
        raise MalformedBundle("the manifest is too large")
    try:
        manifest = _manifest(json.loads(manifest_json.decode("utf-8")))
        if len({entry.name for entry in manifest.files}) != len(manifest.files):
            raise MalformedBundle("a file is listed twice")
        if manifest.sender.fingerprint != signer_fingerprint:
            raise SenderMismatch("the signer is not the bundle's sender")
        if reader_fingerprint not in manifest.recipient_fingerprints:
            raise NotAddressedToYou("the bundle does not name this reader")
        return _bundle(manifest, manifest_json, payload, {})
    except (KeyError, ValueError, TypeError) as exc:
        raise MalformedBundle(f"not a Passavant manifest: {type(exc).__name__}") from exc
