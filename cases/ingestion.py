"""Ingestion: each bundle opened once, when it is sealed here or arrives, and placed.

A new bundle is opened (:func:`cases.opening.open_sealed`), placed by the rules of
:mod:`cases.speaking` (which case it belongs to, or why it is refused) and recorded in the
person's encrypted index (:mod:`cases.index`). Anything going wrong with one bundle concerns
that bundle only: it is set aside (:mod:`cases.setaside`) and never opened again at a
refresh. A bundle that waits for another is decided again, from its record, when that one
is admitted.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from cases.bundle import Party, checked_manifest
from cases.bundleseal import sha256_file
from cases.errors import CaseError, MalformedBundle
from cases.index import CaseIndex, Row
from cases.opening import OpenedFile, check_signing_time, open_sealed
from cases.profile import Profile, UnlockedIdentity
from cases.reopen import IN_MEMORY_MAX
from cases.setaside import set_aside
from cases.speaking import Decision, Document, Speaker, Verdict, decide
from cases.threads import Opened
from crypto._scratch import ScratchCorrupted, ScratchTooLarge
from crypto.errors import CryptoError

log = logging.getLogger(__name__)


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


Light = Callable[[str, dict[str, Any]], Opened]
"""A document as the lists show it, from its index record (``cases.storelisting``)."""
Payloads = Callable[[str, str], Any]
"""The payload of a bundle's file, read when looked at (``cases.sealedpayload``)."""


class Ingestion:
    """Opens and places one person's new bundles (under its own lock)."""

    def __init__(
        self,
        profile: Profile,
        me: UnlockedIdentity,
        index: CaseIndex,
        light: Light,
        payload: Payloads,
    ) -> None:
        self.profile, self.me, self.index = profile, me, index
        self._light, self._payload = light, payload
        self.lock = threading.Lock()
        self.openings = 0  # bundles decrypted at ingestion
        self.in_memory_max = IN_MEMORY_MAX

    def open(self, sealed: Path | bytes) -> OpenedFile:
        """One bundle opened (:func:`cases.opening.open_sealed`), counted."""
        self.openings += 1
        return open_sealed(sealed, self.profile, self.me, self.in_memory_max)

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
        with self.lock:
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
        with self.lock:
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
                    lambda name: self._payload(source.bundle_id, name),
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
            bundle = self.open(source.path)
        except FileNotFoundError:
            return  # erased or discarded meanwhile
        except (CryptoError, CaseError) as exc:
            self._refuse_unread(source, exc.code, done)
            return
        except (ScratchCorrupted, ScratchTooLarge):  # changed under us: that bundle only
            log.exception("opening bundle %s failed", source.bundle_id)
            self._refuse_unread(source, "internal_error", done)
            return
        except OSError:
            raise  # the disk, not the bundle: tried again at the next refresh
        except Exception:  # one bad bundle affects that bundle only, never the list
            log.exception("opening bundle %s failed", source.bundle_id)
            self._refuse_unread(source, "internal_error", done)
            return
        try:
            opened, sha = bundle.opened, bundle.sha256
            try:
                if opened.bundle_id != source.bundle_id:
                    # An old bundle replayed under a new platform id, or a mix-up: never shown.
                    raise MalformedBundle("the bundle was delivered under another id")
                check_signing_time(opened.signed_at, source.received_at)
            except CaseError as exc:
                set_aside(self.index, source, sha, "unreadable", exc.code, done.refused)
                return
            try:
                self._place(opened, source, sha, done)
            except Exception:
                log.exception("placing bundle %s failed", source.bundle_id)
                set_aside(self.index, source, sha, "unreadable", "internal_error", done.refused)
        finally:
            bundle.close()  # the content is dropped (zeroed in memory): the index has it

    def _refuse_unread(self, source: Source, code: str, done: Ingested) -> None:
        """Set aside a bundle that could not be opened, under the SHA-256 of its file."""
        try:
            sha = sha256_file(source.path)
        except FileNotFoundError:
            return  # erased or discarded meanwhile
        except OSError:
            sha = ""
        set_aside(self.index, source, sha, "unreadable", code, done.refused)

    def _place(self, opened: Opened, source: Source, sha: str, done: Ingested) -> None:
        manifest = opened.bundle.manifest
        record = record_of(opened)
        doc = document_of_record(opened.bundle_id, record)
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
                same = next(iter(_documents(self.index.with_case_id(doc.case_id))), None)
            if doc.follows is not None:
                followed = next(iter(_documents(self.index.with_case_id(doc.follows))), None)
        elif doc.in_reply_to is not None:
            row = self.index.get(doc.in_reply_to)
            if row is not None and row.state == "admitted":
                target = next(iter(_documents([row])), None)
        return decide(doc, target, reader=self.me.fingerprint, same_case_id=same, followed=followed)

    def _wake(self, bundle_id: str, done: Ingested) -> None:
        """Decide again the documents that waited for ``bundle_id``, from their records."""
        for row in self.index.waiting_for(bundle_id):
            if row.record is None:
                continue
            doc = document_of_record(row.bundle_id, row.record)
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


def _documents(rows: Iterable[Row]) -> list[Document]:
    return [document_of_record(r.bundle_id, r.record) for r in rows if r.record is not None]


def record_of(opened: Opened) -> dict[str, Any]:
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


def document_of_record(bundle_id: str, record: dict[str, Any]) -> Document:
    """A document as the speaking rules see it, from its index record."""
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
