"""Set up and run the demonstration: a platform, a CA, two workstations, three people.

Layout of the demo directory::

    DEMO/
      ca/        the demo certificate authority (ca.pem, and ca.key under the demo passphrase)
                 and the unit's archive identity (archive-usmp.p12: in real life, in the
                 unit's safe, never on the workstation)
      platform/  the reference platform's data, and its TLS certificate
      unit/      the prison health unit's workstation: a doctor and a secretary
      hospital/  the hospital's workstation: a dermatologist

Every identity's key is protected by the passphrase :data:`DEMO_PASSPHRASE`, which the
passphrase policy accepts only because both profiles are created with ``demo=True``
(``crypto.passphrase``); being public, it is wrapped with the light KDF
(``crypto.pki.LIGHT_WRAPPING``), not the one-second one. The secretary's certificate cannot be
used for encryption: nothing is ever sealed for her.
"""

from __future__ import annotations

import logging
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization

from cases.profile import IdentityInfo, Profile
from cases.trust import AddressBook
from crypto import pkcs12, pki
from crypto.passphrase import DEMO_PASSPHRASE
from outbox.spool import atomic_write
from refplatform import accounts
from refplatform.db import open_database

log = logging.getLogger(__name__)

UNIT_ORG = "USMP démo — Centre pénitentiaire"
HOSPITAL_ORG = "CHU démo — Service de dermatologie"
WOUNDS_ORG = "CHU démo — Équipe plaies et cicatrisation"

PEOPLE = (
    # RPPS numbers of the demo (11 digits, Luhn key; no real professional's)
    (
        "unit",
        IdentityInfo("dr-bernard", "Dr Claire Bernard", "doctor", UNIT_ORG, rpps="10001234565"),
    ),
    ("unit", IdentityInfo("sec-lambert", "Sophie Lambert", "secretary", UNIT_ORG)),
    (
        "hospital",
        IdentityInfo(
            "pr-dubois", "Pr Marc Dubois", "specialist", HOSPITAL_ORG, "dermatology", "10002345675"
        ),
    ),
    # a colleague at the same hospital, whom an opinion can refer the unit to
    (
        "hospital",
        IdentityInfo(
            "pr-roux", "Pr Sophie Roux", "specialist", WOUNDS_ORG, "wounds", "10003456786"
        ),
    ),
)


@dataclass(frozen=True)
class DemoLayout:
    root: Path

    @property
    def ca(self) -> Path:
        return self.root / "ca"

    @property
    def platform(self) -> Path:
        return self.root / "platform"

    @property
    def unit(self) -> Path:
        return self.root / "unit"

    @property
    def hospital(self) -> Path:
        return self.root / "hospital"

    def is_set_up(self) -> bool:
        return all((p / "profile.json").exists() for p in (self.unit, self.hospital))


def set_up(root: Path, platform_url: str = "https://127.0.0.1:0") -> DemoLayout:
    """Create the CA, the platform accounts, both profiles and their identities."""
    layout = DemoLayout(root)
    for folder in (layout.ca, layout.platform):
        folder.mkdir(parents=True, exist_ok=True)
    ca_cert, ca_key = pki.create_ca("Passavant Démo — Autorité de certification")
    ca_pem = pki.cert_to_pem(ca_cert)
    (layout.ca / "ca.pem").write_bytes(ca_pem)
    pki.save_private_key(
        layout.ca / "ca.key", ca_key, DEMO_PASSPHRASE.encode(), wrapping=pki.LIGHT_WRAPPING
    )
    server_key = pki.new_private_key()
    server_cert = pki.issue_server_certificate(
        ca_cert, ca_key, server_key.public_key(), hosts=["127.0.0.1", "localhost"]
    )
    (layout.platform / "tls-cert.pem").write_bytes(pki.cert_to_pem(server_cert))
    atomic_write(
        layout.platform / "tls-key.pem",
        server_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
    )
    data = layout.platform / "data"
    profiles = {}
    for station, folder in (("unit", layout.unit), ("hospital", layout.hospital)):
        token = accounts.register_station(data, f"demo-{station}")
        profiles[station] = Profile.create(
            folder,
            station_id=f"demo-{station}",
            platform_url=platform_url,
            token=token,
            ca_pem=ca_pem,
            demo=True,
        )
    for station, info in PEOPLE:
        _add_person(layout, profiles[station], station, info, ca_cert, ca_key)
    archive_key = pki.new_private_key()
    archive_cert = pki.issue_person_certificate(
        ca_cert,
        ca_key,
        archive_key.public_key(),
        common_name="Archive USMP démo",
        role="unit",
        organization=UNIT_ORG,
        can_decrypt=True,
    )
    atomic_write(
        layout.ca / "archive-usmp.p12",
        pkcs12.export_pkcs12(
            archive_key, archive_cert, [ca_cert], DEMO_PASSPHRASE.encode(), "archive-usmp"
        ),
    )
    profiles["unit"].set_archive_certificate(archive_cert)
    # the hospital knows the unit's archive, so that its opinions reach the archive too
    AddressBook(profiles["hospital"].addressbook_path).add(
        archive_cert, name="Archive USMP démo", role="unit", organization=UNIT_ORG
    )
    log.info("demo set up in %s", root)
    return layout


def _add_person(
    layout: DemoLayout,
    profile: Profile,
    station: str,
    info: IdentityInfo,
    ca_cert: pki.x509.Certificate,
    ca_key: pki.PrivateKey,
) -> None:
    """Give ``info`` a key and a certificate from the demo CA, in ``profile``, and list them
    in the platform's directory (a secretary is never a recipient)."""
    key = pki.new_private_key()
    cert = pki.issue_person_certificate(
        ca_cert,
        ca_key,
        key.public_key(),
        common_name=info.display_name,
        role=info.role,
        organization=info.organization,
        can_decrypt=info.role != "secretary",
    )
    profile.add_identity(info, cert, key, DEMO_PASSPHRASE.encode())
    if info.role != "secretary":
        accounts.register_recipient(
            layout.platform / "data",
            recipient_id=info.id,
            station_id=f"demo-{station}",
            display_name=info.display_name,
            role=info.role,
            specialty=info.specialty,
            certificate_pem=pki.cert_to_pem(cert).decode("ascii"),
            rpps=info.rpps,  # shown in the directory (issue 19)
        )


def add_missing_people(layout: DemoLayout) -> list[str]:
    """Add the people of :data:`PEOPLE` that a demo set up by an earlier version lacks (a
    colleague at the hospital, say), so that what the README describes is there without a
    ``--reset``; returns their ids."""
    added = []
    ca_cert = pki.load_cert_pem((layout.ca / "ca.pem").read_bytes())
    ca_key = None
    for station, info in PEOPLE:
        profile = Profile(layout.unit if station == "unit" else layout.hospital)
        if any(known.id == info.id for known in profile.identities()):
            continue
        if ca_key is None:
            ca_key = pki.load_private_key(
                layout.ca / "ca.key", DEMO_PASSPHRASE.encode(), kind="any"
            )
        _add_person(layout, profile, station, info, ca_cert, ca_key)
        added.append(info.id)
    if added:
        log.info("demo: added %s", ", ".join(added))
    _list_rpps(layout)
    return added


def _list_rpps(layout: DemoLayout) -> None:
    """Give the directory of a demo set up before it listed RPPS numbers those of
    :data:`PEOPLE` (their certificates, names and roles as they are)."""
    data = layout.platform / "data"
    listed = {e["id"]: e for e in accounts.directory(open_database(data))}
    for _station, info in PEOPLE:
        entry = listed.get(info.id)
        if entry is None or entry["rpps"] is not None or info.rpps is None:
            continue
        accounts.register_recipient(
            data,
            recipient_id=info.id,
            station_id=str(entry["station"]),
            display_name=str(entry["display_name"]),
            role=str(entry["role"]),
            specialty=entry["specialty"],
            certificate_pem=str(entry["certificate_pem"]),
            rpps=info.rpps,
        )
        log.info("demo: %s listed with an RPPS number", info.id)


def platform_command(layout: DemoLayout, ready_file: Path) -> list[str]:
    """The command that starts the demo's platform on a free loopback port, over HTTPS."""
    prefix = [sys.executable] if getattr(sys, "frozen", False) else [sys.executable, "-m", "app"]
    return [
        *prefix,
        "platform",
        "--data",
        str(layout.platform / "data"),
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        "--tls-cert",
        str(layout.platform / "tls-cert.pem"),
        "--tls-key",
        str(layout.platform / "tls-key.pem"),
        "--ready-file",
        str(ready_file),
        "--exit-with-stdin",
    ]


def start_platform(
    layout: DemoLayout, *, timeout: float = 30.0
) -> tuple[subprocess.Popen[bytes], str]:
    """Start the platform in the background; point both profiles at it; return (process, url)."""
    ready = layout.platform / "ready"
    ready.unlink(missing_ok=True)
    log_file = (layout.platform / "platform.log").open("ab")
    # stdin is a pipe the platform watches: if this process dies, even by kill -9, the pipe
    # closes and the platform stops by itself (no orphan server).
    process = subprocess.Popen(
        platform_command(layout, ready),
        stdin=subprocess.PIPE,
        stdout=log_file,
        stderr=subprocess.STDOUT,
    )
    log_file.close()
    try:
        url = _wait_ready(process, ready, timeout)
    except BaseException:
        stop_platform(process)
        raise
    for folder in (layout.unit, layout.hospital):
        Profile(folder).set_platform_url(url)
    return process, url


def _wait_ready(process: subprocess.Popen[bytes], ready: Path, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ready.exists() and (url := ready.read_text("utf-8").strip()):
            return url
        if process.poll() is not None:
            raise RuntimeError(f"the demo platform exited with status {process.returncode}")
        time.sleep(0.05)
    raise TimeoutError("the demo platform did not start in time")


def stop_platform(process: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    """Stop the demo's platform: close its stdin pipe, ask it to stop, kill it if it hangs."""
    if process.stdin is not None:
        process.stdin.close()
    process.terminate()
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout)
