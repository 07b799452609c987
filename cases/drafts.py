"""Unfinished requests, kept on disk only sealed to their author.

A draft is the case as the doctor left it (text and photos), packed like a request and sealed
(signed and encrypted) to the author's own certificate: nobody else, not even the unit's
secretary or a copy of the disk, can read it. One file per case under
``drafts/<identity id>/<case id>.p7m``, replaced atomically at each save, so a crash leaves
either the previous draft or the new one, never half of one.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509

from cases.bundle import Party, pack_case, unpack
from cases.errors import CaseError
from cases.model import Case, new_id
from cases.profile import UnlockedIdentity
from crypto import cms
from crypto.errors import CryptoError
from outbox.spool import atomic_write

log = logging.getLogger(__name__)

SUFFIX = ".p7m"


@dataclass(frozen=True)
class UnreadableDraft:
    """A draft file that could not be opened (damaged, or sealed by another key)."""

    case_id: str
    code: str


class DraftStore:
    """The drafts of one unlocked identity."""

    def __init__(
        self, folder: Path, me: UnlockedIdentity, trust_roots: Sequence[x509.Certificate]
    ) -> None:
        self.folder = folder / me.info.id
        self.me = me
        self.trust_roots = list(trust_roots)
        self._lock = threading.Lock()
        self._closed: set[str] = set()  # sent or discarded: a late autosave must not revive it

    def _path(self, case_id: str) -> Path:
        if not case_id or "/" in case_id or "\\" in case_id or case_id.startswith("."):
            raise ValueError(f"not a case id: {case_id!r}")
        return self.folder / f"{case_id}{SUFFIX}"

    def save(self, case: Case) -> Path | None:
        """Seal ``case`` to its author and replace the previous draft of the same case.

        Returns the draft's path, or None when the case was discarded meanwhile (a late
        autosave of a request that has just been sent is dropped).
        """
        me = Party(self.me.info.id, self.me.info.display_name, self.me.fingerprint)
        plain = pack_case(new_id(), case, me, [me])
        sealed = cms.seal(plain, self.me.certificate, self.me.key, [self.me.certificate])
        path = self._path(case.case_id)
        with self._lock:
            if case.case_id in self._closed:
                return None
            self.folder.mkdir(parents=True, exist_ok=True)
            atomic_write(path, sealed)
        log.info("draft %s saved (%d bytes sealed)", case.case_id, len(sealed))
        return path

    def load(self) -> tuple[list[Case], list[UnreadableDraft]]:
        """Every draft, newest first, and those that could not be opened."""
        cases: list[tuple[float, Case]] = []
        unreadable: list[UnreadableDraft] = []
        if not self.folder.is_dir():
            return [], []
        for path in self.folder.glob(f"*{SUFFIX}"):
            case_id = path.name.removesuffix(SUFFIX)
            try:
                verified = cms.open_sealed(
                    path.read_bytes(), self.me.certificate, self.me.key, self.trust_roots
                )
                bundle = unpack(
                    verified.content,
                    signer_fingerprint=self.me.fingerprint,
                    reader_fingerprint=self.me.fingerprint,
                )
            except (CryptoError, CaseError) as exc:
                log.warning("draft %s cannot be opened: %s", case_id, exc.code)
                unreadable.append(UnreadableDraft(case_id, exc.code))
                continue
            except OSError:
                log.warning("draft %s cannot be read", case_id)
                unreadable.append(UnreadableDraft(case_id, "unreadable"))
                continue
            if bundle.case is None or bundle.case.case_id != case_id:
                unreadable.append(UnreadableDraft(case_id, "malformed_bundle"))
                continue
            cases.append((path.stat().st_mtime, bundle.case))
        cases.sort(key=lambda item: item[0], reverse=True)
        return [case for _mtime, case in cases], unreadable

    def discard(self, case_id: str) -> bool:
        """Remove a draft (after it was sent, or on the doctor's request); later saves of
        the same case are ignored."""
        with self._lock:
            self._closed.add(case_id)
            try:
                self._path(case_id).unlink()
            except FileNotFoundError:
                return False
        log.info("draft %s discarded", case_id)
        return True
