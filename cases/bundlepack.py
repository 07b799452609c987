"""Packing bundles in memory: a case, an opinion, a receipt, a withdrawal or any files,
as the ZIP that gets signed and encrypted (docs/bundle-format.md §1–2).

:func:`manifest_for` is shared with :mod:`cases.bundlestream`, which packs from files and
payloads as it seals, never holding the ZIP whole.
"""

from __future__ import annotations

import hashlib
import io
import zipfile
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from cases.bundleformat import (
    _CODE,
    FORMAT,
    KINDS,
    MANIFEST,
    FileEntry,
    Party,
    _json,
    check_file_name,
    compression,
    media_type,
)
from cases.model import Case, Opinion
from outbox.spool import check_bundle_id


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
