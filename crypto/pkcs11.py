"""Signing keys that live on a PKCS#11 token: a health professional's card (CPS, IGC Santé)
through its middleware, or SoftHSM2 in tests.

A :class:`TokenSigningKey` is an ``rsa.RSAPrivateKey`` whose ``sign`` runs on the token, so
that everything that signs with a software key (``crypto.cms.sign`` and ``seal``, a PAdES
signature) signs with the card unchanged: RSASSA-PSS (``CKM_SHA256_RSA_PKCS_PSS``) and
PKCS#1 v1.5 (``CKM_SHA256_RSA_PKCS``) over SHA-2. It never decrypts and never exports
anything: the card holds a signing key only, so an identity's decryption key stays a
software key (``cases.cardidentity``). Only RSA card keys are accepted (CPS cards are
RSA-2048).

The PIN is passed to ``C_Login`` and dropped: never stored, never logged. What the token
says is mapped to errors with stable codes (``app.card_text`` words them): a wrong PIN
(``card_pin_wrong``, or ``card_pin_wrong_low`` / ``card_pin_wrong_final`` when the token
flags few tries left or the last one), a blocked PIN (``card_locked``, the PIN is not even
tried), a token that is not there or went away (``card_absent``), a missing module
(``card_module_missing``), no such key (``card_key_missing``) or one of another kind
(``card_key_unsupported``).

One logged-in session per token and process: opening a token again (the desk unlocked
again) logs in again with the PIN typed, and the key objects handed out before go on
working through the new session.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import pkcs11
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from pkcs11 import exceptions as p11

from crypto._keys import MIN_RSA_BITS
from crypto.errors import CryptoError

__all__ = [
    "CardAbsent",
    "CardError",
    "CardKeyMissing",
    "CardKeyUnsupported",
    "CardLocked",
    "CardModuleMissing",
    "CardPinWrong",
    "CardSlot",
    "TokenSigningKey",
    "generate_signing_key",
    "open_signing_key",
    "pin_state",
    "read_certificate",
    "store_certificate",
]

log = logging.getLogger(__name__)

_COUNT_LOW = 0x00010000  # CKF_USER_PIN_COUNT_LOW
_FINAL_TRY = 0x00020000  # CKF_USER_PIN_FINAL_TRY
_LOCKED = 0x00040000  # CKF_USER_PIN_LOCKED
_CARD_KEY_BITS = 2048  # what a CPS card holds; tests generate the same on SoftHSM


class CardError(CryptoError):
    """The card could not be used; ``code`` says why (see the module's documentation)."""

    code = "card_error"


class CardModuleMissing(CardError):
    """The PKCS#11 module (the card's middleware) cannot be loaded."""

    code = "card_module_missing"


class CardAbsent(CardError):
    """No token with this label answers (card not in the reader, reader unplugged), or it
    went away while in use."""

    code = "card_absent"


class CardPinWrong(CardError):
    """A wrong PIN; ``tries`` is what the token says of the tries left: ``"final"`` (one more
    wrong PIN blocks the card), ``"low"`` (few left) or ``None`` (it does not say)."""

    def __init__(self, tries: str | None) -> None:
        super().__init__("the card refused the PIN")
        self.tries = tries
        self.code = {"final": "card_pin_wrong_final", "low": "card_pin_wrong_low"}.get(
            tries or "", "card_pin_wrong"
        )


class CardLocked(CardError):
    """The card's PIN is blocked (too many wrong PINs): only its issuer can unblock it."""

    code = "card_locked"


class CardKeyMissing(CardError):
    """The token has no private key (or certificate) with that label."""

    code = "card_key_missing"


class CardKeyUnsupported(CardError):
    """The token's key is not an RSA key of at least 2048 bits."""

    code = "card_key_unsupported"


@dataclass(frozen=True)
class CardSlot:
    """Where a signing key is: the PKCS#11 module's path, the token's label, the key's."""

    module: str
    token_label: str
    key_label: str


_libraries: dict[str, Any] = {}
_sessions: dict[tuple[str, str], Any] = {}
_keys: dict[tuple[str, str, str], TokenSigningKey] = {}
_registry_lock = threading.Lock()


def _library(module: str) -> Any:
    """The loaded module (``C_Initialize`` once per process, whatever name the file is
    reached by)."""
    if not Path(module).is_file():
        raise CardModuleMissing(f"no PKCS#11 module at {module}")
    real = os.path.realpath(module)
    if real not in _libraries:
        try:
            _libraries[real] = pkcs11.lib(real)
        except (OSError, RuntimeError) as exc:
            raise CardModuleMissing(f"the PKCS#11 module {module} does not load") from exc
    return _libraries[real]


def _token(slot: CardSlot) -> Any:
    """The token labelled ``slot.token_label``; a slot whose token went away (it fails to
    answer) is skipped, so that one removed card does not hide the others."""
    library = _library(slot.module)
    try:
        slots = list(library.get_slots(token_present=True))
    except (p11.PKCS11Error, RuntimeError) as exc:
        raise CardAbsent("the card readers do not answer") from exc
    found = []
    for candidate in slots:
        try:
            token = candidate.get_token()
            if token.label == slot.token_label:
                found.append(token)
        except (p11.PKCS11Error, RuntimeError):
            continue
    if len(found) != 1:
        raise CardAbsent(f"{len(found)} tokens labelled {slot.token_label!r}")
    return found[0]


def _token_key(slot: CardSlot) -> tuple[str, str]:
    return os.path.realpath(slot.module), slot.token_label


def pin_state(slot: CardSlot) -> str | None:
    """What the token says of its PIN: ``"locked"``, ``"final"`` (last try), ``"low"`` (a
    wrong PIN was typed lately) or ``None``. Raises :class:`CardAbsent` and
    :class:`CardModuleMissing`."""
    return pin_state_of(int(_token(slot).flags))


def pin_state_of(flags: int) -> str | None:
    """:func:`pin_state` from a token's flags already read."""
    if flags & _LOCKED:
        return "locked"
    if flags & _FINAL_TRY:
        return "final"
    if flags & _COUNT_LOW:
        return "low"
    return None


def _login(slot: CardSlot, pin: str, *, rw: bool = False) -> Any:
    """A session logged in with ``pin``; the one this process had on the token is closed
    first (``C_Login`` is per process, and the PIN typed must be checked again)."""
    if pin_state(slot) == "locked":
        raise CardLocked(f"the PIN of {slot.token_label!r} is blocked")
    token = _token(slot)
    with _registry_lock:
        previous = _sessions.pop(_token_key(slot), None)
    if previous is not None:
        _close_quietly(previous)
    try:
        session = token.open(rw=rw, user_pin=pin)
    except p11.PinLocked as exc:
        raise CardLocked(f"the PIN of {slot.token_label!r} is blocked") from exc
    except (p11.PinIncorrect, p11.PinInvalid, p11.PinLenRange) as exc:
        log.info("the card %s refused the PIN", slot.token_label)
        try:
            state = pin_state(slot)
        except CardError:
            state = None
        if state == "locked":
            raise CardLocked(f"the PIN of {slot.token_label!r} is now blocked") from exc
        raise CardPinWrong(state) from exc
    except (p11.PKCS11Error, RuntimeError) as exc:
        raise CardAbsent(f"the token {slot.token_label!r} does not answer") from exc
    with _registry_lock:
        _sessions[_token_key(slot)] = session
    return session


def _close_quietly(session: Any) -> None:
    with contextlib.suppress(p11.PKCS11Error, RuntimeError):  # the token went away
        session.close()


def _private_key(session: Any, slot: CardSlot) -> Any:
    try:
        return session.get_key(object_class=pkcs11.ObjectClass.PRIVATE_KEY, label=slot.key_label)
    except (p11.NoSuchKey, p11.MultipleObjectsReturned) as exc:
        raise CardKeyMissing(f"no single private key labelled {slot.key_label!r}") from exc
    except (p11.PKCS11Error, RuntimeError) as exc:
        raise CardAbsent("the token does not answer") from exc


def _public_of(handle: Any) -> rsa.RSAPublicKey:
    try:
        if handle.key_type != pkcs11.KeyType.RSA:
            raise CardKeyUnsupported("the card's key is not an RSA key")
        modulus = int.from_bytes(handle[pkcs11.Attribute.MODULUS], "big")
        exponent = int.from_bytes(handle[pkcs11.Attribute.PUBLIC_EXPONENT], "big")
    except (p11.PKCS11Error, RuntimeError) as exc:
        raise CardAbsent("the token does not answer") from exc
    try:
        public = rsa.RSAPublicNumbers(exponent, modulus).public_key()
    except ValueError as exc:
        raise CardKeyUnsupported("the card's key is not a valid RSA key") from exc
    if public.key_size < MIN_RSA_BITS:
        raise CardKeyUnsupported(f"the card's key has {public.key_size} bits")
    return public


def open_signing_key(slot: CardSlot, pin: str) -> TokenSigningKey:
    """Log in to the token with ``pin`` and return its signing key.

    Raises:
        CardModuleMissing, CardAbsent, CardLocked, CardPinWrong, CardKeyMissing,
        CardKeyUnsupported: as the module's documentation says.
    """
    session = _login(slot, pin)
    handle = _private_key(session, slot)
    public = _public_of(handle)
    index = (*_token_key(slot), slot.key_label)
    with _registry_lock:
        key = _keys.get(index)
        if key is not None and key.public_key() == public:
            key._bind(session, handle)
        else:
            key = _keys[index] = TokenSigningKey(slot, session, handle, public)
    log.info("card %s opened", slot.token_label)
    return key


def generate_signing_key(slot: CardSlot, pin: str) -> rsa.RSAPublicKey:
    """Generate an RSA-2048 signing key pair on the token (a test card: a real CPS card
    comes with its key), and return its public key.

    Raises: as :func:`open_signing_key`; ``CardKeyMissing`` never (``CardError`` when the
    token refuses to generate).
    """
    session = _login(slot, pin, rw=True)
    try:
        _pub, handle = session.generate_keypair(
            pkcs11.KeyType.RSA,
            _CARD_KEY_BITS,
            label=slot.key_label,
            store=True,
            capabilities=pkcs11.MechanismFlag.SIGN | pkcs11.MechanismFlag.VERIFY,
            private_template={
                pkcs11.Attribute.SENSITIVE: True,
                pkcs11.Attribute.EXTRACTABLE: False,
            },
        )
    except (p11.PKCS11Error, RuntimeError) as exc:
        raise CardError("the token did not generate the key pair") from exc
    return _public_of(handle)


def store_certificate(slot: CardSlot, pin: str, certificate: x509.Certificate) -> None:
    """Write ``certificate`` on the token under the key's label, as a card carries its own."""
    session = _login(slot, pin, rw=True)
    try:
        session.create_object(
            {
                pkcs11.Attribute.CLASS: pkcs11.ObjectClass.CERTIFICATE,
                pkcs11.Attribute.CERTIFICATE_TYPE: pkcs11.CertificateType.X_509,
                pkcs11.Attribute.TOKEN: True,
                pkcs11.Attribute.LABEL: slot.key_label,
                pkcs11.Attribute.SUBJECT: certificate.subject.public_bytes(),
                pkcs11.Attribute.VALUE: certificate.public_bytes(serialization.Encoding.DER),
            }
        )
    except (p11.PKCS11Error, RuntimeError) as exc:
        raise CardError("the token did not store the certificate") from exc


def read_certificate(slot: CardSlot) -> x509.Certificate:
    """The certificate the token holds under the key's label (public: no PIN needed).

    Raises:
        CardKeyMissing: No single such certificate, or one that does not parse.
        CardAbsent, CardModuleMissing: As :func:`open_signing_key`.
    """
    try:
        session = _token(slot).open()
        try:
            found = list(
                session.get_objects(
                    {
                        pkcs11.Attribute.CLASS: pkcs11.ObjectClass.CERTIFICATE,
                        pkcs11.Attribute.LABEL: slot.key_label,
                    }
                )
            )
            values = [bytes(o[pkcs11.Attribute.VALUE]) for o in found]
        finally:
            _close_quietly(session)
    except (p11.PKCS11Error, RuntimeError) as exc:
        raise CardAbsent("the token does not answer") from exc
    if len(values) != 1:
        raise CardKeyMissing(f"{len(values)} certificates labelled {slot.key_label!r}")
    try:
        return x509.load_der_x509_certificate(values[0])
    except ValueError as exc:
        raise CardKeyMissing("the card's certificate does not parse") from exc


def _mechanism(pad: padding.AsymmetricPadding, algorithm: Any) -> tuple[Any, Any]:
    """The PKCS#11 mechanism (and parameter) for pyca's ``padding`` and hash."""
    if isinstance(algorithm, Prehashed):
        raise TypeError("the card signs the data itself, not a pre-computed hash")
    names = {"sha256": "SHA256", "sha384": "SHA384", "sha512": "SHA512"}
    name = names.get(getattr(algorithm, "name", ""))
    if name is None:
        raise ValueError("the card signs with SHA-256, SHA-384 or SHA-512 only")
    if isinstance(pad, padding.PKCS1v15):
        return getattr(pkcs11.Mechanism, f"{name}_RSA_PKCS"), None
    if isinstance(pad, padding.PSS):
        salt = getattr(pad, "_salt_length", None)  # pyca keeps it private
        if salt is padding.PSS.DIGEST_LENGTH:
            salt = algorithm.digest_size
        if not isinstance(salt, int):
            raise ValueError("the card needs an explicit PSS salt length")
        mgf_hash = getattr(getattr(pad, "_mgf", None), "_algorithm", None)
        if getattr(mgf_hash, "name", None) != algorithm.name:
            raise ValueError("the card's PSS uses MGF1 with the same hash")
        params = (getattr(pkcs11.Mechanism, name), getattr(pkcs11.MGF, name), salt)
        return getattr(pkcs11.Mechanism, f"{name}_RSA_PKCS_PSS"), params
    raise ValueError("the card signs with PKCS#1 v1.5 or PSS padding only")


class TokenSigningKey(rsa.RSAPrivateKey):
    """An RSA private key that stays on its token: :meth:`sign` asks the token, the rest of
    pyca's private-key interface refuses (nothing leaves the card, it does not decrypt)."""

    def __init__(self, slot: CardSlot, session: Any, handle: Any, public: rsa.RSAPublicKey):
        self.slot = slot
        self._session = session
        self._handle = handle
        self._public = public
        self._lock = threading.Lock()  # a PKCS#11 session is used by one thread at a time

    def _bind(self, session: Any, handle: Any) -> None:
        with self._lock:
            self._session, self._handle = session, handle

    def sign(
        self,
        data: bytes,
        padding: padding.AsymmetricPadding,
        algorithm: Any,
    ) -> bytes:
        mechanism, params = _mechanism(padding, algorithm)
        with self._lock:
            try:
                signature = self._handle.sign(
                    bytes(data), mechanism=mechanism, mechanism_param=params
                )
            except (p11.PKCS11Error, RuntimeError) as exc:
                _absent(self.slot, exc)
        log.debug("signed on the card %s", self.slot.token_label)
        return bytes(signature)

    def close(self) -> None:
        """Log out of the token (closes this process's session on it)."""
        with _registry_lock:
            session = _sessions.pop(_token_key(self.slot), None)
        if session is not None:
            _close_quietly(session)

    def public_key(self) -> rsa.RSAPublicKey:
        return self._public

    @property
    def key_size(self) -> int:
        return self._public.key_size

    def decrypt(self, ciphertext: bytes, padding: padding.AsymmetricPadding) -> bytes:
        raise TypeError("a card's signing key does not decrypt")

    def private_numbers(self) -> rsa.RSAPrivateNumbers:
        raise TypeError("a card's key never leaves the card")

    def private_bytes(self, encoding: Any, format: Any, encryption_algorithm: Any) -> bytes:
        raise TypeError("a card's key never leaves the card")

    def __copy__(self) -> TokenSigningKey:
        return self

    def __deepcopy__(self, memo: dict[int, object]) -> TokenSigningKey:
        return self

    def __repr__(self) -> str:
        return f"<TokenSigningKey {self.slot.token_label}/{self.slot.key_label}>"


def _absent(slot: CardSlot, exc: BaseException) -> NoReturn:
    log.warning("the card %s did not sign (%s)", slot.token_label, type(exc).__name__)
    raise CardAbsent(f"the token {slot.token_label!r} did not sign") from exc
