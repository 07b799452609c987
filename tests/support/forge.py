"""Forged bundles for end-to-end tests: people the demo CA vouches for, and bundles they
pack, sign and seal by hand, then deliver through the real platform (or drop in an inbox).

A forger here holds a genuine certificate of the trusted demo CA (the demo's secretary, or a
person issued one for the test: another unit's doctor, another hospital's specialist) and
uses any station's queue to upload: the platform checks station tokens, not who signed.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from collections.abc import Callable, Iterable
from typing import Any

from app.demo import DEMO_PASSPHRASE, DemoLayout
from app.session import Session
from cases.bundle import Party
from cases.profile import IdentityInfo, UnlockedIdentity
from crypto import audit, cms, pki
from outbox.platform import MailboxItem


def issue(
    layout: DemoLayout, identity: str, name: str, role: str, organization: str
) -> UnlockedIdentity:
    """A person the demo CA certifies but no workstation of the demo knows (an EC key: quick
    to make; a secretary's certificate cannot be encrypted to)."""
    ca_cert = pki.load_cert_pem((layout.ca / "ca.pem").read_bytes())
    ca_key = pki.load_private_key(layout.ca / "ca.key", DEMO_PASSPHRASE.encode(), kind="any")
    key = pki.new_private_key("ec")
    cert = pki.issue_person_certificate(
        ca_cert,
        ca_key,
        key.public_key(),
        common_name=name,
        role=role,
        organization=organization,
        can_decrypt=role != "secretary",
    )
    return UnlockedIdentity(IdentityInfo(identity, name, role, organization), cert, key)


def party(me: UnlockedIdentity) -> Party:
    """``me`` as a manifest names them when nobody lies."""
    return Party.of_certificate(me.certificate, me.info.id)


def deliver(
    station: Session,
    signer: UnlockedIdentity,
    bundle_id: str,
    kind: str,
    plain: bytes,
    mailbox: str,
    certificates: Iterable[pki.x509.Certificate],
) -> bytes:
    """Sign ``plain`` as ``signer``, encrypt it to ``certificates`` and queue it at
    ``station`` for ``mailbox``; returns the sealed bytes."""
    sealed = cms.seal(plain, signer.certificate, signer.key, list(certificates))
    station.outbox.enqueue(bundle_id, mailbox, mailbox, kind, sealed)
    station.sender.wake()
    return sealed


def drop_in_inbox(
    station: Session,
    mailbox: str,
    bundle_id: str,
    data: bytes,
    kind: str = "opinion",
    *,
    received_at: str = "",
) -> None:
    """Store ``data`` in ``station``'s inbox as if the fetcher had downloaded it (again),
    the platform saying it received it at ``received_at`` (ISO 8601; "" says nothing).

    Written under a name of its own, not the fetcher's ``.part``: the station's running
    fetcher removes the downloads in progress of bundles its mailbox no longer lists, and
    once took this one away between its writing and its storing."""
    part = station.inbox.directory / f"{bundle_id}.dropped"
    part.write_bytes(data)
    digest = hashlib.sha256(data).hexdigest()
    item = MailboxItem(bundle_id, kind, len(data), digest, "", received_at)
    station.inbox.store(mailbox, item, part)


def in_inbox(station: Session, mailbox: str) -> set[str]:
    return {item.bundle_id for item in station.inbox.items(mailbox)}


def rezip(
    data: bytes,
    manifest: Callable[[dict[str, Any]], None] | None = None,
    files: dict[str, bytes] | None = None,
) -> bytes:
    """A bundle's ZIP written again, ``manifest`` first, after editing its manifest and
    adding ``files`` (nothing is hashed again: the edit says what the manifest lists)."""
    with zipfile.ZipFile(io.BytesIO(data)) as source:
        contents = {info.filename: source.read(info) for info in source.infolist()}
    raw = json.loads(contents.pop("manifest.json"))
    if manifest is not None:
        manifest(raw)
    contents.update(files or {})
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as target:
        target.writestr("manifest.json", json.dumps(raw, ensure_ascii=False))
        for name, body in contents.items():
            target.writestr(name, body)
    return out.getvalue()


def listed(name: str, body: bytes) -> dict[str, object]:
    """The manifest's entry for a payload file ``body`` named ``name``."""
    return {
        "name": name,
        "media_type": "text/plain",
        "size": len(body),
        "sha256": hashlib.sha256(body).hexdigest(),
    }


def refusals(station: Session) -> list[tuple[str, str]]:
    """``bundle_refused`` events of ``station``'s journal: (bundle id, code), in order."""
    return [
        (str(e.details["bundle_id"]), str(e.details["code"]))
        for e in audit.read(station.profile.audit_path)
        if e.event == "bundle_refused"
    ]


def events(station: Session, event: str) -> list[str]:
    """The bundle ids of ``station``'s journal events ``event``, in order."""
    return [
        str(e.details["bundle_id"])
        for e in audit.read(station.profile.audit_path)
        if e.event == event
    ]
