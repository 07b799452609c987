"""What the lists show, from the index alone: no bundle is opened to list.

The store keeps the documents of the rows it read (manifest fields, no payload) and reads
only the rows written since the last listing, so a refresh with nothing new costs a few
queries whatever the archive's size. A listed document's payloads stay in their sealed
bundle until somebody looks at them (``cases.sealedpayload``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any

from cases.bundle import Bundle, Party, reread
from cases.index import CaseIndex, Row
from cases.setaside import SET_ASIDE
from cases.threads import Opened, Unreadable


class Listing:
    """One person's listed documents, kept between listings.

    Args:
        index: The person's case index.
        payload: Gives the payload of a bundle's file, read when looked at.
    """

    def __init__(self, index: CaseIndex, payload: Callable[[str, str], Any]) -> None:
        self.index, self._payload = index, payload
        self._lock = threading.Lock()
        self._version = 0
        self._docs: dict[str, tuple[Opened, str]] = {}  # admitted: document and its case
        self._problems: dict[str, Unreadable] = {}
        self._parties: dict[Party, Party] = {}

    def listing(self) -> tuple[list[tuple[Opened, str]], list[Unreadable]]:
        """The admitted documents with the case each belongs to, and what was set aside and
        not discarded. Reads only the index rows written since the last listing."""
        with self._lock:
            for row in self.index.changed_since(self._version):
                self._version = max(self._version, row.version)
                self._docs.pop(row.bundle_id, None)
                self._problems.pop(row.bundle_id, None)
                if row.state == "admitted" and row.record is not None:
                    if row.kind == "receipt":
                        continue  # acted on when ingested; a list never shows one
                    self._docs[row.bundle_id] = (
                        self.light(row.bundle_id, row.record),
                        row.case_ref or "",
                    )
                elif row.state in SET_ASIDE:
                    self._problems[row.bundle_id] = Unreadable(
                        row.bundle_id, row.reason, f"{row.state}: {row.reason}"
                    )
            return list(self._docs.values()), list(self._problems.values())

    def document(self, row: Row) -> Opened:
        """The document of an index row that holds a record, as the lists show it."""
        if row.record is None:
            raise KeyError(row.bundle_id)
        return self.light(row.bundle_id, row.record)

    def light(self, bundle_id: str, record: dict[str, Any]) -> Opened:
        """A document as the lists show it, from its index record: its payloads are read
        from the sealed bundle only when somebody looks at them."""
        known = self._docs.get(bundle_id)
        if known is not None:
            return known[0]
        bundle: Bundle = reread(
            str(record["manifest"]).encode("utf-8"),
            lambda name: self._payload(bundle_id, name),
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
