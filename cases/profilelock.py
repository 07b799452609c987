"""Who works a profile: one process at a time opens its queue, inbox and index with their
crash repair.

Opening the queue repairs it (:mod:`outbox.recovery`: a job left ``sending`` goes back to the
queue, a spool file no row names is removed), and so does opening the inbox, and
``index rebuild`` replaces the index file. Each repair is right after a crash and wrong beside
a living process: beside the app, ``passavant outbox run`` would queue again a bundle the app
is sending and delete one it has just spooled, a second app on the same profile would do the
same, and a rebuild would swap the index under the app's feet. So the app
(:class:`app.session.Session`) holds ``<profile>/profile.lock`` while it runs, and the
commands that repair or rebuild take it too, without waiting: whoever comes second is told,
plainly, who holds it. The other commands (listing the queue or the cases, pausing, retrying)
open nothing with its repair and run beside the app.

A second start of the app asks the first to come forward rather than only saying it is open:
it writes a call in ``<profile>/profile.call`` (:func:`call`), which the first window watches
and answers in the same file (:func:`answer`); the second sees the answer
(:func:`answered`) and goes away. The file holds a random token, nothing else.

The lock is the operating system's (``fcntl.flock``): a process killed with ``kill -9``
releases it with its descriptors, so a crash never leaves a profile locked. It is a no-op where
``fcntl`` is missing (Windows: see ``docs/threat-model.md``), like ``outbox.lock``.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
from pathlib import Path

from cases.profileidentity import ProfileError

log = logging.getLogger(__name__)

LOCK_NAME = "profile.lock"
CALL_NAME = "profile.call"  # a second start asks the app holding the lock to come forward
_SMALL = 4096  # what is read of either file: a name, a pid or a token

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]


class ProfileBusy(ProfileError):
    """Another process works this profile: ``holder`` says which (``"app"``, or a
    command's name), as it wrote it when it took the lock."""

    code = "profile_busy"

    def __init__(self, root: Path, holder: str) -> None:
        super().__init__(f"{root} is open in another process ({holder})")
        self.holder = holder


class ProfileHold:
    """The profile's lock, held until :meth:`release` (idempotent)."""

    def __init__(self, root: Path, holder: str) -> None:
        self.root = root
        self.holder = holder
        self._fd: int | None = None
        if fcntl is None:  # pragma: no cover - Windows
            return
        path = root / LOCK_NAME
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise ProfileBusy(root, _who(path)) from None
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        try:  # who holds it, for whoever comes second: a name and a pid, nothing clinical
            os.ftruncate(fd, 0)
            os.pwrite(fd, json.dumps({"holder": holder, "pid": os.getpid()}).encode(), 0)
        except OSError as exc:
            log.warning("cannot say who holds %s: %s", path, exc)

    @property
    def held(self) -> bool:
        return self._fd is not None

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)  # closing the descriptor releases the lock

    def __enter__(self) -> ProfileHold:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.release()


def hold(root: Path, holder: str) -> ProfileHold:
    """Take ``root``'s lock for ``holder`` at once, or raise :class:`ProfileBusy`."""
    return ProfileHold(root, holder)


def _who(path: Path) -> str:
    """What the holder wrote (``"app"`` when unreadable: the app is the usual one)."""
    holder = _read(path).get("holder")
    return holder if isinstance(holder, str) and holder else "app"


# --- a second start calls the first ------------------------------------------------------------
def call_file(root: Path) -> Path:
    """The file the app holding ``root``'s lock watches for calls, created (empty, 0600) if
    missing so that it can be watched."""
    path = root / CALL_NAME
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
    return path


def call(root: Path) -> str:
    """Ask the app holding ``root``'s lock to come forward; the token its answer names."""
    token = secrets.token_hex(8)
    _write(root / CALL_NAME, {"call": token})
    return token


def answer(root: Path) -> bool:
    """The holder's side: whether ``root`` holds a call not yet answered, answering it (its own
    answer, or a file emptied, is no call)."""
    said = _read(root / CALL_NAME)
    token = said.get("call")
    if not isinstance(token, str):
        return False
    _write(root / CALL_NAME, {"answered": token})
    return True


def answered(root: Path, token: str) -> bool:
    """Whether the holder answered the call named ``token``."""
    return _read(root / CALL_NAME).get("answered") == token


def _write(path: Path, said: dict[str, str]) -> None:
    """Rewritten in place (the same file, so that a watch on it holds), readable by its owner
    only."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, json.dumps(said).encode())
    finally:
        os.close(fd)


def _read(path: Path) -> dict[str, object]:
    """The file's JSON object; empty when missing, partly written or not one."""
    try:
        said = json.loads(_head(path) or b"{}")
    except (OSError, ValueError):
        return {}
    return said if isinstance(said, dict) else {}


def _head(path: Path) -> bytes:
    with path.open("rb") as f:
        return f.read(_SMALL)
