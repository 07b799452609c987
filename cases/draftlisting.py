"""What a request's draft lists of the files sealed apart from it (:mod:`cases.draftpayloads`).

A draft holds the request's text; its photos, documents and clips each lie in a sealed file
of their own, sealed **once** when they joined it, and the draft lists them, in the request's
order, in ``clinical.draft_payloads``: each entry its kind (``photo``, ``document``,
``clip``), its manifest details (``details()``: name, SHA-256…) and, for a photo (whose
details do not say it), its size. An autosave then seals only the text and this list.

:func:`seal_apart` makes the list for a save (sealing what is not sealed yet: a photo just
taken, a clip just joined; a draft of an earlier version's photos, held inside it, move out
at its first save); :func:`join` reads it back at load, each photo, document and clip then
held by a :class:`cases.draftpayloads.DraftPayload` that authenticates its file, and checks
its size and SHA-256 against this list (signed, with the draft, by its author), whenever it
is read. A file missing or cut short is left out and named (:func:`join`); one altered,
swapped (another draft's, another person's) or replayed (an older file under its name) is
named by :func:`damaged`, never read as the request's.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from cases.bundleseal import Source
from cases.clips import Clip
from cases.documents import Document
from cases.draftpayloads import DraftPayload, DraftPayloadDamaged, DraftPayloadStore
from cases.errors import MalformedBundle
from cases.model import Case
from cases.photos import Photo

DRAFT_PAYLOADS = "draft_payloads"
"""The key, in a draft's ``clinical`` object, of the photos, clips and documents sealed apart."""
MAX_LISTED = 256
"""More entries than a draft may list (12 photos, 12 documents and 3 clips are sent)."""
MAX_PHOTO_SIZE = 64 << 20
"""A photo's size a draft may list (a prepared JPEG is a few MB)."""
_SHA256 = re.compile(r"[0-9a-f]{64}")

Item = Photo | Document | Clip
Reference = Callable[[str, int, str], DraftPayload]
"""``DraftPayloadStore.reference``: what reads a payload back, by name, size and SHA-256."""


def seal_apart(
    payloads: DraftPayloadStore, case: Case, kept: dict[str, DraftPayload]
) -> tuple[Case, list[dict[str, Any]], list[str]]:
    """``case`` without its photos, documents and clips, what its draft lists of them, and
    the names of their files, each sealed (once: a file already there is not read again) and
    pinned until the caller unpins them, once the draft that lists them is written; ``kept``
    gets each by its SHA-256 (what the form may hold instead of the bytes).

    Raises: as :meth:`DraftPayloadStore.keep` (nothing stays pinned).
    """
    listed: list[dict[str, Any]] = []
    pinned: list[str] = []
    try:
        for photo in case.photos:
            entry = photo.details()  # a photo in memory is hashed here, once
            source, size = _photo_source(photo)
            sealed = payloads.keep(photo.name, source, size, str(entry["sha256"]))
            pinned.append(sealed.path.name)
            kept[sealed.sha256] = sealed
            listed.append({"kind": "photo", "entry": entry, "size": size})
        large: list[tuple[str, Document | Clip]] = [("document", d) for d in case.documents]
        large += [("clip", c) for c in case.clips]
        for kind, item in large:
            sealed = payloads.keep(item.name, item.payload, item.size, item.sha256)
            pinned.append(sealed.path.name)
            kept[item.sha256] = sealed
            listed.append({"kind": kind, "entry": item.details()})
    except BaseException:
        payloads.unpin(pinned)
        raise
    return replace(case, photos=(), documents=(), clips=()), listed, pinned


def _photo_source(photo: Photo) -> tuple[Source, int]:
    """Where a photo's bytes are read from when sealed apart, and their number."""
    payload = photo.payload
    if isinstance(payload, bytes):
        return payload, len(payload)
    size = getattr(payload, "size", None)
    if isinstance(size, int) and hasattr(payload, "open"):
        return payload, size  # its own sealed file: not read when it lies there already
    data = payload.read()  # inside a draft of an earlier version: a few MB, read once
    return data, len(data)


def join(
    case: Case, clinical: Mapping[str, Any], reference: Reference
) -> tuple[Case, frozenset[str], tuple[str, ...]]:
    """The draft's case with its photos, documents and clips held by their sealed files, the
    names of those files, and the names of those missing or cut short (left out).

    Raises:
        MalformedBundle, ValueError, TypeError, KeyError: the list is malformed.
    """
    listed = clinical.get(DRAFT_PAYLOADS, [])
    if not isinstance(listed, list) or len(listed) > MAX_LISTED:
        raise MalformedBundle("a draft's payloads are not a list")
    photos, documents, clips = list(case.photos), list(case.documents), list(case.clips)
    files: set[str] = set()
    missing: list[str] = []
    for item in listed:
        joined, size = _entry(item)
        sealed = reference(joined.name, size, joined.sha256)
        files.add(sealed.path.name)
        try:
            present = sealed.path.stat().st_size >= size  # sealed: never smaller
        except FileNotFoundError:
            present = False
        if not present:
            missing.append(joined.name)
        elif isinstance(joined, Photo):
            photos.append(replace(joined, payload=sealed))
        elif isinstance(joined, Document):
            documents.append(replace(joined, payload=sealed))
        else:
            clips.append(replace(joined, payload=sealed))
    for held in (photos, documents, clips):
        if len({i.name for i in held}) != len(held):
            raise MalformedBundle("a draft lists a payload twice")
    whole = replace(case, photos=tuple(photos), documents=tuple(documents), clips=tuple(clips))
    return whole, frozenset(files), tuple(missing)


def _entry(item: Any) -> tuple[Item, int]:
    """One entry of the list: what it describes (its payload empty for now), and its size."""
    kind, entry = item["kind"], item["entry"]
    if kind == "document":
        document = Document.from_details(entry, b"")
        return document, document.size
    if kind == "clip":
        clip = Clip.from_details(entry, b"")
        return clip, clip.size
    if kind != "photo":
        raise MalformedBundle("a draft payload of an unknown kind")
    size, digest = item["size"], entry["sha256"]
    if not isinstance(size, int) or isinstance(size, bool) or not 0 < size <= MAX_PHOTO_SIZE:
        raise MalformedBundle("a draft's photo has no valid size")
    if not isinstance(digest, str) or not _SHA256.fullmatch(digest):
        raise MalformedBundle("a draft's photo has no valid SHA-256")
    return Photo.from_details(entry, _Digest(digest)), size


class _Digest:
    """A placeholder payload that knows its SHA-256 (replaced by the sealed file's reader)."""

    __slots__ = ("sha256",)

    def __init__(self, sha256: str) -> None:
        self.sha256 = sha256

    def read(self) -> bytes:
        raise MalformedBundle("a draft's photo was not joined to its sealed file")


def damaged(case: Case) -> tuple[str, ...]:
    """The names of ``case``'s photos, documents and clips whose sealed files do not open as
    the draft lists them (each read through once, authenticated: call it off the GUI
    thread); those in memory are not looked at."""
    found = []
    items: tuple[Item, ...] = (*case.photos, *case.documents, *case.clips)
    for item in items:
        if isinstance(item.payload, DraftPayload):
            try:
                item.payload.open().close()  # authenticated and checked whole
            except DraftPayloadDamaged:
                found.append(item.name)
    return tuple(found)


def in_memory_photos(
    case_photos: tuple[Photo, ...], sealed: Callable[[str, str], DraftPayload | None]
) -> list[tuple[Photo, DraftPayload]]:
    """Each photo held in memory whose sealed file lies there (``sealed(name, sha256)``),
    with that file's reader: what the form holds instead of its bytes (hashes each: call it
    off the GUI thread)."""
    found = []
    for photo in case_photos:
        if isinstance(photo.payload, bytes):
            payload = sealed(photo.name, photo.sha256)
            if payload is not None:
                found.append((photo, payload))
    return found
