"""Reading a bundle manifest's fields: each checked for its type, its bounds and its
coherence with the rest (docs/bundle-format.md §2), into a :class:`~cases.bundleformat.Manifest`
and the case, opinion or withdrawal it carries. Whatever is wrong raises
:class:`~cases.errors.MalformedBundle` (or ``UnsupportedFormat``); the callers in
:mod:`cases.bundleunpack` and :mod:`cases.bundlestream` check the archive around it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import UTC, date, datetime
from typing import Any

from cases.bundleformat import (
    _CODE,
    _HEX64,
    _MEDIA_TYPE,
    _TOP_KEYS,
    EARLIEST,
    FORMAT,
    KINDS,
    LATEST,
    MAX_FILES,
    MAX_TEXT,
    Bundle,
    FileEntry,
    Manifest,
    Party,
)
from cases.clips import MAX_CLIPS, MAX_CLIPS_BYTES, Clip
from cases.documents import MAX_DOCUMENTS, Document
from cases.errors import MalformedBundle, UnsupportedFormat
from cases.identity import PatientIdentity
from cases.marks import PhotoMarks, marks_from_json
from cases.model import MAX_REVIEW_WEEKS, Case, Opinion
from cases.photos import Payload, Photo
from cases.sections import Answers, checked_answers
from outbox.spool import check_bundle_id


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
