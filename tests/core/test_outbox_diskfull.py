"""Disk full while enqueuing: a clear error, and the queue intact.

Two honest ways to run out of room, both real file systems and real writes:

- a 1 MiB tmpfs mounted for the test (needs root: skipped politely outside CI when it cannot
  mount, required under ``CI=true``), which fails with ``ENOSPC``;
- ``RLIMIT_FSIZE`` in a subprocess with ``SIGXFSZ`` ignored, which fails with ``EFBIG`` (runs
  everywhere on POSIX).

Either way: the enqueue fails with ``disk_error`` (the command line says the sentence of
``app.messages.reason``), the jobs queued before are still there, no spool file (whole or
partial) and no row exist for the failed bundle, and reopening the queue finds nothing to
repair.
"""

from __future__ import annotations

import contextlib
import errno
import io
import json
import os
import resource
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.cli import main
from app.messages import reason
from outbox.errors import OutboxError
from outbox.queue import Outbox
from tests.support.platform import REPO_ROOT

FINGERPRINT = "ab" * 32
SMALL = 60_000
BIG = 3 * 1024 * 1024
# A DER CMS header (EnvelopedData), so that the command line takes the file as sealed.
SEALED_HEAD = bytes.fromhex("3083300000" + "06092a864886f70d010703")


def sealed(size: int) -> bytes:
    return SEALED_HEAD + os.urandom(size - len(SEALED_HEAD))


def make_profile(root: Path) -> None:
    """A profile whose cached directory lists the recipient (so enqueue works offline)."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "profile.json").write_text(
        json.dumps({"version": 1, "station_id": "unit", "platform_url": "https://127.0.0.1:9"}),
        "utf-8",
    )
    entry = {"id": FINGERPRINT, "display_name": "Pr Full", "certificate_pem": ""}
    (root / "directory.json").write_text(json.dumps([entry]), "utf-8")
    (root / "station.token").write_text("token-token-token-token", "ascii")


def assert_intact(root: Path, kept: list[str], failed: str) -> None:
    outbox = Outbox(root / "passavant.sqlite", root / "outbox")
    try:
        assert [job.bundle_id for job in outbox.jobs()] == kept
        assert outbox.get(failed) is None, "no row for the failed bundle"
        assert outbox.recovery.orphans_removed == (), "no spool file without a row"
        assert outbox.recovery.missing_spool == ()
    finally:
        outbox.close()
    names = sorted(p.name for p in (root / "outbox").iterdir())
    assert names == sorted(f"{b}.cms" for b in kept), "no partial or temporary spool file"


def assert_disk_error(exc: BaseException) -> None:
    if isinstance(exc, OutboxError):
        assert exc.code == "disk_error"
    else:
        assert isinstance(exc, OSError)
        assert exc.errno in (errno.ENOSPC, errno.EFBIG)


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A 1 MiB tmpfs, unmounted afterwards."""
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    command = ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount_point)]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)
        failure = done.stderr.strip() if done.returncode else ""
    except OSError as exc:
        failure = str(exc)
    if failure or os.geteuid() != 0:
        message = f"cannot mount a tmpfs here ({failure or 'not root'})"
        if os.environ.get("CI") == "true":
            pytest.fail(message + " (CI runs as root and must)")
        pytest.skip(message)
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", str(mount_point)], timeout=30, check=True)


def test_enqueue_on_a_full_tmpfs(tiny_disk: Path, tmp_path: Path) -> None:
    root = tiny_disk / "profile"
    make_profile(root)
    outbox = Outbox(root / "passavant.sqlite", root / "outbox")
    try:
        for name in ("b-1", "b-2", "b-3"):
            outbox.enqueue(name, FINGERPRINT, "Pr Full", "case", sealed(SMALL))
        with pytest.raises((OSError, OutboxError)) as caught:
            outbox.enqueue("b-big", FINGERPRINT, "Pr Full", "case", sealed(BIG))
        assert_disk_error(caught.value)
        assert outbox.get("b-big") is None
        # The queue still works once there is room again.
        outbox.enqueue("b-4", FINGERPRINT, "Pr Full", "case", sealed(SMALL))
    finally:
        outbox.close()
    assert_intact(root, ["b-1", "b-2", "b-3", "b-4"], "b-big")

    big = tmp_path / "big.p7m"
    big.write_bytes(sealed(BIG))
    args = ["--profile", str(root), "outbox", "enqueue", str(big), "--to", FINGERPRINT]
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        assert main([*args, "--bundle-id", "b-big"]) == 1
    assert err.getvalue() == f"passavant: {reason('disk_error')}\n"
    assert_intact(root, ["b-1", "b-2", "b-3", "b-4"], "b-big")


def _limit_file_size() -> None:
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit: EFBIG, no signal
    resource.setrlimit(resource.RLIMIT_FSIZE, (1024 * 1024, 1024 * 1024))


def test_enqueue_past_rlimit_fsize(tmp_path: Path) -> None:
    root = tmp_path / "profile"
    make_profile(root)
    outbox = Outbox(root / "passavant.sqlite", root / "outbox")
    try:
        outbox.enqueue("b-1", FINGERPRINT, "Pr Full", "case", sealed(SMALL))
    finally:
        outbox.close()
    big = tmp_path / "big.p7m"
    big.write_bytes(sealed(BIG))
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "PYTHONDONTWRITEBYTECODE": "1"}
    command = [sys.executable, "-m", "app", "--profile", str(root), "outbox", "enqueue"]
    command += [str(big), "--to", FINGERPRINT, "--bundle-id", "b-big"]
    done = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        cwd=REPO_ROOT,
        preexec_fn=_limit_file_size,
        check=False,
    )
    assert done.returncode == 1, done.stderr
    assert done.stderr == f"passavant: {reason('disk_error')}\n"
    assert_intact(root, ["b-1"], "b-big")
    small = tmp_path / "small.p7m"
    small.write_bytes(sealed(SMALL))
    command[command.index(str(big))] = str(small)
    command[-1] = "b-2"
    done = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        cwd=REPO_ROOT,
        preexec_fn=_limit_file_size,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert_intact(root, ["b-1", "b-2"], "b-big")
