"""The distributed platform: stateless replicas over PostgreSQL and S3-compatible storage.

``passavant platform --database postgresql://… --blobs s3://BUCKET?endpoint=…`` (or
``--config FILE``, a TOML file with ``database`` and ``blobs`` keys, and optionally
``piece_size``, ``sweep_interval``, ``orphan_grace``) serves the same tus API and mailboxes as
the embedded mode. Any number of replicas may run behind a load balancer without sticky
sessions: each keeps nothing of its own (see ARCHITECTURE.md, "The distributed platform").

When PostgreSQL or the object store cannot be reached, requests get 503 with ``Retry-After``
(:class:`~refplatform.backend.BackendUnavailable`) and nothing is half written.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import random
import time
import tomllib
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response

from refplatform.backend import BackendUnavailable
from refplatform.web import (
    ApiError,
    TusHeaderMiddleware,
    error_response,
    handle_api_error,
    handle_http_exception,
)

__all__ = [
    "DistributedConfig",
    "add_distributed_options",
    "config_from_args",
    "create_distributed_app",
]

log = logging.getLogger(__name__)

DEFAULT_PIECE_SIZE = 8 * 1024 * 1024
RETRY_AFTER_S = 3


@dataclass(frozen=True)
class DistributedConfig:
    """Where the record and the bytes live, and the tuning of a replica."""

    database: str
    blobs: str
    piece_size: int = DEFAULT_PIECE_SIZE
    sweep_interval: float = 30.0
    orphan_grace: float = 900.0
    finalise_grace: float = 5.0


def add_distributed_options(parser: argparse.ArgumentParser) -> None:
    """Adds ``--database``, ``--blobs``, ``--config`` and the replica's tuning to ``parser``."""
    group = parser.add_argument_group("distributed mode (instead of --data)")
    group.add_argument("--database", metavar="URL", help="postgresql://USER@HOST:PORT/DB")
    group.add_argument("--blobs", metavar="URL", help="s3://BUCKET?endpoint=http://HOST:PORT")
    group.add_argument("--config", type=Path, metavar="TOML", help="database, blobs, tuning")
    group.add_argument(
        "--piece-size", type=int, metavar="BYTES", help="largest object per PATCH piece (8 MiB)"
    )
    group.add_argument(
        "--sweep-interval", type=float, metavar="SECONDS", help="sweeper period (30 s)"
    )
    group.add_argument(
        "--orphan-grace", type=float, metavar="SECONDS", help="age of removable orphans (900 s)"
    )


def config_from_args(args: argparse.Namespace) -> DistributedConfig | None:
    """The distributed configuration the options ask for, or ``None`` for the embedded mode.

    Raises:
        ValueError: If the options are incomplete or contradictory, or the file unreadable.
    """
    values: dict[str, object] = {}
    config_file: Path | None = getattr(args, "config", None)
    if config_file is not None:
        try:
            values.update(tomllib.loads(config_file.read_text(encoding="utf-8")))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ValueError(f"cannot read {config_file}: {exc}") from exc
    for name in ("database", "blobs", "piece_size", "sweep_interval", "orphan_grace"):
        given = getattr(args, name, None)
        if given is not None:
            values[name] = given
    if not values:
        return None
    if getattr(args, "data", None) is not None:
        raise ValueError(
            "--data (embedded) and --database/--blobs (distributed) exclude each other"
        )
    unknown = set(values) - set(DistributedConfig.__dataclass_fields__)
    if unknown:
        raise ValueError(f"unknown setting(s): {', '.join(sorted(unknown))}")
    if not values.get("database") or not values.get("blobs"):
        raise ValueError("the distributed mode needs both --database and --blobs")
    config = DistributedConfig(**values)  # type: ignore[arg-type]
    if not str(config.database).startswith(("postgresql://", "postgres://")):
        raise ValueError("--database must be a postgresql:// URL")
    from refplatform.s3blobs import parse_blobs_url

    parse_blobs_url(config.blobs)
    if config.piece_size < 64 * 1024 or config.sweep_interval <= 0 or config.orphan_grace <= 0:
        raise ValueError("piece_size must be at least 64 KiB; intervals must be positive")
    return config


async def _handle_unavailable(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, BackendUnavailable)
    log.warning("answering 503: %s", exc)
    return error_response(
        request,
        503,
        "unavailable",
        f"The platform's {exc.engine} is unavailable; try again shortly.",
        {"Retry-After": str(RETRY_AFTER_S)},
    )


def create_distributed_app(
    config: DistributedConfig,
    *,
    upload_ttl: float,
    max_size: int,
    idle_timeout: float,
    checkpoint_quota: int,
    clock: Callable[[], float] = time.time,
) -> Starlette:
    """Returns one replica's application; migrates the schema and creates the bucket if needed.

    Raises:
        BackendUnavailable: If PostgreSQL or the object store cannot be reached at start.
        RuntimeError: If the database schema is newer than this server.
    """
    # Imported here: the embedded mode (and the CLI's start) never loads psycopg or boto3.
    from refplatform.dist_api import DistributedApi
    from refplatform.dist_finalise import Finaliser
    from refplatform.dist_tus import DistributedTus
    from refplatform.pgjournal import PgCheckpoints
    from refplatform.pglimits import PgAdmission
    from refplatform.pgrecord import PgRecord
    from refplatform.pguploads import PgUploads
    from refplatform.s3blobs import S3Blobs, parse_blobs_url

    # A writer whose session idles past this is cut off by PostgreSQL (its lock freed): a body
    # stalls at most idle_timeout, and a piece's write takes at most the store's timeout.
    stall_limit = idle_timeout + 30.0
    # psycopg_pool says at INFO level each time a connection is lent or given back: several
    # records per request, built and filtered for nothing. Its warnings still pass.
    logging.getLogger("psycopg.pool").setLevel(logging.WARNING)
    record = PgRecord(config.database, stall_limit=stall_limit)
    blobs = S3Blobs(parse_blobs_url(config.blobs))
    try:
        blobs.ensure_bucket()
    except BackendUnavailable:
        record.close()
        raise
    uploads = PgUploads(record)
    finaliser = Finaliser(
        uploads,
        blobs,
        clock=clock,
        ttl=upload_ttl,
        finalise_grace=config.finalise_grace,
        orphan_grace=max(config.orphan_grace, 2 * stall_limit),
    )
    tus = DistributedTus(
        record,
        uploads,
        blobs,
        finaliser,
        max_size=max_size,
        ttl=upload_ttl,
        idle_timeout=idle_timeout,
        piece_size=config.piece_size,
        clock=clock,
        admission=PgAdmission(record, clock=clock),
    )
    checkpoints = PgCheckpoints(record, clock=clock, quota=checkpoint_quota)
    api = DistributedApi(record, uploads, blobs, finaliser, checkpoints)

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        task = asyncio.create_task(_sweep_forever(finaliser, config.sweep_interval))
        try:
            yield
        finally:
            task.cancel()
            with suppress(asyncio.CancelledError):
                await task
            await run_in_threadpool(record.close)

    log.info("distributed platform: record in PostgreSQL, bytes in %s", config.blobs)
    app = Starlette(
        routes=[*api.routes(), *tus.routes()],
        middleware=[Middleware(TusHeaderMiddleware)],
        exception_handlers={
            ApiError: handle_api_error,
            HTTPException: handle_http_exception,
            BackendUnavailable: _handle_unavailable,
        },
        lifespan=lifespan,
    )
    app.state.begin_shutdown = tus.bodies.begin_shutdown
    app.state.finaliser = finaliser
    app.state.blobs = blobs
    return app


async def _sweep_forever(finaliser: Any, interval: float) -> None:
    # Replicas started together drift apart: each waits a random part of the interval first.
    await asyncio.sleep(random.uniform(0, interval))
    while True:
        try:
            done = await run_in_threadpool(finaliser.sweep)
            if any(done.values()):
                log.info("sweeper: %s", done)
        except BackendUnavailable as exc:
            log.warning("sweeper: %s; will try again", exc)
        except Exception:
            log.exception("sweeper failed; will try again")
        await asyncio.sleep(interval)
