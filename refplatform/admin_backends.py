"""What the administration commands (:mod:`refplatform.admin`) work on: the embedded platform
(``--data DIR``, SQLite and files) or the distributed one (``--database URL``, PostgreSQL,
with ``--blobs s3://…`` when bundles must be deleted).

Both expose the same small interface, so that every command means the same on both; the
queries themselves live with each back-end (:mod:`refplatform.accounts`,
:mod:`refplatform.registry`, :mod:`refplatform.quotas` for the embedded one;
:mod:`refplatform.pgrecord`, :mod:`refplatform.pgadmin`, :mod:`refplatform.pglimits` for the
distributed one).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from refplatform import accounts, registry
from refplatform.accounts import StationInfo
from refplatform.db import open_database
from refplatform.quotas import LimitsStore, Quota, Route
from refplatform.registry import PlatformStatus
from refplatform.storage import Layout


class Limits(Protocol):
    def add_route(self, route: Route, now: float) -> bool: ...
    def remove_route(self, route: Route) -> bool: ...
    def routes(self) -> list[Route]: ...
    def set_quota(self, station: str | None, quota: Quota, now: float) -> None: ...
    def quota(self, station: str | None) -> tuple[Quota, Quota]: ...
    def open_uploads(self, station: str, now: float) -> tuple[int, int]: ...


class AdminBackend(Protocol):
    """The platform an administration command acts on."""

    name: str

    def register_station(self, station_id: str) -> str: ...
    def revoke_station(self, station_id: str) -> bool: ...
    def list_stations(self) -> list[StationInfo]: ...
    def register_recipient(
        self,
        *,
        recipient_id: str,
        station_id: str,
        display_name: str,
        role: str,
        specialty: str | None,
        certificate_pem: str,
        rpps: str | None = None,
    ) -> None: ...
    def list_recipients(self, station: str | None) -> list[dict[str, Any]]: ...
    def remove_recipient(self, recipient_id: str, *, force: bool) -> bool: ...
    def limits(self) -> Limits: ...
    def status(self, now: float) -> PlatformStatus: ...
    def close(self) -> None: ...


@dataclass
class Embedded:
    """``--data DIR``: the embedded platform's SQLite database and files."""

    data: Path
    name: str = "embedded"

    def register_station(self, station_id: str) -> str:
        return accounts.register_station(self.data, station_id)

    def revoke_station(self, station_id: str) -> bool:
        return accounts.revoke_station(self.data, station_id)

    def list_stations(self) -> list[StationInfo]:
        return accounts.list_stations(self.data)

    def register_recipient(self, **fields: Any) -> None:
        accounts.register_recipient(self.data, **fields)

    def list_recipients(self, station: str | None) -> list[dict[str, Any]]:
        return registry.list_recipients(open_database(self.data), station)

    def remove_recipient(self, recipient_id: str, *, force: bool) -> bool:
        db, layout = open_database(self.data), Layout(self.data)
        return registry.remove_recipient(db, layout, recipient_id, force=force)

    def limits(self) -> Limits:
        return LimitsStore(open_database(self.data))

    def status(self, now: float) -> PlatformStatus:
        if not Layout(self.data).db_path.exists():
            raise ValueError(f"{self.data}: no platform data here")
        return registry.platform_status(open_database(self.data), Layout(self.data), now)

    def close(self) -> None:
        return None


class Distributed:
    """``--database URL`` (and ``--blobs URL`` to delete bundles): the distributed platform."""

    name = "distributed"

    def __init__(self, database: str, blobs: str | None) -> None:
        from refplatform.pgrecord import PgRecord

        self.record = PgRecord(database, max_connections=2, max_writers=1)
        self.blobs_url = blobs

    def register_station(self, station_id: str) -> str:
        return self.record.register_station(station_id)

    def revoke_station(self, station_id: str) -> bool:
        return self.record.revoke_station(station_id)

    def list_stations(self) -> list[StationInfo]:
        return self.record.list_stations()

    def register_recipient(self, **fields: Any) -> None:
        self.record.register_recipient(**fields)

    def list_recipients(self, station: str | None) -> list[dict[str, Any]]:
        from refplatform import pgadmin

        return pgadmin.list_recipients(self.record, station)

    def remove_recipient(self, recipient_id: str, *, force: bool) -> bool:
        from refplatform import pgadmin
        from refplatform.s3blobs import S3Blobs, parse_blobs_url

        if force and self.blobs_url is None:
            raise ValueError("--force deletes bundles: give --blobs s3://… too")
        blobs = S3Blobs(parse_blobs_url(self.blobs_url)) if self.blobs_url else _NoBlobs()
        return pgadmin.remove_recipient(self.record, blobs, recipient_id, force=force)

    def limits(self) -> Limits:
        from refplatform.pglimits import PgLimitsStore

        return PgLimitsStore(self.record)

    def status(self, now: float) -> PlatformStatus:
        from refplatform import pgadmin

        return pgadmin.platform_status(self.record, now)

    def close(self) -> None:
        self.record.close()


class _NoBlobs:
    """No object store given: a recipient with bundles waiting is refused before any is
    deleted (:class:`refplatform.registry.RecipientBusy`), so nothing here is ever called."""

    def __getattr__(self, name: str) -> Any:
        raise ValueError("--blobs s3://… is needed to delete bundles")


def backend_of(data: Path | None, database: str | None, blobs: str | None) -> AdminBackend:
    """The back-end the options name (exactly one of ``--data`` and ``--database``)."""
    if (data is None) == (database is None):
        raise ValueError("give --data DIR (embedded) or --database URL (distributed)")
    if database is not None:
        return Distributed(database, blobs)
    assert data is not None
    return Embedded(data)
