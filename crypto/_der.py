"""Minimal DER framing around large payloads, without copying them.

asn1crypto builds and parses every CMS piece in Passavant, except the few outer headers
that surround the (possibly tens of megabytes) payload: asn1crypto copies a value's bytes at
every nesting level, both when encoding and when lazily parsing. This module writes those
headers so that the payload is copied once, into the final output, and walks the outer
structure of a received message over a :class:`memoryview`, so that the payload is never
sliced into new ``bytes``. Everything it finds that is not the payload is handed to
asn1crypto as a small ``bytes`` object.

The reader accepts BER as well as DER (indefinite lengths, constructed OCTET STRINGs) because
OpenSSL writes BER when streaming. It only supports the low tag numbers (< 31) that CMS uses.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from crypto.errors import MalformedMessage

INTEGER = 0x02
OCTET_STRING = 0x04
OID = 0x06
SEQUENCE = 0x30
SET = 0x31
CONSTRUCTED = 0x20
OCTET_STRING_TAGS = (OCTET_STRING, OCTET_STRING | CONSTRUCTED)  # DER form, BER segmented form
_MAX_DEPTH = 32

Buffer = bytes | bytearray | memoryview


def context(number: int, *, constructed: bool = True) -> int:
    """Identifier octet of a context-specific tag ``[number]``."""
    return 0x80 | (CONSTRUCTED if constructed else 0) | number


def header(tag: int, length: int) -> bytes:
    """DER identifier and definite length octets for a value of ``length`` bytes."""
    if length < 0x80:
        return bytes((tag, length))
    size = (length.bit_length() + 7) // 8
    return bytes((tag, 0x80 | size)) + length.to_bytes(size, "big")


def wrap(tag: int, parts: Sequence[Buffer]) -> list[Buffer]:
    """Prefix ``parts`` (the encoded contents, in order) with their DER header.

    Returns a new list referencing the same part objects: nothing is copied until the
    caller joins the final list once.
    """
    return [header(tag, sum(len(part) for part in parts)), *parts]


@dataclass(frozen=True, slots=True)
class Tlv:
    """Position of one encoded element inside a buffer.

    Attributes:
        tag: The identifier octet.
        offset: Index of the identifier octet.
        start: Index of the first content octet.
        end: Index just past the last content octet.
        stop: Index just past the element (after the end-of-contents octets, if any).
    """

    tag: int
    offset: int
    start: int
    end: int
    stop: int

    @property
    def constructed(self) -> bool:
        """Whether the element is constructed (holds other elements)."""
        return bool(self.tag & CONSTRUCTED)


def read(buf: memoryview, pos: int, limit: int, depth: int = 0) -> Tlv:
    """Decode the element starting at ``buf[pos]``, which must end by ``limit``.

    Raises:
        MalformedMessage: Truncated or invalid encoding, or unsupported tag form.
    """
    if depth > _MAX_DEPTH:
        raise MalformedMessage("encoding is nested too deeply")
    if pos + 2 > limit:
        raise MalformedMessage("encoding is truncated")
    tag, first = buf[pos], buf[pos + 1]
    if tag & 0x1F == 0x1F:
        raise MalformedMessage("unsupported high tag number")
    start = pos + 2
    if first == 0x80:
        if not tag & CONSTRUCTED:
            raise MalformedMessage("indefinite length on a primitive element")
        cursor = start
        while True:
            if cursor + 2 <= limit and buf[cursor] == 0 and buf[cursor + 1] == 0:
                return Tlv(tag, pos, start, cursor, cursor + 2)
            cursor = read(buf, cursor, limit, depth + 1).stop
    if first & 0x80:
        size = first & 0x7F
        if size > 8 or start + size > limit:
            raise MalformedMessage("invalid length encoding")
        length = int.from_bytes(buf[start : start + size], "big")
        start += size
    else:
        length = first
    if start + length > limit:
        raise MalformedMessage("encoding is truncated")
    return Tlv(tag, pos, start, start + length, start + length)


def read_whole(buf: memoryview, tag: int) -> Tlv:
    """Decode the single element of type ``tag`` that must fill ``buf`` exactly."""
    element = read(buf, 0, len(buf))
    if element.tag != tag or element.stop != len(buf):
        raise MalformedMessage("not a single element of the expected type")
    return element


def children(buf: memoryview, parent: Tlv) -> list[Tlv]:
    """The elements directly inside the constructed element ``parent``."""
    if not parent.constructed:
        raise MalformedMessage("expected a constructed element")
    found = []
    cursor = parent.start
    while cursor < parent.end:
        child = read(buf, cursor, parent.end)
        found.append(child)
        cursor = child.stop
    return found


def octets(buf: memoryview, element: Tlv, depth: int = 0) -> list[memoryview]:
    """The content of an OCTET STRING (any tag), as views: one for DER, several for BER."""
    if not element.constructed:
        return [buf[element.start : element.end]]
    if depth > _MAX_DEPTH:
        raise MalformedMessage("encoding is nested too deeply")
    parts: list[memoryview] = []
    for child in children(buf, element):
        if child.tag & ~CONSTRUCTED != OCTET_STRING:
            raise MalformedMessage("constructed OCTET STRING holds another type")
        parts.extend(octets(buf, child, depth + 1))
    return parts


class Fields:
    """Sequential reader of the fields of a constructed element with a fixed layout."""

    def __init__(self, buf: memoryview, parent: Tlv, what: str) -> None:
        self._items = children(buf, parent)
        self._next = 0
        self._what = what

    def optional(self, *tags: int) -> Tlv | None:
        """The next field if its tag is one of ``tags`` (consumed), else ``None``."""
        if self._next < len(self._items) and self._items[self._next].tag in tags:
            self._next += 1
            return self._items[self._next - 1]
        return None

    def take(self, *tags: int) -> Tlv:
        """The next field, which must have one of ``tags``."""
        found = self.optional(*tags)
        if found is None:
            raise MalformedMessage(f"malformed {self._what}")
        return found

    def end(self) -> None:
        """Check that every field was consumed."""
        if self._next != len(self._items):
            raise MalformedMessage(f"malformed {self._what}: unexpected trailing field")


def element_bytes(buf: memoryview, element: Tlv) -> bytes:
    """A copy of the whole encoded element, for parsing with asn1crypto."""
    return bytes(buf[element.offset : element.stop])
