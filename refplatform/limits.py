"""Connection-level guards of the platform: header timeout, idle timeouts, connection caps.

uvicorn reads request headers with no deadline of its own: a client that opens a socket and
never finishes its headers holds it for ever (a review held 249 of them and blocked every
station). :func:`guarded_protocol` returns a subclass of uvicorn's h11 protocol that adds:

- a **header timeout**: a connection whose request headers are not complete this many seconds
  after it opened (or after its previous answer, on a kept-alive connection) gets
  ``408 Request Timeout`` and is closed; sending a byte now and then does not extend it;
- **idle timeouts** once a request is under way: a body that stops arriving, or an answer the
  client stops reading, for longer than the idle timeout closes the connection (the upload's
  bytes already written are kept, as for any cut);
- a **connection cap**, global and per client address: a connection over either cap is
  answered ``503`` with ``Retry-After`` at once and closed, rather than left waiting.

Over TLS, a connection reaches the protocol only once its handshake is done:
:func:`bound_tls_handshakes` gives the handshake the header timeout too (asyncio's default is
60 s).

Everything runs on the event loop: no lock, no thread. The per-address cap counts the peer
address the socket sees, so behind a load balancer it counts the balancer: set it to 0 there
(the balancer's own limits apply) and keep the global cap.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import Counter
from dataclasses import dataclass
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

__all__ = [
    "DEFAULT_HEADER_TIMEOUT",
    "DEFAULT_MAX_CONNECTIONS",
    "DEFAULT_MAX_PER_ADDRESS",
    "ConnectionGate",
    "ConnectionLimits",
    "bound_tls_handshakes",
    "guarded_protocol",
]

log = logging.getLogger(__name__)

DEFAULT_HEADER_TIMEOUT = 10.0
DEFAULT_MAX_CONNECTIONS = 1024
DEFAULT_MAX_PER_ADDRESS = 64
#: Seconds the answer to a refused connection waits before the socket closes (so the client,
#: which may still be sending its request, reads the 503 rather than a reset).
_REFUSAL_LINGER_S = 0.5
_RETRY_AFTER_S = 5


@dataclass(frozen=True)
class ConnectionLimits:
    """What one platform process accepts from the network.

    Attributes:
        header_timeout: Seconds a connection has to deliver complete request headers.
        idle_timeout: Seconds a request may go without a byte of its body arriving, or its
            answer without being read by the client, before the connection is closed.
        max_connections: Open connections at most (all clients together).
        max_per_address: Open connections at most from one client address (0: no such cap).
    """

    header_timeout: float = DEFAULT_HEADER_TIMEOUT
    idle_timeout: float = 130.0
    max_connections: int = DEFAULT_MAX_CONNECTIONS
    max_per_address: int = DEFAULT_MAX_PER_ADDRESS

    def __post_init__(self) -> None:
        if self.header_timeout <= 0 or self.idle_timeout <= 0:
            raise ValueError("the header and idle timeouts must be positive")
        if self.max_connections < 1 or self.max_per_address < 0:
            raise ValueError("max_connections must be at least 1, max_per_address at least 0")


class ConnectionGate:
    """Counts open connections, globally and per address; used on the event loop only."""

    def __init__(self, limits: ConnectionLimits) -> None:
        """Binds the caps."""
        self.limits = limits
        self.total = 0
        self.by_address: Counter[str] = Counter()
        #: Connections refused so far (for the logs and the tests).
        self.refused = 0
        #: Connections closed for not sending their headers in time.
        self.timed_out = 0

    def admit(self, address: str) -> str | None:
        """Counts a new connection in; returns why it is refused instead (nothing counted)."""
        if self.total >= self.limits.max_connections:
            self.refused += 1
            return "the platform has too many open connections"
        cap = self.limits.max_per_address
        if cap and self.by_address[address] >= cap:
            self.refused += 1
            return "too many open connections from this address"
        self.total += 1
        self.by_address[address] += 1
        return None

    def release(self, address: str) -> None:
        """Counts an admitted connection out."""
        self.total -= 1
        self.by_address[address] -= 1
        if self.by_address[address] <= 0:
            del self.by_address[address]


def _raw_answer(status: int, reason: str, code: str, detail: str, extra: str = "") -> bytes:
    body = json.dumps({"error": code, "detail": detail}).encode("utf-8")
    head = (
        f"HTTP/1.1 {status} {reason}\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n"
        f"{extra}"
        "Connection: close\r\n\r\n"
    )
    return head.encode("ascii") + body


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with deadlines and caps; see the module's documentation.

    Subclasses made by :func:`guarded_protocol` set :attr:`gate`.
    """

    gate: ConnectionGate

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._address = ""
        self._admitted = False
        self._refused = False
        self._header_timer: asyncio.TimerHandle | None = None
        self._read_timer: asyncio.TimerHandle | None = None
        self._write_timer: asyncio.TimerHandle | None = None

    # --- connection lifetime -------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """Admits the connection under the caps, or answers 503 and closes it."""
        super().connection_made(transport)
        self._address = str(self.client[0]) if self.client else "?"
        why = self.gate.admit(self._address)
        if why is not None:
            self._refuse(why)
            return
        self._admitted = True
        self._header_timer = self.loop.call_later(
            self.gate.limits.header_timeout, self._headers_too_slow
        )

    def connection_lost(self, exc: Exception | None) -> None:
        """Counts the connection out and cancels its timers."""
        self._cancel_timers()
        if self._admitted:
            self._admitted = False
            self.gate.release(self._address)
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        """Passes bytes to h11 (dropped on a refused connection) and re-arms the timers."""
        if self._refused:
            return
        super().data_received(data)
        self._after_io()

    def on_response_complete(self) -> None:
        """After an answer, the next request's headers get a fresh deadline."""
        super().on_response_complete()
        if not self.transport.is_closing() and self.conn.their_state is h11.IDLE:
            self._cancel(self._header_timer)
            self._header_timer = self.loop.call_later(
                self.gate.limits.header_timeout, self._headers_too_slow
            )

    def pause_writing(self) -> None:
        """The client stopped reading: close the connection if it does not resume in time."""
        super().pause_writing()
        if self._write_timer is None:
            self._write_timer = self.loop.call_later(
                self.gate.limits.idle_timeout, self._idle, "stopped reading the answer"
            )

    def resume_writing(self) -> None:
        """The client reads again."""
        super().resume_writing()
        self._cancel(self._write_timer)
        self._write_timer = None

    # --- timers ----------------------------------------------------------------------------

    def _after_io(self) -> None:
        state = self.conn.their_state
        if state is not h11.IDLE:
            self._cancel(self._header_timer)
            self._header_timer = None
        self._cancel(self._read_timer)
        self._read_timer = None
        if state is h11.SEND_BODY and not self.transport.is_closing():
            self._read_timer = self.loop.call_later(
                self.gate.limits.idle_timeout, self._idle, "stopped sending the body"
            )

    def _headers_too_slow(self) -> None:
        self._header_timer = None
        if self.transport.is_closing() or self.conn.their_state is not h11.IDLE:
            return
        self.gate.timed_out += 1
        log.warning(
            "closed a connection from %s: no complete request headers within %g s",
            self._address,
            self.gate.limits.header_timeout,
        )
        if self.conn.our_state is h11.IDLE:
            self.transport.write(
                _raw_answer(
                    408,
                    "Request Timeout",
                    "header_timeout",
                    "The request headers did not arrive in time.",
                )
            )
        self.transport.close()

    def _idle(self, what: str) -> None:
        if self.transport.is_closing():
            return
        if what.endswith("body") and self.flow.read_paused:
            # We stopped reading (the application is busy), not the client: wait again.
            self._read_timer = self.loop.call_later(self.gate.limits.idle_timeout, self._idle, what)
            return
        log.warning("closed a connection from %s: the client %s", self._address, what)
        self.transport.abort()

    def _refuse(self, why: str) -> None:
        self._refused = True
        log.warning("refused a connection from %s: %s", self._address, why)
        self.transport.write(
            _raw_answer(
                503,
                "Service Unavailable",
                "too_many_connections",
                f"The platform refused the connection: {why}; try again shortly.",
                f"Retry-After: {_RETRY_AFTER_S}\r\n",
            )
        )
        self.loop.call_later(_REFUSAL_LINGER_S, self.transport.close)

    @staticmethod
    def _cancel(timer: asyncio.TimerHandle | None) -> None:
        if timer is not None:
            timer.cancel()

    def _cancel_timers(self) -> None:
        for timer in (self._header_timer, self._read_timer, self._write_timer):
            self._cancel(timer)
        self._header_timer = self._read_timer = self._write_timer = None

    def shutdown(self) -> None:
        """The server stops: a refused connection has nothing to finish."""
        if self._refused:
            self.transport.close()
            return
        super().shutdown()


def guarded_protocol(limits: ConnectionLimits) -> type[GuardedH11Protocol]:
    """Returns the protocol class to give uvicorn (``Config(http=...)``), with its own gate."""
    return type("PlatformH11Protocol", (GuardedH11Protocol,), {"gate": ConnectionGate(limits)})


def bound_tls_handshakes(loop: asyncio.AbstractEventLoop, seconds: float) -> None:
    """Makes the servers ``loop`` creates from now on give up a TLS handshake after ``seconds``.

    A connection is handed to the protocol above (and so to the header timeout and the caps)
    only once its handshake is done; asyncio waits 60 s for one by default, and uvicorn does
    not say otherwise. Call in the running loop before the server starts.
    """
    create_server = loop.create_server

    async def with_handshake_limit(*args: Any, **kwargs: Any) -> asyncio.Server:
        if kwargs.get("ssl") is not None:
            kwargs.setdefault("ssl_handshake_timeout", seconds)
        return await create_server(*args, **kwargs)

    loop.create_server = with_handshake_limit  # type: ignore[method-assign]
