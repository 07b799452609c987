"""Stations, their bearer tokens, and the recipients they serve.

A station is one workstation allowed to talk to the platform, with one bearer token. Only the
SHA-256 of its token is stored; the token itself is returned once, by :func:`register_station`
(``passavant platform token new``), and can be revoked (:func:`revoke_station`). A recipient is a
person who can receive bundles; each belongs to exactly one station, which alone may read the
recipient's mailbox. A mailbox is addressed by the recipient's id or by the SHA-256 fingerprint
of the recipient's certificate (:func:`resolve_recipient`).

These functions are used by the application's demo setup and by tests, possibly while a server
runs on the same data directory (SQLite's WAL mode lets both work at once).
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509

from crypto.rpps import certificate_rpps, rpps_ok
from refplatform.db import Database, open_database
from refplatform.storage import FINGERPRINT_PATTERN, certificate_fingerprint, is_valid_id

__all__ = [
    "AmbiguousRecipient",
    "StationInfo",
    "checked_rpps",
    "directory",
    "hash_token",
    "list_stations",
    "recipient_station",
    "register_recipient",
    "register_station",
    "resolve_recipient",
    "revoke_station",
    "station_for_token",
]

log = logging.getLogger(__name__)

_MIN_TOKEN_LENGTH = 16
_MAX_TOKEN_LENGTH = 512
_PEM_MARKER = "-----BEGIN CERTIFICATE-----"


def hash_token(token: str) -> str:
    """Returns the hex SHA-256 under which a token is stored."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _check_token(token: str) -> None:
    if not _MIN_TOKEN_LENGTH <= len(token) <= _MAX_TOKEN_LENGTH:
        raise ValueError(f"a token must have {_MIN_TOKEN_LENGTH} to {_MAX_TOKEN_LENGTH} characters")
    if not all("!" <= c <= "~" for c in token):
        raise ValueError("a token must be printable ASCII without spaces")


def checked_rpps(rpps: str | None, certificate_pem: str) -> str | None:
    """The RPPS number to list for a recipient: the one given, else the certificate's.

    A card certificate names its holder's RPPS number (``crypto.rpps``): the number given
    must be that one. A certificate the platform cannot parse carries none it can read (the
    platform relays certificates; senders validate them). Both back-ends check a recipient's
    number here.

    Raises:
        ValueError: If ``rpps`` is not 11 digits with a right Luhn key, or if the
            certificate names another number, or several.
    """
    if rpps is not None and not rpps_ok(rpps):
        raise ValueError("the RPPS number must be 11 digits, the last its key (Luhn)")
    try:
        cert = x509.load_pem_x509_certificate(certificate_pem.encode("utf-8"))
    except ValueError:
        return rpps
    carried = certificate_rpps(cert)  # AmbiguousRpps, a ValueError, for two numbers
    if rpps is not None and carried is not None and rpps != carried:
        raise ValueError(f"the RPPS number given ({rpps}) is not the certificate's ({carried})")
    return rpps if rpps is not None else carried


class AmbiguousRecipient(LookupError):
    """Several recipients share the certificate whose fingerprint addressed a mailbox."""


@dataclass(frozen=True)
class StationInfo:
    """A station as listed by ``passavant platform token list`` (never its token)."""

    id: str
    created_at: float
    token_issued_at: float
    revoked_at: float | None
    recipients: int

    @property
    def active(self) -> bool:
        """Whether its token is accepted."""
        return self.revoked_at is None


def register_station(data_dir: Path, station_id: str, token: str | None = None) -> str:
    """Registers a station, or gives an existing one a new token.

    Creates the data directory and the database if needed. Registering again replaces the
    station's token (and lifts a revocation): the old one stops working at once.

    Args:
        data_dir: The platform's data directory.
        station_id: The station's identifier (letters, digits, ``.``, ``_``, ``-``).
        token: The bearer token to accept; a random one is generated when ``None``.

    Returns:
        The token, to hand to the station. The platform keeps only its hash.

    Raises:
        ValueError: If the identifier or the token is malformed.
    """
    if not is_valid_id(station_id):
        raise ValueError(f"invalid station identifier {station_id!r}")
    if token is None:
        token = secrets.token_urlsafe(32)
    _check_token(token)
    db = open_database(data_dir)
    stamp = time.time()
    try:
        with db.transaction() as conn:
            conn.execute(
                "INSERT INTO stations (id, token_sha256, created_at, updated_at)"
                " VALUES (?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET"
                " token_sha256 = excluded.token_sha256, updated_at = excluded.updated_at,"
                " revoked_at = NULL",
                (station_id, hash_token(token), stamp, stamp),
            )
    except sqlite3.IntegrityError as exc:
        raise ValueError("this token is already given to another station") from exc
    log.info("station %s registered", station_id)
    return token


def register_recipient(
    data_dir: Path,
    *,
    recipient_id: str,
    station_id: str,
    display_name: str,
    role: str,
    specialty: str | None,
    certificate_pem: str,
    rpps: str | None = None,
) -> None:
    """Adds a recipient to the directory, or updates it.

    Args:
        data_dir: The platform's data directory.
        recipient_id: The recipient's identifier (letters, digits, ``.``, ``_``, ``-``).
        station_id: The registered station that reads this recipient's mailbox.
        display_name: The name shown to senders.
        role: The recipient's role (for instance ``specialist`` or ``doctor``).
        specialty: The medical specialty, if any.
        certificate_pem: The recipient's encryption certificate, PEM-encoded. The platform
            only relays it; senders verify it against their own trust anchors.
        rpps: The recipient's RPPS number, shown to senders; ``None`` takes the one the
            certificate carries, if any (:func:`checked_rpps`).

    Raises:
        ValueError: If an argument is malformed, the RPPS number is not the certificate's,
            or the station is not registered.
    """
    if not is_valid_id(recipient_id):
        raise ValueError(f"invalid recipient identifier {recipient_id!r}")
    if not display_name.strip() or not role.strip():
        raise ValueError("display_name and role must not be empty")
    if _PEM_MARKER not in certificate_pem:
        raise ValueError("certificate_pem is not a PEM certificate")
    fingerprint = certificate_fingerprint(certificate_pem)  # ValueError if malformed
    rpps = checked_rpps(rpps, certificate_pem)
    db = open_database(data_dir)
    with db.transaction() as conn:
        if conn.execute("SELECT 1 FROM stations WHERE id = ?", (station_id,)).fetchone() is None:
            raise ValueError(f"station {station_id!r} is not registered")
        conn.execute(
            "INSERT INTO recipients (id, station_id, display_name, role, specialty,"
            " certificate_pem, certificate_sha256, rpps, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (id) DO UPDATE SET station_id = excluded.station_id,"
            " display_name = excluded.display_name, role = excluded.role,"
            " specialty = excluded.specialty, certificate_pem = excluded.certificate_pem,"
            " certificate_sha256 = excluded.certificate_sha256, rpps = excluded.rpps,"
            " updated_at = excluded.updated_at",
            (
                recipient_id,
                station_id,
                display_name,
                role,
                specialty,
                certificate_pem,
                fingerprint,
                rpps,
                time.time(),
            ),
        )
    log.info("recipient %s registered for station %s", recipient_id, station_id)


def revoke_station(data_dir: Path, station_id: str) -> bool:
    """Revokes a station's token: it is refused from now on (``token new`` issues another).

    Returns:
        ``False`` if no such station is registered.
    """
    db = open_database(data_dir)
    with db.transaction() as conn:
        cursor = conn.execute(
            "UPDATE stations SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ?",
            (time.time(), station_id),
        )
        found = cursor.rowcount > 0
    if found:
        log.info("station %s: token revoked", station_id)
    return found


def list_stations(data_dir: Path) -> list[StationInfo]:
    """Returns every station with its token's dates and its number of recipients."""
    db = open_database(data_dir)
    with db.connect() as conn:
        rows = conn.execute(
            "SELECT s.id, s.created_at, s.updated_at, s.revoked_at,"
            " (SELECT COUNT(*) FROM recipients r WHERE r.station_id = s.id) AS recipients"
            " FROM stations s ORDER BY s.id"
        ).fetchall()
    return [
        StationInfo(
            id=str(row["id"]),
            created_at=float(row["created_at"]),
            token_issued_at=float(row["updated_at"]),
            revoked_at=None if row["revoked_at"] is None else float(row["revoked_at"]),
            recipients=int(row["recipients"]),
        )
        for row in rows
    ]


def station_for_token(db: Database, token: str) -> str | None:
    """Returns the station a bearer token belongs to, or ``None`` (unknown or revoked)."""
    with db.connect() as conn:
        row = conn.execute(
            "SELECT id FROM stations WHERE token_sha256 = ? AND revoked_at IS NULL",
            (hash_token(token),),
        ).fetchone()
    return None if row is None else str(row["id"])


def resolve_recipient(db: Database, address: str) -> str | None:
    """Returns the recipient id a mailbox address designates, or ``None`` if none does.

    An address is a recipient id, or the SHA-256 fingerprint of the recipient's certificate
    (64 hex digits, optionally ``sha256:``-prefixed). A registered id wins over a fingerprint.

    Raises:
        AmbiguousRecipient: If the fingerprint belongs to several recipients.
    """
    with db.connect() as conn:
        if is_valid_id(address):
            row = conn.execute("SELECT id FROM recipients WHERE id = ?", (address,)).fetchone()
            if row is not None:
                return str(row["id"])
        match = FINGERPRINT_PATTERN.fullmatch(address)
        if match is None:
            return None
        rows = conn.execute(
            "SELECT id FROM recipients WHERE certificate_sha256 = ? LIMIT 2",
            (match.group(1).lower(),),
        ).fetchall()
    if len(rows) > 1:
        raise AmbiguousRecipient(address)
    return str(rows[0]["id"]) if rows else None


def recipient_station(db: Database, recipient_id: str) -> str | None:
    """Returns the station a recipient belongs to, or ``None`` if the recipient is unknown."""
    with db.connect() as conn:
        row = conn.execute(
            "SELECT station_id FROM recipients WHERE id = ?", (recipient_id,)
        ).fetchone()
    return None if row is None else str(row["station_id"])


def directory(db: Database) -> list[dict[str, Any]]:
    """Returns every recipient, as listed by ``GET /api/v1/directory``."""
    with db.connect() as conn:
        rows = conn.execute(
            "SELECT id, display_name, role, specialty, station_id, certificate_pem,"
            " certificate_sha256, rpps FROM recipients ORDER BY display_name, id"
        ).fetchall()
    return [
        {
            "id": row["id"],
            "display_name": row["display_name"],
            "role": row["role"],
            "specialty": row["specialty"],
            "station": row["station_id"],
            "certificate_pem": row["certificate_pem"],
            "certificate_sha256": row["certificate_sha256"],
            "rpps": row["rpps"],
        }
        for row in rows
    ]
