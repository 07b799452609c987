"""The workstation against the distributed platform: its outbox, and the whole slice in the GUI.

The balancer ends TLS with the demo's server certificate (as a region's would), so the demo's
profiles work unchanged once pointed at it; the demo's accounts are copied into PostgreSQL
(:func:`refplatform.pgimport.copy_accounts`).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from app import demo
from cases.profile import Profile
from outbox.queue import JobState, Outbox
from outbox.sender import Sender
from refplatform.pgimport import copy_accounts
from tests.distributed.conftest import Accounts, Cluster
from tests.distributed.engines import Haproxy, wait_until
from tests.support.demo import DemoEnv

MIB = 1024 * 1024


def test_the_outbox_delivers_everything_once_through_a_replica_death(
    cluster: Cluster, accounts: Accounts, tmp_path: Path
) -> None:
    client = accounts.client(cluster.url, timeout=5)
    outbox = Outbox(tmp_path / "q.sqlite", tmp_path / "outbox")
    payloads = {f"b-ws-{n}": os.urandom(3 * MIB + n) for n in range(4)}
    for bundle_id, payload in payloads.items():
        outbox.enqueue(bundle_id, accounts.recipient, "Dr Derm", "request", payload)
    sender = Sender(
        outbox,
        client,
        progress_interval=0,
        chunk_size=512 * 1024,
        max_chunk_size=512 * 1024,
        retry_delay=lambda n: 0.2,
    )
    sender.start()
    try:

        def progressed() -> bool:
            return sum(job.bytes_sent for job in outbox.jobs()) > 4 * MIB

        wait_until(progressed, 60, "the first bundles' progress")
        cluster.replicas[0].kill()

        def all_delivered() -> bool:
            return all(outbox.get(b).state is JobState.DELIVERED for b in payloads)  # type: ignore[union-attr]

        wait_until(all_delivered, 90, "every bundle's delivery")
    finally:
        assert sender.stop(10), "sender thread left running"
        outbox.close()
    reader = accounts.client(cluster.url, hospital=True)
    listed = [item.bundle_id for item in reader.list_items(accounts.recipient)]
    assert sorted(listed) == sorted(payloads), "each bundle once, none lost"
    for bundle_id, payload in payloads.items():
        part = tmp_path / f"{bundle_id}.part"
        reader.download(accounts.recipient, bundle_id, part)
        assert hashlib.sha256(part.read_bytes()).digest() == hashlib.sha256(payload).digest()
    reader.close()
    client.close()


@pytest.fixture
def distributed_demo(demo_template: Path, cluster: Cluster, tmp_path: Path) -> Iterator[DemoEnv]:
    """The demo's profiles and accounts, served by the distributed platform over HTTPS."""
    cluster.engines_up()
    cluster.revive()
    root = tmp_path / "demo"
    shutil.copytree(demo_template, root)
    layout = demo.DemoLayout(root)
    copy_accounts(layout.platform / "data", cluster.record)
    pem = tmp_path / "balancer.pem"
    pem.write_bytes(
        (layout.platform / "tls-cert.pem").read_bytes()
        + (layout.platform / "tls-key.pem").read_bytes()
    )
    balancer = Haproxy(tmp_path / "haproxy", [r.port for r in cluster.replicas], tls_pem=pem)
    balancer.start()
    try:
        for folder in (layout.unit, layout.hospital):
            Profile(folder).set_platform_url(balancer.url)
        assert balancer.process is not None
        time.sleep(1.0)  # its first health checks
        yield DemoEnv(layout, balancer.url, balancer.process)
    finally:
        balancer.stop()


@pytest.fixture
def screenshot(tmp_path: Path):  # type: ignore[no-untyped-def]
    def save(widget, name: str) -> Path:  # type: ignore[no-untyped-def]
        path = tmp_path / f"{name}.png"
        assert widget.grab().save(str(path))
        return path

    return save


@pytest.mark.gui
def test_end_to_end_through_the_distributed_platform(  # type: ignore[no-untyped-def]
    qtbot, distributed_demo: DemoEnv, screenshot
) -> None:
    from tests.gui.test_end_to_end import (  # needs Qt: imported only here
        test_doctor_sends_specialist_answers_doctor_reads as whole_slice,
    )

    whole_slice(qtbot, distributed_demo, screenshot)
