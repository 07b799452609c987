"""The bundle, format 1: the plaintext that gets signed and encrypted.

A bundle is a ZIP archive holding ``manifest.json`` and the payload files (photos stored as
they are, since JPEG and PNG are compressed already; text deflated). The manifest names the
sender and *every* recipient by certificate fingerprint, lists each file with its media type,
size and SHA-256, and carries the case's or the opinion's fields (``clinical``). Because the
manifest is inside the signed content, a recipient can tell that a bundle was really meant for
them and was not re-encrypted and forwarded by somebody else ("surreptitious forwarding").

The format is specified in ``docs/bundle-format.md``. :func:`unpack` checks everything the
manifest claims and refuses an unsafe archive (zip bombs, path traversal, extra or missing
files); :class:`OpenedRegistry` spots a bundle id opened before (a replay), as a separate step.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import sqlite3
import zipfile
import zlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from pathlib import Path, PurePosixPath
from typing import Any

from cryptography import x509
from cryptography.x509.oid import NameOID

from cases.clips import MAX_CLIPS, MAX_CLIPS_BYTES, Clip
from cases.documents import MAX_DOCUMENTS, Document
from cases.errors import (
    AlreadyOpened,
    MalformedBundle,
    NotAddressedToYou,
    SenderMismatch,
    UnsupportedFormat,
)
from cases.identity import PatientIdentity
from cases.marks import PhotoMarks, marks_from_json
from cases.model import MAX_REVIEW_WEEKS, Case, Opinion
from cases.photos import Payload, Photo
from cases.sections import Answers, checked_answers
from crypto import pki
from outbox.spool import check_bundle_id

FORMAT = 1
"""The bundle format version this module writes and reads."""

KINDS = ("request", "opinion", "receipt", "withdrawal")
MANIFEST = "manifest.json"
MAX_TOTAL_SIZE = 512 * 1024 * 1024
"""Default bound on the total uncompressed size of a bundle (zip bomb guard)."""
MAX_FILES = 256
MAX_MANIFEST_SIZE = 4 * 1024 * 1024
MAX_TEXT = 20_000
"""Bound on a clinical text field read from a bundle (summary, question, opinion...)."""
EARLIEST, LATEST = 2000, 2100
"""Every time a bundle carries lies in these years (``created`` and the clinical dates)."""

_MEDIA_TYPES = {
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".png": "image/png",
    ".heic": "image/heic",
    ".json": "application/json",
    ".txt": "text/plain",
    ".csv": "text/csv",
    ".md": "text/markdown",
    ".xml": "application/xml",
    ".pdf": "application/pdf",
    ".dcm": "application/dicom",
    ".mp4": "video/mp4",
    ".zip": "application/zip",
}
_ALREADY_COMPRESSED = {"image/jpeg", "image/png", "image/heic", "video/mp4", "application/zip"}
_HEX64 = re.compile(r"[0-9a-f]{64}")
_MEDIA_TYPE = re.compile(r"[a-z0-9][a-z0-9.+-]*/[a-z0-9][a-z0-9.+-]*")
_CODE = re.compile(r"[a-z][a-z0-9_]{0,39}")  # an outcome code
_FORBIDDEN_IN_NAMES = re.compile(r"[\x00-\x1f\x7f\\:]")
_TOP_KEYS = {
    "format",
    "bundle_id",
    "case_id",
    "kind",
    "in_reply_to",
    "sender",
    "recipients",
    "addressees",
    "created",
    "files",
    "clinical",
}


@dataclass(frozen=True)
class Party:
    """A person or a unit taking part in an exchange.

    Attributes:
        mailbox: Platform mailbox id (empty when unknown, e.g. a bundle made by the CLI).
        display_name: The person's name (certificate CN).
        fingerprint: SHA-256 of the certificate, lowercase hex.
        role: doctor, secretary, specialist or unit (certificate OU), when known.
        organization: Health unit or hospital (certificate O), when known.
    """

    mailbox: str
    display_name: str
    fingerprint: str
    role: str = ""
    organization: str = ""

    @classmethod
    def of_certificate(cls, cert: x509.Certificate, mailbox: str = "") -> Party:
        """The party a certificate describes."""
        orgs = cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
        organization = str(orgs[0].value) if orgs else ""
        return cls(
            mailbox,
            pki.display_name(cert),
            pki.fingerprint(cert),
            pki.role_of(cert) or "",
            organization,
        )

    def to_json(self) -> dict[str, str]:
        return {
            "name": self.display_name,
            "role": self.role,
            "organization": self.organization,
            "fingerprint": self.fingerprint,
            "mailbox": self.mailbox,
        }


@dataclass(frozen=True)
class FileEntry:
    """One payload file as the manifest lists it."""

    name: str
    media_type: str
    size: int
    sha256: str

    def to_json(self) -> dict[str, object]:
        return {
            "name": self.name,
            "media_type": self.media_type,
            "size": self.size,
            "sha256": self.sha256,
        }


@dataclass(frozen=True)
class Manifest:
    """What the signed manifest says. ``recipients`` lists every recipient, in the
    manifest's order; those the sender named carry their name, the others only their
    fingerprint."""

    bundle_id: str
    kind: str  # "request", "opinion", "receipt" or "withdrawal"
    sender: Party
    recipients: tuple[Party, ...]
    files: tuple[FileEntry, ...] = ()
    case_id: str | None = None
    in_reply_to: str | None = None
    created: datetime | None = None
    clinical: Mapping[str, Any] | None = None

    @property
    def recipient_fingerprints(self) -> tuple[str, ...]:
        return tuple(r.fingerprint for r in self.recipients)


@dataclass(frozen=True)
class Bundle:
    """A parsed, checked bundle (memory only).

    Attributes:
        manifest: The manifest.
        case: The case, for a request made by the workstation.
        opinion: The opinion, for an opinion.
        files: Every payload file, by name (the photos of a case included).
        manifest_json: The manifest exactly as signed.
        withdrawal: Why the request it names is withdrawn, for a withdrawal (a code of
            ``cases.model.WITHDRAWAL_REASONS``, or one a later version may add).
    """

    manifest: Manifest
    case: Case | None = None
    opinion: Opinion | None = None
    files: Mapping[str, bytes] = field(default_factory=dict)
    manifest_json: bytes = b""
    withdrawal: str | None = None


# --- packing ------------------------------------------------------------------------------


def pack_case(
    bundle_id: str,
    case: Case,
    sender: Party,
    recipients: Sequence[Party],
    *,
    in_reply_to: str | None = None,
    created: datetime | None = None,
) -> bytes:
    """Serialise a case with its photos as a ``request``; ``recipients`` lists every
    recipient, the sender's own copy and the unit archive included."""
    files = {f"photos/{p.name}": p.data for p in case.photos}
    files.update({f"documents/{d.name}": d.data for d in case.documents})
    files.update({f"clips/{c.name}": c.data for c in case.clips})
    return _pack(
        bundle_id, "request", sender, recipients, files,
        case_id=case.case_id, in_reply_to=in_reply_to, clinical=case.to_json(), created=created,
    )  # fmt: skip


def pack_opinion(
    bundle_id: str,
    opinion: Opinion,
    sender: Party,
    recipients: Sequence[Party],
    *,
    in_reply_to: str | None = None,
    created: datetime | None = None,
) -> bytes:
    """Serialise a specialist's opinion; ``in_reply_to`` is the request's bundle id."""
    return _pack(
        bundle_id, "opinion", sender, recipients, {},
        case_id=opinion.case_id, in_reply_to=in_reply_to, clinical=opinion.to_json(),
        created=created,
    )  # fmt: skip


def pack_receipt(
    bundle_id: str,
    received_bundle_id: str,
    case_id: str | None,
    sender: Party,
    recipients: Sequence[Party],
    *,
    created: datetime | None = None,
) -> bytes:
    """A signed acknowledgement that ``received_bundle_id`` was opened: no clinical content."""
    return _pack(
        bundle_id, "receipt", sender, recipients, {},
        case_id=case_id, in_reply_to=received_bundle_id, clinical=None, created=created,
    )  # fmt: skip


def pack_withdrawal(
    bundle_id: str,
    request_bundle_id: str,
    case_id: str,
    reason: str,
    sender: Party,
    recipients: Sequence[Party],
    *,
    created: datetime | None = None,
) -> bytes:
    """The request ``request_bundle_id``'s author withdraws it, for ``reason`` (a code of
    ``cases.model.WITHDRAWAL_REASONS``): no clinical content besides that code."""
    if not _CODE.fullmatch(reason):
        raise ValueError(f"{reason!r} is not a reason code")
    return _pack(
        bundle_id, "withdrawal", sender, recipients, {},
        case_id=case_id, in_reply_to=request_bundle_id, clinical={"reason": reason},
        created=created,
    )  # fmt: skip


def pack_files(
    bundle_id: str,
    files: Mapping[str, bytes],
    sender: Party,
    recipients: Sequence[Party],
    kind: str = "request",
    case_id: str | None = None,
    *,
    in_reply_to: str | None = None,
    clinical: Mapping[str, Any] | None = None,
    created: datetime | None = None,
) -> bytes:
    """A bundle of arbitrary files (the command line's ``bundle seal``).

    Raises:
        ValueError: An unknown kind, an unsafe or duplicate file name, or no recipient.
    """
    return _pack(
        bundle_id, kind, sender, recipients, files,
        case_id=case_id, in_reply_to=in_reply_to, clinical=clinical, created=created,
    )  # fmt: skip


def media_type(name: str) -> str:
    """The media type written in the manifest for a file name."""
    return _MEDIA_TYPES.get(PurePosixPath(name).suffix.lower(), "application/octet-stream")


def check_file_name(name: str) -> str:
    """Return ``name`` if it is a safe relative path for a payload file, else raise
    ``ValueError`` (absolute, ``..``, backslashes, drive letters, control characters)."""
    if not isinstance(name, str) or not 0 < len(name) <= 255:
        raise ValueError("a file name must have 1 to 255 characters")
    if _FORBIDDEN_IN_NAMES.search(name) or name.startswith("/"):
        raise ValueError("a file name must be a plain relative path")
    if any(part in ("", ".", "..") for part in name.split("/")):
        raise ValueError("a file name must not contain empty, '.' or '..' parts")
    if name == MANIFEST:
        raise ValueError(f"{MANIFEST} is reserved")
    return name


def _pack(
    bundle_id: str,
    kind: str,
    sender: Party,
    recipients: Sequence[Party],
    files: Mapping[str, bytes],
    *,
    case_id: str | None,
    in_reply_to: str | None,
    clinical: Mapping[str, Any] | None,
    created: datetime | None,
) -> bytes:
    entries = [
        FileEntry(check_file_name(n), media_type(n), len(d), hashlib.sha256(d).hexdigest())
        for n, d in files.items()
    ]
    manifest, stamp = manifest_for(
        bundle_id, kind, sender, recipients, entries,
        case_id=case_id, in_reply_to=in_reply_to, clinical=clinical, created=created,
    )  # fmt: skip
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        _add(archive, MANIFEST, _json(manifest), zipfile.ZIP_DEFLATED, stamp)
        for entry in entries:
            _add(archive, entry.name, files[entry.name], compression(entry.media_type), stamp)
    return out.getvalue()


def compression(media: str) -> int:
    """How a file of type ``media`` is stored in the ZIP (docs/bundle-format.md §1)."""
    return zipfile.ZIP_STORED if media in _ALREADY_COMPRESSED else zipfile.ZIP_DEFLATED


def manifest_for(
    bundle_id: str,
    kind: str,
    sender: Party,
    recipients: Sequence[Party],
    entries: Sequence[FileEntry],
    *,
    case_id: str | None,
    in_reply_to: str | None,
    clinical: Mapping[str, Any] | None,
    created: datetime | None,
) -> tuple[dict[str, Any], tuple[int, int, int, int, int, int]]:
    """The manifest of a bundle of the files ``entries`` describes, and the ZIP time stamp
    of its entries (shared with ``cases.bundlestream``, which packs from files).

    Raises:
        ValueError: An unknown kind, a bad bundle id, no recipient, or two file names that
            differ only by case.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown bundle kind {kind!r}")
    check_bundle_id(bundle_id)
    if not recipients:
        raise ValueError("a bundle needs at least one recipient")
    unique: dict[str, Party] = {}
    for party in recipients:
        unique.setdefault(party.fingerprint, party)
    if len({e.name.casefold() for e in entries}) != len(entries):
        raise ValueError("two file names differ only by case")
    when = (created or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
    manifest: dict[str, Any] = {
        "format": FORMAT,
        "bundle_id": bundle_id,
        "case_id": case_id,
        "kind": kind,
        "in_reply_to": in_reply_to,
        "sender": sender.to_json(),
        "recipients": list(unique),
        "addressees": [p.to_json() for p in unique.values() if p.display_name],
        "created": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "files": [e.to_json() for e in entries],
    }
    if clinical is not None:
        manifest["clinical"] = dict(clinical)
    stamp = (when.year, when.month, when.day, when.hour, when.minute, when.second)
    return manifest, stamp


def _add(
    archive: zipfile.ZipFile,
    name: str,
    data: bytes,
    method: int,
    stamp: tuple[int, int, int, int, int, int],
) -> None:
    info = zipfile.ZipInfo(name, date_time=stamp)
    info.compress_type = method
    info.external_attr = 0o600 << 16
    archive.writestr(info, data)


def _json(value: object) -> bytes:
    return json.dumps(value, ensure_ascii=False, indent=1, sort_keys=True).encode("utf-8")


# --- unpacking ----------------------------------------------------------------------------


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


def _bundle(
    manifest: Manifest,
    raw_manifest: bytes,
    payload: Callable[[str], bytes | Payload],
    contents: Mapping[str, bytes],
) -> Bundle:
    names = {entry.name for entry in manifest.files}
    case = opinion = withdrawal = None
    if manifest.kind == "request" and manifest.clinical is not None:
        case = _case(manifest, payload, names)
    elif manifest.kind == "opinion":
        opinion = _opinion(manifest)
    elif manifest.kind == "withdrawal":
        withdrawal = _withdrawal(manifest, names)
    return Bundle(manifest, case, opinion, contents, raw_manifest, withdrawal)


def _read_zip(data: bytes, max_size: int) -> dict[str, bytes]:
    """Every entry of the archive, after checking names, count and declared sizes."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        infos = archive.infolist()
        if len(infos) > MAX_FILES + 1:
            raise MalformedBundle(f"too many entries ({len(infos)})")
        total = sum(info.file_size for info in infos)
        if total > max_size:
            raise MalformedBundle(f"uncompressed size {total} exceeds {max_size}")
        seen: set[str] = set()
        for info in infos:
            _check_entry(info, seen)
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


def _manifest(raw: Any) -> Manifest:
    if not isinstance(raw, dict) or "format" not in raw:
        raise MalformedBundle("the manifest is not a bundle manifest")
    version = raw["format"]
    if version != FORMAT or isinstance(version, bool):
        raise UnsupportedFormat(f"unsupported bundle format {str(version)[:20]!r}")
    if not set(raw) <= _TOP_KEYS or not _TOP_KEYS - {"clinical", "addressees"} <= set(raw):
        raise MalformedBundle("the manifest's fields differ from format 1")
    kind = _text(raw["kind"])
    if kind not in KINDS:
        raise MalformedBundle(f"unknown kind {kind[:20]!r}")
    fingerprints = raw["recipients"]
    if (
        not isinstance(fingerprints, list)
        or not fingerprints
        or not all(isinstance(f, str) and _HEX64.fullmatch(f) for f in fingerprints)
        or len(set(fingerprints)) != len(fingerprints)
    ):
        raise MalformedBundle("recipients must be distinct certificate fingerprints")
    named = {p.fingerprint: p for p in (_party(a) for a in raw.get("addressees", []))}
    if not set(named) <= set(fingerprints):
        raise MalformedBundle("an addressee is not among the recipients")
    clinical = raw.get("clinical")
    if clinical is not None and not isinstance(clinical, dict):
        raise MalformedBundle("clinical must be an object")
    if kind == "receipt" and clinical is not None:
        raise MalformedBundle("a receipt has no clinical part")
    if kind == "opinion" and clinical is None:
        raise MalformedBundle("an opinion has a clinical part")
    in_reply_to = _optional_id(raw["in_reply_to"])
    if kind == "receipt" and in_reply_to is None:
        raise MalformedBundle("a receipt names the bundle it acknowledges")
    if kind == "withdrawal" and in_reply_to is None:
        raise MalformedBundle("a withdrawal names the request it withdraws")
    created = _time(raw["created"])
    return Manifest(
        bundle_id=check_bundle_id(_text(raw["bundle_id"])),
        kind=kind,
        sender=_party(raw["sender"]),
        recipients=tuple(named.get(f, Party("", "", f)) for f in fingerprints),
        files=tuple(_file_entry(f) for f in _list(raw["files"])),
        case_id=_optional_id(raw["case_id"]),
        in_reply_to=in_reply_to,
        created=created,
        clinical=clinical,
    )


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


def _text(value: Any, limit: int = MAX_TEXT) -> str:
    if not isinstance(value, str):
        raise MalformedBundle("a manifest field is not text")
    if len(value) > limit:
        raise MalformedBundle(f"a manifest text is longer than {limit} characters")
    return value


def _time(value: Any) -> datetime:
    """A time as bundles carry it: ISO 8601 with an offset (``Z`` or ``+hh:mm``), between
    the years :data:`EARLIEST` and :data:`LATEST`, returned in UTC."""
    text = _text(value, 40)
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise MalformedBundle("a time is not ISO 8601") from exc
    if when.tzinfo is None or when.utcoffset() is None:
        raise MalformedBundle("a time has no offset from UTC")
    if not EARLIEST <= when.year < LATEST:
        raise MalformedBundle(f"a time lies outside {EARLIEST}–{LATEST}")
    return when.astimezone(UTC)


def _list(value: Any) -> list[Any]:
    if not isinstance(value, list):
        raise MalformedBundle("a manifest field is not a list")
    return value


def _optional_id(value: Any) -> str | None:
    if value is None:
        return None
    text = _text(value)
    if not 0 < len(text) <= 128:
        raise MalformedBundle("an identifier is empty or too long")
    return text


def _party(raw: Any) -> Party:
    if not isinstance(raw, dict):
        raise MalformedBundle("a party is not an object")
    fingerprint = _text(raw["fingerprint"])
    if not _HEX64.fullmatch(fingerprint):
        raise MalformedBundle("a fingerprint is not 64 lowercase hex digits")
    return Party(
        _text(raw.get("mailbox", "")),
        _text(raw["name"]),
        fingerprint,
        _text(raw["role"]),
        _text(raw["organization"]),
    )


def _file_entry(raw: Any) -> FileEntry:
    if not isinstance(raw, dict) or set(raw) != {"name", "media_type", "size", "sha256"}:
        raise MalformedBundle("a file entry's fields differ from format 1")
    size, digest, kind = raw["size"], _text(raw["sha256"]), _text(raw["media_type"])
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise MalformedBundle("a file size is not a count of bytes")
    if not _HEX64.fullmatch(digest) or not _MEDIA_TYPE.fullmatch(kind):
        raise MalformedBundle("a file's digest or media type is malformed")
    return FileEntry(_text(raw["name"]), kind, size, digest)


def _case(manifest: Manifest, payload: Callable[[str], bytes | Payload], names: set[str]) -> Case:
    raw = dict(manifest.clinical or {})
    photos = []
    listed = _list(raw["photos"])
    if len(listed) > MAX_FILES:
        raise MalformedBundle("a request lists too many photos")
    for meta in listed:
        if not isinstance(meta, dict):
            raise MalformedBundle("a photo entry is not an object")
        name = f"photos/{_text(meta['name'], 255)}"
        if name not in names:
            raise MalformedBundle("a photo is not among the bundle's files")
        photos.append(Photo.from_details(meta, payload(name)))
    documents = _documents(manifest, raw.get("documents", []), payload, names)
    clips = _clips(manifest, raw.get("clips", []), payload, names)
    if len(photos) + len(documents) + len(clips) != len(names) or len(
        {p.name for p in photos}
    ) != len(photos):
        raise MalformedBundle("a request's files are not its photos, documents and clips")
    case = Case(
        case_id=_text(raw["case_id"], 128),
        created_at=_time(raw["created_at"]),
        patient_ref=_text(raw["patient_ref"]),
        consent=bool(raw["consent"]),
        specialty=_text(raw["specialty"]),
        summary=_text(raw["summary"]),
        treatments=_text(raw["treatments"]),
        question=_text(raw["question"]),
        photos=tuple(photos),
        follows=_optional_id(raw.get("follows")),
        answers=_answers(_text(raw["specialty"]), raw.get("answers", {})),
        urgent=_flag(raw.get("urgent", False)),
        documents=documents,
        clips=clips,
        identity=_identity(raw.get("identity")),
        consent_date=_day(raw.get("consent_date")),
        requester_rpps=_rpps(raw.get("requester_rpps")),
    )
    if case.case_id != manifest.case_id:
        raise MalformedBundle("the case id differs from the manifest's")
    if case.follows == case.case_id:
        raise MalformedBundle("a request follows itself")
    return case


def _documents(
    manifest: Manifest, listed: Any, payload: Callable[[str], bytes | Payload], names: set[str]
) -> tuple[Document, ...]:
    """A request's documents (``cases.documents``; none in an older request), each the
    file ``documents/<name>`` of the manifest's size and digest."""
    if len(_list(listed)) > MAX_DOCUMENTS:
        raise MalformedBundle("a request lists too many documents")
    files = {entry.name: entry for entry in manifest.files}
    documents = []
    for meta in listed:
        try:
            document = Document.from_details(meta, b"")
        except ValueError as exc:
            raise MalformedBundle(str(exc)) from exc
        entry = files.get(f"documents/{document.name}")
        if entry is None or entry.name not in names:
            raise MalformedBundle("a document is not among the bundle's files")
        if (entry.size, entry.sha256) != (document.size, document.sha256):
            raise MalformedBundle("a document's size or digest differs from its file's")
        documents.append(replace(document, payload=payload(entry.name)))
    if len({d.name for d in documents}) != len(documents):
        raise MalformedBundle("a document is listed twice")
    return tuple(documents)


def _clips(
    manifest: Manifest, listed: Any, payload: Callable[[str], bytes | Payload], names: set[str]
) -> tuple[Clip, ...]:
    """A request's clips (``cases.clips``; none in an older request), each the file
    ``clips/<name>`` of the manifest's size and digest, stored as ``video/mp4``."""
    if len(_list(listed)) > MAX_CLIPS:
        raise MalformedBundle("a request lists too many clips")
    files = {entry.name: entry for entry in manifest.files}
    clips = []
    for meta in listed:
        try:
            clip = Clip.from_details(meta, b"")
        except ValueError as exc:
            raise MalformedBundle(str(exc)) from exc
        entry = files.get(f"clips/{clip.name}")
        if entry is None or entry.name not in names or entry.media_type != clip.media_type:
            raise MalformedBundle("a clip is not among the bundle's files")
        if (entry.size, entry.sha256) != (clip.size, clip.sha256):
            raise MalformedBundle("a clip's size or digest differs from its file's")
        clips.append(replace(clip, payload=payload(entry.name)))
    if len({c.name for c in clips}) != len(clips):
        raise MalformedBundle("a clip is listed twice")
    if sum(c.size for c in clips) > MAX_CLIPS_BYTES:
        raise MalformedBundle("a request's clips are too large")
    return tuple(clips)


def _flag(value: Any) -> bool:
    if not isinstance(value, bool):
        raise MalformedBundle("a flag is not true or false")
    return value


def _answers(specialty: str, raw: Any) -> Answers:
    try:
        return checked_answers(specialty, raw)
    except ValueError as exc:
        raise MalformedBundle(str(exc)) from exc


def _opinion(manifest: Manifest) -> Opinion:
    raw = dict(manifest.clinical or {})
    opinion = Opinion(
        case_id=_text(raw["case_id"]),
        opinion_id=_text(raw["opinion_id"]),
        created_at=_time(raw["created_at"]),
        text=_text(raw["text"]),
        outcome=_outcome(raw.get("outcome")),
        review_weeks=_review_weeks(raw.get("review_weeks")),
        refer_to=_mailbox(raw.get("refer_to")),
        refer_name=_text(raw.get("refer_name", ""))[:200],
        expert_rpps=_rpps(raw.get("expert_rpps")),
        marks=_marks(raw.get("marks")),
    )
    if opinion.case_id != manifest.case_id:
        raise MalformedBundle("the opinion's case id differs from the manifest's")
    return opinion


def _marks(value: Any) -> tuple[PhotoMarks, ...]:
    """The specialist's marks on the request's photos (none in an older opinion)."""
    try:
        return marks_from_json(value)
    except (KeyError, TypeError, ValueError) as exc:
        raise MalformedBundle(f"an opinion's marks are malformed: {exc}") from exc


def _identity(value: Any) -> PatientIdentity | None:
    """The patient's identity (none in an earlier version's request; ``cases.identity``)."""
    if value is None:
        return None
    try:
        return PatientIdentity.from_manifest(value)
    except (TypeError, ValueError) as exc:
        raise MalformedBundle(f"a request's identity is malformed: {exc}") from exc


def _day(value: Any) -> date | None:
    """A calendar day (``2026-11-30``), between :data:`EARLIEST` and :data:`LATEST`."""
    if value is None:
        return None
    try:
        day = date.fromisoformat(_text(value, 10))
    except ValueError as exc:
        raise MalformedBundle("a day is not ISO 8601") from exc
    if not EARLIEST <= day.year < LATEST:
        raise MalformedBundle(f"a day lies outside {EARLIEST}–{LATEST}")
    return day


def _rpps(value: Any) -> str:
    """An RPPS number (11 digits; ``cases.acts``), or empty when the bundle has none."""
    if value is None:
        return ""
    text = _text(value, 11)
    if not (len(text) == 11 and text.isascii() and text.isdigit()):
        raise MalformedBundle("an RPPS number is not 11 digits")
    return text


def _withdrawal(manifest: Manifest, names: set[str]) -> str:
    """A withdrawal's reason code (kept as it is when this version does not know it)."""
    raw = dict(manifest.clinical or {})
    if set(raw) != {"reason"} or names or manifest.case_id is None:
        raise MalformedBundle("a withdrawal names a case and gives a reason, nothing else")
    reason = _text(raw["reason"])
    if not _CODE.fullmatch(reason):
        raise MalformedBundle("a withdrawal's reason is not a code")
    return reason


def _outcome(value: Any) -> str | None:
    """An opinion's outcome: a code of ``OUTCOMES``, or one a later version may add (kept as
    it is, for the reader to show), or ``None``."""
    if value is None:
        return None
    code = _text(value)
    if not _CODE.fullmatch(code):
        raise MalformedBundle("an opinion's outcome is not a code")
    return code


def _mailbox(value: Any) -> str | None:
    """The colleague an opinion refers the unit to: a platform mailbox id, or ``None``."""
    if value is None:
        return None
    try:
        return check_bundle_id(_text(value))  # mailbox ids follow the same rule
    except ValueError as exc:
        raise MalformedBundle("an opinion's referral is not a mailbox id") from exc


def _review_weeks(value: Any) -> int | None:
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= MAX_REVIEW_WEEKS:
        raise MalformedBundle("an opinion's review delay is not a number of weeks")
    return value


# --- replay -------------------------------------------------------------------------------

_REGISTRY_SCHEMA = """
CREATE TABLE IF NOT EXISTS opened_bundles (
    bundle_id   TEXT PRIMARY KEY,
    reader      TEXT NOT NULL,
    opened_at   TEXT NOT NULL
)
"""


class OpenedRegistry:
    """The bundle ids opened on this workstation, to spot a replayed bundle.

    A separate step from :func:`unpack`: re-reading one's own archive is normal, so only
    the callers that receive something new (the inbox, ``passavant bundle open``) ask.
    Keeps ids, reader fingerprints and times only (a table in the profile's SQLite file).
    """

    def __init__(self, db_path: Path) -> None:
        self.db_path = db_path
        with self._db() as db:
            db.execute(_REGISTRY_SCHEMA)

    def opened_at(self, bundle_id: str) -> datetime | None:
        """When ``bundle_id`` was first opened here, or ``None``."""
        with self._db() as db:
            row = db.execute(
                "SELECT opened_at FROM opened_bundles WHERE bundle_id = ?", (bundle_id,)
            ).fetchone()
        return None if row is None else datetime.fromisoformat(row[0])

    def check(self, bundle_id: str) -> None:
        """Raise :class:`AlreadyOpened` if ``bundle_id`` was opened here before."""
        if self.opened_at(bundle_id) is not None:
            raise AlreadyOpened(f"bundle {bundle_id} was opened before")

    def record(
        self, bundle_id: str, reader_fingerprint: str, *, now: datetime | None = None
    ) -> None:
        """Record a first opening, atomically; raise :class:`AlreadyOpened` if it is not one.

        Call it only after the bundle was verified, so that a forged id cannot block the
        real bundle.
        """
        when = (now or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
        try:
            with self._db() as db:
                db.execute(
                    "INSERT INTO opened_bundles VALUES (?, ?, ?)",
                    (bundle_id, reader_fingerprint, when.isoformat()),
                )
        except sqlite3.IntegrityError as exc:
            raise AlreadyOpened(f"bundle {bundle_id} was opened before") from exc

    @contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self.db_path, timeout=10)
        try:
            with db:
                yield db
        finally:
            db.close()
