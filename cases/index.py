"""The case index: what one person's lists need, encrypted at rest, one SQLite file each.

Each bundle the person can read is opened once (:mod:`cases.store`); what its opening found
is kept here, so that a list refresh reads this index and never the bundles again:

- in clear, only what carries no clinical meaning: the bundle id, its kind, the state the
  rules of :mod:`cases.speaking` gave it, the bundle id of the request whose case it belongs
  to, the id it waits for, the SHA-256 of the sealed file, a reason code, a version number
  (so a refresh reads only what changed), and a keyed hash of the case id (to find a case
  id already here without writing it down);
- everything else (the signed manifest with its clinical fields, the signer as its
  certificate describes them, the signing time) in ``record``, sealed with AES-256-GCM under
  the **index key**, with the bundle id and state as associated data, so a record cannot be
  moved to another row.

The index key is 32 random bytes, kept in the file itself encrypted to the person's own
certificate (a CMS ``AuthEnvelopedData``, as bundles are): only their unlocked private key
recovers it. A thief of the disk reads ids and states, nothing clinical. The index is derived
data: lost, damaged or unreadable with this key, it is rebuilt from the sealed bundles.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import sqlite3
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.x509 import Certificate

from crypto import cms
from crypto._keys import PrivateKey
from crypto.errors import CryptoError

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1

STATES = ("admitted", "waiting", "refused", "unreadable", "erased", "discarded")
"""admitted: shown; waiting: its target is not here yet; refused, unreadable: set aside with
a reason, told to the person until discarded; erased: a withdrawn consent took it away (no
record kept); discarded: set aside and dismissed by the person (no file kept)."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (
    name  TEXT PRIMARY KEY,
    value BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS documents (
    bundle_id TEXT PRIMARY KEY,
    version   INTEGER NOT NULL,
    state     TEXT NOT NULL,
    kind      TEXT NOT NULL DEFAULT '',
    case_ref  TEXT,
    waits_for TEXT,
    case_tag  TEXT,
    source    TEXT NOT NULL,
    sha256    TEXT NOT NULL,
    reason    TEXT NOT NULL DEFAULT '',
    record    BLOB
);
CREATE INDEX IF NOT EXISTS documents_version ON documents(version);
CREATE INDEX IF NOT EXISTS documents_waits ON documents(waits_for);
CREATE INDEX IF NOT EXISTS documents_case_tag ON documents(case_tag);
CREATE INDEX IF NOT EXISTS documents_case_ref ON documents(case_ref);
"""


class IndexDamaged(Exception):
    """The index cannot be used (damaged, another person's, or its key is not ours): the
    caller rebuilds it."""


@dataclass(frozen=True)
class Row:
    """One document of the index, its record decrypted (``None`` for set-aside ones)."""

    bundle_id: str
    version: int
    state: str
    kind: str
    case_ref: str | None
    waits_for: str | None
    source: str
    sha256: str
    reason: str
    record: dict[str, Any] | None


class CaseIndex:
    """One person's encrypted index (``<profile>/index/<identity id>.sqlite``, mode 0600).

    Opening it recovers the index key with the person's private key, once. Every method is
    thread-safe (one connection, one lock)."""

    def __init__(self, path: Path, certificate: Certificate, key: PrivateKey) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        if not path.exists():
            os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
        os.chmod(path, 0o600)
        self._lock = threading.Lock()
        try:
            self._db = sqlite3.connect(path, timeout=10, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            with self._db:
                self._db.executescript(_SCHEMA)
            self._key = self._index_key(certificate, key)
        except sqlite3.DatabaseError as exc:
            raise IndexDamaged(f"the index is damaged: {exc}") from exc
        self._aead = AESGCM(self._key)
        self._tag_key = hashlib.sha256(b"passavant index case tag" + self._key).digest()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # --- the key --------------------------------------------------------------------------
    def _index_key(self, certificate: Certificate, key: PrivateKey) -> bytes:
        with self._lock, self._db:
            row = self._db.execute("SELECT value FROM meta WHERE name = 'key'").fetchone()
            if row is None:
                if self._db.execute("SELECT 1 FROM documents LIMIT 1").fetchone():
                    raise IndexDamaged("the index has documents but no key")
                fresh = os.urandom(32)
                self._db.execute(
                    "INSERT INTO meta VALUES ('key', ?)", (cms.encrypt(fresh, [certificate]),)
                )
                self._db.execute(
                    "INSERT OR REPLACE INTO meta VALUES ('schema', ?)", (str(SCHEMA_VERSION),)
                )
                return fresh
        try:
            recovered = cms.decrypt(bytes(row[0]), certificate, key)
        except (CryptoError, ValueError) as exc:
            raise IndexDamaged(f"the index key is not this person's: {exc}") from exc
        if len(recovered) != 32:
            raise IndexDamaged("the index key has the wrong size")
        return recovered

    # --- writing --------------------------------------------------------------------------
    def case_tag(self, case_id: str) -> str:
        """A keyed hash of a case id: finds it here without writing it down."""
        return hmac.new(self._tag_key, case_id.encode("utf-8"), "sha256").hexdigest()

    def put(
        self,
        bundle_id: str,
        *,
        state: str,
        source: str,
        sha256: str,
        kind: str = "",
        case_ref: str | None = None,
        waits_for: str | None = None,
        case_id: str | None = None,
        reason: str = "",
        record: dict[str, Any] | None = None,
    ) -> None:
        """Insert or replace the document ``bundle_id``, with a new version."""
        if state not in STATES:
            raise ValueError(f"unknown index state {state!r}")
        sealed = None if record is None else self._seal(bundle_id, state, record)
        tag = None if case_id is None else self.case_tag(case_id)
        with self._lock, self._db:
            self._db.execute(
                "INSERT OR REPLACE INTO documents VALUES "
                "(?, (SELECT COALESCE(MAX(version), 0) + 1 FROM documents), "
                "?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (bundle_id, state, kind, case_ref, waits_for, tag, source, sha256, reason, sealed),
            )

    def set_state(
        self, bundle_id: str, state: str, *, case_ref: str | None = None, reason: str = ""
    ) -> None:
        """Change a document's state (its record re-sealed for the new state, or dropped
        when the state keeps none: erased, discarded)."""
        row = self.get(bundle_id)
        if row is None:
            raise KeyError(bundle_id)
        keeps = state not in ("erased", "discarded")
        self.put(
            bundle_id,
            state=state,
            source=row.source,
            sha256=row.sha256,
            kind=row.kind,
            case_ref=case_ref if case_ref is not None else row.case_ref,
            waits_for=None if state != "waiting" else row.waits_for,
            case_id=_case_id(row.record) if keeps and row.kind == "request" else None,
            reason=reason,
            record=row.record if keeps else None,
        )

    # --- reading --------------------------------------------------------------------------
    def known(self) -> dict[str, str]:
        """Every bundle id the index holds, with its state (no record: cheap)."""
        with self._lock:
            return dict(self._db.execute("SELECT bundle_id, state FROM documents").fetchall())

    def in_case(self, case_ref: str, kind: str) -> list[Row]:
        """The admitted documents of ``kind`` that belong to the case ``case_ref``."""
        with self._lock:
            raws = self._db.execute(
                "SELECT * FROM documents WHERE case_ref = ? AND kind = ? AND state = 'admitted' "
                "ORDER BY version",
                (case_ref, kind),
            ).fetchall()
        return [self._row(r) for r in raws]

    def get(self, bundle_id: str) -> Row | None:
        with self._lock:
            raw = self._db.execute(
                "SELECT * FROM documents WHERE bundle_id = ?", (bundle_id,)
            ).fetchone()
        return None if raw is None else self._row(raw)

    def with_case_id(self, case_id: str, state: str = "admitted") -> list[Row]:
        """The requests in ``state`` whose case id is ``case_id``."""
        with self._lock:
            raws = self._db.execute(
                "SELECT * FROM documents WHERE case_tag = ? AND state = ? AND kind = 'request' "
                "ORDER BY version",
                (self.case_tag(case_id), state),
            ).fetchall()
        return [self._row(r) for r in raws]

    def waiting_for(self, bundle_id: str) -> list[Row]:
        with self._lock:
            raws = self._db.execute(
                "SELECT * FROM documents WHERE state = 'waiting' AND waits_for = ? "
                "ORDER BY version",
                (bundle_id,),
            ).fetchall()
        return [self._row(r) for r in raws]

    def changed_since(self, version: int, batch: int = 200) -> Iterator[Row]:
        """Every document written after ``version``, in version order, read ``batch`` rows
        at a time (a first listing of a large index never holds it all at once)."""
        while True:
            with self._lock:
                raws = self._db.execute(
                    "SELECT * FROM documents WHERE version > ? ORDER BY version LIMIT ?",
                    (version, batch),
                ).fetchall()
            for raw in raws:
                yield self._row(raw)
            if len(raws) < batch:
                return
            version = int(raws[-1][1])

    def count(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM documents").fetchone()[0])

    def snapshot(self) -> list[tuple[object, ...]]:
        """Everything the index says, decrypted, in bundle id order, versions aside (for
        comparing an index rebuilt with one built as bundles arrived)."""
        with self._lock:
            raws = self._db.execute("SELECT * FROM documents ORDER BY bundle_id").fetchall()
        rows = [self._row(r) for r in raws]
        return [
            (
                r.bundle_id,
                r.state,
                r.kind,
                r.case_ref,
                r.waits_for,
                r.source,
                r.sha256,
                r.reason,
                json.dumps(r.record, sort_keys=True),
            )
            for r in rows
        ]

    # --- sealing --------------------------------------------------------------------------
    def _seal(self, bundle_id: str, state: str, record: dict[str, Any]) -> bytes:
        nonce = os.urandom(12)
        plain = json.dumps(record, ensure_ascii=False, sort_keys=True).encode("utf-8")
        return nonce + self._aead.encrypt(nonce, plain, _aad(bundle_id, state))

    def _row(self, raw: tuple[Any, ...]) -> Row:
        bundle_id, version, state, kind, case_ref, waits_for, _tag, source, sha, reason, sealed = (
            raw
        )
        record = None
        if sealed is not None:
            blob = bytes(sealed)
            try:
                plain = self._aead.decrypt(blob[:12], blob[12:], _aad(bundle_id, state))
                record = json.loads(plain)
            except (InvalidTag, ValueError) as exc:
                raise IndexDamaged(f"the record of {bundle_id} was altered") from exc
        return Row(
            bundle_id, int(version), state, kind, case_ref, waits_for, source, sha, reason, record
        )


def remove_index(path: Path) -> None:
    """Remove an index file with its write-ahead log (derived data: it is built again)."""
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def _case_id(record: dict[str, Any] | None) -> str | None:
    value = None if record is None else record.get("case_id")
    return value if isinstance(value, str) else None


def _aad(bundle_id: str, state: str) -> bytes:
    return f"{bundle_id}\n{state}".encode()
