"""The platform's directory of recipients, as a workstation reads it.

:func:`entry_of` turns one entry of ``GET /api/v1/directory`` into a :class:`DirectoryEntry`
(the answer itself is bounded by :mod:`outbox.platform`). What the platform says is what a
person uses to choose a recipient; the certificates are validated before anything is sealed
to them (``cases.workstation``), and an RPPS number that is not one is dropped here. The
RPPS number an act takes is the one signed into the request or the opinion
(``cases.acts``): :func:`rpps_discrepancy` says when the directory lists another.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from crypto.rpps import rpps_ok

__all__ = ["DirectoryEntry", "entry_of", "listed_rpps", "rpps_discrepancy"]

log = logging.getLogger(__name__)

_MAX_LOGGED = 1_000


@dataclass(frozen=True)
class DirectoryEntry:
    """A recipient listed by the platform.

    ``certificate_sha256`` is the SHA-256 fingerprint (hex) of the recipient's certificate
    (DER), which also addresses the recipient's mailbox on the platform; empty if the platform
    did not give it.

    ``rpps`` is the RPPS number the platform lists for the recipient (11 digits, Luhn key;
    ``None`` when it lists none, or something that is not one). It helps a person choose;
    an act takes the RPPS number signed into the request or the opinion, never this one
    (:func:`rpps_discrepancy`).
    """

    id: str
    display_name: str
    role: str
    specialty: str | None
    station: str
    certificate_pem: str
    certificate_sha256: str = ""
    rpps: str | None = None

    def __post_init__(self) -> None:
        # whatever made it (the platform's answer, the copy kept in the profile), an entry
        # never carries something else than an RPPS number as one
        if self.rpps is not None and not rpps_ok(self.rpps):
            object.__setattr__(self, "rpps", None)


def entry_of(raw: Any) -> DirectoryEntry:
    """One entry of the platform's directory.

    Raises:
        KeyError, TypeError, AttributeError: A field missing, or not an object.
    """
    return DirectoryEntry(
        id=str(raw["id"]),
        display_name=str(raw["display_name"]),
        role=str(raw["role"]),
        specialty=None if raw.get("specialty") is None else str(raw["specialty"]),
        station=str(raw["station"]),
        certificate_pem=str(raw["certificate_pem"]),
        certificate_sha256=str(raw.get("certificate_sha256") or "").lower(),
        rpps=listed_rpps(raw),
    )


def listed_rpps(raw: Mapping[str, Any]) -> str | None:
    """The RPPS number of a directory entry as the platform sent it, if it is one.

    A hostile or broken platform may send anything: what is not a string of 11 digits with
    a right Luhn key is dropped (logged with the entry's id, never the value), not shown.
    """
    value = raw.get("rpps")
    if value is None:
        return None
    if rpps_ok(value):
        return str(value)
    log.warning("directory entry %.64r: its RPPS number is malformed, ignored", raw.get("id"))
    return None


_logged: set[tuple[str, str, str]] = set()


def rpps_discrepancy(signed: str, entry: DirectoryEntry | None) -> str | None:
    """The directory's RPPS number for ``entry`` when it differs from the one ``signed``.

    The signed number (in a request or an opinion, ``cases.acts``) is the act's: it wins
    whatever the directory says. A difference is logged (once) and returned, so that it can
    be shown beside the signed one; ``None`` when they agree or either is missing.
    """
    if entry is None or not signed or entry.rpps is None or entry.rpps == signed:
        return None
    seen = (entry.id, signed, entry.rpps)
    if seen not in _logged:  # once each: a view shows it at every refresh
        if len(_logged) < _MAX_LOGGED:
            _logged.add(seen)
        log.warning(
            "recipient %s: the directory lists another RPPS number than the one signed",
            entry.id,
        )
    return entry.rpps
