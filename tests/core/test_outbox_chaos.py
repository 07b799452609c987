"""Chaos: 100 bundles through cuts, 503 storms and stalls, with the sender SIGKILLed and restarted.

The unit's profile points at the product fault proxy (``refplatform.faultproxy``) in front of
the reference platform, in plain HTTP so that the proxy can answer 503 with ``Retry-After``.
``passavant outbox run`` runs as a real subprocess and is killed with SIGKILL at random
moments, then started again, for a bounded number of rounds; the faults change each round.
A last round runs until the queue is idle. At the end every bundle is delivered, and the
recipient's mailbox holds each one exactly once, byte-identical (SHA-256 of what a download
through the mailbox API returns).

The seed is fixed (``PASSAVANT_CHAOS_SEED`` overrides it) and printed, so a failing run can be
replayed: the sizes, the faults and the kill times come from it (the timing of the network and
the scheduler does not).
"""

from __future__ import annotations

import hashlib
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from cases.profile import Profile
from outbox.platform import PlatformClient, PlatformConfig
from outbox.queue import Outbox
from refplatform.accounts import register_recipient, register_station
from refplatform.faultproxy import FaultProxy
from tests.core.test_cli_outbox import make_recipient, seal
from tests.support.platform import REPO_ROOT, start_platform

SEED = int(os.environ.get("PASSAVANT_CHAOS_SEED", "20261123"))
BUNDLES = 100
LARGE = 3  # of about 2 MiB; the others 1 KiB to 300 KiB
KILL_ROUNDS = 8
FINAL_TIMEOUT_S = 180.0


def _runner(profile: Path, log: Path, *extra: str) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "app", "--profile", str(profile), "outbox", "run"]
    command += ["--max-retry-delay", "1", "--read-timeout", "3", *extra]
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    with log.open("ab") as err:
        return subprocess.Popen(
            command, stdout=err, stderr=err, stdin=subprocess.DEVNULL, cwd=REPO_ROOT, env=env
        )


def _faults(proxy: FaultProxy, rng: random.Random, kind: str) -> str:
    """Sets this round's faults: always cuts, plus a 503 storm, a stall storm or a mix."""
    cut = rng.randint(150_000, 900_000)
    rate_503 = {"storm-503": 1.0, "stalls": 0.0, "final": 0.1}.get(kind, rng.uniform(0, 0.4))
    stall = {"storm-503": 0.0, "stalls": 1.0, "final": 0.05}.get(kind, rng.uniform(0, 0.15))
    if kind == "cuts":
        rate_503 = stall = 0.0
    proxy.set_cut_every(cut)
    proxy.set_error_503(rate_503, retry_after=1)
    proxy.set_stall(stall, window=512 * 1024, hold=5.0)
    return f"{kind}: cut every {cut} B, 503 rate {rate_503:.2f}, stall rate {stall:.2f}"


def test_chaos_every_bundle_arrives_exactly_once(tmp_path: Path) -> None:
    print(f"chaos seed {SEED} (set PASSAVANT_CHAOS_SEED to replay)")
    rng = random.Random(SEED)
    recipient = make_recipient("Pr Chaos")
    sizes = [rng.randint(1024, 300 * 1024) for _ in range(BUNDLES - LARGE)]
    sizes += [rng.randint(2 * 1024**2 - 65536, 2 * 1024**2) for _ in range(LARGE)]
    rng.shuffle(sizes)
    bundles = {f"chaos-{n:03d}": seal(recipient, size) for n, size in enumerate(sizes)}

    with start_platform(tmp_path, idle_timeout=2) as platform:
        token = register_station(platform.data_dir, "chaos-unit")
        reader_token = register_station(platform.data_dir, "chaos-hosp")
        register_recipient(
            platform.data_dir,
            recipient_id="chaos-derm",
            station_id="chaos-hosp",
            display_name="Pr Chaos",
            role="specialist",
            specialty="dermatology",
            certificate_pem=recipient.pem,
        )
        with FaultProxy(("127.0.0.1", platform.port), seed=SEED) as proxy:
            profile = tmp_path / "unit"
            Profile.create(
                profile,
                station_id="chaos-unit",
                platform_url=proxy.url(),
                token=token,
                ca_pem=b"",
                token_in_keyring=False,  # the runner subprocesses cannot see this keyring
            )
            outbox = Outbox(profile / "passavant.sqlite", profile / "outbox")
            for bundle_id, data in bundles.items():
                outbox.enqueue(bundle_id, "chaos-derm", "Pr Chaos", "case", data)
            outbox.close()

            log = tmp_path / "runner.log"
            kills = 0
            kinds = ["cuts", "storm-503", "stalls"] + ["mix"] * (KILL_ROUNDS - 3)
            for round_, kind in enumerate(kinds):
                print(f"round {round_}: {_faults(proxy, rng, kind)}")
                runner = _runner(profile, log)
                # Storms last long enough for the runner to start and meet them.
                time.sleep(3.0 if kind in ("storm-503", "stalls") else rng.uniform(0.5, 3.0))
                if runner.poll() is None:
                    runner.send_signal(signal.SIGKILL)
                    kills += 1
                runner.wait(10)
            print(f"last round, {kills} kills so far: {_faults(proxy, rng, 'final')}")
            final = _runner(profile, log, "--until-idle", "--timeout", str(FINAL_TIMEOUT_S))
            status = final.wait(FINAL_TIMEOUT_S + 30)
            counters = proxy.counters()
            print(f"proxy: {counters}")
        assert status == 0, log.read_text(errors="replace")[-3000:]
        assert kills >= KILL_ROUNDS // 2, "the sender was really killed mid-work"
        assert counters.cuts > 0
        assert counters.errors_503 > 0
        assert counters.stalls > 0

        outbox = Outbox(profile / "passavant.sqlite", profile / "outbox")
        try:
            jobs = outbox.jobs()
        finally:
            outbox.close()
        assert {job.bundle_id for job in jobs} == set(bundles)
        assert {job.state.value for job in jobs} == {"delivered"}, "the queue ends empty"

        reader = PlatformConfig(platform.url, reader_token, None)
        with PlatformClient(reader) as client:
            items = client.list_items("chaos-derm")
            assert sorted(item.bundle_id for item in items) == sorted(bundles), "exactly once"
            for item in items:
                part = tmp_path / "download.part"
                part.unlink(missing_ok=True)
                client.download("chaos-derm", item.bundle_id, part)
                got = hashlib.sha256(part.read_bytes()).hexdigest()
                assert got == hashlib.sha256(bundles[item.bundle_id]).hexdigest(), item.bundle_id
                assert item.size == len(bundles[item.bundle_id])
