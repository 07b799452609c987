"""Reading DER/BER from a stream, for messages too large to hold in memory.

The counterpart of :mod:`crypto._der` for :mod:`crypto.stream`: it walks a message read from
a file-like object front to back, never seeking, so that the large content (a bundle of a
gigabyte) passes through in bounded chunks while everything else (recipient and signer
information, certificates, algorithms: a few kilobytes) is read whole, bounded, and handed
to ``crypto._der`` and asn1crypto.

Bounds, as in ``crypto._der``: nesting at most :data:`crypto._der.MAX_DEPTH`; an element read
whole at most :data:`MAX_SMALL` bytes (and :data:`crypto._der.MAX_ELEMENTS` elements, counted
by ``crypto._der.element_bytes``); a segmented OCTET STRING may hold any number of *bulk*
segments (at least :data:`crypto._der.MIN_SEGMENT` bytes, paid for by the data's own size) but
at most :data:`crypto._der.MAX_CHILDREN` shorter ones. Work is linear in the data's size.

Running out of data is :class:`~crypto.errors.TruncatedMessage`; an element that overruns a
definite length around it is :class:`~crypto.errors.MalformedMessage`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

from crypto import _der
from crypto.errors import MalformedMessage, TruncatedMessage

MAX_SMALL = 1 << 20
"""Largest element read whole (a certificate set or signer information is a few KiB)."""
CHUNK = 1 << 20
"""Largest piece of content handed on at once."""


class Readable(Protocol):
    """What the reader needs of its source."""

    def read(self, size: int, /) -> bytes: ...


@dataclass(frozen=True, slots=True)
class Head:
    """One element's header, read from the stream.

    Attributes:
        tag: The identifier octet (0 with ``length`` 0 for end-of-contents).
        length: The content length, ``None`` for an indefinite length.
        raw: The header's own bytes.
        end: Stream position just past the content when the length is definite.
    """

    tag: int
    length: int | None
    raw: bytes
    end: int | None

    @property
    def eoc(self) -> bool:
        """Whether this is the end-of-contents marker of an indefinite-length element."""
        return self.tag == 0 and self.length == 0

    @property
    def constructed(self) -> bool:
        """Whether the element holds other elements."""
        return bool(self.tag & _der.CONSTRUCTED)


class Reader:
    """Walks an encoding from ``source`` front to back; knows its position."""

    def __init__(self, source: Readable, what: str = "the message") -> None:
        self._source = source
        self._what = what
        self.position = 0

    def exact(self, size: int) -> bytes:
        """The next ``size`` bytes (small reads only).

        Raises:
            TruncatedMessage: The data ends first.
        """
        data = self._source.read(size)
        while len(data) < size:
            more = self._source.read(size - len(data))
            if not more:
                raise TruncatedMessage(f"{self._what} ends early: it was cut short")
            data += more
        self.position += size
        return data

    def at_end(self) -> bool:
        """Whether the source holds no more byte (consumes one byte otherwise: only for a
        final check)."""
        return not self._source.read(1)

    def head(self, limit: int | None) -> Head:
        """Read the next header; ``limit`` is where the enclosing definite element ends.

        Raises:
            MalformedMessage: A high tag number, a bad length, or overrunning ``limit``.
            TruncatedMessage: The data ends first.
        """
        if limit is not None and self.position + 2 > limit:
            raise MalformedMessage(f"an element overruns the element around it in {self._what}")
        raw = self.exact(2)
        tag, first = raw[0], raw[1]
        if tag & 0x1F == 0x1F:
            raise MalformedMessage("unsupported high tag number")
        length: int | None
        if first == 0x80:
            if not tag & _der.CONSTRUCTED:
                raise MalformedMessage("indefinite length on a primitive element")
            length = None
        elif first & 0x80:
            size = first & 0x7F
            if size > 8:
                raise MalformedMessage("invalid length encoding")
            more = self.exact(size)
            raw += more
            length = int.from_bytes(more, "big")
            if length > 1 << 40:
                raise MalformedMessage("implausible length")
        else:
            length = first
        end = None if length is None else self.position + length
        if limit is not None and end is not None and end > limit:
            raise MalformedMessage(f"an element overruns the element around it in {self._what}")
        return Head(tag, length, raw, end)

    def expect(self, limit: int | None, *tags: int) -> Head:
        """The next header, which must carry one of ``tags``."""
        found = self.head(limit)
        if found.tag not in tags:
            raise MalformedMessage(f"unexpected element in {self._what}")
        return found

    def close(self, head: Head) -> None:
        """Consume what ends ``head``'s element: nothing for a definite length (which must be
        exactly reached), the end-of-contents octets otherwise."""
        if head.end is not None:
            if self.position != head.end:
                raise MalformedMessage(f"malformed {self._what}: unexpected trailing field")
            return
        if self.exact(2) != b"\x00\x00":
            raise MalformedMessage(f"malformed {self._what}: unexpected trailing field")

    def small(self, head: Head, depth: int = 0) -> bytes:
        """The whole element whose header was just read, as bytes (definite lengths, or BER
        rebuilt as read), at most :data:`MAX_SMALL` bytes.

        Raises:
            MalformedMessage: Larger than :data:`MAX_SMALL`, or too deep.
        """
        if depth > _der.MAX_DEPTH:
            raise MalformedMessage("encoding is nested too deeply")
        if head.length is not None:
            if head.length > MAX_SMALL:
                raise MalformedMessage(f"an element of {self._what} is implausibly large")
            return head.raw + self.exact(head.length)
        parts = [head.raw]
        total = len(head.raw)
        while True:
            child = self.head(None)
            if child.eoc:
                parts.append(b"\x00\x00")
                return b"".join(parts)
            part = self.small(child, depth + 1)
            total += len(part)
            if total > MAX_SMALL:
                raise MalformedMessage(f"an element of {self._what} is implausibly large")
            parts.append(part)

    def parsed(self, head: Head) -> tuple[memoryview, _der.Tlv]:
        """:meth:`small`, then checked by ``crypto._der`` (bounds on its element count), for
        ``_der.element_bytes`` and asn1crypto."""
        data = memoryview(self.small(head))
        element = _der.read(data, 0, len(data))
        _der.element_bytes(data, element)  # the census: refuses an element of 100,000 parts
        return data, element

    def octets(self, head: Head, depth: int = 0) -> Iterator[bytes]:
        """The content of the OCTET STRING (any tag) whose header was just read, in chunks of
        at most :data:`CHUNK` bytes: a primitive one read in pieces, a segmented one
        segment by segment (nested segmentation allowed, within the bounds)."""
        if not head.constructed:
            left = head.length or 0
            while left:
                size = min(left, CHUNK)
                piece = self._source.read(size)
                if not piece:
                    raise TruncatedMessage(f"{self._what} ends early: it was cut short")
                self.position += len(piece)
                left -= len(piece)
                yield piece
            return
        if depth > _der.MAX_DEPTH:
            raise MalformedMessage("encoding is nested too deeply")
        short = 0
        while True:
            if head.end is not None and self.position == head.end:
                return
            child = self.head(head.end)
            if child.eoc:
                if head.end is not None:
                    raise MalformedMessage("end-of-contents inside a definite length")
                return
            if child.tag & ~_der.CONSTRUCTED != _der.OCTET_STRING:
                raise MalformedMessage("constructed OCTET STRING holds another type")
            if child.constructed or (child.length or 0) < _der.MIN_SEGMENT:
                short += 1
                if short > _der.MAX_CHILDREN:
                    raise MalformedMessage(
                        f"a segmented OCTET STRING holds more than {_der.MAX_CHILDREN}"
                        f" segments shorter than {_der.MIN_SEGMENT} bytes"
                    )
            yield from self.octets(child, depth + 1)
