"""Drafts survive a restart, sealed to their author only: nothing readable on disk."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest

import resources
from capture.measure import Measurement
from capture.photo import Arrow
from cases.draftpayloads import DraftPayload
from cases.drafts import DraftStore
from cases.model import Case, Opinion
from cases.profile import IdentityInfo, UnlockedIdentity
from crypto import cms
from crypto.errors import NotARecipient
from tests.support.photos import sample_photo
from tests.support.pki import Identity, world

CANARY = "CANARY-draft-7f3a"


def me(who: Identity, identity_id: str = "dr-martin") -> UnlockedIdentity:
    info = IdentityInfo(identity_id, "Dr Claire Martin", "doctor", "USMP Fresnes")
    return UnlockedIdentity(info, who.cert, who.key)


def a_case(**changes: object) -> Case:
    photo = replace(
        sample_photo(resources.sample_photos()[0], "photo-1.jpg"),
        site="dos",
        note="Lésion pigmentée.",
        measurements=(Measurement("line", ((1.0, 2.0), (31.0, 42.0)), True, "mm", 6.2).to_dict(),),
        annotations=(Arrow((3.0, 4.0), (30.0, 40.0)).to_dict(),),
    )
    fields: dict[str, object] = {
        "patient_ref": "P-0042",
        "consent": True,
        "specialty": "dermatology",
        "summary": f"Lésion du dos {CANARY}",
        "treatments": "",
        "question": "Biopsie ?",
        "photos": (photo,),
        "follows": "c-earlier",  # a follow-up request
        "urgent": True,
    }
    fields.update(changes)
    return Case(**fields)  # type: ignore[arg-type]


def test_a_draft_comes_back_whole_after_a_restart(tmp_path: Path) -> None:
    case = a_case()
    DraftStore(tmp_path, me(world().doctor), world().roots).save(case)

    again, unreadable = DraftStore(tmp_path, me(world().doctor), world().roots).load()
    assert unreadable == []
    assert [c.case_id for c in again] == [case.case_id]
    assert again[0].summary == case.summary
    assert again[0].photos[0].data == case.photos[0].data
    assert isinstance(again[0].photos[0].payload, DraftPayload)  # read from its sealed file
    assert again[0].photos[0].details() == case.photos[0].details()
    assert replace(again[0], photos=case.photos) == case  # the follow-up link included


def test_saving_again_replaces_the_draft(tmp_path: Path) -> None:
    store = DraftStore(tmp_path, me(world().doctor), world().roots)
    case = a_case()
    store.save(case)
    store.save(a_case(case_id=case.case_id, question="Traitement ?"))
    drafts, _ = store.load()
    assert [(c.case_id, c.question) for c in drafts] == [(case.case_id, "Traitement ?")]


def test_nothing_readable_lies_on_disk(tmp_path: Path) -> None:
    case = a_case()
    DraftStore(tmp_path, me(world().doctor), world().roots).save(case)
    for path in tmp_path.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert CANARY.encode() not in data
            assert case.photos[0].data[1000:1064] not in data


def test_draft_files_are_not_named_by_their_case_id(tmp_path: Path) -> None:
    """Case ids travel in bundles and follow-ups: the disk must not map them to drafts."""
    store = DraftStore(tmp_path, me(world().doctor), world().roots)
    case = a_case()
    path = store.save(case)
    opinion_path = store.save_opinion(Opinion(case.case_id, "Avis."), in_reply_to="b-1")
    assert path is not None
    assert opinion_path is not None
    names = [p.name for p in tmp_path.rglob("*")]
    assert not any(case.case_id in name for name in names)
    # another person's store names the same case otherwise (the key is theirs)
    other = DraftStore(tmp_path, me(world().specialist, "pr-x"), world().roots)
    assert other._path(case.case_id).name != path.name


def test_a_draft_of_the_earlier_version_is_renamed_when_opened(tmp_path: Path) -> None:
    store = DraftStore(tmp_path, me(world().doctor), world().roots)
    case = a_case()
    path = store.save(case)
    assert path is not None
    old_style = path.with_name(f"{case.case_id}.p7m")  # as the earlier version named it
    path.rename(old_style)
    drafts, unreadable = DraftStore(tmp_path, me(world().doctor), world().roots).load()
    assert unreadable == []
    assert [c.case_id for c in drafts] == [case.case_id]
    assert path.exists()
    assert not old_style.exists()


def test_a_draft_under_another_cases_name_is_refused(tmp_path: Path) -> None:
    store = DraftStore(tmp_path, me(world().doctor), world().roots)
    first, second = a_case(), a_case()
    path, other = store.save(first), store.save(second)
    assert path is not None
    assert other is not None
    other.replace(path)  # the second case's draft under the first case's name
    drafts, unreadable = store.load()
    assert drafts == []
    assert [u.code for u in unreadable] == ["malformed_bundle"]


def test_only_the_author_can_open_a_draft(tmp_path: Path) -> None:
    path = DraftStore(tmp_path, me(world().doctor), world().roots).save(a_case())
    assert path is not None
    with pytest.raises(NotARecipient):
        cms.open_sealed(
            path.read_bytes(), world().specialist.cert, world().specialist.key, world().roots
        )


def test_a_damaged_draft_is_reported_and_the_others_still_load(tmp_path: Path) -> None:
    store = DraftStore(tmp_path, me(world().doctor), world().roots)
    good, bad = a_case(), a_case()
    store.save(good)
    bad_path = store.save(bad)
    assert bad_path is not None
    data = bytearray(bad_path.read_bytes())
    data[len(data) // 2] ^= 0x40
    bad_path.write_bytes(bytes(data))

    drafts, unreadable = store.load()
    assert [c.case_id for c in drafts] == [good.case_id]
    assert [(u.name, u.code) for u in unreadable] == [(bad_path.stem, "decryption_failed")]


def test_discard(tmp_path: Path) -> None:
    store = DraftStore(tmp_path, me(world().doctor), world().roots)
    case = a_case()
    store.save(case)
    assert store.discard(case.case_id) is True
    assert store.discard(case.case_id) is False
    assert store.load() == ([], [])


def test_a_late_autosave_does_not_revive_a_sent_request(tmp_path: Path) -> None:
    store = DraftStore(tmp_path, me(world().doctor), world().roots)
    case = a_case()
    store.save(case)
    store.discard(case.case_id)
    assert store.save(case) is None
    assert store.load() == ([], [])


def test_each_identity_sees_only_its_drafts(tmp_path: Path) -> None:
    DraftStore(tmp_path, me(world().doctor, "dr-a"), world().roots).save(a_case())
    assert DraftStore(tmp_path, me(world().doctor, "dr-b"), world().roots).load() == ([], [])


# --- a specialist's unfinished opinions ---------------------------------------------------


def an_opinion(case_id: str = "c-1", **changes: object) -> Opinion:
    fields: dict[str, object] = {
        "case_id": case_id,
        "text": f"Eczéma de contact probable {CANARY}",
        "outcome": "on_site",
        "review_weeks": 3,
    }
    fields.update(changes)
    return Opinion(**fields)  # type: ignore[arg-type]


def expert(identity_id: str = "pr-lefevre") -> UnlockedIdentity:
    info = IdentityInfo(identity_id, "Dr Paul Lefèvre", "specialist", "Hôpital Saint-Louis")
    return UnlockedIdentity(info, world().specialist.cert, world().specialist.key)


def test_unfinished_opinions_come_back_by_case_sealed_to_their_author(tmp_path: Path) -> None:
    store = DraftStore(tmp_path, expert(), world().roots)
    first, second = an_opinion("c-1"), an_opinion("c-2", outcome=None, review_weeks=None)
    store.save_opinion(first, in_reply_to="b-1")
    store.save_opinion(second, in_reply_to="b-2")
    store.save_opinion(replace(first, text="Psoriasis."), in_reply_to="b-1")  # replaces

    again, unreadable = DraftStore(tmp_path, expert(), world().roots).load_opinions()
    assert unreadable == []
    assert again == {"c-1": replace(first, text="Psoriasis."), "c-2": second}
    assert store.load() == ([], [])  # no request drafts among them
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert CANARY.encode() not in path.read_bytes()
            with pytest.raises(NotARecipient):  # the doctor's key opens none of them
                cms.open_sealed(
                    path.read_bytes(), world().doctor.cert, world().doctor.key, world().roots
                )


def test_a_sent_opinion_is_not_revived_but_the_next_one_on_the_case_is_kept(
    tmp_path: Path,
) -> None:
    store = DraftStore(tmp_path, expert(), world().roots)
    sent = an_opinion("c-1")
    store.save_opinion(sent, in_reply_to="b-1")
    assert store.discard_opinion(sent) is True
    assert store.save_opinion(sent, in_reply_to="b-1") is None  # a late autosave
    assert store.load_opinions() == ({}, [])
    complement = an_opinion("c-1", text="Complément : biopsie.")  # another opinion id
    assert store.save_opinion(complement, in_reply_to="b-1") is not None
    assert store.load_opinions() == ({"c-1": complement}, [])


def test_the_last_opinion_save_runs_on_its_own_thread_and_an_older_autosave_loses(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = DraftStore(tmp_path, expert(), world().roots)
    older = time.monotonic_ns()  # an autosave asked for before the logout, still running
    last = an_opinion("c-1", text="Dernier mot.")
    with caplog.at_level(logging.INFO, logger="cases.drafts"):
        thread = store.save_opinion_later(last, in_reply_to="b-1")
        assert thread is not threading.current_thread()
        assert not thread.daemon  # the process waits for it
        again = DraftStore(tmp_path, expert(), world().roots).load_opinions()  # waits too
        assert not thread.is_alive()
    assert again == ({"c-1": last}, [])
    sealers = {r.threadName for r in caplog.records if last.opinion_id in r.getMessage()}
    assert sealers == {"passavant-last-draft"}
    # the older autosave ending now does not replace the last words
    assert store.save_opinion(replace(last, text="Avant."), "b-1", older) is None
    assert store.load_opinions() == ({"c-1": last}, [])


def test_a_damaged_opinion_draft_is_reported_and_the_others_load(tmp_path: Path) -> None:
    store = DraftStore(tmp_path, expert(), world().roots)
    store.save_opinion(an_opinion("c-1"), in_reply_to="b-1")
    bad = store.save_opinion(an_opinion("c-2"), in_reply_to="b-2")
    assert bad is not None
    bad.write_bytes(bad.read_bytes()[:-40])
    opinions, unreadable = store.load_opinions()
    assert list(opinions) == ["c-1"]
    assert [u.name for u in unreadable] == [bad.stem]


def test_an_older_save_ending_last_does_not_replace_a_newer_one(tmp_path: Path) -> None:
    store = DraftStore(tmp_path, me(world().doctor), world().roots)
    case = a_case()
    assert store.save(replace(case, question="Nouvelle question ?"), version=2) is not None
    assert store.save(case, version=1) is None  # began earlier, ended later: dropped
    assert [c.question for c in store.load()[0]] == ["Nouvelle question ?"]
    opinion = an_opinion("c-1")
    store.save_opinion(replace(opinion, text="Récent."), in_reply_to="b-1", version=5)
    assert store.save_opinion(opinion, in_reply_to="b-1", version=4) is None
    assert store.load_opinions()[0]["c-1"].text == "Récent."
