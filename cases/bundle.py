"""The bundle, format 1: the plaintext that gets signed and encrypted.

A bundle is a ZIP archive holding ``manifest.json`` and the payload files (photos stored as
they are, since JPEG and PNG are compressed already; text deflated). The manifest names the
sender and *every* recipient by certificate fingerprint, lists each file with its media type,
size and SHA-256, and carries the case's or the opinion's fields (``clinical``). Because the
manifest is inside the signed content, a recipient can tell that a bundle was really meant for
them and was not re-encrypted and forwarded by somebody else ("surreptitious forwarding").

The format is specified in ``docs/bundle-format.md``. This module gathers the public names of
the modules that implement it, along their seams:

* :mod:`cases.bundleformat`: the constants, :class:`Party`, :class:`FileEntry`,
  :class:`Manifest`, :class:`Bundle`, file names and media types;
* :mod:`cases.bundlepack`: packing in memory (:func:`pack_case`, :func:`pack_opinion`...);
* :mod:`cases.bundlefields`: reading the manifest's fields, each checked;
* :mod:`cases.bundleunpack`: :func:`unpack` checks everything the manifest claims and refuses
  an unsafe archive (zip bombs, path traversal, extra or missing files);
* :mod:`cases.replay`: :class:`OpenedRegistry` spots a bundle id opened before (a replay), as
  a separate step;
* :mod:`cases.bundlestream`: the same format through files, for bundles of any size.
"""

from __future__ import annotations

from cases.bundleformat import (
    EARLIEST,
    FORMAT,
    KINDS,
    LATEST,
    MANIFEST,
    MAX_FILES,
    MAX_MANIFEST_SIZE,
    MAX_TEXT,
    MAX_TOTAL_SIZE,
    Bundle,
    FileEntry,
    Manifest,
    Party,
    check_file_name,
    compression,
    media_type,
)
from cases.bundlepack import (
    manifest_for,
    pack_case,
    pack_files,
    pack_opinion,
    pack_receipt,
    pack_withdrawal,
)
from cases.bundleunpack import checked_manifest, reread, unpack
from cases.replay import OpenedRegistry

__all__ = [
    "EARLIEST",
    "FORMAT",
    "KINDS",
    "LATEST",
    "MANIFEST",
    "MAX_FILES",
    "MAX_MANIFEST_SIZE",
    "MAX_TEXT",
    "MAX_TOTAL_SIZE",
    "Bundle",
    "FileEntry",
    "Manifest",
    "OpenedRegistry",
    "Party",
    "check_file_name",
    "checked_manifest",
    "compression",
    "manifest_for",
    "media_type",
    "pack_case",
    "pack_files",
    "pack_opinion",
    "pack_receipt",
    "pack_withdrawal",
    "reread",
    "unpack",
]
