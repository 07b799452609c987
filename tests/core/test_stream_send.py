"""A 1 GiB bundle sealed, sent through the real platform, fetched and opened, in a child
process whose peak memory must not grow with the size (issue 17 §2): cases.bundlestream
packs and seals from a file, Outbox.enqueue_file spools it, the Sender uploads it (tus), the
reader's client downloads it to a file, crypto.stream opens it and the bundle is checked
member by member. A behaviour check, not a timing test (about 40 s on the 2-core machine)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

from refplatform.accounts import register_recipient, register_station
from tests.support.disk import need_free
from tests.support.platform import start_platform

ROOT = Path(__file__).resolve().parents[2]
PEM = "-----BEGIN CERTIFICATE-----\nMIIBdGVzdA==\n-----END CERTIFICATE-----\n"

_CHILD = textwrap.dedent(
    """
    import json, sys, time
    from pathlib import Path
    from cases import bundlestream
    from cases.bundle import Party
    from crypto import pki, stream
    from outbox.platform import PlatformClient, PlatformConfig
    from outbox.queue import JobState, Outbox
    from outbox.sender import Sender
    from tests.support.pki import world

    def peak() -> int:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
        raise SystemExit("no VmHWM")

    folder, setup = Path(sys.argv[1]), json.loads(sys.argv[2])
    w = world()
    clip = folder / "clip.mp4"
    with clip.open("wb") as out:  # sparse: a gibibyte of zeros that takes no disk
        out.truncate(1 << 30)
    before = peak()
    sealed = bundlestream.seal_files(
        folder / "sealed.p7m", "big-send", {"clips/clip-1.mp4": clip},
        Party.of_certificate(w.doctor.cert), [Party.of_certificate(w.specialist.cert)],
        (w.doctor.cert, w.doctor.key), [w.specialist.cert],
    )
    outbox = Outbox(folder / "q.sqlite", folder / "outbox")
    outbox.enqueue_file("big-send", setup["recipient"], "Dr Derm", "request", sealed)
    sealed.unlink()  # what is sent is the spooled copy
    client = PlatformClient(PlatformConfig(setup["url"], setup["unit_token"], None))
    sender = Sender(outbox, client, progress_interval=0)
    sender.start()
    deadline = time.monotonic() + 300
    while outbox.get("big-send").state is not JobState.DELIVERED:
        assert time.monotonic() < deadline, outbox.get("big-send")
        time.sleep(0.1)
    assert sender.stop(10)
    client.close()
    size = outbox.get("big-send").size
    outbox.close()
    reader = PlatformClient(PlatformConfig(setup["url"], setup["reader_token"], None))
    fetched = folder / "fetched.p7m"
    reader.download(setup["recipient"], "big-send", fetched)
    reader.close()
    assert fetched.stat().st_size == size
    with stream.open_file(fetched, w.specialist.cert, w.specialist.key, w.roots,
                          scratch_dir=folder) as opened:
        found = bundlestream.unpack_content(
            opened, signer_fingerprint=pki.fingerprint(w.doctor.cert),
            reader_fingerprint=pki.fingerprint(w.specialist.cert),
        )
        assert [(f.name, f.size) for f in found.manifest.files] == [("clips/clip-1.mp4", 1 << 30)]
    print(before, peak())
    """
)


def test_a_gibibyte_bundle_is_sealed_sent_fetched_and_opened_in_flat_memory(
    tmp_path: Path,
) -> None:
    need_free(tmp_path, 7 << 29, "a gibibyte spooled, stored by the platform and fetched")
    with start_platform(tmp_path / "platform") as platform:
        setup = {
            "url": platform.url,
            "recipient": "derm-big",
            "unit_token": register_station(platform.data_dir, "unit-big"),
            "reader_token": register_station(platform.data_dir, "hosp-big"),
        }
        register_recipient(
            platform.data_dir, recipient_id="derm-big", station_id="hosp-big",
            display_name="Dr Derm", role="specialist", specialty="dermatology",
            certificate_pem=PEM,
        )  # fmt: skip
        work = tmp_path / "work"
        work.mkdir()
        done = subprocess.run(
            [sys.executable, "-c", _CHILD, str(work), json.dumps(setup)],
            cwd=ROOT, capture_output=True, text=True, timeout=900,
        )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    before, after = map(int, done.stdout.split())
    print(f"peak RSS {after / 2**20:.0f} MiB, {(after - before) / 2**20:.1f} MiB over the start")
    assert after < 300 << 20, f"peak RSS {after >> 20} MiB for a 1 GiB bundle"
    assert after - before < 150 << 20
