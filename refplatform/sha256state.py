"""SHA-256 whose running state can be saved and taken up again, on another replica.

The distributed platform receives a bundle as PATCHes that may land on any replica. To check
the bundle's SHA-256 when its last byte arrives without reading every piece back from the
object store, each piece's commit saves the hash's running state beside the committed offset
(by the same compare-and-set), and the next writer, on any replica, goes on from it.

``hashlib`` cannot export its state. OpenSSL's ``SHA256_CTX`` can: a plain structure of 112
bytes (eight 32-bit words of state, the bit count, the pending block and its fill), reached
through ctypes with ``SHA256_Init``/``_Update``/``_Final``, which libcrypto 1.1 and 3 export.
Where libcrypto cannot be loaded, :func:`available` is ``False`` and the platform reads the
pieces back instead. A saved state is prefixed with a tag and checked before it is used.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import sys
from typing import Any

__all__ = ["Sha256State", "available"]

_CTX_SIZE = 112
_TAG = b"sha256-ctx-1:"


@functools.cache
def _libcrypto() -> Any | None:
    name = ctypes.util.find_library("crypto")
    if name is None or sys.byteorder != "little":
        return None
    try:
        lib = ctypes.CDLL(name)
        for function in ("SHA256_Init", "SHA256_Update", "SHA256_Final"):
            getattr(lib, function).restype = ctypes.c_int
        lib.SHA256_Init.argtypes = [ctypes.c_char_p]
        lib.SHA256_Update.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_size_t]
        lib.SHA256_Final.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
    except (OSError, AttributeError):
        return None
    return lib


def available() -> bool:
    """Whether a state can be saved here (libcrypto found, little-endian machine)."""
    return _libcrypto() is not None


class Sha256State:
    """A SHA-256 in progress; :meth:`saved` gives its state, :meth:`resume` takes it up."""

    def __init__(self) -> None:
        """A hash of nothing yet.

        Raises:
            RuntimeError: If libcrypto is not available (see :func:`available`).
        """
        lib = _libcrypto()
        if lib is None:
            raise RuntimeError("libcrypto is not available")
        self._lib = lib
        self._ctx = ctypes.create_string_buffer(_CTX_SIZE)
        if lib.SHA256_Init(self._ctx) != 1:
            raise RuntimeError("SHA256_Init failed")

    @classmethod
    def resume(cls, saved: bytes) -> Sha256State:
        """Takes up a state :meth:`saved` returned.

        Raises:
            ValueError: If ``saved`` is not such a state.
        """
        ctx = saved[len(_TAG) :]
        if not saved.startswith(_TAG) or len(ctx) != _CTX_SIZE:
            raise ValueError("not a saved SHA-256 state")
        fill = int.from_bytes(ctx[104:108], "little")
        digest_size = int.from_bytes(ctx[108:112], "little")
        if fill >= 64 or digest_size != 32:
            raise ValueError("not a saved SHA-256 state")
        state = cls()
        ctypes.memmove(state._ctx, ctx, _CTX_SIZE)
        return state

    @property
    def length(self) -> int:
        """How many bytes were hashed (the state's own bit count): a state saved for another
        offset than the one it is taken up at is not the bytes' state."""
        raw = self._ctx.raw
        bits = int.from_bytes(raw[32:36], "little") | int.from_bytes(raw[36:40], "little") << 32
        return bits // 8

    def update(self, data: bytes) -> None:
        """Hashes ``data`` (the GIL is released meanwhile)."""
        if self._lib.SHA256_Update(self._ctx, data, len(data)) != 1:
            raise RuntimeError("SHA256_Update failed")

    def saved(self) -> bytes:
        """The state, to store and take up later (tagged, 125 bytes)."""
        return _TAG + self._ctx.raw

    def hexdigest(self) -> str:
        """The digest of what was hashed so far (the state itself goes on unchanged)."""
        ctx = ctypes.create_string_buffer(self._ctx.raw, _CTX_SIZE)
        out = ctypes.create_string_buffer(32)
        if self._lib.SHA256_Final(out, ctx) != 1:
            raise RuntimeError("SHA256_Final failed")
        return out.raw.hex()
