"""Unfinished requests, kept on disk only sealed to their author.

A draft is the case as the doctor left it (text and photos), packed like a request and sealed
(signed and encrypted) to the author's own certificate: nobody else, not even the unit's
secretary or a copy of the disk, can read it. One file per case under
``drafts/<identity id>/<name>.p7m``, replaced atomically at each save, so a crash leaves
either the previous draft or the new one, never half of one.

A specialist's unfinished opinions are kept the same way, packed like an opinion, one per
request answered: ``drafts/<identity id>/opinions/<name>.p7m``.

Files are not named by their case id (a label that travels in bundles and follow-ups) but by
a keyed hash of it: the key, 32 random bytes, lies beside the drafts encrypted to the
person's own certificate (``names.key``, a CMS message), so the names say nothing to
somebody reading the disk. Drafts of an earlier version, named by their case id, are renamed
when first opened.

A request's clips and documents run to hundreds of megabytes: each is sealed **once**, when
it joins the draft, into a file of its own (:mod:`cases.draftpayloads`), and the draft lists
it (``clinical.draft_payloads``: its name, size, SHA-256 and details) instead of holding it,
so that an autosave seals only the text and the photos. A payload no draft references any
more (removed from the form, its draft sent or discarded, a crash between the two writes) is
removed at the next save, discard or listing; a draft whose payload file is missing loads
without it, and says which (:attr:`UnreadableDraft.missing`). A draft of an earlier version,
its files inside, above ``stream_above`` is opened in bounded memory
(:func:`crypto.stream.open_file`): its files are then read, when asked for, from a temporary
copy encrypted under a key held in memory, released once the whole draft was authenticated,
and moved to payload files at its next save. No clinical byte is ever written to disk in
clear.
"""

from __future__ import annotations

import contextlib
import hmac
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from cryptography import x509

from cases.bundle import Bundle, Party, pack_opinion, unpack
from cases.bundleseal import case_members, seal_members
from cases.bundlestream import unpack_content
from cases.clips import Clip
from cases.documents import Document
from cases.draftpayloads import FOLDER, DraftPayload, DraftPayloadDamaged, DraftPayloadStore
from cases.errors import CaseError, MalformedBundle
from cases.model import Case, Opinion, new_id
from cases.profile import UnlockedIdentity
from crypto import cms, pki, stream
from crypto.errors import CryptoError

log = logging.getLogger(__name__)

SUFFIX = ".p7m"
NAMES_KEY = "names.key"
STREAM_ABOVE = 16 << 20
"""Drafts larger than this (one of an earlier version holding a clip or large documents) are
opened in bounded memory; smaller ones (text and photos) in memory, faster when all the
drafts are listed."""
DRAFT_PAYLOADS = "draft_payloads"
"""The key, in a draft's ``clinical`` object, of the clips and documents sealed apart."""
PAYLOAD_MISSING = "draft_payload_missing"
DRAFT_UID_KEY = "draft_uid_key"
"""The key, in a draft's ``clinical`` object, of its DICOM documents' UID key (hex)."""


@dataclass(frozen=True)
class UnreadableDraft:
    """A draft file that could not be opened (damaged, or sealed by another key), by its file
    name (a keyed hash, not the case id); or, with the code :data:`PAYLOAD_MISSING`, a draft
    that opened (it is among the drafts, ``case_id``) without the clips or documents
    ``missing`` names, whose sealed files are gone or cut short."""

    name: str
    code: str
    case_id: str = ""
    missing: tuple[str, ...] = ()


class DraftStore:
    """The drafts of one unlocked identity."""

    def __init__(
        self,
        folder: Path,
        me: UnlockedIdentity,
        trust_roots: Sequence[x509.Certificate],
        *,
        stream_above: int = STREAM_ABOVE,
    ) -> None:
        self.folder = folder / me.info.id
        self.me = me
        self.trust_roots = list(trust_roots)
        self.stream_above = stream_above  # a larger draft is opened in bounded memory
        self._lock = threading.Lock()
        self._closed: set[str] = set()  # sent or discarded: a late autosave must not revive it
        self._written: dict[Path, int] = {}  # the version of each draft last written
        self._names_key: bytes | None = None
        self.payloads = DraftPayloadStore(
            self.folder / FOLDER, self._payload_name, self._seal_payload, self._open_payload
        )
        self._refs: dict[Path, frozenset[str]] = {}  # the payload files each draft lists
        self._known: bool | None = None  # every draft's payloads known (None: not looked)
        self._kept: dict[str, DraftPayload] = {}  # by SHA-256: what the form may hold
        self._uid_keys: dict[str, bytes] = {}  # by case id: its DICOM documents' UID key

    def _path(self, case_id: str, folder: Path | None = None) -> Path:
        if not case_id or "/" in case_id or "\\" in case_id or case_id.startswith("."):
            raise ValueError(f"not a case id: {case_id!r}")
        return (folder or self.folder) / f"{self._name(case_id)}{SUFFIX}"

    def _name(self, case_id: str) -> str:
        """The file name of a case's draft: a keyed hash of its case id."""
        return hmac.new(self._key(), case_id.encode("utf-8"), "sha256").hexdigest()[:40]

    def _key(self) -> bytes:
        """The key of the drafts' names, made at first use (sealed to the person)."""
        with self._lock:
            if self._names_key is not None:
                return self._names_key
            path = self.folder / NAMES_KEY
            if not path.exists():
                self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
                temporary = self.folder / f".{NAMES_KEY}.{os.getpid()}.{threading.get_ident()}"
                sealed = cms.encrypt(os.urandom(32), [self.me.certificate])
                descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with open(descriptor, "wb") as out:
                    out.write(sealed)
                try:
                    os.link(temporary, path)  # never replaces a key another store made
                except FileExistsError:
                    pass
                finally:
                    temporary.unlink(missing_ok=True)
            key = cms.decrypt(path.read_bytes(), self.me.certificate, self.me.key)
            if len(key) != 32:
                raise ValueError("the drafts' name key has the wrong size")
            self._names_key = key
            return key

    def uid_key(self, case_id: str) -> bytes | None:
        """The key the DICOM documents of the draft ``case_id`` had their UIDs replaced
        under (saved with it, read back by :meth:`load`), if any."""
        return self._uid_keys.get(case_id)

    @staticmethod
    def damaged(case: Case) -> tuple[str, ...]:
        """The names of ``case``'s clips and documents whose sealed files do not open as the
        draft lists them (each read through once, authenticated: call it off the GUI
        thread); those in memory are not looked at."""
        found = []
        items: tuple[Document | Clip, ...] = (*case.documents, *case.clips)
        for item in items:
            if isinstance(item.payload, DraftPayload):
                try:
                    item.payload.open().close()  # authenticated and checked whole
                except DraftPayloadDamaged:
                    found.append(item.name)
        return tuple(found)

    def sealed_payload(self, sha256: str) -> DraftPayload | None:
        """The sealed file a draft saved here holds the clip or document of this SHA-256 in,
        while it lies there: what the form keeps instead of the bytes."""
        kept = self._kept.get(sha256)
        return kept if kept is not None and kept.path.exists() else None

    def _payload_name(self, sha256: str) -> str:
        """The file name of a payload: a keyed hash of its SHA-256."""
        return hmac.new(self._key(), b"payload\0" + sha256.encode(), "sha256").hexdigest()[:40]

    def _seal_payload(self, path: Path, blocks: Iterable[bytes | memoryview]) -> None:
        me = self.me
        with stream.Sealer(path, me.signer_certificate, me.signer_key, [me.certificate]) as out:
            for block in blocks:
                out.write(block)
            out.finish()  # synced, then renamed into place

    def _open_payload(self, path: Path) -> stream.StreamOpened:
        me = self.me
        opened = stream.open_file(path, me.certificate, me.key, self.trust_roots)
        if opened.signer is None or pki.fingerprint(opened.signer) != me.fingerprint:
            opened.close()
            raise ValueError("a draft payload sealed by somebody else")
        return opened

    @property
    def _opinions(self) -> Path:
        return self.folder / "opinions"

    def save(
        self, case: Case, version: int | None = None, *, uid_key: bytes | None = None
    ) -> Path | None:
        """Seal ``case`` to its author and replace the previous draft of the same case.

        ``uid_key`` is the key its DICOM documents' UIDs are replaced under
        (``capture.dicom_deid.request_key``), kept with the draft (:meth:`uid_key`) so that
        images attached before and after a restart stay one study.

        ``version`` orders the saves of one draft (by default, the time of this call): an
        older one that ends last does not replace a newer one (saves run on several threads,
        and a last one runs at logout). Returns the draft's path, or None when nothing was
        written: the case was discarded meanwhile (a late autosave of a request that has just
        been sent is dropped), or a newer version is already on disk.
        """
        version = time.monotonic_ns() if version is None else version
        me = self.me
        signer = (me.signer_certificate, me.signer_key)
        path = self._path(case.case_id)
        with self._lock:
            if case.case_id in self._closed:
                return None
        pinned: list[str] = []
        try:
            listed: list[dict[str, Any]] = []
            large: list[tuple[str, Document | Clip]] = [("document", d) for d in case.documents]
            large += [("clip", c) for c in case.clips]
            for kind, item in large:
                kept = self.payloads.keep(item.name, item.payload, item.size, item.sha256)
                pinned.append(kept.path.name)  # sealed once: found there at the next save
                self._kept[item.sha256] = kept
                listed.append({"kind": kind, "entry": item.details()})
            light = replace(case, documents=(), clips=())
            clinical = {**light.to_json(), DRAFT_PAYLOADS: listed}
            if uid_key is not None:
                clinical[DRAFT_UID_KEY] = uid_key.hex()
                self._uid_keys[case.case_id] = uid_key

            def seal(destination: Path) -> None:  # the text and the photos only
                seal_members(
                    destination, new_id(), "request", case_members(light), self._party(),
                    [self._reader()], signer, [me.certificate], case_id=case.case_id,
                    clinical=clinical,
                )  # fmt: skip

            written = self._write(path, case.case_id, seal, version, frozenset(pinned))
        finally:
            self.payloads.unpin(pinned)  # listed by the draft now, or not needed
        self._collect()
        return written

    def save_opinion(
        self, opinion: Opinion, in_reply_to: str, version: int | None = None
    ) -> Path | None:
        """Seal an unfinished ``opinion`` (answering the request ``in_reply_to``) to its
        author, in place of the previous one on the same case; None when nothing was written
        (it was sent meanwhile, or a newer version is on disk: see :meth:`save`)."""
        version = time.monotonic_ns() if version is None else version
        plain = pack_opinion(
            new_id(), opinion, self._party(), [self._reader()], in_reply_to=in_reply_to
        )
        path = self._path(opinion.case_id, self._opinions)
        me = self.me

        def seal(destination: Path) -> None:
            with stream.Sealer(
                destination, me.signer_certificate, me.signer_key, [me.certificate]
            ) as sealer:
                sealer.write(plain)
                sealer.finish()

        return self._write(path, opinion.opinion_id, seal, version)

    def _party(self) -> Party:
        return Party(self.me.info.id, self.me.info.display_name, self.me.fingerprint)

    def _reader(self) -> Party:
        """The author as the draft's reader (another certificate for a card identity)."""
        return Party(self.me.info.id, self.me.info.display_name, self.me.reader_fingerprint)

    def _write(
        self,
        path: Path,
        key: str,
        seal: Callable[[Path], None],
        version: int,
        payloads: frozenset[str] | None = None,
    ) -> Path | None:
        """Seal (``seal(destination)``) beside ``path``, then put it in place unless the
        draft was closed or a newer version written meanwhile (a crash leaves the previous
        draft, and a hidden partial file :func:`crypto.stream.remove_partial` drops)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        pending = path.parent / f".{path.name}.{new_id()}{stream.PART_SUFFIX}"
        try:
            seal(pending)  # synced (crypto.stream.Sealer)
            size = pending.stat().st_size
            with self._lock:
                if key in self._closed or version < self._written.get(path, version):
                    return None
                os.replace(pending, path)
                self._written[path] = version
                if payloads is not None:  # before they are unpinned: never collected
                    self._refs[path] = payloads
        finally:
            pending.unlink(missing_ok=True)
        log.info("draft %s saved (%d bytes sealed)", key, size)  # it may be discarded already
        return path

    def load(self) -> tuple[list[Case], list[UnreadableDraft]]:
        """Every draft, newest first, and those that could not be opened."""
        cases: list[tuple[float, Case]] = []
        unreadable: list[UnreadableDraft] = []
        seen: dict[Path, frozenset[str]] = {}
        for path, bundle in self._open_all(self.folder, unreadable):
            case = bundle.case
            if case is None or not self._named(path, case.case_id, self.folder):
                unreadable.append(
                    UnreadableDraft(path.name.removesuffix(SUFFIX), "malformed_bundle")
                )
                continue
            here = self._path(case.case_id)
            try:
                case, files, missing = self._joined(case, bundle.manifest.clinical or {})
            except (MalformedBundle, ValueError, TypeError, KeyError):
                unreadable.append(UnreadableDraft(here.stem, "malformed_bundle"))
                continue
            seen[here] = files
            key = (bundle.manifest.clinical or {}).get(DRAFT_UID_KEY)
            if isinstance(key, str) and len(key) == 64:
                with contextlib.suppress(ValueError):
                    self._uid_keys[case.case_id] = bytes.fromhex(key)
            if missing:
                log.warning("draft %s lacks %d payload file(s)", here.stem, len(missing))
                unreadable.append(
                    UnreadableDraft(here.stem, PAYLOAD_MISSING, case.case_id, missing)
                )
            cases.append((here.stat().st_mtime, case))
        cases.sort(key=lambda item: item[0], reverse=True)
        with self._lock:
            self._known = not any(u.code != PAYLOAD_MISSING for u in unreadable)
            for path, files in seen.items():
                if path.exists():  # not discarded meanwhile
                    self._refs.setdefault(path, files)  # a save meanwhile knows better
        self._collect(seen)
        return [case for _mtime, case in cases], unreadable

    def _joined(
        self, case: Case, clinical: Mapping[str, Any]
    ) -> tuple[Case, frozenset[str], tuple[str, ...]]:
        """The draft's case with its clips and documents read from their sealed files, the
        names of those files, and the names of those missing (left out of the case)."""
        listed = clinical.get(DRAFT_PAYLOADS, [])
        if not isinstance(listed, list) or len(listed) > 64:
            raise MalformedBundle("a draft's payloads are not a list")
        documents, clips = list(case.documents), list(case.clips)
        files: set[str] = set()
        missing: list[str] = []
        for item in listed:
            kind, entry = item["kind"], item["entry"]
            if kind == "document":
                joined: Document | Clip = Document.from_details(entry, b"")
            elif kind == "clip":
                joined = Clip.from_details(entry, b"")
            else:
                raise MalformedBundle("a draft payload of an unknown kind")
            sealed = self.payloads.reference(joined.name, joined.size, joined.sha256)
            files.add(sealed.path.name)
            try:
                present = sealed.path.stat().st_size >= joined.size  # sealed: never smaller
            except FileNotFoundError:
                present = False
            if not present:
                missing.append(joined.name)
            elif isinstance(joined, Document):
                documents.append(replace(joined, payload=sealed))
            else:
                clips.append(replace(joined, payload=sealed))
        if len({d.name for d in documents}) != len(documents) or len(
            {c.name for c in clips}
        ) != len(clips):
            raise MalformedBundle("a draft lists a payload twice")
        whole = replace(case, documents=tuple(documents), clips=tuple(clips))
        return whole, frozenset(files), tuple(missing)

    def _collect(self, seen: Mapping[Path, frozenset[str]] | None = None) -> None:
        """Remove the payload files no draft lists (once every draft's list is known)."""
        if self._known is None:
            self.load()  # lists every draft, then collects
            return
        if not self._known:
            return  # a draft that does not open may list any of them

        def referenced() -> set[str]:
            with self._lock:
                return set().union(*self._refs.values(), *(seen or {}).values())

        self.payloads.collect(referenced)

    def load_opinions(self) -> tuple[dict[str, Opinion], list[UnreadableDraft]]:
        """The unfinished opinions by the case they answer, and those that could not be
        opened."""
        opinions: dict[str, Opinion] = {}
        unreadable: list[UnreadableDraft] = []
        for path, bundle in self._open_all(self._opinions, unreadable):
            opinion = bundle.opinion
            if opinion is None or not self._named(path, opinion.case_id, self._opinions):
                unreadable.append(
                    UnreadableDraft(path.name.removesuffix(SUFFIX), "malformed_bundle")
                )
                continue
            opinions[opinion.case_id] = opinion
        return opinions, unreadable

    def _named(self, path: Path, case_id: str, folder: Path) -> bool:
        """Whether the draft at ``path`` is the one of ``case_id``; one of an earlier version,
        named by its case id, is renamed (unless a newer draft of the case exists)."""
        expected = self._path(case_id, folder)
        if path == expected:
            return True
        if path.name != f"{case_id}{SUFFIX}":
            return False  # a draft of another case under this case's name: not ours
        if expected.exists():
            path.unlink()
        else:
            os.replace(path, expected)
        return True

    def _open_all(
        self, folder: Path, unreadable: list[UnreadableDraft]
    ) -> list[tuple[Path, Bundle]]:
        """The drafts sealed in ``folder`` that open; the others go to ``unreadable``."""
        opened: list[tuple[Path, Bundle]] = []
        if not folder.is_dir():
            return opened
        stream.remove_partial(folder)  # what a crash left while saving
        for path in folder.glob(f"*{SUFFIX}"):
            if path.name == NAMES_KEY:
                continue
            case_id = path.name.removesuffix(SUFFIX)
            try:
                bundle = self._open(path)
            except (CryptoError, CaseError) as exc:
                log.warning("draft %s cannot be opened: %s", case_id, exc.code)
                unreadable.append(UnreadableDraft(case_id, exc.code))
                continue
            except OSError:
                log.warning("draft %s cannot be read", case_id)
                unreadable.append(UnreadableDraft(case_id, "unreadable"))
                continue
            opened.append((path, bundle))
        return opened

    def _open(self, path: Path) -> Bundle:
        """A draft, checked; one above :attr:`stream_above` in bounded memory, its files read
        from the authenticated temporary copy (kept while they are: ``crypto._scratch``)."""
        me = self.me
        if path.stat().st_size <= self.stream_above:
            verified = cms.open_sealed(path.read_bytes(), me.certificate, me.key, self.trust_roots)
            return unpack(
                verified.content,
                signer_fingerprint=me.fingerprint,
                reader_fingerprint=me.reader_fingerprint,
            )
        opened = stream.open_file(path, me.certificate, me.key, self.trust_roots)
        try:
            return unpack_content(
                opened, signer_fingerprint=me.fingerprint, reader_fingerprint=me.reader_fingerprint
            )
        except BaseException:
            opened.close()
            raise

    def discard(self, case_id: str) -> bool:
        """Remove a draft (after it was sent, or on the doctor's request); later saves of
        the same case are ignored."""
        return self._remove(self._path(case_id), case_id)

    def discard_opinion(self, opinion: Opinion) -> bool:
        """Remove the unfinished ``opinion`` (it was sent); later saves of it are ignored,
        while a new opinion on the same case (another ``opinion_id``) may be drafted."""
        return self._remove(self._path(opinion.case_id, self._opinions), opinion.opinion_id)

    def _remove(self, path: Path, key: str) -> bool:
        with self._lock:
            self._closed.add(key)
            self._refs.pop(path, None)
            try:
                path.unlink()
            except FileNotFoundError:
                removed = False
            else:
                removed = True
        if path.parent == self.folder:  # a request's: its payloads go with it
            self._collect()
        if removed:
            log.info("draft %s discarded", key)
        return removed
