"""What pydicom will parse in a DICOM file, counted first without pydicom.

pydicom spends up to 30 µs and 1.3 kB on each data element it parses: a file of millions of
tiny elements, or of sequences nested thousands deep, costs without bound before any check
of ours could run. :func:`check_structure` walks the file's bytes once and counts the data
elements, sequence items and pixel fragments (at most :data:`MAX_ELEMENTS`, nested at most
:data:`MAX_NESTING` deep); a deflated dataset is counted as it inflates, keeping nothing,
before it is inflated to be read.
"""

from __future__ import annotations

import struct
import zlib

from pydicom import config
from pydicom.datadict import dictionary_VR

from capture.errors import DicomError

TOO_LARGE = "dicom_too_large"
"""The code of a file refused for what reading it would cost."""
MAX_ELEMENTS = 100_000
"""Data elements, sequence items and pixel fragments pydicom parses on reading (a CT of
1,000 frames whose per-frame functional groups have undefined lengths holds about 40,000;
sequences of defined length are parsed only when used, and are not counted)."""
MAX_NESTING = 16
"""Sequences within sequences."""

_DEFLATED = "1.2.840.10008.1.2.1.99"
_IMPLICIT = "1.2.840.10008.1.2"
_BIG_ENDIAN = "1.2.840.10008.1.2.2"
_ITEM, _ITEM_END, _SEQUENCE_END = 0xFFFEE000, 0xFFFEE00D, 0xFFFEE0DD
_PIXEL_DATA = 0x7FE00010
_UNDEFINED = 0xFFFFFFFF
_LONG_VRS = frozenset(
    {b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN", b"UR", b"UT", b"UV"}
)


def check_structure(raw: bytes, max_inflated: int) -> None:
    """Count, without pydicom, what pydicom will parse in ``raw`` (see the module's
    documentation); a deflated dataset is inflated to be counted once its size is known.

    A file that is not DICOM, or that ends early, is left to pydicom to refuse.

    Raises:
        DicomError: ``dicom_too_large``, or ``not_dicom`` for deflated data that does not
            inflate.
    """
    if raw[128:132] != b"DICM":
        return  # pydicom refuses a file without the preamble
    data, start = raw, _file_meta(raw)
    syntax = _syntax(raw, start)
    little, implicit = syntax != _BIG_ENDIAN, syntax == _IMPLICIT
    if syntax == _DEFLATED:
        deflated = memoryview(raw)[start:]
        _inflated_size(
            deflated, max_inflated
        )  # first without keeping anything: a bomb costs no memory
        data, start = zlib.decompressobj(-zlib.MAX_WBITS).decompress(deflated), 0
    elif not syntax and start + 6 <= len(raw):
        implicit = not b"AA" <= raw[start + 4 : start + 6] <= b"ZZ"  # as pydicom guesses
    _Census(data, little=little).dataset(start, None, 0, implicit=implicit)


def _inflated_size(deflated: memoryview, limit: int) -> int:
    """What ``deflated`` inflates to, counted in 1 MiB steps, without keeping it.

    Raises:
        DicomError: ``dicom_too_large`` past ``limit`` bytes, ``not_dicom`` for
            data that does not inflate.
    """
    inflater, size, pending = zlib.decompressobj(-zlib.MAX_WBITS), 0, bytes(deflated)
    try:
        while pending and not inflater.eof:
            size += len(inflater.decompress(pending, 1 << 20))
            if size > limit:
                raise DicomError(TOO_LARGE, f"the dataset inflates past {limit} bytes")
            pending = inflater.unconsumed_tail
    except zlib.error as exc:
        raise DicomError("not_dicom", f"the deflated dataset does not inflate: {exc}") from exc
    return size


def _file_meta(raw: bytes) -> int:
    """Where the file meta information (group 2, explicit VR little endian, after the
    preamble) ends; at most 64 elements are read (a file holds about 8)."""
    position = 132
    for _element in range(64):
        if position + 8 > len(raw):
            return position
        group = struct.unpack_from("<H", raw, position)[0]
        vr = raw[position + 4 : position + 6]
        if group != 0x0002 or not b"AA" <= vr <= b"ZZ":
            return position
        if vr in _LONG_VRS:
            if position + 12 > len(raw):
                return position
            position += 12 + struct.unpack_from("<I", raw, position + 8)[0]
        else:
            position += 8 + struct.unpack_from("<H", raw, position + 6)[0]
    raise DicomError(TOO_LARGE, "the file meta information holds more than 64 elements")


def _syntax(raw: bytes, end: int) -> str:
    """The transfer syntax UID of the file meta information ending at ``end``."""
    position = 132
    while position + 8 <= end:
        element = struct.unpack_from("<H", raw, position + 2)[0]
        if raw[position + 4 : position + 6] in _LONG_VRS:
            start, length = position + 12, struct.unpack_from("<I", raw, position + 8)[0]
        else:
            start, length = position + 8, struct.unpack_from("<H", raw, position + 6)[0]
        if element == 0x0010:
            return raw[start : start + length].decode("ascii", "replace").strip("\0 ")
        position = start + length
    return ""


class _Census:
    """Walks a dataset as pydicom's reader does (``pydicom.filereader``), counting what it
    would build: data elements it reads eagerly (those of the top level and of the items of
    sequences of undefined length; a sequence of defined length is parsed only when used,
    which this module never does) and the items it walks in a value of undefined length
    (encapsulated pixel data). Stops quietly where the data ends (pydicom then warns or
    refuses)."""

    def __init__(self, data: bytes, *, little: bool) -> None:
        self.data = data
        self.size = len(data)
        self.order = "<" if little else ">"
        self.left = MAX_ELEMENTS
        self.tag_format = struct.Struct(f"{self.order}HH")
        self.long_format = struct.Struct(f"{self.order}I")
        self.short_format = struct.Struct(f"{self.order}H")
        self.delimiter = self.tag_format.pack(_SEQUENCE_END >> 16, _SEQUENCE_END & 0xFFFF)

    def count(self) -> None:
        self.left -= 1
        if self.left < 0:
            raise DicomError(TOO_LARGE, f"more than {MAX_ELEMENTS} data elements and items")

    def tag(self, position: int) -> int:
        group, element = self.tag_format.unpack_from(self.data, position)
        return int(group) << 16 | int(element)

    def dataset(self, position: int, length: int | None, depth: int, *, implicit: bool) -> int:
        """Reads the elements of a dataset from ``position``: ``length`` bytes of them, or
        up to an item delimiter when ``None``. Returns where reading stops."""
        start = position
        while length is None or position - start < length:
            if position + 8 > self.size:
                return self.size
            tag = self.tag(position)
            if tag == _ITEM_END:
                return position + 8
            self.count()
            vr: bytes | None = None
            if implicit:
                value_length = self.long_format.unpack_from(self.data, position + 4)[0]
                position += 8
            else:
                vr = self.data[position + 4 : position + 6]
                if vr in _LONG_VRS:
                    if position + 12 > self.size:
                        return self.size
                    value_length = self.long_format.unpack_from(self.data, position + 8)[0]
                    position += 12
                elif not b"AA" <= vr <= b"ZZ":  # pydicom switches to implicit VR
                    vr = None
                    value_length = self.long_format.unpack_from(self.data, position + 4)[0]
                    position += 8
                else:
                    value_length = self.short_format.unpack_from(self.data, position + 6)[0]
                    position += 8
            if value_length != _UNDEFINED:
                position += value_length
            elif self.is_sequence(tag, vr, position):
                position = self.sequence(position, depth + 1, implicit=implicit)
            else:
                position = self.undefined_value(position)
        return position

    def is_sequence(self, tag: int, vr: bytes | None, position: int) -> bool:
        """Whether pydicom reads a value of undefined length at ``position`` as a sequence."""
        if vr == b"UN" and config.settings.infer_sq_for_un_vr:
            return True
        if vr is None:
            try:
                return str(dictionary_VR(tag)) == "SQ"
            except KeyError:
                return position + 4 <= self.size and self.tag(position) == _ITEM
        return vr == b"SQ"

    def sequence(self, position: int, depth: int, *, implicit: bool) -> int:
        if depth > MAX_NESTING:
            raise DicomError(TOO_LARGE, f"sequences nested more than {MAX_NESTING} deep")
        while True:
            if position + 8 > self.size:
                return self.size
            tag = self.tag(position)
            length = self.long_format.unpack_from(self.data, position + 4)[0]
            position += 8
            if tag == _SEQUENCE_END:
                return position
            self.count()
            if length == _UNDEFINED:
                position = self.dataset(position, None, depth, implicit=implicit)
            else:
                position = self.dataset(position, length, depth, implicit=implicit)

    def undefined_value(self, position: int) -> int:
        """Where pydicom resumes after a value of undefined length that is not a sequence:
        it first walks it as items (encapsulated pixel data), else searches the delimiter."""
        start = position
        while position + 4 <= self.size:
            tag = self.tag(position)
            if tag == _SEQUENCE_END:
                return position + 8
            if tag != _ITEM or position + 8 > self.size:
                break
            self.count()
            position += 8 + self.long_format.unpack_from(self.data, position + 4)[0]
        found = self.data.find(self.delimiter, start)
        return self.size if found < 0 else found + 8
