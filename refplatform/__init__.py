"""Reference implementation of the regional platform: a store-and-forward relay for bundles.

The platform authenticates workstations ("stations") by bearer token, accepts bundles by tus
1.0 resumable upload, and keeps one mailbox per recipient. It only ever stores the bytes it
is sent (ciphertext, for Passavant): it never opens, decrypts or logs a bundle's content.
Nothing here imports Qt.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
