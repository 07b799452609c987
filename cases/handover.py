"""The networked PC's check of what the capture PC hands over (issue 17 §3): a sealed bundle
of a kind we send, for a recipient of the directory, whose envelope is addressed to that
recipient's validated certificate. It cannot be opened here, and need not be."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from crypto import pki
from crypto.envelope import addressed_to
from crypto.errors import CryptoError
from outbox.handover import Check, Sidecar
from outbox.platform import DirectoryEntry
from outbox.spool import atomic_write

SENT_KINDS = frozenset({"case", "opinion", "receipt", "withdrawal"})


def handover_check(
    directory: Callable[[], list[DirectoryEntry]],
    certificate: Callable[[DirectoryEntry], pki.x509.Certificate],
) -> Check:
    """A :data:`outbox.handover.Check` over the directory this PC fetched; ``certificate``
    validates a directory entry's certificate (the workstation's own rule)."""

    def check(payload: bytes, sidecar: Sidecar) -> str | None:
        if sidecar.kind not in SENT_KINDS:
            return "handover_refused"
        entry = next((e for e in directory() if e.id == sidecar.recipient_id), None)
        if entry is None:
            return "unknown_recipient"
        try:
            cert = certificate(entry)
        except (ValueError, CryptoError):  # not a certificate, or not one to encrypt to
            return "unknown_recipient"
        if not addressed_to(payload, cert):
            return "handover_refused"
        return None

    return check


# --- the desk's set-up ------------------------------------------------------------------------
CONFIG_FILE = "handover.json"
ROLES = ("capture", "network")


@dataclass(frozen=True)
class HandoverConfig:
    """How this PC takes part in a two-PC desk (``handover.json`` in the profile).

    Attributes:
        folder: The hand-over folder (a share or a stick's mount point).
        role: ``"capture"`` (seals, hands over, has no platform link) or ``"network"``
            (queues what is handed over, sends it, brings the mail back).
        relay: On the networked PC, the mailboxes whose mail goes back to the capture PC
            (its people's ids).
    """

    folder: Path
    role: str
    relay: tuple[str, ...] = ()

    @classmethod
    def load(cls, profile_root: Path) -> HandoverConfig | None:
        """The set-up, or ``None`` for a PC on its own (no file)."""
        path = profile_root / CONFIG_FILE
        if not path.exists():
            return None
        data = json.loads(path.read_text("utf-8"))
        role = str(data.get("role", ""))
        if role not in ROLES:
            raise ValueError(f"hand-over role {role!r} is not one of {ROLES}")
        relay = tuple(str(m) for m in data.get("relay", ()))
        return cls(Path(str(data["folder"])), role, relay)

    def save(self, profile_root: Path) -> None:
        body = {"folder": str(self.folder), "role": self.role, "relay": list(self.relay)}
        atomic_write(profile_root / CONFIG_FILE, json.dumps(body, indent=2).encode())
