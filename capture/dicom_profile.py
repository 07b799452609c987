"""What DICOM PS3.15's Basic Application Level Confidentiality Profile does to each attribute,
with the options Passavant applies: the *policy* half of :mod:`capture.dicom_deid`.

The table is data: ``resources/dicom/ps3.15-table-e.1-1.tsv`` holds the rows of Table E.1-1
(PS3.15 **2019e**, transcribed from the standard's text, plus the attributes later editions
added that the 2019e rows lack, by tag), with the Basic Profile's action and the actions of
the two options we apply. :func:`action_for` resolves a tag to one of our actions:

* ``X`` remove, ``Z`` empty (zero length), ``D`` dummy value, ``K`` keep (a sequence kept is
  still walked and cleaned), ``U`` replace the UID(s);
* ``T``: our "modified dates": a date is kept, a time becomes midnight, a date-time keeps
  only its date (anything else the option names, e.g. the time zone, is removed);
* ``Q``: a sequence of references kept with the UIDs in it replaced (``X/Z/U*``).

Options (justified in ARCHITECTURE.md):

* **Retain Patient Characteristics** (113108): sex, age, size, weight, smoking and pregnancy
  status are clinically useful and say nothing the request does not (its identity carries sex
  and birth date). Its ``C`` rows (allergies, medical alerts, patient state, special needs,
  pre-medication) are free text we cannot clean reliably: removed. Ethnic group, which the
  option would keep, is removed too: the request does not carry it, and it is special-category
  data.
* **Retain Longitudinal Temporal Information, Modified Dates** (113107): the request carries
  the exam's date on purpose (``cases.documents.Document.date``), so dates stay; times to the
  second would let anyone with access to the hospital's PACS find the study back, so they go
  (midnight). Intervals within a day are lost, which a radiograph does not need.

Combined actions ("X unless Z or D is needed for the IOD's conformance") are resolved toward
removal: ``X/Z``, ``X/D``, ``X/Z/D`` → ``X``, ``Z/D`` → ``Z``, except for the few attributes
that image IODs require (:data:`NEEDED`: Device Serial Number is type 1 in the Enhanced
General Equipment module; Contrast/Bolus Agent, Content Creator's Name and Acquisition Context
Sequence type 2), which get the action the standard names for that case; ``X/Z/U*`` → ``Q``;
``C`` (clean) is never attempted: ``X``. The Clinical Trial modules' attributes (group 0012)
are removed whole, even those the table replaces by a dummy: a request's document is not
clinical-trial data, and a dummy left without the companions its conditions name breaks the
module.

Attributes the table does not list follow structural rules that catch what later editions
added whatever the edition: private and group-length elements, public tags unknown to
pydicom's dictionary, overlay (60xx) and curve (50xx) groups: ``X``; person names: ``Z``;
dates and times: ``T``; UIDs other than class, transfer-syntax and coding-scheme UIDs: ``U``;
the rest is kept.
"""

from __future__ import annotations

from functools import cache

from pydicom.datadict import dictionary_keyword, dictionary_VR

import resources

TABLE = ("dicom", "ps3.15-table-e.1-1.tsv")
EDITION = "2019e"
"""The edition of PS3.15 whose Table E.1-1 rows :data:`TABLE` transcribes."""

_COMBINED = {"X/Z": "X", "X/D": "X", "Z/D": "Z", "X/Z/D": "X", "X/Z/U*": "Q", "C": "X"}
NEEDED = {0x00181000: "D", 0x00180010: "Z", 0x00700084: "Z", 0x00400555: "Z"}
"""Attributes image IODs require, with the action that keeps them conformant (see above)."""
_SINGLE = frozenset("XZDKU")
_KEPT_UIDS = frozenset({"CodingSchemeUID", "ContextUID", "MappingResourceUID"})
_REMOVED_ANYWAY = frozenset({0x00102160})  # Ethnic Group: see the module


@cache
def rules() -> tuple[dict[int, str], tuple[tuple[int, int, str], ...]]:
    """The table resolved for our options: exact tags, and ``(mask, value, action)`` for the
    rows with ``x`` digits (a tag matches when ``tag & mask == value``)."""
    exact: dict[int, str] = {}
    masked: list[tuple[int, int, str]] = []
    text = resources.path(*TABLE).read_text("utf-8")
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        tag_text, basic, characteristics, dates, _name = line.split("\t")
        action = _resolve(basic, characteristics, dates)
        digits = tag_text.replace(",", "")
        if "x" in digits.lower():
            mask = int("".join("0" if c in "xX" else "F" for c in digits), 16)
            value = int("".join("0" if c in "xX" else c for c in digits), 16)
            masked.append((mask, value, action))
        else:
            tag = int(digits, 16)
            needed = NEEDED.get(tag)
            exact[tag] = needed if needed and "/" in basic and action != "T" else action
    for tag in _REMOVED_ANYWAY:
        exact[tag] = "X"
    for tag in [t for t in exact if t >> 16 == 0x0012]:
        exact[tag] = "X"  # the clinical-trial modules, whole (see the module)
    return exact, tuple(masked)


def _resolve(basic: str, characteristics: str, dates: str) -> str:
    if characteristics == "K":
        return "K"
    if characteristics == "C":
        return "X"
    if dates == "C":
        return "T"
    action = _COMBINED.get(basic, basic)
    if action not in _SINGLE and action != "Q":
        raise ValueError(f"unknown action {basic!r} in {TABLE[-1]}")
    return action


def action_for(tag: int, vr: str | None) -> str:
    """Our action for the element ``tag`` whose VR is ``vr`` (``None`` when unknown)."""
    group, element = tag >> 16, tag & 0xFFFF
    if group & 1 or element == 0x0000:
        return "X"  # private (creators included), or a group length
    if 0x5000 <= group <= 0x50FF or 0x6000 <= group <= 0x60FF:
        return "X"  # curves; overlays, whose bits may be burned text
    exact, masked = rules()
    if tag in exact:
        return exact[tag]
    for mask, value, action in masked:
        if tag & mask == value:
            return action
    try:
        known_vr = str(dictionary_VR(tag))
    except KeyError:
        return "X"  # a public tag this dictionary does not know: a later edition's
    if vr in (None, "UN"):
        vr = known_vr
    if vr == "PN":
        return "Z"
    if vr in ("DA", "DT", "TM"):
        return "T"
    if vr == "UI":
        keyword = dictionary_keyword(tag)
        if keyword.endswith(("ClassUID", "SyntaxUID")) or keyword in _KEPT_UIDS:
            return "K"
        return "U"
    return "K"
