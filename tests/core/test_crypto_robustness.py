"""Robustness of sealing and opening: property-based round trips over RSA and EC mixes,
every single-byte flip and every truncation of a bundle, and a bounded fuzz run.

Whatever is done to a bundle, opening it either fails with a :class:`CryptoError` subclass
or yields the authentic content from the authentic signer: never another exception, never
other content. Generated keys live in module fixtures (RSA key generation is slow). The
random choices (positions, changes, mutations, hypothesis examples) use fixed seeds; the
bundles themselves differ from run to run (fresh content keys, nonces and ephemeral keys),
which the assertions allow for: they name the position and change of any failure.
"""

from __future__ import annotations

import functools
import random
import subprocess
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from hypothesis import given, settings
from hypothesis import strategies as st

from crypto import _der, cms, pki
from crypto.errors import CryptoError, MalformedMessage, NotARecipient, TruncatedMessage
from tests.support.pki import world
from tests.support.tools import require_tool

CONTENT = b"Case 2026-0042: lesion on the left forearm; consent recorded.\n"
CHUNK = 1 << 20  # crypto's work chunk: sizes around it are worth a round trip


@dataclass(frozen=True)
class Who:
    name: str
    cert: x509.Certificate
    key: pki.PrivateKey

    def __repr__(self) -> str:  # short, for hypothesis' falsifying examples
        return self.name


@dataclass(frozen=True)
class People:
    """Signers and readers, RSA and EC, all under the RSA test CA."""

    roots: list[x509.Certificate]
    signers: list[Who]
    readers: list[Who]


@functools.cache
def people() -> People:
    w = world()

    def ec_person(name: str, role: str) -> Who:
        key = pki.new_private_key("ec")
        cert = pki.issue_person_certificate(
            w.ca.cert, w.ca.key, key.public_key(), common_name=name, role=role,
            organization="USMP Fresnes", can_decrypt=True,
        )  # fmt: skip
        return Who(name, cert, key)

    rsa_doctor = Who("rsa-doctor", w.doctor.cert, w.doctor.key)
    ec_doctor = ec_person("ec-doctor", "doctor")
    readers = [
        rsa_doctor,
        Who("rsa-specialist", w.specialist.cert, w.specialist.key),
        Who("rsa-other-specialist", w.other_specialist.cert, w.other_specialist.key),
        ec_doctor,
        ec_person("ec-specialist", "specialist"),
        ec_person("ec-unit", "unit"),
    ]
    return People(w.roots, [rsa_doctor, ec_doctor], readers)


@pytest.fixture(scope="module")
def p() -> People:
    return people()


@pytest.fixture(scope="module")
def bundle(p: People) -> bytes:
    """A small bundle: EC signer, three recipients (RSA specialist, EC unit, EC doctor)."""
    signer = p.signers[1]
    recipients = [p.readers[1].cert, p.readers[5].cert, p.readers[3].cert]
    return cms.seal(CONTENT, signer.cert, signer.key, recipients)


def sized(size: int) -> bytes:
    return random.Random(size).randbytes(size)


CONTENTS = st.one_of(
    st.binary(max_size=3000),
    st.sampled_from([0, 1, CHUNK - 1, CHUNK, CHUNK + 1]).map(sized),
)


# --- property-based round trips -----------------------------------------------------------


@settings(max_examples=40, deadline=None, derandomize=True, database=None)
@given(content=CONTENTS, count=st.sampled_from([1, 3]), data=st.data())
def test_seal_open_round_trip(p: People, content: bytes, count: int, data: st.DataObject) -> None:
    signer = data.draw(st.sampled_from(p.signers), label="signer")
    chosen = data.draw(
        st.lists(st.sampled_from(p.readers), min_size=count, max_size=count, unique=True),
        label="recipients",
    )
    sealed = cms.seal(content, signer.cert, signer.key, [r.cert for r in chosen])
    for reader in chosen:
        opened = cms.open_sealed(sealed, reader.cert, reader.key, p.roots)
        assert opened.content == content
        assert opened.signer == signer.cert
    outsiders = [r for r in p.readers if r not in chosen]
    outsider = data.draw(st.sampled_from(outsiders), label="outsider")
    with pytest.raises(NotARecipient):
        cms.open_sealed(sealed, outsider.cert, outsider.key, p.roots)


@settings(max_examples=40, deadline=None, derandomize=True, database=None)
@given(content=st.binary(max_size=3000), data=st.data())
def test_sign_verify_and_encrypt_decrypt_round_trips(
    p: People, content: bytes, data: st.DataObject
) -> None:
    signer = data.draw(st.sampled_from(p.signers), label="signer")
    reader = data.draw(st.sampled_from(p.readers), label="reader")
    verified = cms.verify(cms.sign(content, signer.cert, signer.key), p.roots)
    assert verified.content == content
    assert cms.decrypt(cms.encrypt(content, [reader.cert]), reader.cert, reader.key) == content


# --- single-byte flips ----------------------------------------------------------------------


def open_or_error(sealed: bytes, reader: Who, p: People) -> str:
    """``"opened"`` after checking the content is the authentic one, else the error's name.

    Any exception that is not a ``CryptoError`` propagates and fails the test.
    """
    try:
        opened = cms.open_sealed(sealed, reader.cert, reader.key, p.roots)
    except CryptoError as exc:
        return type(exc).__name__
    assert opened.content == CONTENT, "a damaged bundle opened to other content"
    assert opened.signer == p.signers[1].cert
    return "opened"


def recipient_entries(bundle: bytes) -> list[_der.Tlv]:
    """The RecipientInfo elements of a sealed bundle, where they lie in it."""
    buf = memoryview(bundle)
    outer = _der.children(buf, _der.read_whole(buf, _der.SEQUENCE))
    body = _der.children(buf, outer[1])[0]  # [0] EXPLICIT AuthEnvelopedData
    return _der.children(buf, _der.children(buf, body)[1])  # version, recipientInfos, …


def own_entry(bundle: bytes, reader: Who) -> _der.Tlv:
    serial = reader.cert.serial_number.to_bytes(20, "big").lstrip(b"\0")
    (entry,) = [e for e in recipient_entries(bundle) if serial in bundle[e.start : e.end]]
    return entry


def test_a_thousand_single_byte_flips(p: People, bundle: bytes) -> None:
    rng = random.Random(20261124)
    readers = [p.readers[1], p.readers[5]]  # one RSA (key transport), one EC (key agreement)
    own = {reader.name: own_entry(bundle, reader) for reader in readers}
    others = {
        reader.name: [e for e in recipient_entries(bundle) if e != own[reader.name]]
        for reader in readers
    }
    outcomes: Counter[str] = Counter()
    for index in range(1000):
        reader = readers[index % 2]
        position, change = rng.randrange(len(bundle)), rng.randrange(1, 256)
        damaged = bytearray(bundle)
        damaged[position] ^= change
        outcome = open_or_error(bytes(damaged), reader, p)  # authentic content if it opens
        outcomes[outcome] += 1
        if outcome != "opened":
            continue
        # What may be changed without consequence: another recipient's entry, and the
        # letter case of our issuer's name (names match case-insensitively, RFC 5280 §7.1).
        elsewhere = any(e.offset <= position < e.stop for e in others[reader.name])
        entry = own[reader.name]
        case_only = (
            entry.offset <= position < entry.stop
            and change == 0x20
            and chr(bundle[position]).isalpha()
        )
        assert elsewhere or case_only, (reader.name, position, change)
    assert sum(outcomes.values()) == 1000
    assert outcomes["DecryptionFailed"] > 300, outcomes  # most flips hit the ciphertext


@pytest.mark.parametrize("reader_index", [1, 5], ids=["rsa-key-transport", "ec-key-agreement"])
def test_every_flip_of_our_own_recipient_entry_is_refused(
    p: People, bundle: bytes, reader_index: int
) -> None:
    """The exhaustive complement of the random flips: our entry protects our key, so every
    change to any of its bytes is refused (two changes per byte: lowest bit, all bits)."""
    reader = p.readers[reader_index]
    entry = own_entry(bundle, reader)
    outcomes: Counter[str] = Counter()
    for position in range(entry.offset, entry.stop):
        for change in (0x01, 0xFF):
            damaged = bytearray(bundle)
            damaged[position] ^= change
            outcomes[open_or_error(bytes(damaged), reader, p)] += 1
    assert "opened" not in outcomes, outcomes
    assert sum(outcomes.values()) == 2 * (entry.stop - entry.offset) > 300


# --- truncation -----------------------------------------------------------------------------


def test_every_truncation_of_a_bundle_is_truncated(p: People, bundle: bytes) -> None:
    reader = p.readers[1]
    with pytest.raises(MalformedMessage) as caught:
        cms.open_sealed(b"", reader.cert, reader.key, p.roots)
    assert caught.value.code == "malformed"
    for cut in range(1, len(bundle)):
        with pytest.raises(TruncatedMessage) as caught:
            cms.open_sealed(bundle[:cut], reader.cert, reader.key, p.roots)
        assert caught.value.code == "truncated"


def test_a_deletion_inside_the_structure_is_malformed_not_truncated(
    p: People, bundle: bytes
) -> None:
    """A missing byte also makes the data shorter than announced; inside the recipient
    information it breaks the structure, which tells it from a cut. (Inside the ciphertext,
    a primitive value, it cannot be told apart and reads as truncated.)"""
    reader = p.readers[1]
    entries = recipient_entries(bundle)
    for position in range(entries[0].offset, entries[-1].stop):
        damaged = bundle[:position] + bundle[position + 1 :]
        with pytest.raises(MalformedMessage) as caught:
            cms.open_sealed(damaged, reader.cert, reader.key, p.roots)
        assert caught.value.code == "malformed", position


def test_every_truncation_of_a_signed_message_is_truncated(p: People) -> None:
    signer = p.signers[0]
    signed = cms.sign(CONTENT, signer.cert, signer.key)
    for cut in range(1, len(signed), 3):
        with pytest.raises(TruncatedMessage):
            cms.verify(signed[:cut], p.roots)


def test_truncated_ber_stream_from_openssl(p: People, tmp_path: Path) -> None:
    openssl = require_tool("openssl")
    reader = p.readers[5]
    (tmp_path / "unit.pem").write_bytes(pki.cert_to_pem(reader.cert))
    (tmp_path / "content.bin").write_bytes(CONTENT * 20)
    args = [openssl, "cms", "-encrypt", "-binary", "-aes-256-gcm", "-recip", "unit.pem",
            "-keyopt", "ecdh_kdf_md:sha256", "-stream", "-in", "content.bin",
            "-outform", "DER", "-out", "enveloped.ber"]  # fmt: skip
    done = subprocess.run(args, cwd=tmp_path, capture_output=True, check=False, timeout=60)
    assert done.returncode == 0, done.stderr
    ber = (tmp_path / "enveloped.ber").read_bytes()
    assert ber.startswith(b"\x30\x80")  # indefinite lengths: only the end-of-contents bound it
    assert cms.decrypt(ber, reader.cert, reader.key) == CONTENT * 20
    outcomes: Counter[str] = Counter()
    for cut in range(1, len(ber)):
        with pytest.raises(MalformedMessage) as caught:
            cms.decrypt(ber[:cut], reader.cert, reader.key)
        outcomes[caught.value.code] += 1
    assert outcomes == {"truncated": len(ber) - 1}


# --- bounded fuzzing ------------------------------------------------------------------------


def elements(data: bytes) -> list[tuple[int, int]]:
    """The (start, stop) of every DER element of ``data``, nested ones included."""
    buf = memoryview(data)
    found: list[tuple[int, int]] = []

    def walk(element: _der.Tlv, depth: int) -> None:
        found.append((element.offset, element.stop))
        if element.constructed and depth < 12:
            for child in _der.children(buf, element):
                walk(child, depth + 1)

    walk(_der.read_whole(buf, _der.SEQUENCE), 0)
    return found


Mutation = Callable[[random.Random, bytearray], None]


def mutations(corpus: list[bytes]) -> list[Mutation]:
    pieces = [message[a:b] for message in corpus for a, b in elements(message) if b - a < 4096]
    spans = {message: elements(message) for message in corpus}

    def flip_bits(rng: random.Random, data: bytearray) -> None:
        for _ in range(rng.randint(1, 4)):
            data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)

    def insert(rng: random.Random, data: bytearray) -> None:
        at = rng.randrange(len(data) + 1)
        data[at:at] = rng.randbytes(rng.randint(1, 8))

    def delete(rng: random.Random, data: bytearray) -> None:
        at = rng.randrange(len(data))
        del data[at : at + rng.randint(1, 16)]

    def splice(rng: random.Random, data: bytearray) -> None:
        """Replace one element by an element of any corpus message (or a copy of itself)."""
        own = spans.get(bytes(data))
        if own:
            start, stop = rng.choice(own)
        else:
            start = rng.randrange(len(data))
            stop = min(len(data), start + rng.randint(1, 64))
        data[start:stop] = rng.choice(pieces)

    def bad_length(rng: random.Random, data: bytearray) -> None:
        at = rng.randrange(len(data))
        data[at] = rng.choice([0x00, 0x7F, 0x80, 0x81, 0x84, 0x88, 0x89, 0xFF])

    return [flip_bits, insert, delete, splice, bad_length]


@pytest.fixture(scope="module")
def corpus(p: People, bundle: bytes) -> list[bytes]:
    rsa_signer = p.signers[0]
    other = cms.seal(b"another case", rsa_signer.cert, rsa_signer.key, [p.readers[5].cert])
    signed = cms.sign(CONTENT, rsa_signer.cert, rsa_signer.key)
    return [bundle, other, signed]


def fuzz_runs(seed: int, seconds: float, minimum: int, limit: int) -> Iterator[random.Random]:
    """A seeded generator: ``minimum`` iterations, then more until ``seconds`` have passed,
    ``limit`` in all at most (so a loaded machine runs fewer, never none)."""
    rng = random.Random(seed)
    deadline = time.monotonic() + seconds
    for index in range(limit):
        if index >= minimum and time.monotonic() > deadline:
            return
        yield rng


def test_bounded_fuzz_of_open_sealed(p: People, corpus: list[bytes]) -> None:
    bundle, other, signed = corpus
    reader = p.readers[5]  # a recipient of both bundles
    authentic = {CONTENT, b"another case"}
    operations = mutations(corpus)
    outcomes: Counter[str] = Counter()
    runs = 0
    for rng in fuzz_runs(seed=5753, seconds=4.0, minimum=300, limit=6000):
        runs += 1
        data = bytearray(rng.choice([bundle, bundle, other, signed]))
        for _ in range(rng.randint(1, 3)):
            if data:
                rng.choice(operations)(rng, data)
        try:
            opened = cms.open_sealed(bytes(data), reader.cert, reader.key, p.roots)
        except CryptoError as exc:
            outcomes[exc.code] += 1
            continue
        assert opened.content in authentic
        outcomes["opened"] += 1
    assert runs >= 300, runs
    assert sum(outcomes.values()) == runs
    assert len(outcomes) >= 4, outcomes  # several kinds of failure were reached


def test_bounded_fuzz_of_verify(p: People, corpus: list[bytes]) -> None:
    """SignedData alone is not protected by encryption: its parsing meets every mutation."""
    signed = corpus[2]
    operations = mutations(corpus)
    outcomes: Counter[str] = Counter()
    runs = 0
    for rng in fuzz_runs(seed=5652, seconds=3.0, minimum=300, limit=4000):
        runs += 1
        data = bytearray(signed)
        for _ in range(rng.randint(1, 3)):
            if data:
                rng.choice(operations)(rng, data)
        try:
            verified = cms.verify(bytes(data), p.roots)
        except CryptoError as exc:
            outcomes[exc.code] += 1
            continue
        assert verified.content == CONTENT
        assert verified.signer == p.signers[0].cert
        outcomes["opened"] += 1
    assert runs >= 300, runs
    assert len(outcomes) >= 4, outcomes


def test_fixture_keys_match_their_certificates(p: People) -> None:
    """Sanity check of the fixtures themselves: every reader's key matches its certificate
    (a mix-up would make the flip tests vacuous)."""
    for who in p.readers:
        public = who.key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        assert public == who.cert.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
