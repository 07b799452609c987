"""Outbox benchmark: wire overhead over a cut link, delivery time over a slow link, status listing.

The reference platform runs on 127.0.0.1 over TLS; the clients talk to it through the product
fault proxy (:mod:`refplatform.faultproxy`), whose byte counters measure the wire.

* ``wire``: one random bundle (16 MiB, 4 MiB with ``--quick``) while the proxy cuts the
  connection after every 1 MiB relayed upstream. Bytes relayed both ways (TLS, headers and
  answers included) ÷ bundle bytes; goal ≤ 1.05. Ours is the real :class:`outbox.sender.Sender`
  on a real :class:`outbox.queue.Outbox`; the peer is ``tuspy`` 1.1 (1 MiB chunks, retries on,
  no delay) on the same link.
* ``4 Mbit/s``: one random bundle of 25 MB (4 MB with ``--quick``) through a 4 Mbit/s token
  bucket in each direction. Time from the start of sending to the platform's acceptance,
  ÷ the link's own time (size / bandwidth); goal ≤ 1.15. Same two clients.
* ``status``: 10,000 jobs in a queue database; the median time of listing them (11 runs,
  5 with ``--quick``): ``passavant outbox status``'s own read (:class:`QueueView.rows
  <app.commands.outbox.QueueView>`), ``Outbox.snapshots()`` and ``Outbox.jobs()`` where the
  queue has them, against a naive ``SELECT *`` with ``sqlite3.Row`` and a full ``Job`` built
  from each row (the walking skeleton's way), and a naive one-query-per-job listing. Goal
  < 50 ms.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import io
import os
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from bench import MIB, fmt_ratio, median_seconds, parse_quick, print_table
from outbox.jobs import Job, JobState
from outbox.platform import PlatformClient, PlatformConfig
from outbox.queue import Outbox
from outbox.sender import Sender
from refplatform import accounts
from refplatform.faultproxy import FaultProxy
from tests.support.platform import DUMMY_CERT_PEM, RunningPlatform, start_platform

RECIPIENT = "bench-derm"
CUT_EVERY = MIB
BANDWIDTH = 4_000_000 / 8  # 4 Mbit/s in bytes per second
STATUS_JOBS = 10_000
DELIVERY_LIMIT_S = 600.0


def _setup(platform: RunningPlatform) -> str:
    token = accounts.register_station(platform.data_dir, "bench-unit")
    accounts.register_station(platform.data_dir, "bench-hospital")
    accounts.register_recipient(
        platform.data_dir,
        recipient_id=RECIPIENT,
        station_id="bench-hospital",
        display_name="Dr Bench",
        role="specialist",
        specialty="dermatology",
        certificate_pem=DUMMY_CERT_PEM,
    )
    return token


def send_ours(config: PlatformConfig, payload: bytes, bundle_id: str, folder: Path) -> float:
    """Queues and sends one bundle with the outbox's sender; returns the seconds it took."""
    outbox = Outbox(folder / f"{bundle_id}.sqlite", folder / f"spool-{bundle_id}")
    client = PlatformClient(config)
    sender = Sender(outbox, client, retry_delay=lambda attempt: 0.05)
    try:
        outbox.enqueue(bundle_id, RECIPIENT, "Dr Bench", "case", payload)
        started = time.perf_counter()
        sender.start()
        while time.perf_counter() - started < DELIVERY_LIMIT_S:
            job = outbox.get(bundle_id)
            assert job is not None
            if job.state in (JobState.DELIVERED, "acknowledged"):
                return time.perf_counter() - started
            if job.state is JobState.FAILED:
                raise RuntimeError(f"the sender gave up: {job.last_error_code}")
            time.sleep(0.02)
    finally:
        sender.stop()
        client.close()
        outbox.close()
    raise RuntimeError(f"not delivered in {DELIVERY_LIMIT_S:.0f} s")


@contextlib.contextmanager
def _ca_bundle(ca_file: Path | None) -> Iterator[None]:
    """tuspy only knows ``verify=True``: ``requests`` then reads ``REQUESTS_CA_BUNDLE``."""
    previous = os.environ.get("REQUESTS_CA_BUNDLE")
    if ca_file is not None:
        os.environ["REQUESTS_CA_BUNDLE"] = str(ca_file)
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("REQUESTS_CA_BUNDLE", None)
        else:
            os.environ["REQUESTS_CA_BUNDLE"] = previous


def send_tuspy(config: PlatformConfig, payload: bytes, bundle_id: str) -> float:
    """Sends one bundle with tuspy (1 MiB chunks, retries on); returns the seconds it took."""
    from tusclient.client import TusClient

    metadata = {
        "bundle_id": bundle_id,
        "recipient": RECIPIENT,
        "sha256": hashlib.sha256(payload).hexdigest(),
        "kind": "case",
    }
    client = TusClient(config.url + "/files/", headers={"Authorization": f"Bearer {config.token}"})
    with _ca_bundle(config.ca_file):
        started = time.perf_counter()
        uploader = client.uploader(
            file_stream=io.BytesIO(payload),
            chunk_size=MIB,
            metadata=metadata,
            retries=1000,
            retry_delay=0,
        )
        uploader.upload()
        return time.perf_counter() - started


def _accepted(platform: RunningPlatform, token: str, bundle_ids: Sequence[str]) -> None:
    with PlatformClient(PlatformConfig(platform.url, token, platform.ca_file)) as client:
        for bundle_id in bundle_ids:
            record = client.delivery(bundle_id)
            if record is None or record.get("state") != "accepted":
                raise RuntimeError(f"{bundle_id} was not accepted by the platform")


def _network_rows(quick: bool, folder: Path) -> list[list[str]]:
    wire_size = (4 if quick else 16) * MIB
    slow_size = 4_000_000 if quick else 25_000_000
    rows: list[list[str]] = []
    platform = start_platform(folder, tls=True)
    try:
        token = _setup(platform)
        with FaultProxy(("127.0.0.1", platform.port), seed=1) as proxy:
            config = PlatformConfig(proxy.url("https"), token, platform.ca_file, read_timeout=10)
            payload = os.urandom(wire_size)
            wires: dict[str, float] = {}
            for name, send in (
                ("ours", lambda: send_ours(config, payload, "wire-ours", folder)),
                ("tuspy", lambda: send_tuspy(config, payload, "wire-tuspy")),
            ):
                proxy.clear_faults()
                proxy.set_cut_every(CUT_EVERY)
                proxy.reset_counters()
                send()
                counters = proxy.counters()
                wires[name] = counters.wire / wire_size
                rows.append(
                    [
                        f"wire {wire_size // MIB} MiB, cut/1 MiB",
                        name,
                        f"{counters.wire / MIB:6.2f} MiB on the wire",
                        f"{wires[name]:.3f} x bundle",
                        f"{counters.cuts} cuts",
                    ]
                )
            rows.append(
                ["", "ratio", "tuspy / ours", f"{fmt_ratio(wires['tuspy'], wires['ours'])}", ""]
            )

            payload = os.urandom(slow_size)
            link = slow_size / BANDWIDTH
            times: dict[str, float] = {}
            for name, send in (
                ("ours", lambda: send_ours(config, payload, "slow-ours", folder)),
                ("tuspy", lambda: send_tuspy(config, payload, "slow-tuspy")),
            ):
                proxy.clear_faults()
                proxy.set_bandwidth(BANDWIDTH)
                times[name] = send()
                rows.append(
                    [
                        f"{slow_size / 1e6:.0f} MB at 4 Mbit/s",
                        name,
                        f"{times[name]:6.1f} s (link {link:.1f} s)",
                        f"{times[name] / link:.3f} x link",
                        "",
                    ]
                )
            rows.append(
                ["", "ratio", "tuspy / ours", f"{fmt_ratio(times['tuspy'], times['ours'])}", ""]
            )
        bundle_ids = ["wire-ours", "wire-tuspy", "slow-ours", "slow-tuspy"]
        _accepted(platform, token, bundle_ids)
    finally:
        platform.stop()
    return rows


def make_queue(folder: Path, count: int) -> Path:
    """A queue database with ``count`` jobs (and their small spool files)."""
    db_path, spool_dir = folder / "status.sqlite", folder / "status-spool"
    outbox = Outbox(db_path, spool_dir)
    outbox.enqueue("status-00000", RECIPIENT, "Dr Bench", "case", b"x" * 1000)
    outbox.close()
    conn = sqlite3.connect(db_path)
    try:
        columns = [row[1] for row in conn.execute("PRAGMA table_info(jobs)")]
        picked = ", ".join("?" if c in ("bundle_id", "created_at") else c for c in columns)
        insert = (
            f"INSERT INTO jobs ({', '.join(columns)}) SELECT {picked} FROM jobs"
            " WHERE bundle_id = 'status-00000'"
        )
        varying = [c for c in columns if c in ("bundle_id", "created_at")]
        start = time.time()
        with conn:
            for n in range(1, count):
                conn.execute(
                    insert,
                    [f"status-{n:05d}" if c == "bundle_id" else start + n / 1000 for c in varying],
                )
    finally:
        conn.close()
    for n in range(1, count):
        (spool_dir / f"status-{n:05d}.cms").write_bytes(b"x" * 1000)
    return db_path


def naive_select_all(db_path: Path) -> list[Job]:
    """The peer: ``SELECT *`` with ``sqlite3.Row`` and a full ``Job`` built per row."""
    names = [f.name for f in dataclasses.fields(Job)]
    conn = sqlite3.connect(db_path)
    conn.row_factory = sqlite3.Row
    try:
        rows = conn.execute("SELECT * FROM jobs ORDER BY created_at").fetchall()
        present = [name for name in names if rows and name in rows[0].keys()]  # noqa: SIM118
        jobs = []
        for row in rows:
            values = {name: row[name] for name in present}
            values["state"] = JobState(values["state"])
            jobs.append(Job(**values))
        return jobs
    finally:
        conn.close()


def _status_rows(quick: bool, folder: Path) -> list[list[str]]:
    from app.commands.outbox import QueueView

    db_path = make_queue(folder, STATUS_JOBS)
    repeat = 5 if quick else 11
    outbox = Outbox(db_path, folder / "status-spool")
    try:
        measured: list[tuple[str, Callable[[], object]]] = [
            ("ours: outbox status (QueueView.rows)", QueueView(db_path).rows),
        ]
        if hasattr(outbox, "snapshots"):
            measured.append(("Outbox.snapshots()", outbox.snapshots))
        measured.append(("Outbox.jobs()", outbox.jobs))
        measured.append(("naive: SELECT * + Job per row", lambda: naive_select_all(db_path)))

        def one_by_one() -> list[object]:
            return [outbox.get(job["bundle_id"]) for job in QueueView(db_path).rows()]

        measured.append(("naive: one query per job", one_by_one))
        counts = {name: len(action()) for name, action in measured}  # type: ignore[arg-type]
        if set(counts.values()) != {STATUS_JOBS}:
            raise RuntimeError(f"listings disagree: {counts}")
        times = {name: median_seconds(action, repeat) for name, action in measured}
    finally:
        outbox.close()
    peer = times["naive: SELECT * + Job per row"]
    return [
        [
            f"status {STATUS_JOBS} jobs",
            name,
            f"{seconds * 1000:7.1f} ms",
            f"ratio to naive {fmt_ratio(seconds, peer)}",
            "goal < 50 ms" if name.startswith("ours") else "",
        ]
        for name, seconds in times.items()
    ]


def run(quick: bool) -> None:
    """Runs the benchmark and prints its table."""
    with tempfile.TemporaryDirectory(prefix="passavant-bench-outbox-") as tmp:
        folder = Path(tmp)
        rows = _network_rows(quick, folder / "net")
        rows += _status_rows(quick, folder)
    size = "quick: 4 MiB / 4 MB bundles" if quick else "16 MiB / 25 MB bundles"
    print_table(f"outbox: TLS through the fault proxy, {size}", rows)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m bench.outbox [--quick]``."""
    run(parse_quick(argv, "Outbox: wire over a cut link, time over a slow link, status."))
    return 0


if __name__ == "__main__":
    sys.exit(main())
