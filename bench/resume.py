"""Resume benchmark: what tus resume saves when the link drops during a 32 MiB upload.

The reference platform runs on 127.0.0.1 with TLS (``start_platform``); the client talks to
it through the fault-injecting proxy of ``tests/support/netfault.py``, which cuts the
connection three times, once per attempt, when the bundle is 25 %, 50 % and 75 % through;
the fourth attempt gets through. Two strategies send the same random 32 MiB bundle in
1 MiB ``PATCH`` chunks:

* ``ours``: the real :class:`outbox.sender.Sender`, one :meth:`~outbox.sender.Sender.step`
  per attempt, on a real :class:`outbox.queue.Outbox`: after a cut it ``HEAD``s the upload
  and continues from the platform's offset. Its cuts come after 25 % of the bundle's bytes
  in each attempt (each attempt picks up where the previous one stopped).
* ``naive``: a loop over :class:`outbox.platform.PlatformClient` that creates a new upload
  and starts again from byte 0 after every cut, so its cuts come after 25 %, 50 % and 75 %.

Figures: ``wire`` is every byte the proxy relayed, both ways (TLS handshakes, HTTP
headers and answers included), in MiB and as a multiple of the bundle; ``time`` is the
summed duration of the attempts (a fixed link-down pause after each cut is left out); the
``ratio`` row is naive / ours for both (about 2.5 bytes-wise is the ideal). The full run
repeats each strategy 5 times and keeps the run of median time; ``--quick`` runs it once.
"""

from __future__ import annotations

import hashlib
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from bench import MIB, fmt_ratio, parse_quick, print_table
from outbox.errors import OutboxError
from outbox.jobs import JobState
from outbox.platform import PlatformClient, PlatformConfig
from outbox.queue import Outbox
from outbox.sender import Sender
from refplatform import accounts
from tests.support.netfault import FaultProxy
from tests.support.platform import DUMMY_CERT_PEM, RunningPlatform, start_platform

BUNDLE_SIZE = 32 * MIB
CUTS = (0.25, 0.50, 0.75)
CHUNK = 1 * MIB
LINK_DOWN_S = 0.2
"""Pause after each cut, outside the timings: the link is down, and the platform notices."""
MAX_ATTEMPTS = 12
RECIPIENT = "bench-derm"


@dataclass(frozen=True)
class Outcome:
    """One strategy's upload: attempts made, bytes relayed by the proxy, summed seconds."""

    attempts: int
    wire: int
    seconds: float


class FlakyLink:
    """The proxy, cutting once per attempt after each budget in turn, then passing."""

    def __init__(self, proxy: FaultProxy, budgets: Sequence[int]) -> None:
        self.proxy = proxy
        self._budgets = list(budgets)
        self._armed: tuple[int, int] | None = None  # (bytes_up when armed, budget)
        proxy.reset_counters()

    def attempt(self, action: Callable[[], object]) -> float:
        """Arms the next cut (unless one is still pending), runs ``action``; returns seconds.

        An attempt that failed without reaching its cut (e.g. ``423 Locked`` while the
        platform still closes the cut request) leaves the cut armed for the next one.
        """
        if self._armed is None and self._budgets:
            budget = self._budgets.pop(0)
            self.proxy.cut_after(budget)
            self._armed = (self.proxy.bytes_up, budget)
        start = time.perf_counter()
        action()
        elapsed = time.perf_counter() - start
        if self._armed is not None and self.proxy.bytes_up - self._armed[0] >= self._armed[1]:
            self._armed = None
            time.sleep(LINK_DOWN_S)
        return elapsed

    @property
    def wire(self) -> int:
        """Bytes relayed both ways since the link was made."""
        return self.proxy.bytes_up + self.proxy.bytes_down


def _budgets(resume: bool) -> list[int]:
    """Bytes each attempt may send before its cut (the bundle's bytes, not counting TLS)."""
    marks = [int(fraction * BUNDLE_SIZE) for fraction in CUTS]
    if not resume:
        return marks
    return [mark - previous for previous, mark in zip([0, *marks], marks, strict=False)]


def send_with_sender(
    link: FlakyLink, config: PlatformConfig, payload: bytes, tag: str, folder: Path
) -> Outcome:
    """``ours``: the outbox's sender, stepped once per attempt until it reports delivery."""
    bundle_id = f"bench-ours-{tag}"
    outbox = Outbox(folder / f"queue-{tag}.sqlite", folder / f"spool-{tag}")
    client = PlatformClient(config)
    try:
        outbox.enqueue(bundle_id, RECIPIENT, "Dr Bench", "request", payload)
        sender = Sender(outbox, client, chunk_size=CHUNK, retry_delay=lambda failures: 0.0)
        seconds, attempts = 0.0, 0
        while attempts < MAX_ATTEMPTS:
            job = outbox.get(bundle_id)
            assert job is not None
            if job.state is JobState.DELIVERED:
                return Outcome(attempts, link.wire, seconds)
            if job.state is JobState.FAILED:
                raise RuntimeError(f"the sender gave up: {job.last_error_code}")
            seconds += link.attempt(sender.step)
            attempts += 1
    finally:
        client.close()
        outbox.close()
    raise RuntimeError(f"not delivered after {MAX_ATTEMPTS} attempts")


def send_from_zero(link: FlakyLink, config: PlatformConfig, payload: bytes, tag: str) -> Outcome:
    """``naive``: a new upload from byte 0 after every failure, until one gets through."""
    metadata = {
        "bundle_id": f"bench-naive-{tag}",
        "recipient": RECIPIENT,
        "sha256": hashlib.sha256(payload).hexdigest(),
        "kind": "request",
    }
    done = False

    def upload() -> None:
        nonlocal done
        try:
            url, offset = client.create(len(payload), metadata), 0
            while offset < len(payload):
                offset = client.patch(url, offset, payload[offset : offset + CHUNK])
            done = True
        except OutboxError as err:
            if not err.retryable:
                raise  # the link dropping is retryable; anything else is a bug here

    with PlatformClient(config) as client:
        seconds, attempts = 0.0, 0
        while not done and attempts < MAX_ATTEMPTS:
            seconds += link.attempt(upload)
            attempts += 1
    if not done:
        raise RuntimeError(f"not delivered after {MAX_ATTEMPTS} attempts")
    return Outcome(attempts, link.wire, seconds)


def _median_run(outcomes: list[Outcome]) -> Outcome:
    middle = statistics.median_low(o.seconds for o in outcomes)
    return next(o for o in outcomes if o.seconds == middle)


def _measure(platform: RunningPlatform, tmp: Path, repeat: int) -> dict[str, Outcome]:
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
    payload = os.urandom(BUNDLE_SIZE)
    runs: dict[str, list[Outcome]] = {"ours": [], "naive": []}
    with FaultProxy("127.0.0.1", platform.port) as proxy:
        config = PlatformConfig(proxy.url(), token, platform.ca_file, read_timeout=10)
        for n in range(repeat):
            link = FlakyLink(proxy, _budgets(resume=True))
            runs["ours"].append(send_with_sender(link, config, payload, str(n), tmp))
            link = FlakyLink(proxy, _budgets(resume=False))
            runs["naive"].append(send_from_zero(link, config, payload, str(n)))
    direct = PlatformConfig(platform.url, token, platform.ca_file)
    with PlatformClient(direct) as client:  # not through the proxy: not counted
        for bundle_id in ("bench-ours-0", "bench-naive-0"):
            record = client.delivery(bundle_id)
            assert record is not None, bundle_id
            assert record.get("state") == "accepted", bundle_id
    return {name: _median_run(outcomes) for name, outcomes in runs.items()}


def run(quick: bool) -> None:
    """Runs the benchmark and prints its table."""
    repeat = 1 if quick else 5
    with tempfile.TemporaryDirectory(prefix="passavant-bench-resume-") as tmp:
        platform = start_platform(Path(tmp), tls=True)
        try:
            results = _measure(platform, Path(tmp), repeat)
        finally:
            platform.stop()
    rows = [
        [
            name,
            f"attempts {outcome.attempts}",
            f"wire {outcome.wire / MIB:6.1f} MiB ({outcome.wire / BUNDLE_SIZE:.2f} x bundle)",
            f"time {outcome.seconds:.2f} s",
        ]
        for name, outcome in results.items()
    ]
    ours, naive = results["ours"], results["naive"]
    rows.append(
        [
            "ratio",
            "naive / ours",
            f"wire {fmt_ratio(naive.wire, ours.wire)}",
            f"time {fmt_ratio(naive.seconds, ours.seconds)}",
        ]
    )
    runs = "1 run" if repeat == 1 else f"median of {repeat} runs"
    title = f"resume: {BUNDLE_SIZE // MIB} MiB over TLS, cuts at 25/50/75 %, {runs}"
    print_table(title, rows)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m bench.resume [--quick]``."""
    run(parse_quick(argv, "Resumable upload against restart-from-zero over a flaky link."))
    return 0


if __name__ == "__main__":
    sys.exit(main())
