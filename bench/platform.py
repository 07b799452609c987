"""The platform: one embedded node against the distributed mode, and the peer that loses bytes.

``python -m bench.platform [--quick]`` starts, on 127.0.0.1, the embedded platform (SQLite and
files, one process) and the distributed one (PostgreSQL, SeaweedFS as the S3 server, two
replicas behind HAProxy without stickiness; the engines of ``tests/distributed``), then
measures on both, in the same run:

- throughput with 4 and 16 clients uploading at once (1 MiB PATCHes), and the ratio
  distributed / single (goal: at least 0.5);
- PATCH latency p50/p95/p99 (all PATCHes of the 4- and 16-client runs, the finalising ones
  excepted);
- finalisation: the time of the last 64 KiB PATCH of a 5, 25 and 50 MB bundle (the platform
  then hashes the whole bundle and records its delivery);
- distributed only: the seconds from a replica's ``kill -9`` mid-body to the upload resumed
  through the other replica, and how many attempts the client needed; the S3 requests per
  bundle (pieces written, read back to hash, deleted at acknowledgement: counted from the
  record);
- the peak memory (VmHWM) of each server process;
- the CPU each part spends per MiB uploaded during the throughput runs (the server; the
  replicas, SeaweedFS, PostgreSQL and HAProxy): on a 2-core machine the sum bounds the rate;
- bundles lost or duplicated: every mailbox is listed and compared with what was sent.

Both platforms run at once (an idle one costs next to nothing) and the throughput runs
alternate between them, five times over (once with ``--quick``; the first platform changes
each time): the machine's other load then weighs on both alike, and each figure is the median
of its repetitions. Both first take one upload per client of 4 clients, not counted (a fresh
object store allocates its volumes on its first writes).

With ``npm`` on the machine, the ``@tus/server`` pair (``@tus/server`` 2.4.5 and
``@tus/s3-store`` on the same SeaweedFS bucket, installed into a temporary folder) goes
through the concurrent-PATCH test, and so does ours: two PATCHes at the same offset, one to
each instance (``--no-peer`` skips the peer).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import requests

from bench import MIB, parse_quick
from bench.platform_report import Figures, report
from bench.procstat import cpu_seconds, peak_mib, postgres_pids
from bench.tus_peer import TusPeer, concurrent_patch
from refplatform import accounts
from refplatform.pgrecord import PgRecord
from tests.distributed.engines import (
    S3_ACCESS_KEY,
    S3_SECRET_KEY,
    Haproxy,
    Postgres,
    Replica,
    Seaweed,
    find_engine,
    wait_until,
)
from tests.support.platform import start_platform

__all__ = ["main", "run"]

PEM = "-----BEGIN CERTIFICATE-----\nMIIBdGVzdA==\n-----END CERTIFICATE-----\n"
CHUNK = MIB
RECIPIENT = "bench-derm"
#: Throughput repetitions of a full run: each lasts about a second, and on a machine shared
#: with other work one repetition's pair of rates can be off by half; the median of five holds.
REPETITIONS = 5


@dataclass
class Target:
    """One platform under test: its address, its accounts, its server processes."""

    name: str
    url: str
    token: str
    reader_token: str
    pids: list[int]
    sent: dict[str, str] = field(default_factory=dict)  # bundle id -> sha256
    #: The processes doing the work, by part (read at each CPU count: replicas restart).
    parts: Callable[[], dict[str, list[int]]] = dict


def _headers(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "Tus-Resumable": "1.0.0"}


def _create(session: requests.Session, target: Target, bundle_id: str, payload: bytes) -> str:
    digest = hashlib.sha256(payload).hexdigest()
    fields = {"bundle_id": bundle_id, "recipient": RECIPIENT, "sha256": digest}
    meta = ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in fields.items())
    answer = session.post(
        target.url + "/files/",
        headers={
            **_headers(target.token),
            "Upload-Length": str(len(payload)),
            "Upload-Metadata": meta,
        },
        timeout=30,
    )
    answer.raise_for_status()
    target.sent[bundle_id] = digest
    return target.url + "/files/" + answer.headers["Location"].rsplit("/", 1)[1]


def _patch(
    session: requests.Session, target: Target, url: str, offset: int, data: bytes | Iterator[bytes]
) -> int:
    headers = {
        **_headers(target.token),
        "Upload-Offset": str(offset),
        "Content-Type": "application/offset+octet-stream",
    }
    answer = session.patch(url, headers=headers, data=data, timeout=120)
    if answer.status_code != 204:
        raise RuntimeError(f"{target.name}: PATCH answered {answer.status_code}: {answer.text}")
    return int(answer.headers["Upload-Offset"])


def _upload(target: Target, bundle_id: str, payload: bytes, latencies: list[float]) -> None:
    with requests.Session() as session:
        url = _create(session, target, bundle_id, payload)
        offset = 0
        while offset < len(payload):
            started = time.perf_counter()
            offset = _patch(session, target, url, offset, payload[offset : offset + CHUNK])
            if offset < len(payload):
                latencies.append(time.perf_counter() - started)


def _throughput(
    target: Target, clients: int, bundles: int, size: int, tag: str
) -> tuple[float, list[float]]:
    """MB/s of ``clients`` uploading ``bundles`` bundles each at once; PATCH latencies."""
    payload = os.urandom(size)
    latencies: list[float] = []
    errors: list[BaseException] = []
    start = threading.Barrier(clients + 1)

    def client(n: int) -> None:
        start.wait()
        try:
            for b in range(bundles):
                _upload(target, f"{tag}-{n}-{b}", payload, latencies)
        except BaseException as exc:  # reported after the run  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    for thread in threads:
        thread.start()
    start.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join(600)
    elapsed = time.perf_counter() - began
    if errors:
        raise RuntimeError(f"{target.name}: {errors[0]}")
    return clients * bundles * size / elapsed / 1e6, latencies


def _finalisation(target: Target, size: int, tag: str) -> float:
    """Seconds of the last 64 KiB PATCH of a ``size``-byte bundle (the finalising one)."""
    payload = os.urandom(size)
    tail = 64 * 1024
    with requests.Session() as session:
        url = _create(session, target, tag, payload)
        offset = 0
        while offset < size - tail:
            offset = _patch(session, target, url, offset, payload[offset : size - tail][: 8 * MIB])
        started = time.perf_counter()
        _patch(session, target, url, offset, payload[offset:])
        return time.perf_counter() - started


def _lost_or_duplicated(target: Target) -> tuple[int, int]:
    """Bundles sent but not listed (or listed with another SHA-256), and listed twice."""
    listed: list[tuple[str, str]] = []
    after = ""
    for _ in range(10_000):  # pages of 200: far more than any run sends
        answer = requests.get(
            f"{target.url}/api/v1/mailboxes/{RECIPIENT}/items{after}",
            headers=_headers(target.reader_token),
            timeout=60,
        )
        answer.raise_for_status()
        page = answer.json()
        listed += [(item["bundle_id"], item["sha256"]) for item in page["items"]]
        if page.get("next") is None:
            break
        after = f"?after={page['next']}"
    ids = [bundle_id for bundle_id, _ in listed]
    duplicated = len(ids) - len(set(ids))
    found = dict(listed)
    lost = sum(1 for bundle_id, digest in target.sent.items() if found.get(bundle_id) != digest)
    return lost, duplicated


def _cpu_by_part(target: Target) -> dict[str, float]:
    return {part: cpu_seconds(pids) for part, pids in target.parts().items()}


def _s3_requests_per_bundle(record: PgRecord) -> float:
    """From the record: each piece written once, read back at finalisation only where no hash
    state was saved (the column exists from schema 4 on), one delete at acknowledgement."""
    with record.connect() as conn:
        saved = conn.execute(
            "SELECT 1 FROM information_schema.columns"
            " WHERE table_name = 'uploads' AND column_name = 'sha256_state'"
        ).fetchone()
        unsaved = "u.sha256_state IS NULL" if saved else "TRUE"
        row = conn.execute(
            "SELECT COUNT(*) AS pieces, COUNT(DISTINCT p.blob_id) AS bundles,"
            f" COUNT(*) FILTER (WHERE {unsaved}) AS read_back"
            " FROM pieces p JOIN uploads u ON u.id = p.blob_id"
        ).fetchone()
    assert row is not None
    return float((row["pieces"] + row["read_back"]) / max(1, row["bundles"]) + 1)


def _replica_death(target: Target, replicas: list[Replica], size: int) -> tuple[float, int]:
    """Seconds from a replica's death mid-body to the upload resumed, and client attempts."""
    payload = os.urandom(size)
    session = requests.Session()
    url = _create(session, target, "bench-death", payload)
    direct = replicas[0].url + "/files/" + url.rsplit("/", 1)[1]

    def slow() -> Iterator[bytes]:
        for start in range(0, size, 64 * 1024):
            yield payload[start : start + 64 * 1024]
            time.sleep(0.01)

    def send() -> None:
        with contextlib.suppress(requests.RequestException, RuntimeError):  # cut by the kill
            _patch(requests.Session(), target, direct, 0, slow())

    writer = threading.Thread(target=send)
    writer.start()

    def committed() -> int:
        answer = session.head(url, headers=_headers(target.token), timeout=10)
        return int(answer.headers.get("Upload-Offset", "0"))

    wait_until(lambda: committed() >= MIB, 60, "1 MiB committed")
    replicas[0].kill()
    killed = time.perf_counter()
    writer.join(30)
    attempts = 0
    while True:
        attempts += 1
        try:
            offset = committed()
            _patch(session, target, url, offset, payload[offset:])
            break
        except (requests.RequestException, RuntimeError, ValueError):
            if attempts >= 20:
                raise
            time.sleep(0.2)
    return time.perf_counter() - killed, attempts


def _register_embedded(data_dir: Path) -> tuple[str, str]:
    token = accounts.register_station(data_dir, "bench-unit")
    reader = accounts.register_station(data_dir, "bench-hospital")
    accounts.register_recipient(
        data_dir,
        recipient_id=RECIPIENT,
        station_id="bench-hospital",
        display_name="Dr Bench",
        role="specialist",
        specialty=None,
        certificate_pem=PEM,
    )
    return token, reader


def _register_distributed(record: PgRecord) -> tuple[str, str]:
    token = record.register_station("bench-unit")
    reader = record.register_station("bench-hospital")
    record.register_recipient(
        recipient_id=RECIPIENT,
        station_id="bench-hospital",
        display_name="Dr Bench",
        role="specialist",
        specialty=None,
        certificate_pem=PEM,
    )
    return token, reader


def _throughputs(targets: list[Target], quick: bool) -> list[Figures]:
    """The throughput runs, alternating between the targets (which goes first changes with
    each repetition); the CPU of each target's parts is counted during its own runs only."""
    figures = [Figures() for _ in targets]
    size = 4 * MIB if quick else 8 * MIB
    for target in targets:
        # Not counted: the first writes of a fresh store allocate its volumes (seconds).
        _throughput(target, 4, 1, size, "warm-up")
    spent: list[dict[str, float]] = [{} for _ in targets]
    uploaded = [0] * len(targets)
    idle = [0.0] * len(targets)  # CPU seconds of each while the others ran
    others_ran = [0.0] * len(targets)  # seconds the others ran
    for repetition in range(1 if quick else REPETITIONS):
        for clients, bundles in ((4, 1 if quick else 3), (16, 1)):
            order = list(range(len(targets)))
            for i in order if repetition % 2 == 0 else order[::-1]:
                target, mine = targets[i], figures[i]
                before = _cpu_by_part(target)
                resting = [sum(_cpu_by_part(t).values()) for t in targets]
                began = time.perf_counter()
                tag = f"tp{clients}-{repetition}"
                rate, latencies = _throughput(target, clients, bundles, size, tag)
                elapsed = time.perf_counter() - began
                after = _cpu_by_part(target)
                for j, other in enumerate(targets):
                    if j != i:
                        idle[j] += sum(_cpu_by_part(other).values()) - resting[j]
                        others_ran[j] += elapsed
                for part in before:
                    spent[i][part] = spent[i].get(part, 0.0) + after[part] - before[part]
                mine.rates.setdefault(clients, []).append(rate)
                mine.latencies += latencies
                uploaded[i] += clients * bundles * size
    for i, mine in enumerate(figures):
        mine.idle_cores = idle[i] / others_ran[i] if others_ran[i] else 0.0
        mine.throughput = {c: statistics.median(r) for c, r in mine.rates.items()}
        mine.cpu_per_mib = {
            part: seconds * 1000 / (uploaded[i] / MIB) for part, seconds in spent[i].items()
        }
    return figures


def _measure(target: Target, figures: Figures, quick: bool) -> None:
    """The rest, one target at a time: finalisation, bundles lost, peak memory."""
    for megabytes in (5, 25) if quick else (5, 25, 50):
        figures.finalisation[megabytes] = _finalisation(
            target, megabytes * 1_000_000, f"fin-{megabytes}"
        )
    figures.lost, figures.duplicated = _lost_or_duplicated(target)
    figures.memory = [peak_mib(pid) for pid in target.pids]


def run(quick: bool, with_peer: bool = True) -> None:
    """Runs the benchmark and prints its tables (``peer``: the ``@tus/server`` pair too)."""
    for engine in ("initdb", "weed", "haproxy"):
        if find_engine(engine) is None:
            print(f"platform: skipped, the engine `{engine}` is not installed")
            return
    os.environ.setdefault("AWS_ACCESS_KEY_ID", S3_ACCESS_KEY)
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", S3_SECRET_KEY)
    load_before = os.getloadavg()  # the machine's other work weighs on every figure
    with tempfile.TemporaryDirectory(prefix="passavant-bench-platform-") as tmp:
        root = Path(tmp)
        single = start_platform(root / "single")
        pg_root = Path(tempfile.mkdtemp(prefix="passavant-bench-pg-"))
        postgres = Postgres(pg_root / "cluster")
        seaweed = Seaweed(root / "seaweed", str(find_engine("weed")))
        replicas: list[Replica] = []
        haproxy: Haproxy | None = None
        peer: TusPeer | None = None
        try:
            token, reader = _register_embedded(single.data_dir)
            server = [single.pid] if single.pid else []
            alone = Target("single", single.url, token, reader, server)
            alone.parts = lambda: {"server": server}
            postgres.init()
            seaweed.start()
            blobs = f"s3://bundles?endpoint={seaweed.endpoint}"
            replicas = [Replica(f"r{i}", postgres.url, blobs, root / "replicas") for i in (1, 2)]
            for replica in replicas:
                replica.start()
            haproxy = Haproxy(root / "haproxy", [r.port for r in replicas])
            haproxy.start()
            time.sleep(1.0)
            record = PgRecord(postgres.url)
            token, reader = _register_distributed(record)
            pids = [r.process.pid for r in replicas if r.process is not None]
            target = Target("distributed", haproxy.url, token, reader, pids)
            balancer = haproxy
            target.parts = lambda: {
                "replicas": [r.process.pid for r in replicas if r.process is not None],
                "S3 (SeaweedFS)": [seaweed.process.pid] if seaweed.process else [],
                "PostgreSQL": postgres_pids(postgres.folder / "data"),
                "HAProxy": [balancer.process.pid] if balancer.process else [],
            }
            ours_single, ours_dist = _throughputs([alone, target], quick)
            _measure(alone, ours_single, quick)
            single.stop()
            _measure(target, ours_dist, quick)
            per_bundle = _s3_requests_per_bundle(record)
            death = _replica_death(target, replicas, 8 * MIB)
            lost, duplicated = _lost_or_duplicated(target)
            ours_dist.lost, ours_dist.duplicated = lost, duplicated
            replicas[0].start()  # back after its death: the race needs both
            time.sleep(1.0)
            race_ours = concurrent_patch([r.url for r in replicas], token, RECIPIENT, "bench-race")
            record.close()
            peer = TusPeer(root / "tus-peer", seaweed.endpoint)
            race_peer = peer.race() if with_peer and peer.install() else None
        finally:
            if peer is not None:
                peer.stop()
            if haproxy is not None:
                haproxy.stop()
            for replica in replicas:
                replica.stop()
            seaweed.stop(kill=True)
            postgres.stop("immediate")
            single.stop()
            shutil.rmtree(pg_root, ignore_errors=True)
    loads = (load_before, os.getloadavg())
    report(ours_single, ours_dist, per_bundle, death, race_ours, race_peer, quick, loads)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m bench.platform [--quick] [--no-peer]``."""
    args = list(sys.argv[1:] if argv is None else argv)
    with_peer = "--no-peer" not in args
    args = [arg for arg in args if arg != "--no-peer"]
    run(parse_quick(args, "The platform: single node against the distributed mode."), with_peer)
    return 0


if __name__ == "__main__":
    sys.exit(main())
