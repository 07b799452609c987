"""Follow-up of a lesion across requests: the same patient, the same site, calibrated sizes."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from capture.measure import Measurement
from cases.bundle import Party, pack_case, pack_opinion, unpack
from cases.followup import (
    change,
    follow_up_request,
    followed,
    followed_up,
    history,
    latest_sizes,
    referral_request,
    referred_to,
    review_due,
    same_patient,
    sizes_by_site,
    specialist_of,
)
from cases.model import Case, Opinion
from cases.photos import Photo
from cases.threads import CaseThread, Opened

T0 = datetime(2026, 10, 12, 12, 0, tzinfo=UTC)  # noon: the same date in any time zone
JPEG = b"\xff\xd8 not decoded here \xff\xd9"
DOCTOR = Party("dr-a", "Dr A", "aa" * 32, "doctor", "USMP Fresnes")
EXPERT = Party("pr-b", "Pr B", "bb" * 32, "specialist", "Hôpital Saint-Louis")
COLLEAGUE = Party("pr-c", "Pr C", "cc" * 32, "specialist", "Hôpital Saint-Louis")
ARCHIVE = Party("", "", "dd" * 32)


def thread(case: Case, *answers: tuple[Party, str | Opinion]) -> CaseThread:
    """``case`` and its opinions (texts, or whole opinions) as the doctor's workstation holds
    them once opened: through real bundles, addressed to the expert, the doctor and the unit
    archive."""
    data = pack_case(f"b-{case.case_id}", case, DOCTOR, [EXPERT, DOCTOR, ARCHIVE])
    bundle = unpack(
        data, signer_fingerprint=DOCTOR.fingerprint, reader_fingerprint=EXPERT.fingerprint
    )
    opinions = []
    for n, (author, text) in enumerate(answers):
        answer = pack_opinion(
            f"o-{n}",
            text if isinstance(text, Opinion) else Opinion(case.case_id, text),
            author,
            [DOCTOR, author],
            in_reply_to=bundle.manifest.bundle_id,
        )
        opened = unpack(
            answer, signer_fingerprint=author.fingerprint, reader_fingerprint=DOCTOR.fingerprint
        )
        opinions.append(Opened(f"o-{n}", author, case.created_at, opened))
    return CaseThread(Opened(f"b-{case.case_id}", DOCTOR, case.created_at, bundle), opinions)


def outline(area_cm2: float, length_mm: float, calibrated: bool = True) -> dict[str, object]:
    unit = "mm" if calibrated else "px"
    points = ((0.0, 0.0), (10.0, 0.0), (5.0, 8.0))
    return Measurement("polygon", points, calibrated, unit, length_mm, 1.0, area_cm2).to_dict()


def line(length_mm: float) -> dict[str, object]:
    return Measurement("line", ((0.0, 0.0), (3.0, 4.0)), True, "mm", length_mm).to_dict()


def photo(site: str, *measurements: dict[str, object]) -> Photo:
    return Photo("photo.jpg", JPEG, 800, 600, site=site, measurements=measurements)


def request(days: int, *photos: Photo, patient: str = "P-0147") -> Case:
    return Case(
        patient_ref=patient,
        consent=True,
        specialty="wounds",
        summary="Ulcère.",
        treatments="",
        question="Évolution ?",
        photos=photos,
        created_at=T0 + timedelta(days=days),
    )


def test_a_site_keeps_its_largest_outline_and_greatest_length() -> None:
    case = request(
        0,
        photo("membre_inferieur_gauche", outline(5.3, 31.0), outline(1.2, 40.0)),
        photo("membre_inferieur_gauche", line(44.0)),
        photo("dos", outline(9.9, 50.0, calibrated=False)),  # pixels: not comparable
        photo("", outline(2.0, 20.0)),  # no site: no lesion to follow
    )
    [(site, size)] = sizes_by_site(case).items()
    assert site == "membre_inferieur_gauche"
    assert (size.area_cm2, size.length_mm, size.when) == (5.3, 44.0, T0)


def test_the_same_lesion_is_followed_in_date_order() -> None:
    now = request(42, photo("membre_inferieur_gauche", outline(3.1, 24.0)))
    others = [
        request(14, photo("membre_inferieur_gauche", outline(4.1, 28.0))),
        request(0, photo("membre_inferieur_gauche", outline(5.3, 31.0)), patient="p-0147 "),
        request(7, photo("membre_inferieur_gauche", outline(8.0, 40.0)), patient="P-0148"),
        request(21, photo("dos", outline(1.0, 10.0))),  # another lesion of the same patient
        now,  # the case itself, as it also sits in the list
    ]
    [(site, sizes)] = history(now, others).items()
    assert site == "membre_inferieur_gauche"
    assert [s.area_cm2 for s in sizes] == [5.3, 4.1, 3.1]
    assert sizes[-1].case_id == now.case_id
    assert change(sizes[0].area_cm2 or 0, sizes[-1].area_cm2 or 0) == pytest.approx(-0.415, 1e-3)


def test_a_lesion_measured_once_has_no_follow_up() -> None:
    now = request(0, photo("dos", outline(3.1, 24.0)))
    assert history(now, [request(5, photo("dos", outline(1.0, 9.0)), patient="P-9")]) == {}
    assert history(now, [now]) == {}


def test_references_compare_without_case_or_spaces() -> None:
    assert same_patient("P-0147", " p-0147")
    assert not same_patient("P-0147", "P-01470")
    assert change(0.0, 2.0) is None


def test_a_new_measurement_compares_with_the_latest_of_the_same_site() -> None:
    cases = [
        request(0, photo("dos", outline(5.3, 31.0)), photo("pied_droit", line(12.0))),
        request(14, photo("dos", outline(4.1, 28.0))),
        request(30, photo("dos", outline(9.9, 50.0)), patient="P-0148"),
    ]
    latest = latest_sizes(" p-0147", cases)
    assert sorted(latest) == ["dos", "pied_droit"]
    assert (latest["dos"].area_cm2, latest["dos"].when) == (4.1, T0 + timedelta(days=14))
    assert (latest["pied_droit"].area_cm2, latest["pied_droit"].length_mm) == (None, 12.0)
    assert latest_sizes("  ", cases) == {}  # no reference typed yet: no patient to follow


# --- follow-up requests -------------------------------------------------------------------


def test_a_follow_up_request_starts_from_the_earlier_one() -> None:
    earlier = replace(request(0, photo("dos", line(12.0))), treatments="Pansement gras")
    new = follow_up_request(earlier)
    assert new.follows == earlier.case_id
    assert new.case_id != earlier.case_id
    assert (new.patient_ref, new.specialty, new.treatments) == (
        "P-0147",
        "wounds",
        "Pansement gras",
    )
    # what is new is the doctor's to write, and the patient agrees to this sending
    assert (new.summary, new.question, new.photos, new.consent) == ("", "", (), False)
    assert new.problems() == ["missing_consent", "missing_summary", "missing_question"]


def test_the_specialist_asked_again_is_the_last_who_answered() -> None:
    unanswered = thread(request(0))
    assert specialist_of(unanswered) == EXPERT  # the addressee, not the doctor nor the archive
    answered = thread(request(0), (EXPERT, "Compression."), (COLLEAGUE, "Avis vasculaire."))
    assert specialist_of(answered) == COLLEAGUE


def test_the_request_followed_is_found_among_those_this_workstation_opens() -> None:
    first, second = request(0), request(14)
    threads = [thread(second), thread(first)]
    assert followed(follow_up_request(first), threads) is threads[1]
    assert followed(second, threads) is None  # follows nothing
    assert followed(follow_up_request(request(3)), threads) is None  # not on this workstation


def test_a_review_is_due_until_a_follow_up_request_is_made() -> None:
    earlier = request(0)
    advice = Opinion(
        earlier.case_id, "Revoir.", created_at=T0 + timedelta(days=2), outcome="new_request",
        review_weeks=3,
    )  # fmt: skip
    answered = thread(earlier, (EXPERT, advice))
    assert review_due(answered, [answered]) == T0 + timedelta(days=2, weeks=3)
    later = thread(replace(follow_up_request(earlier), created_at=T0 + timedelta(days=20)))
    assert review_due(answered, [later, answered]) is None  # the follow-up was made
    unrelated = thread(request(5))
    assert review_due(answered, [unrelated, answered]) is not None


def test_no_review_is_due_without_a_delay_in_the_latest_opinion() -> None:
    earlier = request(0)
    asked = Opinion(earlier.case_id, "Revoir.", outcome="new_request", review_weeks=2)
    assert review_due(thread(earlier), []) is None  # no opinion yet
    assert review_due(thread(earlier, (EXPERT, asked), (COLLEAGUE, "Sur place.")), []) is None


def test_a_referral_asks_the_colleague_with_the_same_request() -> None:
    earlier = replace(request(0, photo("dos", line(12.0))), urgent=True)
    refer = Opinion(
        earlier.case_id, "Relève de l’équipe plaies.", outcome="refer", refer_to="pr-roux",
        refer_name="Pr Sophie Roux",
    )  # fmt: skip
    answered = thread(earlier, (EXPERT, refer))
    assert referred_to(answered) == answered.opinions[0].bundle.opinion
    assert specialist_of(answered) == Party("pr-roux", "Pr Sophie Roux", "", "specialist")
    copy = referral_request(earlier)
    assert copy.case_id != earlier.case_id
    assert copy.follows == earlier.case_id
    assert not copy.consent  # asked again: it covers one sending
    assert (copy.summary, copy.question, copy.photos, copy.urgent) == (
        earlier.summary, earlier.question, earlier.photos, True,
    )  # fmt: skip
    assert referred_to(thread(earlier, (EXPERT, "Avis."))) is None
    assert not followed_up(answered, [answered])
    assert followed_up(answered, [answered, thread(copy)])
