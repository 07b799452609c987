"""``passavant bundle``: sealed bundles (``passavant audit`` is :mod:`app.commands.audit`).

- ``bundle seal --signer S --to CERT ... -o OUT.p7m PATH...``: a bundle of files (format 1,
  ``docs/bundle-format.md``) signed by S (an identity of the profile or a ``.p12`` file) and
  encrypted to every ``--to`` (a certificate file or an address-book name) and to the signer.
- ``bundle open IN --as IDENTITY -o DIR``, ``bundle verify IN --as IDENTITY``: decrypt, verify
  the signature and the signer's chain (the profile's trust store, plus ``--trust CA.pem``),
  check the manifest; ``open`` writes the manifest and files, ``verify`` writes nothing.
  ``open`` refuses a bundle id opened before on this profile (a replay) unless ``--again``.
- ``bundle inspect IN``: the outer envelope only (recipients, algorithms, sizes); no key.

Passphrases come from ``--passphrase-file FILE`` (first line) or a prompt on a terminal
(never the keyring)
(:mod:`app.commands.keys`). Every action appends to the profile's audit journal (ids,
fingerprints and sizes; never content). Failures are one plain line and a non-zero status
(``app.commands.common.dispatch``).
"""

from __future__ import annotations

import argparse
import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from cryptography import x509

from app.commands.common import CommandError
from app.commands.keys import (
    audited,
    cli_profile,
    journal_event,
    passphrase_options,
    read_input,
    trust_anchors,
    trust_crls,
    unlock_identity,
)
from app.i18n import _
from app.messages import human_size
from cases.bundle import OpenedRegistry, Party, check_file_name, pack_files, unpack
from cases.model import new_id
from cases.profile import Profile
from cases.trust import AddressBook
from crypto import cms, pki
from crypto.errors import MalformedMessage
from outbox.spool import atomic_write


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Adds ``bundle`` (``audit`` is :mod:`app.commands.audit`'s)."""
    _register_bundle(subparsers)


def _register_bundle(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    bundle = subparsers.add_parser("bundle", help="seal, open, verify or inspect a bundle")
    sub = bundle.add_subparsers(dest="bundle_command", required=True, metavar="ACTION")
    seal = sub.add_parser("seal", help="sign and encrypt files into a bundle")
    seal.add_argument("--signer", required=True, metavar="SIGNER", help="identity or FILE.p12")
    seal.add_argument(
        "--to", action="append", required=True, metavar="CERT", help="certificate file or name"
    )
    seal.add_argument("-o", "--output", type=Path, required=True, metavar="OUT.p7m")
    seal.add_argument("--case-id", metavar="ID", help="the case this bundle belongs to")
    seal.add_argument("--trust", action="append", type=Path, default=[], metavar="CA.pem")
    seal.add_argument("paths", nargs="+", type=Path, metavar="PATH")
    passphrase_options(seal)
    seal.set_defaults(handler=audited("bundle.seal", _bundle_seal))

    helps = {"open": "decrypt, verify, write out", "verify": "decrypt and verify only"}
    for action, text in helps.items():
        parser = sub.add_parser(action, help=text)
        parser.add_argument("file", type=Path, metavar="IN.p7m")
        parser.add_argument("--as", dest="reader", required=True, metavar="IDENTITY")
        parser.add_argument("--trust", action="append", type=Path, default=[], metavar="CA.pem")
        if action == "open":
            parser.add_argument("-o", "--output", type=Path, required=True, metavar="DIR")
            parser.add_argument("--again", action="store_true", help="allow a second opening")
        passphrase_options(parser)
        parser.set_defaults(handler=audited(f"bundle.{action}", _bundle_open))

    inspect_ = sub.add_parser("inspect", help="describe the outer envelope (no key needed)")
    inspect_.add_argument("file", type=Path, metavar="IN.p7m")
    inspect_.set_defaults(handler=audited("bundle.inspect", _bundle_inspect))


def _payload(paths: list[Path]) -> dict[str, bytes]:
    """The files to seal, named by their path relative to each given directory."""
    files: dict[str, bytes] = {}
    for given in paths:
        if given.is_dir():
            found = [(p, p.relative_to(given).as_posix()) for p in sorted(given.rglob("*"))]
        elif given.is_file():
            found = [(given, given.name)]
        else:
            raise CommandError(_("fichier introuvable : {path}").format(path=given))
        for path, name in found:
            if path.is_dir():
                continue
            if path.is_symlink() or not path.is_file():
                raise CommandError(_("{path} n’est pas un fichier ordinaire.").format(path=path))
            try:
                check_file_name(name)
            except ValueError as exc:
                raise CommandError(_("nom de fichier refusé : {name}").format(name=name)) from exc
            if name.casefold() in {n.casefold() for n in files}:
                raise CommandError(_("deux fichiers portent le nom {name}.").format(name=name))
            files[name] = read_input(path, _("fichier"))
    if not files:
        raise CommandError(_("aucun fichier à sceller."))
    return files


def _bundle_seal(args: argparse.Namespace) -> int:
    profile = cli_profile(args)
    if args.output.exists():
        raise CommandError(_("{path} existe déjà.").format(path=args.output))
    files = _payload(args.paths)
    signer = unlock_identity(args, profile, args.signer)
    book = AddressBook(profile.addressbook_path)
    recipients = [book.resolve(spec) for spec in args.to]
    if pki.can_decrypt(signer.cert):  # the signer keeps a readable copy
        recipients.append(signer.cert)
    anchors = trust_anchors(profile, args.trust)
    for cert in recipients:
        pki.validate_certificate(
            cert, anchors, purpose="encrypt", **trust_crls(profile, pki.validate_certificate)
        )
    unique = {pki.fingerprint(c): c for c in recipients}
    parties = [
        signer.party if fp == signer.party.fingerprint else Party.of_certificate(c)
        for fp, c in unique.items()
    ]
    bundle_id = new_id()
    plain = pack_files(bundle_id, files, signer.party, parties, "request", args.case_id)
    sign_cert, sign_key, extras = signer.signer()
    sealed = cms.seal(plain, sign_cert, sign_key, list(unique.values()), extra_certificates=extras)
    atomic_write(args.output, sealed)
    journal_event(
        profile,
        "bundle_sealed",
        signer.actor,
        bundle_id=bundle_id,
        signer=signer.party.fingerprint,
        recipients=list(unique),
        size=len(sealed),
        files=len(files),
    )
    print(
        _(
            "Document {id} scellé dans {path} : {count} fichier(s), {size}, pour {n} "
            "destinataire(s)."
        ).format(
            id=bundle_id,
            path=args.output,
            count=len(files),
            size=human_size(len(sealed)),
            n=len(unique),
        )
    )
    return 0


def _bundle_open(args: argparse.Namespace) -> int:
    profile = cli_profile(args)
    writing = args.bundle_command == "open"
    if (
        writing
        and args.output.exists()
        and (not args.output.is_dir() or any(args.output.iterdir()))
    ):
        raise CommandError(_("le dossier {path} n’est pas vide.").format(path=args.output))
    sealed = read_input(args.file, _("document"))
    me = unlock_identity(args, profile, args.reader)
    verified = cms.open_sealed(
        sealed,
        me.cert,
        me.key,
        trust_anchors(profile, args.trust),
        **trust_crls(profile, cms.open_sealed),
    )
    signer = pki.fingerprint(verified.signer)
    bundle = unpack(
        verified.content, signer_fingerprint=signer, reader_fingerprint=me.party.fingerprint
    )
    manifest = bundle.manifest
    registry = OpenedRegistry(profile.db_path)
    first = registry.opened_at(manifest.bundle_id)
    if writing:
        if not args.again:
            registry.check(manifest.bundle_id)
        _write_out(args.output, bundle.manifest_json, dict(bundle.files))
        if first is None:
            registry.record(manifest.bundle_id, me.party.fingerprint)
    event = "bundle_opened" if writing else "bundle_verified"
    journal_event(
        profile,
        event,
        me.actor,
        bundle_id=manifest.bundle_id,
        kind=manifest.kind,
        signer=signer,
        reader=me.party.fingerprint,
        size=len(sealed),
        files=len(manifest.files),
    )
    signed_at = verified.signed_at.strftime("%Y-%m-%d %H:%M UTC") if verified.signed_at else "?"
    print(
        _(
            "Document {id} ({kind}) de {sender}, empreinte {fp}, signé le {when} : signature, "
            "chaîne et manifeste vérifiés, {count} fichier(s)."
        ).format(
            id=manifest.bundle_id,
            kind=manifest.kind,
            sender=manifest.sender.display_name,
            fp=signer,
            when=signed_at,
            count=len(manifest.files),
        )
    )
    if first is not None:
        print(
            _("Déjà ouvert sur ce poste le {when}.").format(when=first.strftime("%Y-%m-%d %H:%M"))
        )
    if writing:
        print(_("Manifeste et fichiers écrits dans {path}.").format(path=args.output))
    return 0


def _write_out(folder: Path, manifest: bytes, files: dict[str, bytes]) -> None:
    """Write the manifest and files under ``folder`` (owner-only), never outside it."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    root = folder.resolve()
    for name, data in [("manifest.json", manifest), *sorted(files.items())]:
        target = (root / name).resolve()
        if root not in target.parents:
            raise CommandError(_("nom de fichier refusé : {name}").format(name=name))
        target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(data)


def _bundle_inspect(args: argparse.Namespace) -> int:
    profile = cli_profile(args)
    data = read_input(args.file, _("document"))
    for line in _describe_envelope(data, list(_known_certificates(profile))):
        print(line)
    if profile.root.is_dir():
        journal_event(profile, "bundle_inspected", "cli", size=len(data))
    return 0


def _known_certificates(profile: Profile) -> Iterator[tuple[str, x509.Certificate]]:
    """Names to show next to recipients: the profile's identities and contacts."""
    for info in profile.identities():
        with contextlib.suppress(OSError, MalformedMessage):
            path = profile.identity_folder(info.id) / "cert.pem"
            yield info.display_name, pki.load_cert_pem(path.read_bytes())
    with contextlib.suppress(Exception):
        for contact in AddressBook(profile.addressbook_path).contacts():
            yield contact.name, contact.certificate


_KEY_AGREEMENT = {
    "1.3.132.1.11.1": "ECDH dhSinglePass-stdDH-sha256kdf-scheme",
    "1.3.132.1.11.2": "ECDH dhSinglePass-stdDH-sha384kdf-scheme",
    "1.3.132.1.11.3": "ECDH dhSinglePass-stdDH-sha512kdf-scheme",
    "1.3.133.16.840.63.0.2": "ECDH dhSinglePass-stdDH-sha1kdf-scheme",
}


def _describe_envelope(data: bytes, known: list[tuple[str, x509.Certificate]]) -> list[str]:
    """The outer envelope of a sealed bundle, in French lines: what anyone may see."""
    from asn1crypto import cms as asn1_cms

    try:
        info = asn1_cms.ContentInfo.load(data)
        kind = info["content_type"].native
        if kind not in ("authenticated_enveloped_data", "enveloped_data"):
            raise MalformedMessage(f"not an enveloped message: {kind}")
        content = info["content"]
        authenticated = kind == "authenticated_enveloped_data"
        encrypted = content[
            "auth_encrypted_content_info" if authenticated else "encrypted_content_info"
        ]
        algorithm = encrypted["content_encryption_algorithm"]["algorithm"].native
        ciphertext = encrypted["encrypted_content"].native or b""
        lines = [
            _("Enveloppe : {kind}, {size} en tout.").format(
                kind="AuthEnvelopedData (RFC 5083)" if authenticated else "EnvelopedData",
                size=human_size(len(data)),
            ),
            _("Chiffrement du contenu : {algorithm}, {size} chiffrés.").format(
                algorithm=algorithm, size=human_size(len(ciphertext))
            ),
        ]
        if authenticated:
            lines.append(
                _("Étiquette d’authentification : {n} octets.").format(n=len(content["mac"].native))
            )
        recipients = [r for ri in content["recipient_infos"] for r in _recipients(ri, known)]
    except MalformedMessage:
        raise
    except (ValueError, TypeError, KeyError, IndexError) as exc:
        raise MalformedMessage("not a readable CMS envelope") from exc
    for number, (transport, who) in enumerate(recipients, 1):
        lines.append(
            _("Destinataire {n} : {transport} ; {who}").format(
                n=number, transport=transport, who=who
            )
        )
    lines.append(
        _(
            "Le signataire, le manifeste et les fichiers ne se lisent qu’après "
            "déchiffrement (bundle open ou verify)."
        )
    )
    return lines


def _recipients(ri: Any, known: list[tuple[str, x509.Certificate]]) -> list[tuple[str, str]]:
    """``(key transport, identifier)`` for each recipient a RecipientInfo designates."""
    from asn1crypto import cms as asn1_cms

    chosen = ri.chosen
    if ri.name == "ktri":
        algorithm = chosen["key_encryption_algorithm"]
        transport = str(algorithm["algorithm"].native)
        if transport == "rsaes_oaep":
            digest = algorithm["parameters"]["hash_algorithm"]["algorithm"].native
            transport = f"RSA-OAEP ({digest})"
        return [(transport, _identifier(chosen["rid"], known))]
    if ri.name == "kari":
        algorithm = chosen["key_encryption_algorithm"]
        oid = algorithm["algorithm"].dotted
        transport = _KEY_AGREEMENT.get(oid, oid)
        with contextlib.suppress(ValueError, TypeError, KeyError):
            wrap = asn1_cms.KeyEncryptionAlgorithm.load(algorithm["parameters"].dump())
            transport += f" + {wrap['algorithm'].native}"
        return [
            (transport, _identifier(key["rid"], known))
            for key in chosen["recipient_encrypted_keys"]
        ]
    return [(str(ri.name), _("identifiant non décrit"))]


def _identifier(rid: Any, known: list[tuple[str, x509.Certificate]]) -> str:
    """A recipient identifier, with the name of a known certificate it designates."""
    if rid.name == "issuer_and_serial_number":
        issuer, serial = rid.chosen["issuer"], rid.chosen["serial_number"].native
        text = _("émetteur {issuer}, numéro de série {serial:x}").format(
            issuer=issuer.human_friendly, serial=serial
        )
        names = [
            n
            for n, c in known
            if c.serial_number == serial and c.issuer.public_bytes() == issuer.dump()
        ]
    else:
        key_id = bytes(rid.chosen.native)
        text = _("identifiant de clé {id}").format(id=key_id.hex())
        names = [n for n, c in known if _key_identifier(c) == key_id]
    return f"{text} [{names[0]}]" if names else text


def _key_identifier(cert: x509.Certificate) -> bytes | None:
    try:
        return cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    except x509.ExtensionNotFound:
        return None
