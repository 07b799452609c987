"""The data the case store benchmark measures: two demo stations and their exchanges.

:func:`make_dataset` fills a copy of the demo with requests, opinions and receipts, every
bundle where a real exchange leaves it; :class:`Station` is one workstation without its
workers; the rest makes the requests and their photos (small samples, or 2.8 MB synthetic
JPEGs).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import time
from collections.abc import Iterator, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

from outbox.jobs import JobState

PASSPHRASE = b"demo"

BIG_PHOTOS = 9
BIG_SIZE = (3000, 2000)


class Station:
    """One demo workstation without its workers: profile, outbox, inbox, workstation."""

    def __init__(self, folder: Path) -> None:
        from cases.profile import Profile
        from cases.workstation import Workstation
        from outbox.inbox import Inbox
        from outbox.platform import PlatformClient
        from outbox.queue import Outbox

        self.profile = Profile(folder)
        self.outbox = Outbox(self.profile.db_path, self.profile.path("outbox"))
        self.inbox = Inbox(self.profile.db_path, self.profile.path("inbox"))
        self.client = PlatformClient(self.profile.platform_config())  # never used here
        self.workstation = Workstation(self.profile, self.outbox, self.inbox, self.client)

    def unlock(self, identity: str) -> Any:
        return self.profile.unlock(identity, PASSPHRASE)

    def close(self) -> None:
        self.workstation.close()
        self.client.close()
        self.outbox.close()
        self.inbox.close()


def _deliver(inbox: Any, recipient: str, job: Any, sealed: bytes, station: str) -> None:
    """What the fetcher does once a download is verified: a synced part file, then
    ``Inbox.store``, with the platform's reception time (now)."""
    from outbox.platform import MailboxItem
    from refplatform.storage import iso_utc

    part = inbox.part_path(job.bundle_id)
    with part.open("wb") as out:
        out.write(sealed)
        out.flush()
        os.fsync(out.fileno())
    digest = hashlib.sha256(sealed).hexdigest()
    received = iso_utc(time.time())  # as the platform says it: after the signing time
    item = MailboxItem(job.bundle_id, job.kind, len(sealed), digest, station, received)
    inbox.store(recipient, item, part)


def hand_over(source: Station, target: Station, recipient: str, station: str) -> int:
    """Every job of ``source``'s outbox still queued, addressed to ``recipient``: stored in
    ``target``'s inbox, then cancelled at ``source`` (as if delivered: no sender runs here).
    Returns how many."""
    count = 0
    for job in source.outbox.jobs():
        if job.recipient_id != recipient or job.state != JobState.QUEUED:
            continue
        sealed = source.outbox.spool_path(job.bundle_id).read_bytes()
        _deliver(target.inbox, recipient, job, sealed, station)
        if job.kind == "receipt":  # a request or an opinion is acknowledged by its receipt
            source.outbox.cancel(job.bundle_id, "other")
        count += 1
    return count


def write_directory(layout: Any) -> list[Any]:
    """The platform's directory, written where ``refresh_directory`` keeps it, without the
    network."""
    from outbox.platform import DirectoryEntry
    from outbox.spool import atomic_write
    from refplatform import accounts
    from refplatform.db import open_database

    raw = accounts.directory(open_database(layout.platform / "data"))
    entries = [DirectoryEntry(**r) for r in raw]
    for folder in (layout.unit, layout.hospital):
        atomic_write(folder / "directory.json", json.dumps(raw).encode("utf-8"))
    return entries


def _small_photos() -> list[Any]:
    from PIL import Image

    import resources
    from cases.photos import Photo

    photos = []
    for n, path in enumerate(resources.sample_photos(), 1):
        with Image.open(path) as image:
            width, height = image.size
        photos.append(Photo(f"photo-{n}.jpg", path.read_bytes(), width, height))
    return photos


def big_photos(folder: Path, count: int = BIG_PHOTOS) -> list[Path]:
    """``count`` 3000 x 2000 JPEGs of about 2.8 MB (a textured skin scene with noise)."""
    import numpy as np

    from tests.support.scenes import encode_jpeg, skin_scene

    folder.mkdir(parents=True, exist_ok=True)
    scene = skin_scene(*BIG_SIZE, seed=1).astype(np.int16)
    paths = []
    for n in range(count):
        noise = np.random.default_rng(n).normal(0, 13, scene.shape).astype(np.int16)
        jpeg = encode_jpeg(np.clip(scene + noise, 0, 255).astype(np.uint8), 92)
        path = folder / f"big-{n + 1}.jpg"
        path.write_bytes(jpeg)
        paths.append(path)
    return paths


def photos_of(paths: Sequence[Path]) -> tuple[Any, ...]:
    from cases.photos import Photo

    return tuple(Photo(f"photo-{n}.jpg", p.read_bytes(), *BIG_SIZE) for n, p in enumerate(paths, 1))


def make_request(number: int, photos: Sequence[Any], created: Any = None) -> Any:
    from cases.model import Case, utc_now

    return Case(
        patient_ref=f"P-{number:05d}",
        consent=True,
        specialty="dermatology",
        summary="Plaque érythémateuse squameuse du coude droit, prurigineuse, depuis trois mois.",
        treatments="Émollients, dermocorticoïde classe II pendant deux semaines.",
        question="Psoriasis ? Quel traitement local proposer ?",
        photos=tuple(photos),
        created_at=created if created is not None else utc_now(),
    )


def request_of(thread: Any) -> Any:
    """The request of a thread (a ``cases.model.Case``)."""
    case = thread.case.bundle.case
    assert case is not None
    return case


_OUTCOMES = ("on_site", "new_request", "more_information", "consultation", "urgent_transfer")


@contextlib.contextmanager
def without_fsync() -> Iterator[None]:
    """``os.fsync`` does nothing meanwhile: making the data is not measured, and a thousand
    requests would otherwise wait for the disk some 10,000 times (SQLite's own syncs stay)."""
    real = os.fsync

    def no_sync(fd: Any) -> None:
        del fd

    os.fsync = no_sync
    try:
        yield
    finally:
        os.fsync = real


def make_dataset(template: Path, root: Path, requests: int) -> dict[str, int]:
    """A copy of the demo where the doctor sent ``requests`` requests (four small photos
    each, one every six hours up to now), the specialist answered every other one (an
    opinion asking to see the lesion again in 4 weeks every other time), and receipts went
    both ways; every bundle lies where a real exchange leaves it (the sender's archive, the
    addressee's inbox), acknowledged jobs included. The index files are then removed: the
    next listing ingests everything (as after an upgrade, or a rebuilt index).

    Returns how many bundles each person's listing opens.
    """
    from app import demo
    from cases.model import Opinion, utc_now

    shutil.copytree(template, root)
    layout = demo.DemoLayout(root)
    entries = write_directory(layout)
    to = next(e for e in entries if e.id == "pr-dubois")
    unit, hospital = Station(layout.unit), Station(layout.hospital)
    try:
        doctor, expert = unit.unlock("dr-bernard"), hospital.unlock("pr-dubois")
        photos, now = _small_photos(), utc_now()
        for n in range(requests):
            created = now - timedelta(hours=6 * (requests - n))
            unit.workstation.send_case(doctor, make_request(n, photos, created), to)
        hand_over(unit, hospital, "pr-dubois", "demo-unit")
        threads, _unreadable = hospital.workstation.threads(expert)  # ingests, sends receipts
        for n, thread in enumerate(sorted(threads, key=lambda t: request_of(t).created_at)):
            if n % 2:
                continue
            case = request_of(thread)
            opinion = Opinion(
                thread.case_id,
                "Psoriasis en plaques probable. Dermocorticoïde fort le soir, quatre semaines.",
                created_at=case.created_at + timedelta(hours=30),
                outcome=_OUTCOMES[(n // 2) % len(_OUTCOMES)],
                review_weeks=4 if n % 4 == 0 else None,
            )
            hospital.workstation.send_opinion(expert, thread, opinion)
        hand_over(hospital, unit, "dr-bernard", "demo-hospital")  # receipts and opinions
        unit.workstation.threads(doctor)  # acknowledges the requests, sends receipts
        hand_over(unit, hospital, "pr-dubois", "demo-unit")
        hospital.workstation.threads(expert)  # acknowledges the opinions
        counts = {
            "doctor": len(unit.workstation._sources(doctor)),
            "specialist": len(hospital.workstation._sources(expert)),
        }
    finally:
        unit.close()
        hospital.close()
    for station in (layout.unit, layout.hospital):
        shutil.rmtree(station / "index", ignore_errors=True)
    return counts
