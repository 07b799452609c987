"""Payloads read when looked at: a photo, a document or a clip, from its sealed bundle.

A listed document's payload is a :class:`SealedPayload`; reading it (on a worker thread,
never the GUI thread) decrypts its bundle again (:class:`cases.reopen.Reopener`: the same
one-pass reading as at ingestion, its scratch chosen by the size), finds the manifest to be
the very one admitted, and the file's SHA-256 to be the one that manifest lists. The
signature is not verified a second time: it was at ingestion, and the manifest it vouched
for lists each file's SHA-256, so anybody able to encrypt to this person could replace the
sealed file, but not with one whose files hash as the admitted ones. The last bundle's
content is kept for the next payload of the same case.
"""

from __future__ import annotations

import hashlib
import io
import json
import threading
import zipfile
import zlib
from collections.abc import Callable
from typing import IO, Protocol

from cases.bundleformat import MANIFEST
from cases.errors import BundleError, MalformedBundle
from cases.index import CaseIndex
from cases.ingestion import Source
from cases.reopen import Reopener
from crypto import stream

_BLOCK = 1 << 20


class _Reads(Protocol):
    def payload(self, bundle_id: str, name: str) -> bytes: ...
    def payload_file(self, bundle_id: str, name: str) -> IO[bytes]: ...


class SealedPayload:
    """A payload file read from its sealed bundle when asked for (:class:`cases.photos.Payload`)."""

    __slots__ = ("_store", "bundle_id", "name")

    def __init__(self, store: _Reads, bundle_id: str, name: str) -> None:
        self._store, self.bundle_id, self.name = store, bundle_id, name

    def read(self) -> bytes:
        return self._store.payload(self.bundle_id, self.name)

    def open(self) -> IO[bytes]:
        """The file as a stream, checked first (:meth:`PayloadReader.payload_file`): a clip
        of hundreds of megabytes is never held whole."""
        return self._store.payload_file(self.bundle_id, self.name)


class _Opened:
    """An admitted bundle read again: its content, its ZIP, the SHA-256 of each file."""

    def __init__(
        self,
        bundle_id: str,
        content: stream.StreamContent,
        archive: zipfile.ZipFile,
        digests: dict[str, str],
    ) -> None:
        self.bundle_id, self.content, self.archive, self.digests = (
            bundle_id, content, archive, digests,
        )  # fmt: skip


class PayloadReader:
    """One person's payload reading (under its own lock).

    Args:
        index: The person's case index (the admitted manifest of each bundle).
        locate: Gives where a bundle id lies, or ``None`` when it is gone.
        reopener: Decrypts a sealed file again.
    """

    def __init__(
        self,
        index: CaseIndex,
        locate: Callable[[str], Source | None],
        reopener: Reopener,
    ) -> None:
        self.index, self.locate, self.reopener = index, locate, reopener
        self.openings = 0  # bundles decrypted again for their payloads
        self._lock = threading.Lock()
        self._last: _Opened | None = None

    def payload(self, bundle_id: str, name: str) -> bytes:
        """One payload file of an admitted bundle, read again from its sealed file.

        Raises:
            CaseError: the bundle is gone, no longer admitted, or not the one admitted.
            CryptoError: it no longer decrypts.
        """
        with self._lock:
            opened = self._opened(bundle_id)
            body, expected = self._read(opened, name), opened.digests.get(name)
        if hashlib.sha256(body).hexdigest() != expected:
            raise BundleError("bundle_changed", f"a file of bundle {bundle_id} changed")
        return body

    def payload_file(self, bundle_id: str, name: str) -> IO[bytes]:
        """:meth:`payload` as a stream, for a file too large to hold (a clip): its SHA-256
        is checked in one pass over it first, then a reader of it is returned. Content held
        in memory is handed on as a checked copy of the file (the buffer it lies in is
        reused by the next bundle read, before that one's tag is checked); content in a
        temporary file (encrypted, authenticated chunk by chunk) is read from it.

        Raises: as :meth:`payload`.
        """
        with self._lock:
            opened = self._opened(bundle_id)
            if opened.content.in_memory:
                body = self._read(opened, name)
                if hashlib.sha256(body).hexdigest() != opened.digests.get(name):
                    raise BundleError("bundle_changed", f"a file of bundle {bundle_id} changed")
                return io.BytesIO(body)
            try:
                digest = hashlib.sha256()
                with opened.archive.open(name) as member:
                    while block := member.read(_BLOCK):
                        digest.update(block)
                if digest.hexdigest() != opened.digests.get(name):
                    raise BundleError("bundle_changed", f"a file of bundle {bundle_id} changed")
                return opened.archive.open(name)
            except KeyError as exc:
                raise MalformedBundle(f"no file {name!r} in bundle {bundle_id}") from exc
            except (zipfile.BadZipFile, zlib.error, OSError) as exc:
                raise MalformedBundle(f"unreadable file in bundle {bundle_id}") from exc

    def forget(self, bundle_id: str | None = None) -> None:
        """Drop the kept bundle (``bundle_id``'s only, when given): the next payload reads
        its sealed file again."""
        with self._lock:
            if bundle_id is None or (self._last is not None and self._last.bundle_id == bundle_id):
                self._last = None

    def release(self) -> None:
        """Drop the kept bundle and give back the reading buffer (the store is closed)."""
        with self._lock:
            self._last = None
            self.reopener.release()

    @staticmethod
    def _read(opened: _Opened, name: str) -> bytes:
        try:
            return opened.archive.read(name)
        except KeyError as exc:
            raise MalformedBundle(f"no file {name!r} in bundle {opened.bundle_id}") from exc
        except (zipfile.BadZipFile, zlib.error, OSError) as exc:
            raise MalformedBundle(f"unreadable file in bundle {opened.bundle_id}") from exc

    def _opened(self, bundle_id: str) -> _Opened:
        """The kept bundle when it is ``bundle_id``, else that bundle read again (the kept
        one dropped first: the next is read into the same buffer)."""
        if self._last is not None and self._last.bundle_id == bundle_id:
            return self._last
        self._last = None
        self._last = self._reopen(bundle_id)
        return self._last

    def _reopen(self, bundle_id: str) -> _Opened:
        """The admitted bundle's payload ZIP, decrypted again and its manifest found to be
        the one admitted, with the SHA-256 of each file that manifest lists."""
        source = self.locate(bundle_id)
        row = self.index.get(bundle_id)
        if source is None or row is None or row.state != "admitted" or row.record is None:
            raise BundleError("bundle_gone", f"bundle {bundle_id} is not listed here")
        self.openings += 1
        content = self.reopener.open(source.path)
        admitted = str(row.record["manifest"])
        try:
            archive = zipfile.ZipFile(content.open())
            manifest = archive.read(MANIFEST).decode("utf-8")
        except (KeyError, zipfile.BadZipFile, UnicodeDecodeError, zlib.error) as exc:
            raise BundleError("bundle_changed", f"bundle {bundle_id} changed on disk") from exc
        if manifest != admitted:
            raise BundleError("bundle_changed", f"bundle {bundle_id} changed on disk")
        files = json.loads(admitted).get("files", [])
        return _Opened(
            bundle_id, content, archive, {str(f["name"]): str(f["sha256"]) for f in files}
        )
