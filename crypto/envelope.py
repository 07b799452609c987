"""What anyone may read of a sealed bundle without a key: whether it is a well-formed
encrypted envelope, and for whom.

The networked PC of a two-PC desk queues what the capture PC hands over (issue 17 §3)
without being able to open it: it checks that the file is an ``AuthEnvelopedData`` (the
only envelope Passavant writes) that carries a recipient entry for the certificate of the
recipient it is to be sent to.
"""

from __future__ import annotations

from typing import Any

from asn1crypto import cms as asn1_cms
from cryptography import x509

from crypto._asn1 import identifies

MAX_RECIPIENT_INFOS = 64
"""Recipient entries looked at: a bundle has a handful (recipient, author, archive)."""


def addressed_to(data: bytes, cert: x509.Certificate) -> bool:
    """Whether ``data`` is an AuthEnvelopedData with a recipient entry for ``cert`` (key
    transport or key agreement). Anything malformed is ``False``; nothing is decrypted."""
    try:
        info = asn1_cms.ContentInfo.load(data)
        if info["content_type"].native != "authenticated_enveloped_data":
            return False
        infos = info["content"]["recipient_infos"]
        if len(infos) > MAX_RECIPIENT_INFOS:
            return False
        return any(_names(entry, cert) for entry in infos)
    except (ValueError, TypeError, KeyError, IndexError, OverflowError):
        return False


def _names(entry: Any, cert: x509.Certificate) -> bool:
    if entry.name == "ktri":
        return identifies(entry.chosen["rid"], cert)
    if entry.name == "kari":
        keys = entry.chosen["recipient_encrypted_keys"]
        return any(identifies(k["rid"], cert) for k in list(keys)[:MAX_RECIPIENT_INFOS])
    return False
