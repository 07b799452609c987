"""HTTP plumbing shared by the platform's routes: errors, bearer authentication, tus headers.

Errors travel as :class:`ApiError` and become a small JSON body
``{"error": "<code>", "detail": "<one short English sentence>"}``; a ``HEAD`` answer, which
cannot have a body, carries the code in ``X-Error-Code``. So every 4xx says why, plainly.
Every response under ``/files`` carries ``Tus-Resumable``, added by
:class:`TusHeaderMiddleware`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from refplatform.accounts import station_for_token
from refplatform.db import Database

__all__ = [
    "TUS_VERSION",
    "ApiError",
    "TusHeaderMiddleware",
    "authenticate",
    "error_response",
    "handle_api_error",
    "handle_http_exception",
]

log = logging.getLogger(__name__)

TUS_VERSION = "1.0.0"
TUS_PREFIX = "/files"

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "too_large",
}


class ApiError(Exception):
    """An error answer: status, machine-readable code, English message, extra headers."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        """Describes the answer.

        Args:
            status: The HTTP status.
            code: A short machine-readable reason, e.g. ``unknown_recipient``.
            message: One English sentence for people reading logs.
            headers: Headers to add to the answer.
        """
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = dict(headers or {})


def error_response(
    request: Request,
    status: int,
    code: str,
    message: str,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """Builds an error answer, with a JSON body unless the method or status forbids one."""
    if request.method == "HEAD" or status in (204, 304):
        return Response(status_code=status, headers={**(headers or {}), "X-Error-Code": code})
    body = {"error": code, "detail": message}
    return JSONResponse(body, status_code=status, headers=dict(headers or {}))


async def handle_api_error(request: Request, exc: Exception) -> Response:
    """Starlette exception handler for :class:`ApiError`."""
    assert isinstance(exc, ApiError)
    return error_response(request, exc.status, exc.code, exc.message, exc.headers)


async def handle_http_exception(request: Request, exc: Exception) -> Response:
    """Starlette exception handler turning routing errors (404, 405…) into JSON errors."""
    assert isinstance(exc, HTTPException)
    code = _HTTP_CODES.get(exc.status_code, "error")
    return error_response(request, exc.status_code, code, str(exc.detail), exc.headers)


async def authenticate(request: Request, db: Database) -> str:
    """Returns the station whose bearer token the request carries.

    Raises:
        ApiError: 401 if the header is missing, malformed or the token unknown.
    """
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    token = token.strip()
    station = None
    if scheme.lower() == "bearer" and token:
        station = await run_in_threadpool(station_for_token, db, token)
    if station is None:
        raise ApiError(
            401,
            "unauthorized",
            "A valid bearer token is required.",
            {"WWW-Authenticate": 'Bearer realm="passavant"'},
        )
    return station


class TusHeaderMiddleware:
    """Adds ``Tus-Resumable: 1.0.0`` to every response under ``/files``, errors included."""

    def __init__(self, app: ASGIApp) -> None:
        """Wraps an ASGI application."""
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Passes the request on, adding the header to the response start."""
        path = str(scope.get("path", ""))
        if scope["type"] != "http" or not (path == TUS_PREFIX or path.startswith(TUS_PREFIX + "/")):
            await self.app(scope, receive, send)
            return

        async def send_with_header(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)["Tus-Resumable"] = TUS_VERSION
            await send(message)

        await self.app(scope, receive, send_with_header)
