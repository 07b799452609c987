"""The audit journal's anchor: checkpoints of its head, kept by the platform.

``<profile>/audit.jsonl`` is hash-chained (``crypto.audit``), but whoever can write the profile
could delete a line and recompute the whole chain. So the workstation sends the platform, now
and then, a **checkpoint**: *this station's journal had* ``count`` *entries, the last with hash*
``head``, *at* ``time``. The platform keeps each with its own reception time, append-only, and
refuses one that goes backwards (fewer entries than the last, or another hash for an entry
anchored already: ``refplatform.journal``). Since each hash covers every entry before it, a
checkpoint that still matches vouches for the whole journal up to it; ``passavant audit verify``
compares the journal with every checkpoint (:func:`fetch_anchors`, ``crypto.audit.verify``).

Why the platform's word, and a signature only sometimes. The station has no key of its own
besides its bearer token, and a key kept on the workstation would be as writable as the
journal: it could re-sign a rewritten history. What the workstation alone cannot do is make the
platform forget what it received: that is the anchor. When a person unlocks their identity, the
checkpoint sent then (which covers their own ``identity_unlocked`` entry) is also signed with
their key (CMS SignedData over :func:`checkpoint_content`, verifiable with ``openssl cms``), so
that the platform cannot forge that one either, and the person cannot deny it. Keys are locked
the rest of the time, so the other checkpoints are the platform's word only.

When: the :class:`Anchorer` thread looks at the journal's head every :data:`INTERVAL` seconds
and sends it when it moved (at most once per interval), sends a signed one as soon as someone
unlocks, and once more when the session stops if the platform was reachable. Offline,
checkpoints wait (a signed one is kept in the profile); nothing here runs on the GUI thread.

The profile keeps a copy of the last checkpoints the platform acknowledged
(``audit.anchors.json``, :class:`LocalAnchors`): it decides what to send next, and lets
``audit verify`` compare something when the platform is out of reach, but it is no proof: who
can rewrite the journal can rewrite it too.

The signed content and the checks of signatures are :mod:`cases.anchorsign`'s (re-exported
here); this module sends checkpoints, keeps the profile's copy and reads them back.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cases.anchorsign import (
    FORMAT,
    SignatureCheck,
    checkpoint_content,
    identity_fingerprints,
    sign_checkpoint,
    signature_checks,
    verify_signature,
)
from cases.profile import Profile, ProfileError, UnlockedIdentity
from crypto import audit
from outbox.errors import ErrorCode, OutboxError
from outbox.platform import JournalCheckpoint, PlatformClient, PlatformConfig
from outbox.spool import atomic_write
from outbox.worker import Worker

__all__ = [
    "FORMAT",
    "INTERVAL",
    "AnchorSource",
    "Anchorer",
    "LocalAnchors",
    "SignatureCheck",
    "anchor_config",
    "checkpoint_content",
    "fetch_anchors",
    "identity_fingerprints",
    "sign_checkpoint",
    "signature_checks",
    "verify_signature",
]

log = logging.getLogger(__name__)

INTERVAL = 60.0
"""Seconds between two looks at the journal (and at most one unsigned checkpoint per interval)."""
LOCAL_FILE = "audit.anchors.json"
KEEP_LOCAL = 200
"""Checkpoints kept in the profile's copy (the latest vouches for all before it)."""
MAX_PAGES = 400
"""Pages of checkpoints fetched by :func:`fetch_anchors` (500 each: twice the platform's
default quota per station)."""
FINAL_WAIT = 5.0
"""Seconds :meth:`Anchorer.stop` waits for the last checkpoint before stopping anyway."""


def anchor_config(config: PlatformConfig) -> PlatformConfig:
    """The platform settings for checkpoints: tiny exchanges, so short timeouts, which also
    bound how long a session's stop can wait for its last checkpoint."""
    return dataclasses.replace(
        config,
        connect_timeout=min(config.connect_timeout, 3.0),
        read_timeout=min(config.read_timeout, 5.0),
        idle_timeout=min(config.idle_timeout, 5.0),
    )


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- the profile's copy ---------------------------------------------------------------------


class LocalAnchors:
    """``<profile>/audit.anchors.json``: the last checkpoints the platform acknowledged, and
    signed ones waiting to be sent. Not a proof of anything (see the module's docstring)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> tuple[list[JournalCheckpoint], list[JournalCheckpoint]]:
        """``(acknowledged, pending)``; both empty if the file is missing or unreadable."""
        try:
            document = json.loads(self.path.read_bytes())
            return _checkpoints(document["anchors"]), _checkpoints(document["pending"])
        except FileNotFoundError:
            return [], []
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.warning("the local copy of the journal's anchors is unreadable (%s)", exc)
            return [], []

    def save(self, anchors: list[JournalCheckpoint], pending: list[JournalCheckpoint]) -> None:
        """Write both lists atomically (mode 0600); only the last :data:`KEEP_LOCAL` anchors."""
        document = {
            "format": 1,
            "anchors": [_unsigned(c) for c in anchors[-KEEP_LOCAL:]],
            "pending": [dataclasses.asdict(c) for c in pending],
        }
        atomic_write(self.path, json.dumps(document, indent=0).encode("utf-8"))


def _unsigned(checkpoint: JournalCheckpoint) -> dict[str, Any]:
    """A checkpoint without its signature (the copy is no proof; the platform has it)."""
    document = dataclasses.asdict(checkpoint)
    document["signature"] = None
    document["signed"] = checkpoint.signature is not None
    return document


def _checkpoints(items: Any) -> list[JournalCheckpoint]:
    if not isinstance(items, list):
        raise TypeError("not a list")
    found = []
    for item in items:
        found.append(
            JournalCheckpoint(
                count=int(item["count"]),
                head=str(item["head"]),
                time=str(item["time"]),
                signature=None if item.get("signature") is None else str(item["signature"]),
                received_at=str(item.get("received_at") or ""),
            )
        )
    return found


# --- sending ----------------------------------------------------------------------------------


class Anchorer(Worker):
    """The thread that sends the journal's checkpoints to the platform (see the module)."""

    idle_interval = INTERVAL

    def __init__(
        self,
        profile: Profile,
        client: PlatformClient,
        *,
        interval: float = INTERVAL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Prepares the thread (not started).

        Args:
            profile: The workstation's profile (its journal, station id and local copy).
            client: A client for this thread only (see :func:`anchor_config`).
            interval: Seconds between two looks at the journal.
            clock: A monotonic clock (tests pass a fake one).
        """
        super().__init__("audit-anchor")
        self.idle_interval = interval
        self.profile = profile
        self.client = client
        self.interval = interval
        self.clock = clock
        self.local = LocalAnchors(profile.root / LOCAL_FILE)
        self._lock = threading.Lock()
        self._snapshot = threading.Lock()
        self._anchors, self._pending = self.local.load()
        self._last_unsigned: float | None = None
        self._refused: set[tuple[int, str]] = set()
        self._final = threading.Event()
        self._final_done = threading.Event()
        #: Whether the last exchange reached the platform (``None``: none yet).
        self.online: bool | None = None

    @property
    def anchors(self) -> list[JournalCheckpoint]:
        """The checkpoints acknowledged so far (the local copy's, then this session's)."""
        with self._lock:
            return list(self._anchors)

    @property
    def pending(self) -> list[JournalCheckpoint]:
        """Signed checkpoints waiting for the platform."""
        with self._lock:
            return list(self._pending)

    def checkpoint_signed_by(
        self, me: UnlockedIdentity, journal: Callable[[], object] | None = None
    ) -> None:
        """Queue a checkpoint of the journal's head signed by ``me`` and wake the thread.

        Called right after ``me`` unlocked (on the thread that unlocked, never the GUI's),
        with ``journal`` appending their ``identity_unlocked`` entry: the checkpoint covers
        it. Appending, signing and queueing happen while the thread cannot look at the
        journal, so it never sends the same head unsigned first (the platform would keep that
        one). Never raises from the signature (``journal``'s own errors are its own).
        """
        with self._snapshot:
            if journal is not None:
                journal()
            try:
                count, head = audit.head(self.profile.audit_path)
                if count == 0:
                    return
                unsigned = JournalCheckpoint(count, head, _now())
                signed = sign_checkpoint(self.profile.station_id, unsigned, me)
            except Exception:
                log.exception("cannot sign a checkpoint of the audit journal")
                return
            with self._lock:
                self._pending.append(signed)
        self.wake()

    def stop(self, timeout: float = 15.0) -> bool:
        """Send a last checkpoint if the platform was reachable (waiting at most
        :data:`FINAL_WAIT` s), then stop the thread."""
        if self.is_alive() and self.online is not False:
            self._final.set()
            self.wake()
            self._final_done.wait(FINAL_WAIT)
        return super().stop(timeout)

    def step(self) -> float | None:
        final = self._final.is_set()
        try:
            self.send_due(final=final)
        finally:
            if final:
                self._final_done.set()
        return self.interval

    def send_due(self, *, final: bool = False) -> bool:
        """Send what is due now: the signed checkpoints waiting, then the journal's head if it
        moved since the last checkpoint and the interval has passed (or ``final``).

        Returns:
            Whether everything due was sent (``False``: the platform is out of reach).
        """
        with self._snapshot:  # the signed ones queued, and the head they may cover
            with self._lock:
                pending = sorted(self._pending, key=lambda c: c.count)
            count, head = audit.head(self.profile.audit_path)
        if pending:
            self._save()  # a signed checkpoint survives a stop while offline
        for checkpoint in pending:
            if not self._send(checkpoint):
                return False
        if count == 0 or (count, head) in self._refused:
            return True
        if any((c.count, c.head) == (count, head) for c in pending):
            return True
        last = self._last()
        if last is not None and (last.count, last.head) == (count, head):
            return True
        now = self.clock()
        recent = self._last_unsigned is not None and now - self._last_unsigned < self.interval
        if recent and not final:
            return True
        self._last_unsigned = now
        return self._send(JournalCheckpoint(count, head, _now()))

    def _last(self) -> JournalCheckpoint | None:
        with self._lock:
            return max(self._anchors, key=lambda c: c.count) if self._anchors else None

    def _send(self, checkpoint: JournalCheckpoint) -> bool:
        try:
            kept, new = self.client.send_checkpoint(checkpoint)
        except OutboxError as err:
            if err.code == ErrorCode.REJECTED and err.status == 409:
                # The journal contradicts what the platform anchored: truncated or rewritten
                # (or restored from a backup). Said once per checkpoint; audit verify tells more.
                log.warning(
                    "the platform refuses the audit journal's checkpoint at entry %d (%s):"
                    " the journal contradicts an earlier checkpoint",
                    checkpoint.count,
                    err.detail,
                )
                self.online = True
                self._refused.add((checkpoint.count, checkpoint.head))
                self._forget(checkpoint)
                return True
            self.online = err.status is not None  # an answer: reachable, but not accepted
            if err.status in (400, 413):  # malformed in the platform's eyes: never accepted
                log.warning("the platform refuses a checkpoint as malformed (%s)", err.detail)
                self._forget(checkpoint)
                return True
            log.info("audit journal checkpoint not sent (%s): will try again", err.detail)
            return False
        self.online = True
        log.info(
            "audit journal anchored at entry %d%s",
            kept.count,
            " (signed)" if kept.signature else "" if new else " (already)",
        )
        with self._lock:
            self._anchors = [a for a in self._anchors if a.count != kept.count]
            self._anchors.append(kept)
            self._anchors.sort(key=lambda c: c.count)
            del self._anchors[:-KEEP_LOCAL]
        self._forget(checkpoint)
        return True

    def _forget(self, checkpoint: JournalCheckpoint) -> None:
        with self._lock:
            self._pending = [c for c in self._pending if c != checkpoint]
        self._save()

    def _save(self) -> None:
        with self._lock:
            anchors, pending = list(self._anchors), list(self._pending)
        try:
            self.local.save(anchors, pending)
        except OSError as exc:
            log.warning("cannot write the local copy of the journal's anchors (%s)", exc)


# --- reading back -------------------------------------------------------------------------------


@dataclass(frozen=True)
class AnchorSource:
    """The checkpoints ``audit verify`` compares the journal with, and where they come from.

    Attributes:
        checkpoints: Every checkpoint found, oldest first.
        from_platform: ``True`` when the platform listed them (they are its word); ``False``
            when they come from the profile's copy (no proof).
        unreachable: Why the platform was not asked or did not answer (an error code, or
            ``no_platform``), ``None`` when it answered.
        total: How many checkpoints the platform keeps for this station (``None`` offline).
    """

    checkpoints: list[JournalCheckpoint]
    from_platform: bool
    unreachable: str | None = None
    total: int | None = None

    def anchors(self) -> list[audit.Anchor]:
        return [audit.Anchor(c.count, c.head) for c in self.checkpoints]


def fetch_anchors(profile: Profile, *, offline: bool = False) -> AnchorSource:
    """This station's checkpoints from the platform (every page), or, when it cannot be asked
    (``offline``, no platform configured, no token, out of reach), from the profile's copy."""
    local = LocalAnchors(profile.root / LOCAL_FILE).load()[0]
    if offline:
        return AnchorSource(local, False, "offline")
    try:
        if not profile.platform_url:
            return AnchorSource(local, False, "no_platform")
        config = anchor_config(profile.platform_config())
    except (ProfileError, ValueError) as exc:
        log.info("platform not asked for the journal's anchors: %s", exc)
        return AnchorSource(local, False, "no_platform")
    found: list[JournalCheckpoint] = []
    total = 0
    try:
        with PlatformClient(config) as client:
            after = 0
            for _page in range(MAX_PAGES):
                page = client.journal_checkpoints(after)
                found.extend(page.checkpoints)
                total = page.total
                if not page.more or not page.checkpoints:
                    break
                after = page.checkpoints[-1].count
    except OutboxError as err:
        log.info("platform not reached for the journal's anchors: %s", err.detail)
        return AnchorSource(local, False, str(err.code))
    return AnchorSource(found, True, None, total)
