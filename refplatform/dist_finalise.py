"""Finalisation and the sweeper of the distributed platform (PostgreSQL record, S3 bytes).

Finalising checks the upload's SHA-256: from the hash state its writers saved with each
piece's commit (each hashed the bytes it stored), or, where a writer could not save one, by
reading the pieces back from the object store. Then it records the delivery in one
transaction (:meth:`PgUploads.deliver`): the SHA-256 check, the mailbox item and the delivery
record happen once, whichever replica does it and however often it is attempted. A replica
that dies halfway leaves an upload that holds every byte but is still ``receiving``; the
sweeper finishes it.

The sweeper runs on every replica, at its own pace; whatever it does is guarded by the
upload's writer lock or by a compare-and-set, so replicas sweeping together do no harm:

1. finishes finalisations a dead replica left undone;
2. expires abandoned uploads (and forgets their pieces);
3. purges old finished records;
4. removes orphan objects: pieces stored but never committed (a request cut between the
   object's write and its commit), and objects whose rows were dropped (an acknowledged,
   duplicate or expired bundle) when their immediate removal failed. Only objects older than
   the orphan grace are touched, which is longer than a writer's stall limit: a piece whose
   commit may still land is never removed.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterable
from itertools import islice

from refplatform.backend import BackendUnavailable, Blobs
from refplatform.mailbox import Outcome
from refplatform.pguploads import PgUploads, Piece
from refplatform.pgwriter import WriterLock
from refplatform.sha256state import Sha256State, available
from refplatform.uploads import Upload

__all__ = ["PIECE_PREFIX", "Finaliser", "piece_key"]

log = logging.getLogger(__name__)

PIECE_PREFIX = "pieces/"


def piece_key(upload_id: str, start: int, nonce: str) -> str:
    """The object key of a piece: never reused, so a late write replaces nothing."""
    return f"{PIECE_PREFIX}{upload_id}/{start:016d}-{nonce}"


class Finaliser:
    """Finalises uploads and sweeps; blocking calls, to run off the event loop."""

    def __init__(
        self,
        uploads: PgUploads,
        blobs: Blobs,
        *,
        clock: Callable[[], float],
        ttl: float,
        finalise_grace: float,
        orphan_grace: float,
    ) -> None:
        """Binds the record and the object store.

        Args:
            uploads: The record of uploads.
            blobs: The object store.
            clock: Returns the current POSIX time.
            ttl: Seconds an unfinished upload lives.
            finalise_grace: Seconds a fully received upload may wait for its finalisation
                before the sweeper does it (the lock keeps the two from overlapping anyway).
            orphan_grace: Seconds an unreferenced object is left alone.
        """
        self.uploads = uploads
        self.blobs = blobs
        self.clock = clock
        self.ttl = ttl
        self.finalise_grace = finalise_grace
        self.orphan_grace = orphan_grace
        self._orphans_swept = float("-inf")

    def discard(self, keys: Iterable[str]) -> None:
        """Removes objects now if the store answers; the sweeper removes them otherwise."""
        keys = list(keys)
        if not keys:
            return
        try:
            self.blobs.delete(keys)
        except BackendUnavailable:
            log.info("%d object(s) left for the sweeper", len(keys))

    def finalise(self, upload: Upload) -> Outcome:
        """Verifies a fully received upload and delivers it, exactly once (hold its lock).

        Raises:
            BackendUnavailable: If the database or the store cannot be reached; nothing is
                recorded then, and the next attempt starts over.
        """
        found = self.uploads.get(upload.id)
        if found is None or found[0].state == "expired":
            return Outcome.GONE
        if found[0].state == "receiving":
            pieces = self.uploads.pieces(upload.id)
            position = 0
            for piece in pieces:
                if piece.start != position:
                    break
                position += piece.size
            digest = None
            if position == upload.length:
                digest = self._saved_digest(upload) or self._read_back(pieces)
            if digest != upload.sha256:
                self.discard(self.uploads.remove(upload.id))
                log.warning("upload %s discarded: content does not match its SHA-256", upload.id)
                return Outcome.CHECKSUM_MISMATCH
        outcome, leftovers = self.uploads.deliver(upload, self.clock())
        self.discard(leftovers)
        log.info("upload %s finalised: %s", upload.id, outcome.value)
        return outcome

    def _saved_digest(self, upload: Upload) -> str | None:
        """The digest from the hash state saved with the last piece's commit, if there is one
        for the whole length (each writer hashed its pieces as it stored them)."""
        saved = self.uploads.saved_state(upload.id)
        if saved is None or saved[0] != upload.length or saved[1] is None or not available():
            return None
        try:
            state = Sha256State.resume(saved[1])
        except ValueError:
            state = None
        if state is None or state.length != upload.length:
            log.warning("upload %s: unusable saved hash state; reading it back", upload.id)
            return None
        return state.hexdigest()

    def _read_back(self, pieces: list[Piece]) -> str:
        """The digest of the pieces as stored (an upload some writer could not hash)."""
        digest = hashlib.sha256()
        for piece in pieces:
            for block in self.blobs.read(piece.key, 0, piece.size):
                digest.update(block)
        return digest.hexdigest()

    def sweep(self) -> dict[str, int]:
        """One pass of the sweeper; returns what it did (for logs and tests)."""
        now = self.clock()
        done = {"finalised": 0, "expired": 0, "orphans": 0}
        for upload in self.uploads.unfinished(now - self.finalise_grace):
            lock = WriterLock(self.uploads.record, upload.id)
            if not lock.acquire():
                continue  # a request is finishing it
            try:
                log.info("sweeper: finishing the finalisation of upload %s", upload.id)
                self.finalise(upload)
                done["finalised"] += 1
            finally:
                lock.release()
        for upload_id in self.uploads.overdue(now):
            lock = WriterLock(self.uploads.record, upload_id)
            if not lock.acquire():
                continue  # being written: expiry waits for the request to end
            try:
                self.discard(self.uploads.expire(upload_id))
                done["expired"] += 1
            finally:
                lock.release()
        self.uploads.purge(now, self.ttl)
        # Listing the store is the costly part: a few times per grace period is enough.
        if now - self._orphans_swept >= self.orphan_grace / 4:
            done["orphans"] = self._remove_orphans(now - self.orphan_grace)
            self._orphans_swept = now
        return done

    def _remove_orphans(self, before: float) -> int:
        removed = 0
        candidates = self.blobs.older_than(PIECE_PREFIX, before)
        while batch := list(islice(candidates, 500)):
            known = self.uploads.known_keys(batch)
            orphans = [key for key in batch if key not in known]
            if orphans:
                self.blobs.delete(orphans)
                removed += len(orphans)
        if removed:
            log.info("sweeper: %d orphan object(s) removed", removed)
        return removed
