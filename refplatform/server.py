"""Builds the platform's ASGI application (Starlette) over a data directory.

:func:`create_app` opens (or creates) the database, completes whatever a crash interrupted,
and returns the application. While the application runs, a background task expires stale
uploads periodically; expiry is also applied lazily whenever an upload is accessed.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress
from pathlib import Path

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware

from refplatform.api import ApiEndpoints
from refplatform.db import open_database
from refplatform.journal import DEFAULT_QUOTA, Checkpoints
from refplatform.mailbox import Mailboxes
from refplatform.quotas import DEFAULT_RESERVE, Admission
from refplatform.storage import Layout
from refplatform.tus import TusEndpoints
from refplatform.uploads import UploadStore
from refplatform.web import ApiError, TusHeaderMiddleware, handle_api_error, handle_http_exception

__all__ = ["create_app", "sweep_interval"]

log = logging.getLogger(__name__)

DEFAULT_TTL = 24 * 3600.0
DEFAULT_MAX_SIZE = 2 * 1024**3
DEFAULT_IDLE_TIMEOUT = 120.0


def sweep_interval(upload_ttl: float) -> float:
    """Seconds between two expiry sweeps: a quarter of the TTL, within [0.25 s, 5 min]."""
    return min(max(upload_ttl / 4, 0.25), 300.0)


def create_app(
    data_dir: Path,
    *,
    upload_ttl: float = DEFAULT_TTL,
    max_size: int = DEFAULT_MAX_SIZE,
    clock: Callable[[], float] = time.time,
    idle_timeout: float = DEFAULT_IDLE_TIMEOUT,
    checkpoint_quota: int = DEFAULT_QUOTA,
    reserve_free: int = DEFAULT_RESERVE,
) -> Starlette:
    """Returns the platform application serving ``data_dir``.

    Args:
        data_dir: The data directory (created if missing).
        upload_ttl: Seconds an unfinished upload lives after its creation.
        max_size: Largest accepted upload, in bytes.
        clock: Returns the current POSIX time; tests inject a fake one.
        idle_timeout: Seconds a ``PATCH`` body may stall before the server stops waiting.
        checkpoint_quota: Audit journal checkpoints kept per station at most.
        reserve_free: Bytes the data folder keeps free: an upload that would eat into them
            is refused (507) until space comes back (0: no reserve).

    Raises:
        ValueError: If a limit is not positive.
        RuntimeError: If the database was written by a newer server.
    """
    if upload_ttl <= 0 or max_size <= 0 or idle_timeout <= 0 or checkpoint_quota <= 0:
        raise ValueError("upload_ttl, max_size, idle_timeout and checkpoint_quota must be positive")
    layout = Layout(data_dir)
    db = open_database(data_dir)
    uploads = UploadStore(db, layout, ttl=upload_ttl, clock=clock)
    mailboxes = Mailboxes(db, layout, clock=clock)
    mailboxes.recover()
    uploads.sweep()
    admission = Admission(db, data_dir, clock=clock, reserve=reserve_free)
    tus = TusEndpoints(
        db, uploads, mailboxes, max_size=max_size, idle_timeout=idle_timeout, admission=admission
    )
    checkpoints = Checkpoints(db, clock=clock, quota=checkpoint_quota)
    api = ApiEndpoints(db, mailboxes, checkpoints)

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        task = asyncio.create_task(_sweep_forever(uploads, sweep_interval(upload_ttl)))
        try:
            yield
        finally:
            task.cancel()
            with suppress(asyncio.CancelledError):
                await task

    log.info("platform data in %s", data_dir)
    app = Starlette(
        routes=[*api.routes(), *tus.routes()],
        middleware=[Middleware(TusHeaderMiddleware)],
        exception_handlers={ApiError: handle_api_error, HTTPException: handle_http_exception},
        lifespan=lifespan,
    )
    # Called by the runner when it starts stopping, before it waits for open requests.
    app.state.begin_shutdown = tus.bodies.begin_shutdown
    return app


async def _sweep_forever(uploads: UploadStore, interval: float) -> None:
    while True:
        await asyncio.sleep(interval)
        try:
            expired = await run_in_threadpool(uploads.sweep)
        except Exception:
            log.exception("upload sweep failed; will try again")
            continue
        if expired:
            log.info("%d stale upload(s) expired", expired)
