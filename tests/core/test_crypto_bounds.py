"""Bounded work on hostile CMS (issue 15): every message costs at most a bounded multiple of
its size and fails with a ``CryptoError``.

The hostile messages are made here, as raw DER/BER bytes: tiny segments by the million,
nesting, wide elements, and content encrypted with AES-128/192-GCM (by hand, and by
``openssl cms`` when it is installed). Real messages re-segmented into bulk segments (what
``openssl cms -stream`` writes) still open. A hypothesis run walks generated BER trees and
counts the elements the reader visits.
"""

from __future__ import annotations

import os
import subprocess
import time
import tracemalloc
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import pytest
from asn1crypto import algos, core
from asn1crypto import cms as asn1_cms
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crypto import _der, _ktri, cms
from crypto._asn1 import GcmParams
from crypto.errors import CryptoError, MalformedMessage, TruncatedMessage
from tests.support.pki import World, world
from tests.support.tools import require_tool

CONTENT = os.urandom(64 * 1024 + 321)
HOSTILE_SIZE = 5 * 1024 * 1024
SECONDS = 2.0  # generous: each hostile input below is refused in milliseconds
PEAK_BYTES = 16 * 1024 * 1024  # allocated while refusing (the input itself excluded)


@pytest.fixture(scope="module")
def w() -> World:
    return world()


@pytest.fixture(scope="module")
def signed(w: World) -> bytes:
    return cms.sign(CONTENT, w.doctor.cert, w.doctor.key)


@pytest.fixture(scope="module")
def sealed(w: World) -> bytes:
    return cms.seal(CONTENT, w.doctor.cert, w.doctor.key, [w.specialist.cert])


# --- building messages ----------------------------------------------------------------------


def tlv(tag: int, *contents: bytes) -> bytes:
    body = b"".join(contents)
    return _der.header(tag, len(body)) + body


def ber(tag: int, *contents: bytes) -> bytes:
    """An element of indefinite length."""
    return bytes((tag, 0x80)) + b"".join(contents) + b"\x00\x00"


def segmented(
    content: bytes, sizes: list[int], *, tag: int = 0x24, definite: bool = False
) -> bytes:
    """``content`` as a constructed OCTET STRING of segments of ``sizes`` (the rest last)."""
    parts, at = [], 0
    for size in sizes:
        parts.append(tlv(_der.OCTET_STRING, content[at : at + size]))
        at += size
    if at < len(content):
        parts.append(tlv(_der.OCTET_STRING, content[at:]))
    return tlv(tag, *parts) if definite else ber(tag, *parts)


def fields(message: bytes) -> list[bytes]:
    """The encoded fields of a ContentInfo's content (SignedData or AuthEnvelopedData)."""
    buf = memoryview(message)
    top = _der.children(buf, _der.read_whole(buf, _der.SEQUENCE))
    (content,) = _der.children(buf, top[1])
    return [_der.element_bytes(buf, f) for f in _der.children(buf, content)]


def content_info(kind: str, items: list[bytes], *, definite: bool = False) -> bytes:
    oid = asn1_cms.ContentType(kind).dump()
    if definite:
        return tlv(_der.SEQUENCE, oid, tlv(0xA0, tlv(_der.SEQUENCE, *items)))
    return ber(_der.SEQUENCE, oid, ber(0xA0, ber(_der.SEQUENCE, *items)))


def signed_with(
    signed: bytes, octet_string: bytes, *, definite: bool = False, **swap: bytes
) -> bytes:
    """``signed`` with its content replaced by ``octet_string`` (an encoded OCTET STRING,
    DER or segmented) and, by name, other fields replaced."""
    version, digests, _encap, certificates, infos = fields(signed)
    data = asn1_cms.ContentType("data").dump()
    wrapper = tlv if definite else ber
    encap = wrapper(_der.SEQUENCE, data, wrapper(0xA0, octet_string))
    certificates = swap.get("certificates", certificates)
    infos = swap.get("infos", infos)
    return content_info(
        "signed_data", [version, digests, encap, certificates, infos], definite=definite
    )


def sealed_with(
    sealed: bytes, encrypted_content: bytes, *, definite: bool = False, **swap: bytes
) -> bytes:
    """``sealed`` with its ciphertext field replaced by ``encrypted_content`` (a ``[0]``
    element, primitive or segmented) and, by name, other fields replaced."""
    version, infos, encrypted, mac = fields(sealed)
    buf = memoryview(encrypted)
    kind, algorithm, _content = (
        _der.element_bytes(buf, f) for f in _der.children(buf, _der.read(buf, 0, len(buf)))
    )
    wrapper = tlv if definite else ber
    encrypted = wrapper(_der.SEQUENCE, kind, algorithm, encrypted_content)
    infos = swap.get("infos", infos)
    return content_info(
        "authenticated_enveloped_data", [version, infos, encrypted, mac], definite=definite
    )


def ciphertext(sealed: bytes) -> bytes:
    """The ciphertext of a sealed message (its primitive ``[0]``)."""
    encrypted = memoryview(fields(sealed)[2])
    *_, content = _der.children(encrypted, _der.read(encrypted, 0, len(encrypted)))
    assert content.tag == 0x80
    return bytes(encrypted[content.start : content.end])


@contextmanager
def bounded(seconds: float = SECONDS, peak: int = PEAK_BYTES) -> Iterator[None]:
    """Fails unless the block runs within ``seconds`` and allocates at most ``peak`` bytes
    at its peak (tracemalloc: Python's allocations, the input excluded)."""
    tracemalloc.start()
    started = time.perf_counter()
    try:
        yield
    finally:
        elapsed = time.perf_counter() - started
        _current, highest = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    assert elapsed < seconds, f"took {elapsed:.2f} s"
    assert highest < peak, f"allocated {highest / 2**20:.1f} MiB"


def refused(call: Callable[[], object]) -> MalformedMessage:
    with bounded(), pytest.raises(MalformedMessage) as caught:
        call()
    assert caught.value.code == "malformed"
    return caught.value


# --- bulk segments are what streaming writes: accepted ---------------------------------------


@pytest.mark.parametrize("definite", [False, True], ids=["indefinite", "definite"])
def test_content_in_bulk_segments_still_verifies(w: World, signed: bytes, definite: bool) -> None:
    sizes = [_der.MIN_SEGMENT] * 100 + [4096] * 3  # then one short segment, the rest
    message = signed_with(signed, segmented(CONTENT, sizes, definite=definite), definite=definite)
    assert cms.verify(message, w.roots).content == CONTENT


def test_a_few_short_segments_are_accepted(w: World, signed: bytes, sealed: bytes) -> None:
    """``MAX_CHILDREN`` short segments at most, wherever they are: an encoder may flush."""
    sizes = [7] * _der.MAX_CHILDREN + [_der.MIN_SEGMENT] * 10  # then one bulk segment
    message = signed_with(signed, segmented(CONTENT, sizes))
    assert cms.verify(message, w.roots).content == CONTENT
    secret = ciphertext(sealed)
    enveloped = sealed_with(sealed, segmented(secret, sizes, tag=0xA0))
    opened = cms.open_sealed(enveloped, w.specialist.cert, w.specialist.key, w.roots)
    assert opened.content == CONTENT


def test_one_short_segment_too_many_is_refused(w: World, signed: bytes, sealed: bytes) -> None:
    sizes = [7] * (_der.MAX_CHILDREN + 1) + [_der.MIN_SEGMENT] * 10
    error = refused(lambda: cms.verify(signed_with(signed, segmented(CONTENT, sizes)), w.roots))
    assert "segments of at least 512 bytes" in str(error)
    enveloped = sealed_with(sealed, segmented(ciphertext(sealed), sizes, tag=0xA0, definite=True))
    refused(lambda: cms.decrypt(enveloped, w.specialist.cert, w.specialist.key))


# --- tiny segments by the million -----------------------------------------------------------


@pytest.mark.parametrize("definite", [False, True], ids=["indefinite", "definite"])
def test_five_megabytes_of_tiny_segments_are_refused_fast(
    w: World, signed: bytes, sealed: bytes, definite: bool
) -> None:
    """The issue's input: it cost 18 s and 900 MB; now it is refused after 33 segments."""
    tiny = b"\x04\x00" * (HOSTILE_SIZE // 2)
    octet_string = tlv(0x24, tiny) if definite else ber(0x24, tiny)
    message = signed_with(signed, octet_string, definite=definite)
    assert len(message) > HOSTILE_SIZE
    refused(lambda: cms.verify(message, w.roots))
    # The same in an AuthEnvelopedData, for a real recipient: the content key is recovered,
    # then the ciphertext's segments are refused before any plaintext is allocated.
    content = tlv(0xA0, tiny) if definite else ber(0xA0, tiny)
    enveloped = sealed_with(sealed, content, definite=definite)
    refused(lambda: cms.decrypt(enveloped, w.specialist.cert, w.specialist.key))
    refused(lambda: cms.open_sealed(enveloped, w.specialist.cert, w.specialist.key, w.roots))


def test_tiny_segments_cut_short_are_refused_fast(w: World, signed: bytes) -> None:
    """A cut message is walked again to tell a cut from damage: that walk is bounded too."""
    tiny = b"\x04\x00" * (HOSTILE_SIZE // 2)
    message = signed_with(signed, ber(0x24, tiny))
    cut = message[: len(message) // 2]
    with bounded(), pytest.raises(MalformedMessage) as caught:
        cms.verify(cut, w.roots)
    assert not isinstance(caught.value, TruncatedMessage)  # what came before the cut is wrong


def test_a_wide_definite_element_cut_short_is_refused_fast(w: World) -> None:
    nulls = b"\x05\x00" * (HOSTILE_SIZE // 2)
    message = tlv(_der.SEQUENCE, asn1_cms.ContentType("signed_data").dump(), tlv(0xA0, nulls))
    refused(lambda: cms.verify(message[:-1], w.roots))


# --- nesting --------------------------------------------------------------------------------


@pytest.mark.parametrize("depth", [17, 1000, 100_000])
def test_deep_nesting_is_refused_fast(w: World, depth: int) -> None:
    refused(lambda: cms.verify(b"\x30\x80" * depth, w.roots))
    refused(
        lambda: cms.decrypt(b"\x30\x80" * depth + b"\x00\x00" * depth, w.doctor.cert, w.doctor.key)
    )


def test_nested_segments_are_bounded(w: World, signed: bytes) -> None:
    shallow = ber(0x24, ber(0x24, segmented(CONTENT, [4096] * 4)))
    assert cms.verify(signed_with(signed, shallow), w.roots).content == CONTENT
    deep = segmented(CONTENT, [4096])
    for _level in range(_der.MAX_DEPTH):
        deep = ber(0x24, deep)
    refused(lambda: cms.verify(signed_with(signed, deep), w.roots))


def test_deeply_nested_definite_certificates_are_refused_fast(w: World, signed: bytes) -> None:
    """asn1crypto is handed the certificates: their depth is checked before."""
    nested = b"\x05\x00"
    for _level in range(5000):
        nested = tlv(_der.SEQUENCE, nested)
    message = signed_with(signed, tlv(_der.OCTET_STRING, CONTENT), certificates=tlv(0xA0, nested))
    refused(lambda: cms.verify(message, w.roots))


# --- wide elements handed to asn1crypto -----------------------------------------------------


def test_millions_of_certificates_are_refused_fast(w: World, signed: bytes) -> None:
    certificates = tlv(0xA0, b"\x05\x00" * (HOSTILE_SIZE // 2))
    message = signed_with(signed, tlv(_der.OCTET_STRING, CONTENT), certificates=certificates)
    refused(lambda: cms.verify(message, w.roots))


def test_a_wide_tree_of_certificates_is_refused_fast(w: World, signed: bytes) -> None:
    """Few children per element, but many elements in all: the census counts them all."""
    leaf = tlv(_der.SEQUENCE, *[b"\x05\x00"] * 30)
    branch = tlv(_der.SEQUENCE, *[leaf] * 30)
    certificates = tlv(0xA0, *[tlv(_der.SEQUENCE, *[branch] * 30)] * 30)
    assert len(certificates) > 1_000_000
    message = signed_with(signed, tlv(_der.OCTET_STRING, CONTENT), certificates=certificates)
    refused(lambda: cms.verify(message, w.roots))


def test_a_hundred_thousand_recipient_infos_are_refused_fast(w: World, sealed: bytes) -> None:
    _version, infos, *_rest = fields(sealed)
    buf = memoryview(infos)
    (ours,) = _der.children(buf, _der.read(buf, 0, len(buf)))
    entry = _der.element_bytes(buf, ours)
    many = tlv(_der.SET, *[entry] * (HOSTILE_SIZE // len(entry)))
    message = sealed_with(sealed, tlv(0x80, ciphertext(sealed)), definite=True, infos=many)
    refused(lambda: cms.decrypt(message, w.specialist.cert, w.specialist.key))


# --- AES-GCM with keys shorter than the format's 256 bits -----------------------------------


def sealed_with_gcm(w: World, algorithm: str, key_size: int) -> bytes:
    """A well-formed AuthEnvelopedData to the specialist, under AES-GCM ``algorithm``."""
    key, nonce = os.urandom(key_size), os.urandom(12)
    secret = AESGCM(key).encrypt(nonce, CONTENT, None)
    info = _ktri.recipient_info(w.specialist.cert, w.specialist.cert.public_key(), key)
    gcm = GcmParams({"aes_nonce": nonce, "aes_icvlen": 16})
    encryption = algos.EncryptionAlgorithm({"algorithm": algorithm, "parameters": gcm})
    encrypted = tlv(
        _der.SEQUENCE,
        asn1_cms.ContentType("data").dump(),
        encryption.dump(),
        tlv(0x80, secret[:-16]),
    )
    items = [
        b"\x02\x01\x00",
        tlv(_der.SET, info.dump()),
        encrypted,
        core.OctetString(secret[-16:]).dump(),
    ]
    return content_info("authenticated_enveloped_data", items, definite=True)


@pytest.mark.parametrize(("algorithm", "size"), [("aes128_gcm", 16), ("aes192_gcm", 24)])
def test_short_gcm_keys_are_refused(w: World, algorithm: str, size: int) -> None:
    message = sealed_with_gcm(w, algorithm, size)
    with pytest.raises(MalformedMessage, match="AES-256-GCM is required") as caught:
        cms.decrypt(message, w.specialist.cert, w.specialist.key)
    assert caught.value.code == "malformed"
    # The same construction with a 256-bit key opens: only the key size is refused.
    assert (
        cms.decrypt(sealed_with_gcm(w, "aes256_gcm", 32), w.specialist.cert, w.specialist.key)
        == CONTENT
    )


@pytest.mark.parametrize("cipher", ["-aes-128-gcm", "-aes-192-gcm"])
def test_openssl_short_gcm_keys_are_refused(w: World, tmp_path: Path, cipher: str) -> None:
    openssl = require_tool("openssl")
    (tmp_path / "specialist.pem").write_bytes(
        w.specialist.cert.public_bytes(serialization.Encoding.PEM)
    )
    (tmp_path / "content.bin").write_bytes(CONTENT)
    for stream in ([], ["-stream"]):
        args = [openssl, "cms", "-encrypt", "-binary", cipher, "-recip", "specialist.pem",
                "-keyopt", "rsa_padding_mode:oaep", "-keyopt", "rsa_oaep_md:sha256",
                "-in", "content.bin", "-outform", "DER", "-out", "enveloped.der",
                *stream]  # fmt: skip
        done = subprocess.run(args, cwd=tmp_path, capture_output=True, check=False, timeout=60)
        assert done.returncode == 0, done.stderr
        with pytest.raises(MalformedMessage, match="AES-256-GCM is required"):
            cms.decrypt(
                (tmp_path / "enveloped.der").read_bytes(), w.specialist.cert, w.specialist.key
            )


# --- properties: any input, bounded work ----------------------------------------------------


@pytest.fixture
def count_reads(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts every element decoded (``_der._read`` calls, recursive ones included)."""
    counter = [0]
    original = _der._read

    def counting(*args: Any) -> _der.Tlv:
        counter[0] += 1
        return original(*args)

    monkeypatch.setattr(_der, "_read", counting)
    return counter


def _element(
    tags: st.SearchStrategy[int], leaf: st.SearchStrategy[bytes]
) -> st.SearchStrategy[bytes]:
    """Encoded BER elements: primitive leaves, constructed ones of definite or indefinite
    length, with children repeated up to thousands of times (wide) or nested (deep)."""

    def build(tag: int, parts: list[bytes], repeat: int, indefinite: bool) -> bytes:
        size = max(1, sum(len(part) for part in parts))
        repeat = max(1, min(repeat, 1_000_000 // size))  # about 1 MB at most
        return (ber if indefinite else tlv)(tag | 0x20, *parts * repeat)

    def constructed(children: st.SearchStrategy[list[bytes]]) -> st.SearchStrategy[bytes]:
        repeats = st.sampled_from([1, 2, 40, 3000])
        return st.builds(build, tags, children, repeats, st.booleans())

    return st.recursive(leaf, lambda inner: constructed(st.lists(inner, max_size=4)), max_leaves=30)


TAGS = st.sampled_from([0x04, 0x10, 0x11, 0x80, 0x81, 0x82, 0x02, 0x06, 0x05])
LEAVES = st.one_of(
    st.builds(tlv, TAGS, st.binary(max_size=8)),
    st.builds(lambda body: tlv(_der.OCTET_STRING, body), st.binary(min_size=512, max_size=600)),
)
MESSAGES = st.builds(
    lambda element, indefinite: (ber if indefinite else tlv)(_der.SEQUENCE, element),
    _element(TAGS, LEAVES),
    st.booleans(),
)
FUZZ = settings(
    max_examples=150,
    deadline=2000,
    derandomize=True,
    database=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.function_scoped_fixture,
    ],
)


def public_calls(buf: memoryview) -> Iterator[Callable[[], object]]:
    """Every public reading of ``buf`` the CMS code makes, one at a time."""
    yield lambda: _der.read_whole(buf, _der.SEQUENCE)
    top = _der.read(buf, 0, len(buf), open_ended=True)
    yield lambda: _der.element_bytes(buf, top)
    yield lambda: _der.Fields(buf, top, "generated")
    for child in _der.children(buf, top):
        if child.constructed:
            yield lambda child=child: _der.children(buf, child)
        if child.tag in (0x24, 0xA0):
            yield lambda child=child: _der.octets(buf, child)


@FUZZ
@given(data=MESSAGES, cut=st.integers(min_value=0, max_value=64))
def test_generated_ber_costs_a_bounded_number_of_reads(
    count_reads: list[int], data: bytes, cut: int
) -> None:
    """Whatever the tree, each public call decodes at most ``MAX_ELEMENTS`` elements that
    are not bulk (twice for a cut message: once more to tell a cut from damage), plus the
    bulk segments, each at most once per level above it."""
    for sample in (data, data[: max(1, len(data) - cut)]):
        buf = memoryview(sample)
        bulk = len(sample) // _der.MIN_SEGMENT + 1
        budget = 2 * (_der.MAX_ELEMENTS + 2 + _der.MAX_DEPTH * bulk)
        try:
            for call in public_calls(buf):
                count_reads[0] = 0
                try:
                    call()
                finally:
                    assert count_reads[0] <= budget, (len(sample), count_reads[0])
        except MalformedMessage:
            pass


@FUZZ
@given(data=st.one_of(MESSAGES, st.binary(max_size=2048)))
def test_generated_input_fails_only_with_crypto_errors(w: World, data: bytes) -> None:
    for call in (
        lambda: cms.verify(data, w.roots),
        lambda: cms.decrypt(data, w.specialist.cert, w.specialist.key),
    ):
        with suppress(CryptoError):
            call()
