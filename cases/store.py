"""The case store: one person's bundles, each opened once, and what their lists need.

A bundle is **ingested** once, when it is sealed here or arrives in the inbox: decrypted,
verified, validated and unpacked (:meth:`CaseStore.open`), then placed by the rules of
:mod:`cases.speaking` (which case it belongs to, or why it is refused), and recorded in the
person's encrypted index (:mod:`cases.index`). A listing then reads the index, and only what
changed since the last listing: its cost follows what changed and what is shown, not the
size of the archive. Photos stay in their sealed bundle until somebody looks at them
(:class:`SealedPayload`).

A bundle that cannot be opened, or that the rules refuse, is set aside with its reason and
the SHA-256 of its sealed file: it is never opened again at a refresh, and the person is told
until they discard it. Anything going wrong while one bundle is ingested concerns that bundle
only.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import zipfile
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any

from cryptography import x509

from cases.bundle import MANIFEST, Bundle, Party, checked_manifest, reread, unpack
from cases.bundlestream import sha256_file, unpack_content
from cases.cardidentity import paired_reader
from cases.errors import BundleError, CaseError, MalformedBundle
from cases.index import CaseIndex, IndexDamaged, Row, remove_index
from cases.profile import Profile, UnlockedIdentity
from cases.reopen import Reopener
from cases.speaking import Decision, Document, Speaker, Verdict, decide, sender_matches
from cases.threads import Opened, Unreadable
from crypto import cms, pki, stream
from crypto.errors import CryptoError

log = logging.getLogger(__name__)


MAX_TRANSIT = timedelta(days=30)
"""How long before the platform received a bundle its signing time may be (an outbox held
through a long outage); a signing time further back, or after the platform received it,
is not believed: a signer whose certificate expired could otherwise sign new bundles by
stating an earlier time."""

CLOCK_SKEW = timedelta(minutes=10)

STREAM_ABOVE = 64 << 20
"""Sealed files larger than this are opened in bounded memory (:meth:`CaseStore.open_file`);
smaller ones in memory, faster for the many small bundles of a list refresh."""


@dataclass(frozen=True)
class Source:
    """Where a sealed bundle lies: ``archive`` (sealed here) or ``inbox`` (received, with the
    time the platform says it received it, ISO 8601)."""

    bundle_id: str
    where: str
    path: Path
    received_at: str | None = None


@dataclass
class Ingested:
    """What one ingestion did, for the workstation to act on (receipts, acknowledgements,
    the journal, erasure). ``admitted`` are the documents the rules admitted, in order;
    ``refused`` the ids set aside, with their reason code."""

    admitted: list[tuple[Opened, str]] = field(default_factory=list)
    refused: list[tuple[str, str, str]] = field(default_factory=list)  # id, where, code
    remaining: int = 0  # new bundles left for the next call (past the limit)


def index_path(profile: Profile, identity_id: str) -> Path:
    """Where a person's case index lies in a profile."""
    return profile.path("index") / f"{identity_id}.sqlite"


class SealedPayload:
    """A payload file read from its sealed bundle when asked for (:class:`cases.photos.Payload`)."""

    __slots__ = ("_store", "bundle_id", "name")

    def __init__(self, store: CaseStore, bundle_id: str, name: str) -> None:
        self._store, self.bundle_id, self.name = store, bundle_id, name

    def read(self) -> bytes:
        return self._store.payload(self.bundle_id, self.name)

    def open(self) -> IO[bytes]:
        """The file as a stream, checked first (:meth:`CaseStore.payload_file`): a clip of
        hundreds of megabytes is never held whole."""
        return self._store.payload_file(self.bundle_id, self.name)


class CaseStore:
    """One unlocked person's store: ingestion, listing, payloads.

    Args:
        profile: The workstation's profile (trust store, CRLs, where the index lives).
        me: The person, unlocked (their key opens bundles and the index key).
        locate: Gives where a bundle id lies, or ``None`` when it is gone.
    """

    def __init__(
        self,
        profile: Profile,
        me: UnlockedIdentity,
        locate: Callable[[str], Source | None],
    ) -> None:
        self.profile, self.me, self.locate = profile, me, locate
        self.path = index_path(profile, me.info.id)
        self.index = self._open_index()
        self.openings = 0  # bundles decrypted by this store (ingestion and payloads)
        self._ingest_lock = threading.Lock()
        self._view_lock = threading.Lock()
        self._version = 0
        self._docs: dict[str, tuple[Opened, str]] = {}  # admitted: document and its case
        self._problems: dict[str, Unreadable] = {}
        self._payload_lock = threading.Lock()
        self._payloads: tuple[str, zipfile.ZipFile, dict[str, str]] | None = None
        self._reopener = Reopener(me.certificate, me.key)
        self._parties: dict[Party, Party] = {}

    def _open_index(self) -> CaseIndex:
        try:
            return CaseIndex(self.path, self.me.certificate, self.me.key)
        except IndexDamaged as exc:  # damaged or not ours: derived data, start it again
            log.warning("the case index of %s is rebuilt: %s", self.me.info.id, exc)
            remove_index(self.path)
            return CaseIndex(self.path, self.me.certificate, self.me.key)

    def close(self) -> None:
        self.index.close()
        self._reopener.release()

    # --- opening ----------------------------------------------------------------------------
    def open(self, sealed: bytes) -> Opened:
        """Decrypt, verify and unpack one bundle for this person; the sender shown is the
        signer's validated certificate, and the manifest must say exactly that.

        Raises:
            CryptoError: not for us, altered, or an untrusted signer.
            CaseError: the bundle is malformed or its sender is not its signer.
        """
        self.openings += 1
        verified = cms.open_sealed(
            sealed,
            self.me.certificate,
            self.me.key,
            self.profile.trust_roots(),
            crls=self.profile.crls(),
        )
        bundle = unpack(
            verified.content,
            signer_fingerprint=pki.fingerprint(verified.signer),
            reader_fingerprint=self.me.reader_fingerprint,
        )
        return self._opened(bundle, verified.signer, verified.signed_at, verified.others)

    def open_file(self, path: Path) -> Opened:
        """:meth:`open` for a sealed file of any size, in bounded memory (``crypto.stream``,
        ``cases.bundlestream``): the payloads are read, when asked for, from a temporary copy
        encrypted under a key held in memory, released once the whole file was authenticated.

        Raises: as :meth:`open`; ``OSError`` when the file cannot be read.
        """
        self.openings += 1
        opened = stream.open_file(
            path, self.me.certificate, self.me.key, self.profile.trust_roots(),
            crls=self.profile.crls(),
        )  # fmt: skip
        try:
            assert opened.signer is not None  # open_file validated it
            bundle = unpack_content(
                opened,
                signer_fingerprint=pki.fingerprint(opened.signer),
                reader_fingerprint=self.me.reader_fingerprint,
            )
            return self._opened(bundle, opened.signer, opened.signed_at, opened.others)
        except BaseException:
            opened.close()
            raise

    def _opened(
        self,
        bundle: Bundle,
        signer_cert: x509.Certificate,
        signed_at: datetime | None,
        others: tuple[x509.Certificate, ...],
    ) -> Opened:
        """The sender checked against the signer; a card signer's reader paired."""
        claimed = bundle.manifest.sender
        signer = Party.of_certificate(signer_cert, claimed.mailbox)
        if not sender_matches(_speaker(claimed), _speaker(signer)):
            raise BundleError("sender_not_signer", "the manifest's sender is not its signer")
        reader = None
        if others:  # a card signer's encryption certificate (cases.cardidentity)
            reader = paired_reader(
                signer_cert, others, self.profile.trust_roots(), self.profile.crls()
            )
        return Opened(bundle.manifest.bundle_id, signer, signed_at, bundle, reader)

    # --- ingestion --------------------------------------------------------------------------
    def ingest(
        self,
        sources: Iterable[Source],
        progress: Callable[[int, int], None] | None = None,
        limit: int | None = None,
    ) -> Ingested:
        """Open and place the bundles of ``sources`` the index does not know yet, at most
        ``limit`` of them; ``progress(done, total)`` is told after each (``total``: all the
        new ones, so ``done < total`` at the end means more are left for the next call)."""
        done = Ingested()
        with self._ingest_lock:
            known = self.index.known()
            # a request erased after a withdrawn consent and delivered again is placed again,
            # so that the withdrawal erases it again
            new = [
                s
                for s in sources
                if known.get(s.bundle_id) in (None, "erased")
                and (s.bundle_id not in known or s.where == "inbox")
            ]
            for n, source in enumerate(new[:limit], 1):
                self._ingest_one(source, done)
                if progress is not None:
                    progress(n, len(new))
            done.remaining = len(new) - len(new[:limit])
        return done

    def ingest_sealed(
        self, source: Source, sealed: bytes | Path, manifest_json: bytes, signed_at: datetime
    ) -> None:
        """Index a bundle this person has just sealed, from its manifest in hand (the
        signature is their own, made a moment ago, and each file was checked against the
        manifest as it was sealed, ``cases.bundleseal``): nothing is decrypted, whatever the
        bundle's size. Checked and placed as any other; its side effects (none for one's own
        bundle) need no action."""
        with self._ingest_lock:
            if self.index.get(source.bundle_id) is not None:
                return
            sha = (
                sha256_file(sealed)
                if isinstance(sealed, Path)
                else hashlib.sha256(sealed).hexdigest()
            )
            done = Ingested()
            try:
                bundle = checked_manifest(
                    manifest_json,
                    lambda name: SealedPayload(self, source.bundle_id, name),
                    signer_fingerprint=self.me.fingerprint,
                    reader_fingerprint=self.me.reader_fingerprint,
                )
                signer = Party.of_certificate(
                    self.me.signer_certificate, bundle.manifest.sender.mailbox
                )
                mine = self.me.reader_fingerprint if self.me.signer_extras else None
                opened = Opened(bundle.manifest.bundle_id, signer, signed_at, bundle, mine)
                if opened.bundle_id != source.bundle_id:
                    raise MalformedBundle("the bundle was sealed under another id")
                self._place(opened, source, sha, done)
            except (CaseError, ValueError) as exc:  # not ours to fix here: the listing will
                log.warning("bundle %s sealed here not indexed: %s", source.bundle_id, exc)

    def _ingest_one(self, source: Source, done: Ingested) -> None:
        try:
            large = source.path.stat().st_size > STREAM_ABOVE
            data = b"" if large else source.path.read_bytes()
            sha = sha256_file(source.path) if large else hashlib.sha256(data).hexdigest()
        except FileNotFoundError:
            return  # erased or discarded meanwhile
        try:
            opened = self.open_file(source.path) if large else self.open(data)
            del data
            if opened.bundle_id != source.bundle_id:
                # An old bundle replayed under a new platform id, or a mix-up: never shown.
                raise MalformedBundle("the bundle was delivered under another id")
            check_signing_time(opened.signed_at, source.received_at)
        except (CryptoError, CaseError) as exc:
            self._set_aside(source, sha, "unreadable", exc.code, done)
            return
        except Exception:  # one bad bundle affects that bundle only, never the list
            log.exception("opening bundle %s failed", source.bundle_id)
            self._set_aside(source, sha, "unreadable", "internal_error", done)
            return
        try:
            self._place(opened, source, sha, done)
        except Exception:
            log.exception("placing bundle %s failed", source.bundle_id)
            self._set_aside(source, sha, "unreadable", "internal_error", done)

    def _set_aside(self, source: Source, sha: str, state: str, code: str, done: Ingested) -> None:
        log.warning("bundle %s set aside: %s", source.bundle_id, code)
        self.index.put(source.bundle_id, state=state, source=source.where, sha256=sha, reason=code)
        done.refused.append((source.bundle_id, source.where, code))

    def _place(self, opened: Opened, source: Source, sha: str, done: Ingested) -> None:
        manifest = opened.bundle.manifest
        record = _record(opened)
        doc = _document_of_record(opened.bundle_id, record)
        decision = self._decide(doc)
        state = {Verdict.ADMIT: "admitted", Verdict.WAIT: "waiting"}.get(decision.verdict)
        if state is None:
            self.index.put(
                opened.bundle_id, state="refused", source=source.where, sha256=sha,
                kind=manifest.kind, reason=decision.reason,
            )  # fmt: skip
            done.refused.append((opened.bundle_id, source.where, decision.reason))
            log.warning("bundle %s refused: %s", opened.bundle_id, decision.reason)
            return
        self.index.put(
            opened.bundle_id, state=state, source=source.where, sha256=sha, kind=manifest.kind,
            case_ref=decision.case, waits_for=doc.in_reply_to if state == "waiting" else None,
            case_id=manifest.case_id if manifest.kind == "request" else None, record=record,
        )  # fmt: skip
        if decision.verdict is Verdict.ADMIT:
            done.admitted.append((self._light(opened.bundle_id, record), decision.case or ""))
            self._wake(opened.bundle_id, done)

    def _decide(self, doc: Document) -> Decision:
        target = same = followed = None
        if doc.kind == "request":
            if doc.case_id is not None:
                same = next(iter(self._documents(self.index.with_case_id(doc.case_id))), None)
            if doc.follows is not None:
                followed = next(iter(self._documents(self.index.with_case_id(doc.follows))), None)
        elif doc.in_reply_to is not None:
            row = self.index.get(doc.in_reply_to)
            if row is not None and row.state == "admitted":
                target = next(iter(self._documents([row])), None)
        return decide(doc, target, reader=self.me.fingerprint, same_case_id=same, followed=followed)

    def _wake(self, bundle_id: str, done: Ingested) -> None:
        """Decide again the documents that waited for ``bundle_id``, from their records."""
        for row in self.index.waiting_for(bundle_id):
            if row.record is None:
                continue
            doc = _document_of_record(row.bundle_id, row.record)
            decision = self._decide(doc)
            if decision.verdict is Verdict.WAIT:
                continue
            if decision.verdict is Verdict.REFUSE:
                self.index.set_state(row.bundle_id, "refused", reason=decision.reason)
                done.refused.append((row.bundle_id, row.source, decision.reason))
                continue
            self.index.set_state(row.bundle_id, "admitted", case_ref=decision.case)
            done.admitted.append((self._light(row.bundle_id, row.record), decision.case or ""))
            self._wake(row.bundle_id, done)

    def _documents(self, rows: Iterable[Row]) -> list[Document]:
        return [_document_of_record(r.bundle_id, r.record) for r in rows if r.record is not None]

    # --- listing ----------------------------------------------------------------------------
    def listing(self) -> tuple[list[tuple[Opened, str]], list[Unreadable]]:
        """The admitted documents with the case each belongs to, and what was set aside and
        not discarded. Reads only the index rows written since the last listing."""
        with self._view_lock:
            for row in self.index.changed_since(self._version):
                self._version = max(self._version, row.version)
                self._docs.pop(row.bundle_id, None)
                self._problems.pop(row.bundle_id, None)
                if row.state == "admitted" and row.record is not None:
                    if row.kind == "receipt":
                        continue  # acted on when ingested; a list never shows one
                    self._docs[row.bundle_id] = (
                        self._light(row.bundle_id, row.record),
                        row.case_ref or "",
                    )
                elif row.state in ("refused", "unreadable"):
                    self._problems[row.bundle_id] = Unreadable(
                        row.bundle_id, row.reason, f"{row.state}: {row.reason}"
                    )
            return list(self._docs.values()), list(self._problems.values())

    def listing_document(self, row: Row) -> Opened:
        """The document of an index row that holds a record, as the lists show it."""
        if row.record is None:
            raise KeyError(row.bundle_id)
        return self._light(row.bundle_id, row.record)

    def _light(self, bundle_id: str, record: dict[str, Any]) -> Opened:
        """A document as the lists show it, from its index record: its photos are read
        from the sealed bundle only when somebody looks at them."""
        known = self._docs.get(bundle_id)
        if known is not None:
            return known[0]
        bundle: Bundle = reread(
            str(record["manifest"]).encode("utf-8"),
            lambda name: SealedPayload(self, bundle_id, name),
            self._party,
        )
        signer = record["signer"]
        signed_at = record.get("signed_at")
        return Opened(
            bundle_id,
            self._party(
                Party(
                    signer["mailbox"],
                    signer["name"],
                    signer["fingerprint"],
                    signer["role"],
                    signer["organization"],
                )
            ),
            None if signed_at is None else datetime.fromisoformat(signed_at),
            bundle,
            signer.get("reader"),
        )

    def _party(self, party: Party) -> Party:
        """One object per person for all the documents listed (a few people write them)."""
        return self._parties.setdefault(party, party)

    # --- payloads ---------------------------------------------------------------------------
    def payload(self, bundle_id: str, name: str) -> bytes:
        """One payload file of an admitted bundle, read again from its sealed file.

        The signature is not verified a second time: the bundle is decrypted, its manifest
        must be the very one admitted (signed, verified at ingestion: it lists each file's
        SHA-256), and the file's SHA-256 must be the one that manifest lists. Anybody who can
        encrypt to this person could replace the sealed file, but not with one whose files
        hash as the admitted ones. The bundle's content is kept for the next photo of the
        same case.

        Raises:
            CaseError: the bundle is gone, no longer admitted, or not the one admitted.
            CryptoError: it no longer decrypts.
        """
        with self._payload_lock:
            if self._payloads is not None and self._payloads[0] == bundle_id:
                _id, archive, digests = self._payloads
            else:
                self._payloads = None
                archive, digests = self._reopen(bundle_id)
                self._payloads = (bundle_id, archive, digests)
            try:
                body = archive.read(name)
            except KeyError as exc:
                raise MalformedBundle(f"no file {name!r} in bundle {bundle_id}") from exc
            except (zipfile.BadZipFile, zlib.error, OSError) as exc:
                raise MalformedBundle(f"unreadable file in bundle {bundle_id}") from exc
        if hashlib.sha256(body).hexdigest() != digests.get(name):
            raise BundleError("bundle_changed", f"a file of bundle {bundle_id} changed")
        return body

    def payload_file(self, bundle_id: str, name: str) -> IO[bytes]:
        """:meth:`payload` as a stream, for a file too large to hold (a clip): its SHA-256
        is checked against the admitted manifest's in one pass over it first, then a reader
        of it is returned (from the bundle's content, decrypted into a temporary file
        encrypted under a key held in memory: nothing unchecked is handed on).

        Raises: as :meth:`payload`.
        """
        with self._payload_lock:
            if self._payloads is not None and self._payloads[0] == bundle_id:
                _id, archive, digests = self._payloads
            else:
                self._payloads = None
                archive, digests = self._reopen(bundle_id)
                self._payloads = (bundle_id, archive, digests)
            try:
                digest = hashlib.sha256()
                with archive.open(name) as member:
                    while block := member.read(1 << 20):
                        digest.update(block)
                if digest.hexdigest() != digests.get(name):
                    raise BundleError("bundle_changed", f"a file of bundle {bundle_id} changed")
                return archive.open(name)
            except KeyError as exc:
                raise MalformedBundle(f"no file {name!r} in bundle {bundle_id}") from exc
            except (zipfile.BadZipFile, zlib.error, OSError) as exc:
                raise MalformedBundle(f"unreadable file in bundle {bundle_id}") from exc

    def _reopen(self, bundle_id: str) -> tuple[zipfile.ZipFile, dict[str, str]]:
        """The admitted bundle's payload ZIP, decrypted again and its manifest found to be
        the one admitted, with the SHA-256 of each file that manifest lists."""
        source = self.locate(bundle_id)
        row = self.index.get(bundle_id)
        if source is None or row is None or row.state != "admitted" or row.record is None:
            raise BundleError("bundle_gone", f"bundle {bundle_id} is not listed here")
        self.openings += 1
        # Authenticated by its tag; in memory up to a bound (read into one buffer kept from the
        # last time), a larger bundle (clips) in bounded memory through an encrypted temporary
        # file (cases.reopen).
        content = self._reopener.open(source.path)
        admitted = str(row.record["manifest"])
        try:
            archive = zipfile.ZipFile(content)
            manifest = archive.read(MANIFEST).decode("utf-8")
        except (KeyError, zipfile.BadZipFile, UnicodeDecodeError, zlib.error) as exc:
            raise BundleError("bundle_changed", f"bundle {bundle_id} changed on disk") from exc
        if manifest != admitted:
            raise BundleError("bundle_changed", f"bundle {bundle_id} changed on disk")
        files = json.loads(admitted).get("files", [])
        return archive, {str(f["name"]): str(f["sha256"]) for f in files}

    # --- the person's actions ---------------------------------------------------------------
    def discard(self, bundle_ids: Iterable[str]) -> list[Source]:
        """Dismiss set-aside bundles: their state becomes ``discarded``; returns where their
        sealed files lie, for the caller to remove."""
        gone = []
        for bundle_id in bundle_ids:
            row = self.index.get(bundle_id)
            if row is None or row.state not in ("refused", "unreadable"):
                continue
            self.index.set_state(bundle_id, "discarded", reason=row.reason)
            source = self.locate(bundle_id)
            if source is not None:
                gone.append(source)
        return gone

    def erase(self, bundle_id: str) -> None:
        """A withdrawn consent: the request's record leaves the index (its id stays, so a
        copy delivered again is not shown)."""
        if self.index.get(bundle_id) is not None:
            self.index.set_state(bundle_id, "erased")
        with self._payload_lock:
            if self._payloads is not None and self._payloads[0] == bundle_id:
                self._payloads = None


def check_signing_time(signed_at: datetime | None, received_at: str | None) -> None:
    """Refuse a signing time the platform's reception time makes implausible: after it (beyond
    clock skew), or more than :data:`MAX_TRANSIT` before it. The signer's certificate is
    validated at the signing time it states (``crypto.cms``); this bounds how far back that
    statement is believed, so an expired certificate cannot keep signing by backdating.

    Raises:
        BundleError: ``signing_time_implausible``.
    """
    if signed_at is None or not received_at:
        return
    try:
        received = datetime.fromisoformat(received_at.replace("Z", "+00:00"))
    except ValueError:
        return  # not the platform's format: nothing to compare with (the inbox checked it)
    if received.tzinfo is None:
        received = received.replace(tzinfo=UTC)
    if signed_at > received + CLOCK_SKEW or signed_at < received - MAX_TRANSIT:
        raise BundleError(
            "signing_time_implausible",
            f"signed {signed_at.isoformat()}, received by the platform {received.isoformat()}",
        )


def _speaker(party: Party) -> Speaker:
    return Speaker(party.fingerprint, party.display_name, party.role, party.organization)


def _record(opened: Opened) -> dict[str, Any]:
    """What the index keeps of an opened bundle (sealed in the index)."""
    manifest = opened.bundle.manifest
    case = opened.bundle.case
    return {
        "manifest": opened.bundle.manifest_json.decode("utf-8"),
        "signer": {
            "mailbox": opened.sender.mailbox,
            "name": opened.sender.display_name,
            "fingerprint": opened.sender.fingerprint,
            "role": opened.sender.role,
            "organization": opened.sender.organization,
            **({"reader": opened.signer_reader} if opened.signer_reader else {}),
        },
        "signed_at": None if opened.signed_at is None else opened.signed_at.isoformat(),
        "kind": manifest.kind,
        "case_id": manifest.case_id,
        "in_reply_to": manifest.in_reply_to,
        "follows": None if case is None else case.follows,
        "recipients": list(manifest.recipient_fingerprints),
    }


def _document_of_record(bundle_id: str, record: dict[str, Any]) -> Document:
    signer = record["signer"]
    return Document(
        bundle_id=bundle_id,
        kind=str(record["kind"]),
        signer=Speaker(
            signer["fingerprint"],
            signer["name"],
            signer["role"],
            signer["organization"],
            signer.get("reader"),
        ),
        recipients=frozenset(record["recipients"]),
        case_id=record.get("case_id"),
        in_reply_to=record.get("in_reply_to"),
        follows=record.get("follows"),
    )
