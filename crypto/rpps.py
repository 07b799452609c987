"""RPPS numbers: their format, and the one a health professional's certificate carries.

The RPPS (répertoire partagé des professionnels de santé) number is the 11-digit national
number of a health professional, its last digit a Luhn key. It is signed into requests and
opinions (``cases.acts``), kept for each recipient in the platform's directory
(``refplatform.accounts``) and listed to the workstations (``outbox.platform``): each layer
checks it with :func:`rpps_ok`, which is why it lives here, in the package every layer may
import.

A card certificate of the IGC-Santé names its holder by the *identifiant national*: the type
of identifier (``8`` for an RPPS number) followed by the number, in the subject's common name
or serial number, possibly with more after a ``/``. :func:`certificate_rpps` reads it, so that
the platform's administrator cannot list a number the certificate contradicts.
"""

from __future__ import annotations

import re

from cryptography import x509
from cryptography.x509.oid import NameOID

__all__ = ["RPPS_LENGTH", "AmbiguousRpps", "certificate_rpps", "rpps_ok"]

RPPS_LENGTH = 11
_RPPS = re.compile(r"[0-9]{11}")
#: the identifiant national of a professional registered in the RPPS: ``8`` + the number
_NATIONAL_ID = re.compile(r"8([0-9]{11})")
#: what separates the parts of a subject's value (``810001234565/CPS…``, ``… 10001234565``)
_SEPARATORS = re.compile(r"[\s/+,;:()\[\]]+")
_ATTRIBUTES = (NameOID.COMMON_NAME, NameOID.SERIAL_NUMBER)


class AmbiguousRpps(ValueError):
    """A certificate's subject names more than one RPPS number."""


def rpps_ok(value: object) -> bool:
    """Whether ``value`` is an RPPS number: a string of 11 digits, the last a Luhn key."""
    if not isinstance(value, str) or not _RPPS.fullmatch(value):
        return False
    total = 0
    for i, ch in enumerate(reversed(value)):
        digit = int(ch) * (2 if i % 2 else 1)
        total += digit - 9 if digit > 9 else digit
    return total % 10 == 0


def certificate_rpps(cert: x509.Certificate) -> str | None:
    """The RPPS number the certificate's subject carries, or ``None`` when it carries none.

    Read from the common name and the serial number attribute: a part that is the
    identifiant national (``8`` and an RPPS number) or an RPPS number itself; a number whose
    key is wrong is no RPPS number.

    Raises:
        AmbiguousRpps: If the subject names two different RPPS numbers.
    """
    found: set[str] = set()
    for oid in _ATTRIBUTES:
        for attribute in cert.subject.get_attributes_for_oid(oid):
            value = attribute.value
            if not isinstance(value, str):
                continue
            for part in _SEPARATORS.split(value):
                national = _NATIONAL_ID.fullmatch(part)
                number = national.group(1) if national else part
                if rpps_ok(number):
                    found.add(number)
    if len(found) > 1:
        raise AmbiguousRpps("the certificate names several RPPS numbers")
    return found.pop() if found else None
