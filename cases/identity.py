"""The patient's identity as France's national identity rules define it (INS, RNIV).

An identity is its traits (birth name, first names, used name, sex, birth date, birthplace
code) and, when the national INSi service gave it, the INS: a NIR or NIA number with its OID.
Its status says how far it was checked: ``provisional`` (neither an identity document nor
the national service), ``recovered`` (the INS came from the national service, no document
seen), ``validated`` (a document seen, no national service) or ``qualified`` (both). The INS
may be sent to others as an identifier **only when the identity is qualified**: otherwise
the traits alone travel (:meth:`PatientIdentity.to_manifest` leaves it out, and a reader
ignores an INS an unqualified identity carries). The prison registration number (numéro
d'écrou) is never a health identifier, and has no field here; the unit's pseudonymous
reference (``Case.patient_ref``) stays beside the identity, for the unit's own use.

The identity lives only in a request's clinical part (``clinical.identity`` in the signed
and encrypted manifest, ``docs/bundle-format.md``): the secretary, the queue, the platform
and the journal never see it.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import date
from typing import Any

STATUSES = ("provisional", "recovered", "validated", "qualified")
"""The identity's status, from the least to the most checked (RNIV)."""

# The assigning authorities of the INS, as the ANS interoperability framework names them
# (CI-SIS, and the FHIR FR Core patient profile's INS-NIR / INS-NIA identifier slices).
OID_NIR = "1.2.250.1.213.1.4.8"
"""The INS is a NIR (social security number of the person)."""
OID_NIA = "1.2.250.1.213.1.4.9"
"""The INS is a NIA (the waiting number given while a NIR is being assigned)."""
OIDS = {"nir": OID_NIR, "nia": OID_NIA}

SEXES = ("F", "M")
MAX_NAME = 100
EARLIEST_BIRTH = date(1890, 1, 1)

_INS = re.compile(r"[1-478][0-9]{4}(?:[0-9]{2}|2A|2B)[0-9]{8}")
_BIRTHPLACE = re.compile(r"(?:[0-9]{2}|2A|2B)[0-9]{3}")
_NAME_MARKS = frozenset(" -'’.")
_SEX_DIGIT = {"1": "M", "3": "M", "7": "M", "2": "F", "4": "F", "8": "F"}
_SEPARATORS = str.maketrans({"-": " ", "'": " ", "’": " ", ".": " "})


def nir_key(number13: str) -> int:
    """The two-digit control key of a 13-character NIR or NIA: 97 minus the number modulo
    97, Corsica's departments ``2A`` and ``2B`` counting as ``19`` and ``18``.

    Raises:
        ValueError: not 13 characters of digits (and ``2A``/``2B`` at the department).
    """
    number13 = number13.upper()
    if len(number13) != 13:
        raise ValueError("a NIR has 13 characters before its key")
    digits = number13[:5] + number13[5:7].replace("2A", "19").replace("2B", "18") + number13[7:]
    if not digits.isascii() or not digits.isdigit():
        raise ValueError("a NIR is made of digits")
    return 97 - int(digits) % 97


def normalise_ins(text: str) -> str:
    """An INS as typed (spaces, dots, lower case allowed) as the 15 characters it is."""
    return "".join(ch for ch in text if not ch.isspace() and ch != ".").upper()


def ins_problems(value: str) -> list[str]:
    """Codes of what is wrong with a 15-character INS (``normalise_ins``'s output)."""
    if not _INS.fullmatch(value):
        return ["identity_ins_format"]
    if nir_key(value[:13]) != int(value[13:]):
        return ["identity_ins_key"]
    return []


def name_key(text: str) -> str:
    """A name as the comparison of two identities sees it: accents, case, hyphens and
    apostrophes aside (``Lefèvre-D'Arc`` and ``LEFEVRE D ARC`` are the same)."""
    plain = unicodedata.normalize("NFKD", text)
    plain = "".join(ch for ch in plain if not unicodedata.combining(ch))
    return " ".join(plain.translate(_SEPARATORS).upper().split())


@dataclass(frozen=True)
class Ins:
    """The national health identifier: 15 characters (13 and a two-digit key) and the OID
    saying whether it is a NIR or a NIA."""

    value: str
    oid: str

    @property
    def kind(self) -> str:
        """``"nir"`` or ``"nia"``."""
        return "nia" if self.oid == OID_NIA else "nir"

    def problems(self) -> list[str]:
        found = ins_problems(self.value)
        if self.oid not in OIDS.values():
            found.append("identity_ins_oid")
        return found

    def grouped(self) -> str:
        """``2 85 03 75 112 045 37``, as the card prints it."""
        v = self.value
        return " ".join((v[0], v[1:3], v[3:5], v[5:7], v[7:10], v[10:13], v[13:]))


@dataclass(frozen=True)
class PatientIdentity:
    """The patient's identity traits, its status, and the INS when known.

    Attributes:
        birth_name: the name at birth (nom de naissance).
        first_names: every first name at birth, in order, separated by spaces.
        used_name: the name used day to day (nom utilisé), or empty.
        sex: ``"F"`` or ``"M"``.
        birth_date: the day of birth.
        birthplace: the INSEE code of the birthplace (a commune's five characters, ``2A``
            or ``2B`` for Corsica; ``99`` and a country code for a birth abroad), or empty.
        status: one of :data:`STATUSES`.
        ins: the INS, or ``None``. Only a qualified identity may carry it out of the unit.
    """

    birth_name: str
    first_names: str
    sex: str
    birth_date: date
    used_name: str = ""
    birthplace: str = ""
    status: str = "provisional"
    ins: Ins | None = None

    @property
    def first_name(self) -> str:
        """The first of the first names."""
        return self.first_names.split()[0] if self.first_names.split() else ""

    @property
    def qualified(self) -> bool:
        return self.status == "qualified"

    def transmitted_ins(self) -> Ins | None:
        """The INS as it may leave the unit: only when the identity is qualified."""
        return self.ins if self.qualified else None

    def problems(self, today: date | None = None) -> list[str]:
        """Codes of what is wrong (``identity_*``); empty when the identity may be sent.
        ``today`` bounds the birth date (the local date when not given)."""
        found = []
        for code, text, required in (
            ("identity_birth_name", self.birth_name, True),
            ("identity_first_names", self.first_names, True),
            ("identity_used_name", self.used_name, False),
        ):
            if (required and not name_key(text)) or not _is_name(text):
                found.append(code)
        if self.sex not in SEXES:
            found.append("identity_sex")
        if not EARLIEST_BIRTH <= self.birth_date <= (today or date.today()):
            found.append("identity_birth_date")
        if self.birthplace and not _BIRTHPLACE.fullmatch(self.birthplace):
            found.append("identity_birthplace")
        if self.status not in STATUSES:
            found.append("identity_status")
        if self.ins is not None and self.qualified:
            found += self.ins.problems() or self._ins_agrees()
        return found

    def _ins_agrees(self) -> list[str]:
        """An INS starts with the sex (1, 3 or 7 a man; 2, 4 or 8 a woman) and the year and
        month of birth: a qualified identity's traits agree with it (a typing slip is caught
        here)."""
        assert self.ins is not None
        value = self.ins.value
        found = []
        if _SEX_DIGIT[value[0]] != self.sex:
            found.append("identity_ins_sex")
        year, month = int(value[1:3]), int(value[3:5])
        month_differs = 1 <= month <= 12 and month != self.birth_date.month  # else unknown
        if year != self.birth_date.year % 100 or month_differs:
            found.append("identity_ins_birth")
        return found

    def to_manifest(self) -> dict[str, Any]:
        """The identity as ``clinical.identity`` carries it: the INS only when qualified."""
        raw: dict[str, Any] = {
            "birth_name": self.birth_name,
            "first_names": self.first_names,
            "used_name": self.used_name,
            "sex": self.sex,
            "birth_date": self.birth_date.isoformat(),
            "birthplace": self.birthplace,
            "status": self.status,
        }
        if (ins := self.transmitted_ins()) is not None:
            raw["ins"] = {"value": ins.value, "oid": ins.oid}
        return raw

    @classmethod
    def from_manifest(cls, raw: Any) -> PatientIdentity:
        """The identity a manifest carries, checked as plain data.

        An INS that an identity not qualified carries is left out (it may not be used as an
        identifier); a status this version does not know is read as ``provisional``.

        Raises:
            ValueError: a field missing, of the wrong type, too long or malformed (a name
                without a letter, a date that is not one, an INS whose key is wrong…).
        """
        if not isinstance(raw, Mapping):
            raise ValueError("an identity is not an object")
        known = {"birth_name", "first_names", "used_name", "sex", "birth_date"}
        if not known <= set(raw) or not set(raw) <= known | {"birthplace", "status", "ins"}:
            raise ValueError("an identity's fields differ from format 1")
        status = _field(raw, "status", 20) or "provisional"
        identity = cls(
            birth_name=_field(raw, "birth_name"),
            first_names=_field(raw, "first_names"),
            used_name=_field(raw, "used_name"),
            sex=_field(raw, "sex", 1),
            birth_date=date.fromisoformat(_field(raw, "birth_date", 10)),
            birthplace=_field(raw, "birthplace", 5),
            status=status if status in STATUSES else "provisional",
        )
        ins = raw.get("ins")
        if ins is not None and identity.qualified:
            if not isinstance(ins, Mapping) or set(ins) != {"value", "oid"}:
                raise ValueError("an INS is a value and an OID")
            identity = replace(identity, ins=Ins(_field(ins, "value", 15), _field(ins, "oid", 40)))
        # a birth date in the future of the reader's clock is the sender's clock: not ours
        if problems := [p for p in identity.problems(date.max) if p != "identity_birth_date"]:
            raise ValueError(f"a malformed identity ({', '.join(problems)})")
        if identity.birth_date < EARLIEST_BIRTH:
            raise ValueError("an identity's birth date is out of range")
        return identity


def same_person(a: PatientIdentity, b: PatientIdentity) -> bool:
    """Whether two identities name the same person: the same INS when both transmit one;
    else the same strict traits (birth name, first first name, sex, birth date, and the
    birthplace when both give it), accents, case and hyphens aside."""
    ins_a, ins_b = a.transmitted_ins(), b.transmitted_ins()
    if ins_a is not None and ins_b is not None:
        return ins_a == ins_b
    if a.birthplace and b.birthplace and a.birthplace != b.birthplace:
        return False
    return (
        name_key(a.birth_name) == name_key(b.birth_name)
        and name_key(a.first_name) == name_key(b.first_name)
        and a.sex == b.sex
        and a.birth_date == b.birth_date
    )


def _is_name(text: str) -> bool:
    """Empty, or a name as civil status writes it: at most :data:`MAX_NAME` characters,
    letters (accented or of any script), spaces, hyphens, apostrophes and dots only, and a
    letter first (nothing a spreadsheet would take for a formula: ``=``, ``+``, ``@``)."""
    if not text:
        return True
    return (
        len(text) <= MAX_NAME
        and text[0].isalpha()
        and all(ch.isalpha() or ch in _NAME_MARKS for ch in text)
        and not any(unicodedata.category(ch).startswith("C") for ch in text)
    )


def _field(raw: Mapping[str, Any], key: str, limit: int = MAX_NAME) -> str:
    value = raw.get(key, "")
    if not isinstance(value, str) or len(value) > limit:
        raise ValueError(f"an identity's {key} is not a short text")
    return value
