"""The bundle: the plaintext that gets signed and encrypted.

A bundle is a ZIP archive (stored, not deflated: the photos are JPEG already) holding
``manifest.json``, the case or opinion as JSON, and the photos. The manifest names the
sender and every recipient by certificate fingerprint, *inside the signed content*, so a
recipient can tell that a bundle was really meant for them and was not re-encrypted and
forwarded by somebody else ("surreptitious forwarding").
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from dataclasses import dataclass
from datetime import datetime

from cases.errors import BundleError
from cases.model import Case, Opinion
from cases.photos import Photo

FORMAT = "passavant-bundle/1"


@dataclass(frozen=True)
class Party:
    """A person taking part in an exchange: mailbox id, name and certificate fingerprint."""

    mailbox: str
    display_name: str
    fingerprint: str

    def to_json(self) -> dict[str, str]:
        return {
            "mailbox": self.mailbox,
            "display_name": self.display_name,
            "fingerprint": self.fingerprint,
        }


@dataclass(frozen=True)
class Manifest:
    bundle_id: str
    kind: str  # "case" or "opinion"
    sender: Party
    recipients: tuple[Party, ...]
    files: dict[str, str]  # name -> sha256


@dataclass(frozen=True)
class Bundle:
    manifest: Manifest
    case: Case | None = None
    opinion: Opinion | None = None


def pack_case(bundle_id: str, case: Case, sender: Party, recipients: list[Party]) -> bytes:
    """Serialise a case with its photos; ``recipients`` includes the sender's own copy."""
    files = {"case.json": _json(case.to_json())}
    files.update({f"photos/{p.name}": p.data for p in case.photos})
    return _pack(bundle_id, "case", sender, recipients, files)


def pack_opinion(bundle_id: str, opinion: Opinion, sender: Party, recipients: list[Party]) -> bytes:
    return _pack(
        bundle_id, "opinion", sender, recipients, {"opinion.json": _json(opinion.to_json())}
    )


def unpack(data: bytes, *, signer_fingerprint: str, reader_fingerprint: str) -> Bundle:
    """Parse a verified bundle and check it is coherent and addressed to the reader.

    Raises:
        BundleError: ``malformed_bundle``, ``sender_mismatch`` (the signer is not the
            sender the manifest names) or ``not_addressed_to_you``.
    """
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            contents = {info.filename: archive.read(info) for info in archive.infolist()}
        raw = json.loads(contents["manifest.json"])
        if raw.get("format") != FORMAT:
            raise BundleError("malformed_bundle", f"unknown format {raw.get('format')!r}")
        manifest = Manifest(
            bundle_id=str(raw["bundle_id"]),
            kind=str(raw["kind"]),
            sender=_party(raw["sender"]),
            recipients=tuple(_party(r) for r in raw["recipients"]),
            files={str(k): str(v) for k, v in raw["files"].items()},
        )
        for name, digest in manifest.files.items():
            if hashlib.sha256(contents[name]).hexdigest() != digest:
                raise BundleError("malformed_bundle", f"{name} does not match its digest")
        if manifest.sender.fingerprint != signer_fingerprint:
            raise BundleError("sender_mismatch", "the signer is not the bundle's sender")
        if reader_fingerprint not in {r.fingerprint for r in manifest.recipients}:
            raise BundleError("not_addressed_to_you", "the bundle does not name this reader")
        if manifest.kind == "case":
            return Bundle(manifest, case=_case(json.loads(contents["case.json"]), contents))
        if manifest.kind == "opinion":
            return Bundle(manifest, opinion=_opinion(json.loads(contents["opinion.json"])))
        raise BundleError("malformed_bundle", f"unknown kind {manifest.kind!r}")
    except BundleError:
        raise
    except (zipfile.BadZipFile, KeyError, ValueError, TypeError) as exc:
        raise BundleError("malformed_bundle", f"not a Passavant bundle: {exc!r}") from exc


def _pack(
    bundle_id: str, kind: str, sender: Party, recipients: list[Party], files: dict[str, bytes]
) -> bytes:
    manifest = {
        "format": FORMAT,
        "bundle_id": bundle_id,
        "kind": kind,
        "sender": sender.to_json(),
        "recipients": [r.to_json() for r in recipients],
        "files": {name: hashlib.sha256(data).hexdigest() for name, data in files.items()},
    }
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_STORED) as archive:
        archive.writestr("manifest.json", _json(manifest))
        for name, data in files.items():
            archive.writestr(name, data)
    return out.getvalue()


def _json(value: object) -> bytes:
    return json.dumps(value, ensure_ascii=False, indent=1, sort_keys=True).encode("utf-8")


def _party(raw: dict[str, str]) -> Party:
    return Party(str(raw["mailbox"]), str(raw["display_name"]), str(raw["fingerprint"]))


def _case(raw: dict[str, object], contents: dict[str, bytes]) -> Case:
    photos = []
    for meta in raw["photos"]:  # type: ignore[attr-defined]
        name = str(meta["name"])
        photos.append(
            Photo(name, contents[f"photos/{name}"], int(meta["width"]), int(meta["height"]))
        )
    return Case(
        case_id=str(raw["case_id"]),
        created_at=datetime.fromisoformat(str(raw["created_at"])),
        patient_ref=str(raw["patient_ref"]),
        consent=bool(raw["consent"]),
        specialty=str(raw["specialty"]),
        summary=str(raw["summary"]),
        treatments=str(raw["treatments"]),
        question=str(raw["question"]),
        photos=tuple(photos),
    )


def _opinion(raw: dict[str, object]) -> Opinion:
    return Opinion(
        case_id=str(raw["case_id"]),
        opinion_id=str(raw["opinion_id"]),
        created_at=datetime.fromisoformat(str(raw["created_at"])),
        text=str(raw["text"]),
    )
