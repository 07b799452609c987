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

Work is bounded by the size of the data, whatever it holds (issue 15): BER lets a message
hold any number of elements, and a walk in Python costs microseconds and hundreds of bytes per
element, so 5 MB of two-byte segments once cost 20 s and 1 GB. Hence:

* every walk (finding where an element of indefinite length ends, listing children, checking
  a cut) may visit at most :data:`MAX_ELEMENTS` elements that are not *bulk*, a bulk element
  being a primitive OCTET STRING of at least :data:`MIN_SEGMENT` bytes: the segments of
  streamed content, which the data's own size bounds (at most one per 512 bytes);
* a constructed element holds at most :data:`MAX_CHILDREN` children that are not bulk: a
  segmented OCTET STRING may end with a short segment, not consist of thousands of them
  (OpenSSL streams 4,096-byte segments, Bouncy Castle 1,000-byte ones);
* nesting is at most :data:`MAX_DEPTH` deep (a bundle nests 10 deep, streamed or not);
* an element handed to asn1crypto (:func:`element_bytes`: certificates, recipient and signer
  information) holds at most :data:`MAX_ELEMENTS` elements in all, so that asn1crypto's own
  cost per element stays bounded too.

A message beyond these bounds is :class:`~crypto.errors.MalformedMessage`.

It tells a message that was cut short (:class:`~crypto.errors.TruncatedMessage`) from one
that is otherwise malformed: the data is truncated when the *outermost* element, or an
element of indefinite length that only the end of the data bounds, announces more than the
data holds. An element that overruns a definite length around it is malformed instead: the
enclosing length proves that the data is complete and the inner one wrong.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from crypto.errors import MalformedMessage, TruncatedMessage

INTEGER = 0x02
OCTET_STRING = 0x04
OID = 0x06
SEQUENCE = 0x30
SET = 0x31
CONSTRUCTED = 0x20
OCTET_STRING_TAGS = (OCTET_STRING, OCTET_STRING | CONSTRUCTED)  # DER form, BER segmented form
MAX_DEPTH = 16
"""Deepest nesting accepted (a bundle's deepest element, inside a certificate of its
SignedData, is 10 deep; OpenSSL's streamed messages too)."""
MIN_SEGMENT = 512
"""Bytes a segment of a constructed OCTET STRING must hold to be *bulk* (not counted against
:data:`MAX_CHILDREN` and :data:`MAX_ELEMENTS`). OpenSSL's ``cms -stream`` writes 4,096-byte
segments, Bouncy Castle 1,000-byte ones by default; only the last is shorter."""
MAX_CHILDREN = 32
"""Children that are not bulk segments, per constructed element (the widest element of a
bundle holds 8; a segmented OCTET STRING ends with one short segment)."""
MAX_ELEMENTS = 4096
"""Elements that are not bulk segments, per walk (a signed bundle holds about 120 in all)."""
_MAX_LENGTH = 1 << 40  # no message is a terabyte long: such a length is corrupt, not cut

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


def _overrun(open_ended: bool, what: str) -> MalformedMessage:
    if open_ended:
        return TruncatedMessage(f"the data ends inside {what}: it was cut short")
    return MalformedMessage(f"{what} overruns the element around it")


class _Walk:
    """What one walk may still visit: :data:`MAX_ELEMENTS` elements that are not bulk."""

    __slots__ = ("left",)

    def __init__(self) -> None:
        self.left = MAX_ELEMENTS

    def visit(self) -> None:
        self.left -= 1
        if self.left < 0:
            raise MalformedMessage(f"the encoding holds more than {MAX_ELEMENTS} elements")


def _bulk(element: Tlv) -> bool:
    """Whether ``element`` is a segment of streamed content that its own bytes pay for."""
    return element.tag == OCTET_STRING and element.end - element.start >= MIN_SEGMENT


class _Children:
    """Counts the children of one constructed element that are not bulk."""

    __slots__ = ("small", "walk")

    def __init__(self, walk: _Walk) -> None:
        self.walk = walk
        self.small = 0

    def add(self, child: Tlv) -> None:
        if _bulk(child):
            return
        self.walk.visit()
        self.small += 1
        if self.small > MAX_CHILDREN:
            raise MalformedMessage(
                f"an element holds more than {MAX_CHILDREN} elements that are not segments"
                f" of at least {MIN_SEGMENT} bytes"
            )


def read(buf: memoryview, pos: int, limit: int, depth: int = 0, *, open_ended: bool = False) -> Tlv:
    """Decode the element starting at ``buf[pos]``, which must end by ``limit``.

    Args:
        buf: The whole message.
        pos: Where the element starts.
        limit: Where it must end at the latest.
        depth: Nesting depth so far (bounded).
        open_ended: ``limit`` is the end of the data rather than an enclosing definite
            length, so that running past it means the data was cut short.

    Raises:
        TruncatedMessage: ``open_ended`` and the element runs past ``limit``.
        MalformedMessage: Invalid encoding, unsupported tag form, an element of indefinite
            length beyond the bounds (see the module's documentation), or the element runs
            past a ``limit`` that is not open-ended.
    """
    return _read(buf, pos, limit, depth, open_ended, _Walk())


def _read(buf: memoryview, pos: int, limit: int, depth: int, open_ended: bool, walk: _Walk) -> Tlv:
    if depth > MAX_DEPTH:
        raise MalformedMessage("encoding is nested too deeply")
    if pos + 2 > limit:
        raise _overrun(open_ended, "an element header")
    tag, first = buf[pos], buf[pos + 1]
    if tag & 0x1F == 0x1F:
        raise MalformedMessage("unsupported high tag number")
    start = pos + 2
    if first == 0x80:
        if not tag & CONSTRUCTED:
            raise MalformedMessage("indefinite length on a primitive element")
        counted = _Children(walk)
        cursor = start
        while True:
            if cursor + 2 <= limit and buf[cursor] == 0 and buf[cursor + 1] == 0:
                return Tlv(tag, pos, start, cursor, cursor + 2)
            child = _read(buf, cursor, limit, depth + 1, open_ended, walk)
            counted.add(child)
            cursor = child.stop
    if first & 0x80:
        size = first & 0x7F
        if size > 8:
            raise MalformedMessage("invalid length encoding")
        if start + size > limit:
            raise _overrun(open_ended, "a length")
        length = int.from_bytes(buf[start : start + size], "big")
        start += size
        if length > _MAX_LENGTH:
            raise MalformedMessage("implausible length")
    else:
        length = first
    if start + length > limit:
        raise _overrun(open_ended, "an element")
    return Tlv(tag, pos, start, start + length, start + length)


def read_whole(buf: memoryview, tag: int) -> Tlv:
    """Decode the single element of type ``tag`` that must fill ``buf`` exactly.

    Raises:
        TruncatedMessage: ``buf`` starts like such an element but ends before it does.
        MalformedMessage: Anything else that is not exactly one such element.
    """
    if len(buf) == 0 or buf[0] != tag:
        raise MalformedMessage("not a single element of the expected type")
    try:
        element = read(buf, 0, len(buf), open_ended=True)
    except TruncatedMessage:
        if not _cut_short(buf, 0, 0, _Walk()):
            raise MalformedMessage(
                "the data is shorter than it announces and inconsistent before its end:"
                " damaged, not merely cut short"
            ) from None
        raise
    if element.stop != len(buf):
        raise MalformedMessage("not a single element of the expected type")
    return element


def _well_formed(buf: memoryview, element: Tlv, depth: int, walk: _Walk) -> bool:
    """Whether every constructed element inside ``element`` is exactly filled by its
    children (primitive contents are not looked into), within the bounds."""
    if not element.constructed:
        return True
    if depth > MAX_DEPTH:
        return False
    try:
        found = _children(buf, element, walk)
        return all(_well_formed(buf, child, depth + 1, walk) for child in found)
    except MalformedMessage:
        return False


def _cut_short(buf: memoryview, pos: int, depth: int, walk: _Walk) -> bool:
    """Whether ``buf[pos:]`` is a well-formed beginning of an element that the end of the
    data cuts: every complete element before the cut is well formed, and only the last one
    at each level is incomplete. A deletion or insertion before the end usually breaks that,
    unless it happened inside a primitive value (the ciphertext), which cannot be checked.
    A beginning beyond the bounds (see the module's documentation) is not one."""
    size = len(buf)
    if depth > MAX_DEPTH or buf[pos] & 0x1F == 0x1F:
        return False
    if pos + 2 > size:
        return True  # cut inside the header
    tag, first = buf[pos], buf[pos + 1]
    start, end = pos + 2, size
    if first == 0x80:
        if not tag & CONSTRUCTED:
            return False
    elif first & 0x80:
        octet_count = first & 0x7F
        if octet_count > 8:
            return False
        if start + octet_count > size:
            return True  # cut inside the length
        end = start + octet_count + int.from_bytes(buf[start : start + octet_count], "big")
        start += octet_count
    else:
        end = start + first
    if not tag & CONSTRUCTED:
        return True  # cut inside a primitive value
    counted = _Children(walk)
    cursor = start
    while cursor < min(end, size):
        if first == 0x80 and cursor + 2 <= size and buf[cursor] == 0 and buf[cursor + 1] == 0:
            return False  # the element would have ended here, before the cut
        try:
            child = _read(buf, cursor, size, depth + 1, True, walk)
            counted.add(child)
        except TruncatedMessage:
            return _cut_short(buf, cursor, depth + 1, walk)
        except MalformedMessage:
            return False
        if child.stop > end or not _well_formed(buf, child, depth + 1, walk):
            return False
        cursor = child.stop
    return True


def children(buf: memoryview, parent: Tlv) -> list[Tlv]:
    """The elements directly inside the constructed element ``parent``.

    Raises:
        MalformedMessage: ``parent`` is primitive, a child is malformed, or they are beyond
            the bounds (see the module's documentation).
    """
    return _children(buf, parent, _Walk())


def _children(buf: memoryview, parent: Tlv, walk: _Walk) -> list[Tlv]:
    if not parent.constructed:
        raise MalformedMessage("expected a constructed element")
    found = []
    counted = _Children(walk)
    cursor = parent.start
    while cursor < parent.end:
        child = _read(buf, cursor, parent.end, 0, False, walk)
        counted.add(child)
        found.append(child)
        cursor = child.stop
    return found


def octets(buf: memoryview, element: Tlv, depth: int = 0) -> list[memoryview]:
    """The content of an OCTET STRING (any tag), as views: one for DER, several for BER."""
    return _octets(buf, element, depth, _Walk())


def _octets(buf: memoryview, element: Tlv, depth: int, walk: _Walk) -> list[memoryview]:
    if not element.constructed:
        return [buf[element.start : element.end]]
    if depth > MAX_DEPTH:
        raise MalformedMessage("encoding is nested too deeply")
    parts: list[memoryview] = []
    for child in _children(buf, element, walk):
        if child.tag & ~CONSTRUCTED != OCTET_STRING:
            raise MalformedMessage("constructed OCTET STRING holds another type")
        parts.extend(_octets(buf, child, depth + 1, walk))
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


def _census(buf: memoryview, element: Tlv, depth: int, walk: _Walk) -> None:
    """Visit every element inside ``element``, each charged once to ``walk``, bulk or not."""
    if depth > MAX_DEPTH:
        raise MalformedMessage("encoding is nested too deeply")
    for child in _children(buf, element, walk):  # charges the children that are not bulk
        if _bulk(child):
            walk.visit()
        elif child.constructed:
            _census(buf, child, depth + 1, walk)


def element_bytes(buf: memoryview, element: Tlv) -> bytes:
    """A copy of the whole encoded element, for parsing with asn1crypto.

    Raises:
        MalformedMessage: The element holds more than :data:`MAX_ELEMENTS` elements, or
            nests deeper than :data:`MAX_DEPTH`: asn1crypto would spend time and memory on
            each of them.
    """
    if element.constructed:
        _census(buf, element, 0, _Walk())
    return bytes(buf[element.offset : element.stop])
