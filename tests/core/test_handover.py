"""Two PCs on one desk (issue 17 §3): the capture PC, without a platform link, hands its
sealed bundles to the networked PC through a folder; states and the doctor's mail come back
the same way. Real profiles, the real platform on 127.0.0.1, a real folder."""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.session import Session
from cases.handover import HandoverConfig
from cases.model import Opinion
from cases.profile import Profile
from outbox import handover
from outbox.handover import Sidecar, complete, put
from tests.core.test_workstation import a_case, unlock, wait_for
from tests.support.demo import DemoEnv

CANARY = "CANARY-handover-7d2e"


@pytest.fixture
def desk(demo_env: DemoEnv, tmp_path: Path) -> Iterator[tuple[Session, Session, Session, Path]]:
    """(capture PC, networked PC, hospital, the hand-over folder), all running."""
    folder = tmp_path / "stick"
    folder.mkdir()
    capture_root = tmp_path / "capture-pc"
    shutil.copytree(demo_env.layout.unit, capture_root)  # the doctor's identity, as set up
    HandoverConfig(folder, "capture").save(capture_root)
    HandoverConfig(folder, "network", ("dr-bernard",)).save(demo_env.layout.unit)
    sessions = [
        Session(Profile(capture_root), poll_interval=0.2),
        Session(Profile(demo_env.layout.unit), poll_interval=0.2),
        Session(Profile(demo_env.layout.hospital), poll_interval=0.2),
    ]
    sessions[1].workstation.refresh_directory()
    shutil.copy(demo_env.layout.unit / "directory.json", capture_root / "directory.json")
    for session in sessions:
        session.start()
    try:
        yield sessions[0], sessions[1], sessions[2], folder
    finally:
        for session in sessions:
            session.stop()


def every_file(root: Path) -> Iterator[Path]:
    return (p for p in root.rglob("*") if p.is_file())


def test_a_request_goes_through_the_networked_pc_and_the_opinion_comes_back(
    desk: tuple[Session, Session, Session, Path], demo_env: DemoEnv
) -> None:
    capture, network, hospital, folder = desk
    doctor = unlock(capture.profile.root, "dr-bernard")
    expert = unlock(demo_env.layout.hospital, "pr-dubois")
    to = next(e for e in capture.workstation.directory() if e.id == "pr-dubois")
    case = a_case()
    bundle_id = capture.workstation.send_case(doctor, case, to)
    capture.sender.wake()

    # the networked PC queues it, sends it, and says so; the capture PC shows "delivered"
    wait_for(lambda: network.outbox.get(bundle_id) is not None)
    wait_for(lambda: capture.outbox.get(bundle_id).state == "delivered")  # type: ignore[union-attr]
    assert network.relay is not None
    assert network.relay.ledger.origin(bundle_id) == capture.profile.station_id
    assert not list((folder / "outgoing").glob("*.cms"))  # taken, then removed

    # the specialist answers; the opinion and the receipt reach the capture PC's inbox
    wait_for(lambda: hospital.inbox.items("pr-dubois"))
    hospital.workstation.refresh_directory()
    [received], _ = hospital.workstation.threads(expert)
    hospital.workstation.send_opinion(
        expert, received, Opinion(received.case_id, f"Psoriasis {CANARY}.", outcome="on_site")
    )
    hospital.sender.wake()
    wait_for(lambda: len(capture.inbox.items("dr-bernard")) == 2, timeout=60)
    [thread], _ = capture.workstation.threads(doctor)
    assert thread.case.bundle_id == bundle_id
    assert [o.bundle.opinion.text for o in thread.opinions] == [f"Psoriasis {CANARY}."]  # type: ignore[union-attr]
    wait_for(lambda: capture.outbox.get(bundle_id).state == "acknowledged")  # type: ignore[union-attr]

    # nothing clinical ever lay in the folder: ciphertext and ids only
    for path in every_file(folder):
        data = path.read_bytes()
        assert CANARY.encode() not in data
        assert b"Psoriasis" not in data
        assert case.summary.encode() not in data


def test_a_bundle_for_a_recipient_it_is_not_addressed_to_is_refused_and_said_so(
    desk: tuple[Session, Session, Session, Path],
) -> None:
    capture, network, _hospital, folder = desk
    doctor = unlock(capture.profile.root, "dr-bernard")
    to = next(e for e in capture.workstation.directory() if e.id == "pr-dubois")
    capture.outbox.pause_all()  # sealed here, handed over by hand below
    bundle_id = capture.workstation.send_case(doctor, a_case(), to)
    data = capture.outbox.spool_path(bundle_id).read_bytes()
    # handed over as if it were for another recipient of the directory (a mix-up, or worse)
    other = next(e for e in capture.workstation.directory() if e.id == "pr-roux")
    lie = Sidecar(bundle_id, len(data), _sha(data), "case", other.id, other.display_name)
    put(folder / "outgoing", data, lie)
    wait_for(lambda: (folder / "states" / f"{bundle_id}.json").exists())
    assert network.outbox.get(bundle_id) is None  # never queued
    state = handover.read_states(folder, [bundle_id])[bundle_id]
    assert (state["state"], state["code"]) == ("failed", "handover_refused")
    # and garbage is refused the same way, never queued
    junk = b"\x30\x82\x01\x00" + os.urandom(256)
    put(folder / "outgoing", junk, Sidecar("junk-1", len(junk), _sha(junk), "case", to.id))
    wait_for(lambda: (folder / "states" / "junk-1.json").exists())
    assert network.outbox.get("junk-1") is None


def test_a_truncated_copy_waits_and_a_file_handed_twice_is_queued_once(
    desk: tuple[Session, Session, Session, Path],
) -> None:
    capture, network, _hospital, folder = desk
    network.outbox.pause_all()  # keep it in the queue: we count jobs
    doctor = unlock(capture.profile.root, "dr-bernard")
    to = next(e for e in capture.workstation.directory() if e.id == "pr-dubois")
    capture.outbox.pause_all()
    bundle_id = capture.workstation.send_case(doctor, a_case(), to)
    data = capture.outbox.spool_path(bundle_id).read_bytes()
    sidecar = Sidecar(bundle_id, len(data), _sha(data), "case", to.id, to.display_name)
    outgoing = folder / "outgoing"
    put(outgoing, data[: len(data) // 2], sidecar)  # the stick pulled out mid-copy
    time.sleep(3 * handover.POLL_S)
    assert network.outbox.get(bundle_id) is None  # ignored until complete, never queued broken
    put(outgoing, data, sidecar)  # copied again, whole
    wait_for(lambda: network.outbox.get(bundle_id) is not None)
    put(outgoing, data, sidecar)  # and once more (a restart of the capture PC)
    wait_for(lambda: not (outgoing / f"{bundle_id}.cms").exists())
    assert [j.bundle_id for j in network.outbox.jobs()] == [bundle_id]


def test_no_stick_is_a_retry_and_the_bundle_goes_once_it_is_back(
    desk: tuple[Session, Session, Session, Path],
) -> None:
    capture, network, _hospital, folder = desk
    doctor = unlock(capture.profile.root, "dr-bernard")
    to = next(e for e in capture.workstation.directory() if e.id == "pr-dubois")
    shutil.rmtree(folder)
    folder.write_bytes(b"")  # the mount point is there, the stick is not: not a folder
    bundle_id = capture.workstation.send_case(doctor, a_case(), to)
    capture.sender.wake()
    wait_for(lambda: capture.outbox.get(bundle_id).state == "retry")  # type: ignore[union-attr]
    job = capture.outbox.get(bundle_id)
    assert job is not None
    assert job.last_error_code == "handover_unreachable"
    folder.unlink()
    folder.mkdir()
    capture.outbox.retry_now(bundle_id)
    capture.sender.wake()
    wait_for(lambda: capture.outbox.get(bundle_id).state == "delivered")  # type: ignore[union-attr]
    assert network.outbox.get(bundle_id) is not None


WRITER = """
import sys, os, hashlib
from pathlib import Path
from outbox.handover import Sidecar, put
folder = Path(sys.argv[1])
n = 0
while True:
    data = os.urandom(200_000 + n)
    put(folder, data, Sidecar(f"b-{n}", len(data), hashlib.sha256(data).hexdigest(), "case"))
    n += 1
"""


def test_a_writer_killed_at_any_moment_leaves_only_whole_bundles_or_nothing(
    tmp_path: Path,
) -> None:
    """``kill -9`` of the PC writing to the folder, at random moments: what the other side
    takes is always whole (size and SHA-256 as the sidecar says)."""
    rng = random.Random(17)
    folder = tmp_path / "outgoing"
    root = Path(__file__).parents[2]
    for _round in range(6):
        writer = subprocess.Popen([sys.executable, "-c", WRITER, str(folder)], cwd=root)
        time.sleep(rng.uniform(0.3, 1.2))
        os.kill(writer.pid, signal.SIGKILL)
        writer.wait(10)
        taken = list(complete(folder))
        for sidecar, data in taken:
            assert data.stat().st_size == sidecar.size
            assert _sha(data.read_bytes()) == sidecar.sha256
        bundles = {p.stem for p in folder.glob("*.cms")}
        assert {s.bundle_id for s, _ in taken} <= bundles
        shutil.rmtree(folder)


def _sha(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()


def test_the_it_person_sets_up_both_pcs_from_the_command_line(
    demo_env: DemoEnv, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from app.cli import main

    unit = str(demo_env.layout.unit)
    folder = tmp_path / "share"
    assert main(["--profile", unit, "handover", "status"]) == 0
    assert "fonctionne seul" in capsys.readouterr().out
    with pytest.raises(SystemExit):  # argparse: --folder is required
        main(["--profile", unit, "handover", "setup", "--role", "network"])
    assert (
        main(["--profile", unit, "handover", "setup", "--role", "network", "--folder", str(folder)])
        == 1
    )
    assert "n’existe pas" in capsys.readouterr().err
    folder.mkdir()
    bad = ["--relay", "../etc"]
    assert (
        main(
            [
                "--profile",
                unit,
                "handover",
                "setup",
                "--role",
                "network",
                "--folder",
                str(folder),
                *bad,
            ]
        )
        == 1
    )
    args = [
        "handover",
        "setup",
        "--role",
        "network",
        "--folder",
        str(folder),
        "--relay",
        "dr-bernard",
    ]
    assert main(["--profile", unit, *args]) == 0
    config = HandoverConfig.load(demo_env.layout.unit)
    assert config == HandoverConfig(folder.absolute(), "network", ("dr-bernard",))
    capsys.readouterr()
    assert main(["--profile", unit, "handover", "status"]) == 0
    out = capsys.readouterr().out
    assert "poste relié au réseau" in out
    assert "0 envoi(s)" in out
    assert main(["--profile", unit, "handover", "off"]) == 0
    assert HandoverConfig.load(demo_env.layout.unit) is None
