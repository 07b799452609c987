"""The case store: one person's bundles, each opened once, and what their lists need.

A bundle is **ingested** once, when it is sealed here or arrives in the inbox
(:mod:`cases.ingestion`): opened (:mod:`cases.opening`: decrypted, verified, validated and
unpacked, whatever its size, in one pass), placed by the rules of :mod:`cases.speaking` and
recorded in the person's encrypted index (:mod:`cases.index`). A listing then reads the
index, and only what changed since the last listing (:mod:`cases.storelisting`): its cost
follows what changed and what is shown, not the size of the archive. Payloads stay in their
sealed bundle until somebody looks at them (:mod:`cases.sealedpayload`, :mod:`cases.reopen`).

A bundle that cannot be opened, or that the rules refuse, is set aside with its reason and
the SHA-256 of its sealed file (:mod:`cases.setaside`): it is never opened again at a
refresh, and the person is told until they discard it. Anything going wrong while one
bundle is ingested concerns that bundle only.

This module puts the parts together for one unlocked person (:class:`CaseStore`) and keeps
the names the rest of the application imports from here.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from datetime import datetime
from pathlib import Path
from typing import IO

from cases.index import CaseIndex, IndexDamaged, Row, remove_index
from cases.ingestion import Ingested, Ingestion, Source
from cases.opening import CLOCK_SKEW, MAX_TRANSIT, check_signing_time
from cases.profile import Profile, UnlockedIdentity
from cases.reopen import IN_MEMORY_MAX, Reopener
from cases.sealedpayload import PayloadReader, SealedPayload
from cases.setaside import discard
from cases.storelisting import Listing
from cases.threads import Opened, Unreadable

__all__ = [
    "CLOCK_SKEW",
    "MAX_TRANSIT",
    "STREAM_ABOVE",
    "CaseStore",
    "Ingested",
    "SealedPayload",
    "Source",
    "check_signing_time",
    "index_path",
]

log = logging.getLogger(__name__)

STREAM_ABOVE = IN_MEMORY_MAX
"""Sealed files larger than this wait, once decrypted and until authenticated, in an
encrypted temporary file rather than in memory (:data:`cases.reopen.IN_MEMORY_MAX`; the
reading is the same either way). Kept for importers; set ``ingestion.in_memory_max`` or
the :class:`~cases.reopen.Reopener`'s bound to change it."""


def index_path(profile: Profile, identity_id: str) -> Path:
    """Where a person's case index lies in a profile."""
    return profile.path("index") / f"{identity_id}.sqlite"


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
        reopener = Reopener(me.certificate, me.key, in_memory_max=IN_MEMORY_MAX)
        self.payloads = PayloadReader(self.index, locate, reopener)
        self.lists = Listing(self.index, self._sealed_payload)
        self.ingestion = Ingestion(profile, me, self.index, self.lists.light, self._sealed_payload)

    def _open_index(self) -> CaseIndex:
        try:
            return CaseIndex(self.path, self.me.certificate, self.me.key)
        except IndexDamaged as exc:  # damaged or not ours: derived data, start it again
            log.warning("the case index of %s is rebuilt: %s", self.me.info.id, exc)
            remove_index(self.path)
            return CaseIndex(self.path, self.me.certificate, self.me.key)

    def _sealed_payload(self, bundle_id: str, name: str) -> SealedPayload:
        return SealedPayload(self, bundle_id, name)

    def close(self) -> None:
        self.index.close()
        self.payloads.release()

    @property
    def openings(self) -> int:
        """Bundles decrypted by this store (ingestion and payloads)."""
        return self.ingestion.openings + self.payloads.openings

    # --- opening ----------------------------------------------------------------------------
    def open(self, sealed: bytes) -> Opened:
        """Decrypt, verify and unpack one bundle held in memory, as ingestion opens a file
        (:func:`cases.opening.open_sealed`); its payloads are read from its content.

        Raises:
            CryptoError: not for us, altered, or an untrusted signer.
            CaseError: the bundle is malformed or its sender is not its signer.
        """
        return self.ingestion.open(sealed).opened

    def open_file(self, path: Path) -> Opened:
        """:meth:`open` for a sealed file, of any size (the content waits in memory, or in a
        temporary file encrypted under a key held in memory above
        :data:`cases.reopen.IN_MEMORY_MAX`).

        Raises: as :meth:`open`; ``OSError`` when the file cannot be read.
        """
        return self.ingestion.open(path).opened

    # --- ingestion --------------------------------------------------------------------------
    def ingest(
        self,
        sources: Iterable[Source],
        progress: Callable[[int, int], None] | None = None,
        limit: int | None = None,
    ) -> Ingested:
        """:meth:`cases.ingestion.Ingestion.ingest`: open and place the new bundles."""
        return self.ingestion.ingest(sources, progress, limit)

    def ingest_sealed(
        self, source: Source, sealed: bytes | Path, manifest_json: bytes, signed_at: datetime
    ) -> None:
        """:meth:`cases.ingestion.Ingestion.ingest_sealed`: index one's own bundle from its
        manifest in hand, never decrypting it."""
        self.ingestion.ingest_sealed(source, sealed, manifest_json, signed_at)

    # --- listing ----------------------------------------------------------------------------
    def listing(self) -> tuple[list[tuple[Opened, str]], list[Unreadable]]:
        """:meth:`cases.storelisting.Listing.listing`."""
        return self.lists.listing()

    def listing_document(self, row: Row) -> Opened:
        """The document of an index row that holds a record, as the lists show it."""
        return self.lists.document(row)

    # --- payloads ---------------------------------------------------------------------------
    def payload(self, bundle_id: str, name: str) -> bytes:
        """:meth:`cases.sealedpayload.PayloadReader.payload`."""
        return self.payloads.payload(bundle_id, name)

    def payload_file(self, bundle_id: str, name: str) -> IO[bytes]:
        """:meth:`cases.sealedpayload.PayloadReader.payload_file`."""
        return self.payloads.payload_file(bundle_id, name)

    # --- the person's actions ---------------------------------------------------------------
    def discard(self, bundle_ids: Iterable[str]) -> list[Source]:
        """Dismiss set-aside bundles (:func:`cases.setaside.discard`); returns where their
        sealed files lie, for the caller to remove."""
        return discard(self.index, self.locate, bundle_ids)

    def erase(self, bundle_id: str) -> None:
        """A withdrawn consent: the request's record leaves the index (its id stays, so a
        copy delivered again is not shown)."""
        if self.index.get(bundle_id) is not None:
            self.index.set_state(bundle_id, "erased")
        self.payloads.forget(bundle_id)
