"""The patient's identity: formats, the INS only when qualified, the manifest, the same person."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest

from cases.bundle import pack_case, unpack
from cases.errors import MalformedBundle
from cases.followup import history, same_patient_case
from cases.identity import (
    OID_NIA,
    OID_NIR,
    Ins,
    PatientIdentity,
    ins_problems,
    name_key,
    nir_key,
    normalise_ins,
    same_person,
)
from tests.core.test_followup import ARCHIVE, DOCTOR, EXPERT, outline, photo, request

NIR = "285037511204553"  # a woman born in March 1985 in Paris (made up; its key is right)
JEANNE = PatientIdentity(
    birth_name="Lefèvre-D'Arc",
    first_names="Jeanne Marie",
    used_name="Martin",
    sex="F",
    birth_date=date(1985, 3, 14),
    birthplace="75112",
    status="qualified",
    ins=Ins(NIR, OID_NIR),
)


def test_the_nir_key_is_97_minus_the_number_modulo_97_corsica_included() -> None:
    assert nir_key("1841276451089") == 46  # the example every guide prints
    assert nir_key("2850375112045") == 53
    # Corsica: 2A counts as 19, 2B as 18
    assert nir_key("190022A004123") == 97 - int("1900219004123") % 97
    assert nir_key("190022B004123") == 97 - int("1900218004123") % 97
    with pytest.raises(ValueError, match="13 characters"):
        nir_key("12345")


def test_an_ins_is_checked_for_format_and_key() -> None:
    assert normalise_ins("2 85 03 75 112 045 53") == NIR
    assert ins_problems(NIR) == []
    assert ins_problems("285037511204554") == ["identity_ins_key"]  # one digit off
    assert ins_problems("28503751120455") == ["identity_ins_format"]  # too short
    assert ins_problems("585037511204553") == ["identity_ins_format"]  # no such sex digit
    corsica = "190022A004123" + f"{nir_key('190022A004123'):02d}"
    assert ins_problems(corsica) == []
    assert Ins(NIR, "1.2.3").problems() == ["identity_ins_oid"]
    assert Ins(NIR, OID_NIR).grouped() == "2 85 03 75 112 045 53"


def test_a_qualified_identity_is_valid_and_its_traits_must_agree_with_its_ins() -> None:
    assert JEANNE.problems(today=date(2026, 12, 7)) == []
    assert replace(JEANNE, sex="M").problems(today=date(2026, 12, 7)) == ["identity_ins_sex"]
    later = replace(JEANNE, birth_date=date(1986, 3, 14))
    assert later.problems(today=date(2026, 12, 7)) == ["identity_ins_birth"]
    other_month = replace(JEANNE, birth_date=date(1985, 4, 14))
    assert other_month.problems(today=date(2026, 12, 7)) == ["identity_ins_birth"]


def test_traits_are_checked() -> None:
    today = date(2026, 12, 7)
    bad = replace(
        JEANNE,
        birth_name=" ",
        first_names="J3anne",
        sex="X",
        birth_date=date(2027, 1, 1),
        birthplace="7511",
        status="maybe",
    )
    assert bad.problems(today=today) == [
        "identity_birth_name",
        "identity_first_names",
        "identity_sex",
        "identity_birth_date",
        "identity_birthplace",
        "identity_status",
    ]
    assert replace(JEANNE, birthplace="2A004").problems(today=today) == []
    assert replace(JEANNE, birthplace="99139").problems(today=today) == []  # born abroad
    assert replace(JEANNE, used_name="x" * 101).problems(today=today) == ["identity_used_name"]
    # what a spreadsheet would run, or a digit, is no name
    for name in ('=HYPERLINK("http://x")', "+A", "@SUM", "-Dupont", "Dupont3", "Du\tpont"):
        assert replace(JEANNE, birth_name=name).problems(today=today) == ["identity_birth_name"]
    civil = replace(JEANNE, birth_name="N’Diaye-O'Brien St. Jean", first_names="Zoé Łucja Ωmega")
    assert civil.problems(today=today) == []


def test_the_ins_travels_only_when_the_identity_is_qualified() -> None:
    assert JEANNE.to_manifest()["ins"] == {"value": NIR, "oid": OID_NIR}
    for status in ("provisional", "recovered", "validated"):
        unqualified = replace(JEANNE, status=status)
        raw = unqualified.to_manifest()
        assert "ins" not in raw
        assert NIR not in str(raw)
        assert raw["birth_name"] == "Lefèvre-D'Arc"  # the traits alone
        # and a reader ignores an INS that an unqualified identity carries
        forged = dict(raw, ins={"value": NIR, "oid": OID_NIR})
        assert PatientIdentity.from_manifest(forged).ins is None
    assert PatientIdentity.from_manifest(JEANNE.to_manifest()) == JEANNE
    nia = replace(JEANNE, ins=Ins(NIR, OID_NIA))
    assert PatientIdentity.from_manifest(nia.to_manifest()).ins == Ins(NIR, OID_NIA)


def test_a_malformed_identity_in_a_manifest_is_refused() -> None:
    good = JEANNE.to_manifest()
    for broken in (
        "Jeanne",
        {k: v for k, v in good.items() if k != "sex"},
        dict(good, sex="X"),
        dict(good, birth_date="14/03/1985"),
        dict(good, birth_date="1850-01-01"),
        dict(good, birth_name="x" * 101),
        dict(good, ecrou="123456"),  # no other field: the prison number has no place here
        dict(good, ins={"value": "285037511204554", "oid": OID_NIR}),  # wrong key
        dict(good, ins={"value": NIR, "oid": "1.2.250.1.213.1.4.2"}),  # not an INS OID
        dict(good, ins=NIR),
    ):
        with pytest.raises(ValueError, match=r"identity|INS|isoformat"):
            PatientIdentity.from_manifest(broken)
    unknown = PatientIdentity.from_manifest(dict(good, status="future"))
    assert (unknown.status, unknown.ins) == ("provisional", None)


def test_a_request_carries_the_identity_inside_its_clinical_part_and_old_ones_still_open() -> None:
    case = replace(request(0), identity=JEANNE, consent_date=date(2026, 10, 11))
    data = pack_case("b-1", case, DOCTOR, [EXPERT, DOCTOR, ARCHIVE])
    bundle = unpack(
        data, signer_fingerprint=DOCTOR.fingerprint, reader_fingerprint=EXPERT.fingerprint
    )
    assert bundle.case is not None
    assert bundle.case.identity == JEANNE
    assert bundle.case.consent_date == date(2026, 10, 11)
    assert bundle.manifest.clinical is not None
    assert bundle.manifest.clinical["identity"]["ins"]["value"] == NIR
    old = unpack(
        pack_case("b-2", request(0), DOCTOR, [EXPERT, DOCTOR]),
        signer_fingerprint=DOCTOR.fingerprint,
        reader_fingerprint=EXPERT.fingerprint,
    )
    assert old.case is not None
    assert old.case.identity is None
    assert old.case.consent_date is None
    forged = replace(case, identity=replace(JEANNE, ins=Ins("285037511204554", OID_NIR)))
    with pytest.raises(MalformedBundle):
        unpack(
            pack_case("b-3", forged, DOCTOR, [EXPERT, DOCTOR]),
            signer_fingerprint=DOCTOR.fingerprint,
            reader_fingerprint=EXPERT.fingerprint,
        )


def test_the_same_person_by_ins_when_both_are_qualified_else_by_strict_traits() -> None:
    assert name_key("Lefèvre-D'Arc") == name_key("LEFEVRE D ARC") == "LEFEVRE D ARC"
    typed_again = replace(
        JEANNE, birth_name="LEFEVRE D’ARC", first_names="JEANNE", used_name="", status="validated"
    )
    assert same_person(JEANNE, typed_again)  # one is not qualified: the traits decide
    assert not same_person(JEANNE, replace(typed_again, birth_date=date(1985, 3, 15)))
    assert not same_person(JEANNE, replace(typed_again, sex="M"))
    assert not same_person(JEANNE, replace(typed_again, birthplace="13055"))
    other_ins = replace(
        JEANNE, ins=Ins("2850375112046" + f"{nir_key('2850375112046'):02d}", OID_NIR)
    )
    assert not same_person(JEANNE, other_ins)  # both qualified: the INS decides
    assert same_person(JEANNE, replace(JEANNE, birth_name="Martin", used_name=""))


def test_follow_up_of_a_lesion_matches_on_the_identity_when_both_requests_carry_one() -> None:
    first = replace(request(0, photo("leg", outline(8.0, 40.0)), patient="P-1"), identity=JEANNE)
    # the unit gave her another reference later: her identity says she is the same person
    later = replace(request(20, photo("leg", outline(4.0, 30.0)), patient="Q-9"), identity=JEANNE)
    assert same_patient_case(first, later)
    assert [s.area_cm2 for s in history(later, [first])["leg"]] == [8.0, 4.0]
    # the same reference but another person: not followed as one lesion
    stranger = replace(JEANNE, birth_name="Durand", ins=None, status="provisional")
    other = replace(request(10, photo("leg", outline(2.0, 10.0)), patient="Q-9"), identity=stranger)
    assert not same_patient_case(other, later)
    assert [s.area_cm2 for s in history(later, [first, other])["leg"]] == [8.0, 4.0]
    # without an identity on one side, the reference decides, as before
    plain = request(30, photo("leg", outline(3.0, 25.0)), patient="Q-9")
    assert same_patient_case(plain, later)
