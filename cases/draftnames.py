"""The file names of a person's drafts: keyed hashes, so that they say nothing on the disk.

A draft is not named by its case id (a label that travels in bundles and follow-ups), nor a
payload by its SHA-256, but by an HMAC of it under a key of 32 random bytes that lies beside
the drafts encrypted to the person's own certificate (``names.key``, a CMS message), made at
first use (:class:`DraftNames`).
"""

from __future__ import annotations

import hmac
import os
import threading
from pathlib import Path

from cases.profile import UnlockedIdentity
from crypto import cms

__all__ = ["NAMES_KEY", "SUFFIX", "DraftNames"]

SUFFIX = ".p7m"
NAMES_KEY = "names.key"


class DraftNames:
    """The names of the drafts and payload files in ``folder``, for ``me``. Thread-safe."""

    def __init__(self, folder: Path, me: UnlockedIdentity) -> None:
        self.folder = folder
        self.me = me
        self._lock = threading.Lock()
        self._key: bytes | None = None

    def path(self, case_id: str, folder: Path) -> Path:
        """Where the draft of ``case_id`` lies in ``folder`` (the requests' or the opinions').

        Raises:
            ValueError: If ``case_id`` is empty or could name a path.
        """
        if not case_id or "/" in case_id or "\\" in case_id or case_id.startswith("."):
            raise ValueError(f"not a case id: {case_id!r}")
        return folder / f"{self.name(case_id)}{SUFFIX}"

    def name(self, case_id: str) -> str:
        """The file name of a case's draft: a keyed hash of its case id."""
        return hmac.new(self.key(), case_id.encode("utf-8"), "sha256").hexdigest()[:40]

    def payload(self, sha256: str) -> str:
        """The file name of a payload: a keyed hash of its SHA-256."""
        return hmac.new(self.key(), b"payload\0" + sha256.encode(), "sha256").hexdigest()[:40]

    def key(self) -> bytes:
        """The key of the drafts' names, made at first use (sealed to the person)."""
        with self._lock:
            if self._key is not None:
                return self._key
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
            self._key = key
            return key
