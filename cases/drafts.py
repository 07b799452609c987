"""Unfinished requests, kept on disk only sealed to their author.

A draft is the case as the doctor left it (text and photos), packed like a request and sealed
(signed and encrypted) to the author's own certificate: nobody else, not even the unit's
secretary or a copy of the disk, can read it. One file per case under
``drafts/<identity id>/<name>.p7m``, replaced atomically at each save, so a crash leaves
either the previous draft or the new one, never half of one.

A specialist's unfinished opinions are kept the same way, packed like an opinion, one per
request answered: ``drafts/<identity id>/opinions/<name>.p7m``.

Files are not named by their case id (a label that travels in bundles and follow-ups) but by
a keyed hash of it (:mod:`cases.draftnames`), so the names say nothing to somebody reading
the disk. Drafts of an earlier version, named by their case id, are renamed
when first opened.

A request's photos (a dozen of a few MB), clips and documents (hundreds of megabytes) are
each sealed **once**, at the first save after they join the draft, into a file of their own
(:mod:`cases.draftpayloads`), and the draft lists them (:mod:`cases.draftlisting`) instead of
holding them, so that an autosave seals only the text. A payload no draft references any
more (removed from the form, its draft sent or discarded, a crash between the two writes) is
removed at the next save, discard or listing; a draft whose payload file is missing loads
without it, and says which (:attr:`UnreadableDraft.missing`). A draft of an earlier version,
its files inside (the photos, or everything), opens as before (above ``stream_above`` in
bounded memory, :func:`crypto.stream.open_file`: its files are then read, when asked for,
from a temporary copy encrypted under a key held in memory, released once the whole draft
was authenticated), and its files move to payload files at its next save. No clinical byte
is ever written to disk in clear.

The last save at logout runs on a thread of its own (:meth:`DraftStore.save_later`): a clip
joined a moment before is sealed there, not on the GUI thread; the process waits for it
before it ends, and any store of the same person waits for it before it reads or writes.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509

from cases import draftlisting
from cases.bundle import Bundle, Party, pack_opinion, unpack
from cases.bundleseal import case_members, seal_members
from cases.bundlestream import unpack_content
from cases.draftlisting import DRAFT_PAYLOADS, join, seal_apart
from cases.draftnames import NAMES_KEY, SUFFIX, DraftNames
from cases.draftpayloads import FOLDER, DraftPayload, DraftPayloadStore
from cases.errors import CaseError, MalformedBundle
from cases.model import Case, Opinion, new_id
from cases.photos import Photo
from cases.profile import UnlockedIdentity
from crypto import cms, pki, stream
from crypto.errors import CryptoError

log = logging.getLogger(__name__)

_LATE: dict[Path, list[threading.Thread]] = {}
"""The last saves still running (:meth:`DraftStore.save_later`), by drafts' folder."""
_LATE_LOCK = threading.Lock()

STREAM_ABOVE = 16 << 20
"""Drafts larger than this (one of an earlier version holding a clip or large documents) are
opened in bounded memory; smaller ones (text and photos) in memory, faster when all the
drafts are listed."""
PAYLOAD_MISSING = "draft_payload_missing"
DRAFT_UID_KEY = "draft_uid_key"
"""The key, in a draft's ``clinical`` object, of its DICOM documents' UID key (hex)."""


@dataclass(frozen=True)
class UnreadableDraft:
    """A draft file that could not be opened (damaged, or sealed by another key), by its file
    name (a keyed hash, not the case id); or, with the code :data:`PAYLOAD_MISSING`, a draft
    that opened (it is among the drafts, ``case_id``) without the photos, clips or documents
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
        self.names = DraftNames(self.folder, me)
        self.payloads = DraftPayloadStore(
            self.folder / FOLDER, self._payload_name, self._seal_payload, self._open_payload
        )
        self._refs: dict[Path, frozenset[str]] = {}  # the payload files each draft lists
        self._known: bool | None = None  # every draft's payloads known (None: not looked)
        self._kept: dict[str, DraftPayload] = {}  # by SHA-256: what the form may hold
        self._uid_keys: dict[str, bytes] = {}  # by case id: its DICOM documents' UID key

    def _path(self, case_id: str, folder: Path | None = None) -> Path:
        return self.names.path(case_id, folder or self.folder)

    def uid_key(self, case_id: str) -> bytes | None:
        """The key the DICOM documents of the draft ``case_id`` had their UIDs replaced
        under (saved with it, read back by :meth:`load`), if any."""
        return self._uid_keys.get(case_id)

    @staticmethod
    def damaged(case: Case) -> tuple[str, ...]:
        """The names of ``case``'s payloads whose sealed files do not open as listed."""
        return draftlisting.damaged(case)  # each read through once: off the GUI thread

    def sealed_payload(self, sha256: str) -> DraftPayload | None:
        """The sealed file a draft saved here holds the clip or document of this SHA-256 in,
        while it lies there: what the form keeps instead of the bytes."""
        kept = self._kept.get(sha256)
        return kept if kept is not None and kept.path.exists() else None

    def sealed_photos(self, photos: tuple[Photo, ...]) -> list[tuple[Photo, DraftPayload]]:
        """Each of ``photos`` held in memory that a draft saved here holds in its sealed
        file, with what reads it from there: what the form keeps instead of the bytes
        (hashes each: call it off the GUI thread)."""

        def sealed(name: str, sha256: str) -> DraftPayload | None:
            if self.sealed_payload(sha256) is None:
                return None
            kept = self._kept[sha256]
            return self.payloads.reference(name, kept.size, sha256)

        return draftlisting.in_memory_photos(photos, sealed)

    def _payload_name(self, sha256: str) -> str:
        return self.names.payload(sha256)

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
        self,
        case: Case,
        version: int | None = None,
        *,
        uid_key: bytes | None = None,
        held: Sequence[Photo] = (),
    ) -> Path | None:
        """Seal ``case`` to its author and replace the previous draft of the same case; its
        photos, documents and clips not sealed yet are sealed apart first, once
        (:func:`cases.draftlisting.seal_apart`). ``held``: photos taken out of the form that
        an undo may put back (their sealed files are kept while this store lives).
        ``uid_key``: the key its DICOM documents' UIDs are replaced under
        (``capture.dicom_deid.request_key``), kept with the draft (:meth:`uid_key`) so that
        images attached before and after a restart stay one study.

        ``version`` orders the saves of one draft (by default, the time of this call): an
        older one that ends last does not replace a newer one (saves run on several threads,
        and a last one runs at logout). Returns the draft's path, or None when nothing was
        written: the case was discarded meanwhile (a late autosave of a request that has just
        been sent is dropped), or a newer version is already on disk.
        """
        version = time.monotonic_ns() if version is None else version
        self._settle()
        me = self.me
        signer = (me.signer_certificate, me.signer_key)
        path = self._path(case.case_id)
        with self._lock:
            if case.case_id in self._closed:
                return None
        light, listed, pinned = seal_apart(self.payloads, case, self._kept)
        try:
            clinical: dict[str, Any] = {**light.to_json(), DRAFT_PAYLOADS: listed}
            if uid_key is not None:
                clinical[DRAFT_UID_KEY] = uid_key.hex()
                self._uid_keys[case.case_id] = uid_key

            def seal(destination: Path) -> None:  # the text and the list only
                seal_members(
                    destination, new_id(), "request", case_members(light), self._party(),
                    [self._reader()], signer, [me.certificate], case_id=case.case_id,
                    clinical=clinical,
                )  # fmt: skip

            undo = {p.payload.path.name for p in held if isinstance(p.payload, DraftPayload)}
            written = self._write(path, case.case_id, seal, version, frozenset(pinned) | undo)
        finally:
            self.payloads.unpin(pinned)  # listed by the draft now, or not needed
        self._collect()
        return written

    def save_later(
        self, case: Case, *, uid_key: bytes | None = None, held: Sequence[Photo] = ()
    ) -> threading.Thread:
        """:meth:`save` on a thread of its own, not a daemon (the last save, at logout or
        quit: a clip or photos joined a moment before are sealed there, not on the GUI
        thread, while the task pool closes). The process waits for it before it ends, and a
        store of the same person waits for it before it reads or writes (:meth:`_settle`);
        a failure is logged (the previous draft stays)."""
        version = time.monotonic_ns()
        return self._later(lambda: self.save(case, version, uid_key=uid_key, held=held))

    def save_opinion_later(self, opinion: Opinion, in_reply_to: str) -> threading.Thread:
        """:meth:`save_opinion` on a thread of its own, waited for as :meth:`save_later`'s
        (the specialist's last save, at logout or quit)."""
        version = time.monotonic_ns()
        return self._later(lambda: self.save_opinion(opinion, in_reply_to, version))

    def _later(self, save: Callable[[], object]) -> threading.Thread:
        def work() -> None:
            try:
                save()
            except (CaseError, CryptoError, OSError, ValueError) as exc:
                log.warning("the last draft could not be saved: %s", getattr(exc, "code", exc))

        thread = threading.Thread(target=work, name="passavant-last-draft", daemon=False)
        with _LATE_LOCK:
            _LATE.setdefault(self.folder, []).append(thread)
        thread.start()
        return thread

    def _settle(self) -> None:
        """Wait for the last saves of this person's drafts still running (:meth:`save_later`,
        by this store or one of an earlier session), unless on one of them."""
        with _LATE_LOCK:
            late = _LATE.get(self.folder, [])
            late[:] = [t for t in late if t.is_alive()]
            if threading.current_thread() in late:
                return  # the last saves are ordered by their versions
            pending = list(late)
        for thread in pending:
            thread.join()

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
        self._settle()
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
                case, files, missing = join(
                    case, bundle.manifest.clinical or {}, self.payloads.reference
                )
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
        self._settle()
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
        self._settle()
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
