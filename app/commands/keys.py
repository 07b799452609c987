"""What the ``identity``, ``trust``, ``contact``, ``bundle`` and ``audit`` commands share.

The profile a command works on, its audit journal (every command is journalled, failures by
their code only), passphrases (``--passphrase-file``, or a prompt on a terminal; never the
keyring; a new one must pass ``crypto.passphrase``'s policy), and unlocking an identity of
the profile (through ``Profile.unlock``: the delay after wrong passphrases, the re-wrapping of
an old key file) or a ``.p12`` file. See
:mod:`app.commands.identity` and :mod:`app.commands.bundle` for the commands themselves.
"""

from __future__ import annotations

import argparse
import contextlib
import getpass
import logging
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from app.commands.common import CommandError
from app.i18n import _
from app.messages import passphrase_reason, unlock_delay_reason
from cases import cardidentity
from cases.bundle import Party
from cases.profile import IdentityInfo, Profile, UnlockDelayed
from cases.trust import TrustStore, load_certificate
from crypto import audit, pki
from crypto.errors import MalformedMessage, WrongPassphrase
from crypto.passphrase import check_passphrase
from crypto.pkcs12 import import_pkcs12

Handler = Callable[[argparse.Namespace], int]
ROLES = ("doctor", "secretary", "specialist", "unit")
CA_KEY_NAMES = ("ca.key", "ca-key.pem", "ca.key.pem")


def passphrase_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--passphrase-file", type=Path, metavar="FILE", help="read the passphrase from FILE"
    )


class CodedCommandError(CommandError):
    """A :class:`CommandError` with the stable code of what went wrong, which ``audited``
    journals (``unlock_delayed``, ``passphrase_too_short``…)."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.code = code


def cli_profile(args: argparse.Namespace) -> Profile:
    from app.cli import default_profile

    return Profile(args.profile or default_profile())


def journal_event(profile: Profile, event: str, actor: str, **details: Any) -> None:
    """Append to the profile's audit journal (ids, fingerprints and sizes only)."""
    try:
        audit.append(profile.audit_path, event, actor=actor, details=details)
    except OSError as exc:
        raise CommandError(
            _("impossible d’écrire le journal d’audit {path}.").format(path=profile.audit_path)
        ) from exc


def audited(command: str, handler: Handler) -> Handler:
    """Run ``handler``; journal a failure (its code only) when the profile exists."""

    def run(args: argparse.Namespace) -> int:
        quiet_console(args)
        try:
            return handler(args)
        except Exception as error:
            code = getattr(error, "code", None)
            profile = cli_profile(args)
            if profile.root.is_dir():
                with contextlib.suppress(OSError, audit.AuditError):
                    audit.append(
                        profile.audit_path,
                        "command_failed",
                        actor="cli",
                        details={
                            "command": command,
                            "code": code if isinstance(code, str) else type(error).__name__,
                        },
                    )
            raise

    return run


def quiet_console(args: argparse.Namespace) -> None:
    """Keep the console to the command's own lines: ``app.cli`` logs INFO to stderr, which
    would add log lines around the one-line failure (``-v`` keeps them)."""
    if getattr(args, "verbose", False):
        return
    for handler in logging.getLogger().handlers:
        if type(handler) is logging.StreamHandler and handler.stream in (
            sys.stderr,
            sys.__stderr__,
        ):
            handler.setLevel(logging.WARNING)


def read_input(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise CommandError(_("{what} illisible : {path}").format(what=what, path=path)) from exc


def read_passphrase(
    args: argparse.Namespace,
    profile: Profile | None = None,
    identity_id: str | None = None,
    *,
    prompt: str,
    confirm: bool = False,
    file_option: str = "passphrase_file",
) -> bytes:
    """From ``--passphrase-file`` (a file its owner protects), else a prompt on a terminal;
    never from the keyring: nothing remembered stands in for the person's own passphrase
    (ARCHITECTURE.md, "The shared desk"). ``profile`` and ``identity_id`` name whose it is."""
    del profile, identity_id  # kept for the callers' clarity: whose passphrase is asked
    path: Path | None = getattr(args, file_option, None)
    if path is not None:
        lines = read_input(path, _("fichier de mot de passe")).decode("utf-8").splitlines()
        return (lines[0] if lines else "").encode("utf-8")
    if not sys.stdin.isatty():
        raise CommandError(
            _("mot de passe requis : utilisez --passphrase-file, ou lancez depuis un terminal.")
        )
    first = getpass.getpass(prompt)
    if confirm and getpass.getpass(_("Confirmez le mot de passe : ")) != first:
        raise CommandError(_("les deux mots de passe diffèrent."))
    return first.encode("utf-8")


def passphrase_problems(profile: Profile, secret: bytes, names: tuple[str, ...]) -> list[str]:
    """The policy's objections to ``secret`` as a new passphrase of ``profile``
    (``crypto.passphrase``: the demonstration's passphrase only in a demo profile)."""
    return check_passphrase(secret.decode("utf-8"), demo=profile.demo, names=names)


def refuse_weak_passphrase(profile: Profile, secret: bytes, names: tuple[str, ...]) -> None:
    """Stop the command when ``secret`` may not become a passphrase of ``profile``."""
    if not secret:
        raise CommandError(_("le mot de passe ne peut pas être vide."))
    problems = passphrase_problems(profile, secret, names)
    if problems:
        raise CodedCommandError(passphrase_reason(problems), problems[0])


def refuse_if_delayed(profile: Profile, identity_id: str) -> None:
    """Stop before asking for a passphrase that would not even be tried."""
    left = profile.unlock_delay(identity_id)
    if left > 0:
        raise CodedCommandError(unlock_delay_reason(left), UnlockDelayed.code)


@contextlib.contextmanager
def unlock_errors(profile: Profile, identity_id: str) -> Iterator[None]:
    """Turn what ``Profile.unlock`` refuses into one plain line."""
    try:
        yield
    except UnlockDelayed as exc:
        raise CodedCommandError(unlock_delay_reason(exc.seconds_left), exc.code) from exc
    except OSError as exc:
        raise CommandError(
            _("{what} illisible : {path}").format(
                what=_("fichier de l’identité"),
                path=exc.filename or profile.identity_folder(identity_id),
            )
        ) from exc


def name_slug(name: str) -> str:
    slug = cardidentity.name_slug(name)
    if not slug:
        raise CommandError(_("indiquez --id : aucun identifiant ne se déduit de ce nom."))
    return slug


def checked_identity_id(identity_id: str) -> str:
    """An identity id is a folder name and a platform mailbox: a plain token."""
    if not cardidentity.valid_identity_id(identity_id):
        raise CommandError(
            _("identifiant refusé : {id} (lettres, chiffres, point, tiret).").format(id=identity_id)
        )
    return identity_id


def organization_of(cert: x509.Certificate) -> str:
    found = cert.subject.get_attributes_for_oid(x509.NameOID.ORGANIZATION_NAME)
    return str(found[0].value) if found else ""


@dataclass(frozen=True)
class Unlocked:
    """An identity whose key is unlocked for this command (memory only)."""

    cert: x509.Certificate
    key: Any  # pki.PrivateKey: RSA or EC
    party: Party
    actor: str  # for the audit journal: identity id, or fingerprint of a .p12's certificate
    secret: bytes  # the passphrase that unlocked it
    # a card identity (cases.cardidentity) signs with the card's certificate and key, and
    # embeds ``cert`` beside them: see ``signer`` below
    card: tuple[x509.Certificate, Any] | None = None

    def signer(self) -> tuple[x509.Certificate, Any, tuple[x509.Certificate, ...]]:
        """The certificate and key to sign with, and what the signature embeds besides."""
        if self.card is None:
            return self.cert, self.key, ()
        return self.card[0], self.card[1], (self.cert,)


def find_identity(profile: Profile, wanted: str) -> IdentityInfo:
    identities = profile.identities()
    for info in identities:
        if info.id == wanted:
            return info
    named = [i for i in identities if i.display_name.casefold() == wanted.casefold()]
    if len(named) == 1:
        return named[0]
    raise CommandError(
        _("aucune identité « {name} » dans le profil {root}.").format(
            name=wanted, root=profile.root
        )
    )


def unlock_identity(args: argparse.Namespace, profile: Profile, spec: str) -> Unlocked:
    """An identity of the profile (id or name) or a PKCS#12 file, unlocked."""
    path = Path(spec).expanduser()
    if path.suffix.lower() in (".p12", ".pfx") or (path.is_file() and "/" in spec):
        secret = read_passphrase(args, prompt=_("Mot de passe de {file} : ").format(file=path.name))
        key, cert, _chain = import_pkcs12(read_input(path, _("fichier PKCS#12")), secret)
        unlocked = Unlocked(cert, key, Party.of_certificate(cert), pki.fingerprint(cert), secret)
    else:
        info = find_identity(profile, spec)
        refuse_if_delayed(profile, info.id)
        secret = read_passphrase(
            args,
            profile,
            info.id,
            prompt=_("Mot de passe de {name} : ").format(name=info.display_name),
        )
        with unlock_errors(profile, info.id):  # the app's own path: delay, re-wrapping
            me = profile.unlock(info.id, secret)
        party = Party(info.id, info.display_name, me.fingerprint, info.role, info.organization)
        card = None if me.signing_key is None else (me.signer_certificate, me.signer_key)
        unlocked = Unlocked(me.certificate, me.key, party, info.id, secret, card)
    journal_event(
        profile, "identity_unlocked", unlocked.actor, fingerprint=unlocked.party.fingerprint
    )
    return unlocked


def load_ca(args: argparse.Namespace, folder: Path) -> tuple[x509.Certificate, Any]:
    key_path = next((folder / n for n in CA_KEY_NAMES if (folder / n).is_file()), None)
    if not (folder / "ca.pem").is_file() or key_path is None:
        raise CommandError(
            _("pas d’autorité dans {dir} : il y faut ca.pem et sa clé ca.key.").format(dir=folder)
        )
    cert = load_certificate(read_input(folder / "ca.pem", _("certificat")))
    data = read_input(key_path, _("clé de l’autorité"))
    try:
        key = serialization.load_pem_private_key(data, None)
    except TypeError:  # encrypted: ask for its passphrase
        secret = read_passphrase(
            args,
            prompt=_("Mot de passe de la clé de l’autorité : "),
            file_option="ca_passphrase_file",
        )
        try:
            key = serialization.load_pem_private_key(data, secret)
        except ValueError as exc:
            raise WrongPassphrase("the CA key passphrase is wrong") from exc
    except ValueError as exc:
        raise MalformedMessage("the CA key file is not a PEM private key") from exc
    if key.public_key() != cert.public_key():
        raise CommandError(_("la clé {file} n’est pas celle de ca.pem.").format(file=key_path.name))
    return cert, key


def trust_anchors(profile: Profile, extra: list[Path]) -> list[x509.Certificate]:
    """The profile's trust anchors, plus the CAs given with ``--trust`` for this call."""
    anchors = TrustStore(profile.trust_dir).anchors()
    for path in extra:
        data = read_input(path, _("certificat"))
        try:
            anchors.extend(
                x509.load_pem_x509_certificates(data)
                if b"-----BEGIN" in data
                else [x509.load_der_x509_certificate(data)]
            )
        except ValueError as exc:
            raise CommandError(_("{path} n’est pas un certificat.").format(path=path)) from exc
    return anchors


def trust_crls(profile: Profile, function: Callable[..., Any]) -> dict[str, Any]:
    crls = TrustStore(profile.trust_dir).crls()
    return {"crls": crls} if crls else {}
