"""Kept photos and the strip: body sites, annotations beside the pixels, order and retakes."""

from __future__ import annotations

import pytest

from app import i18n
from app.messages import body_site_label
from capture.loading import LoadedImage
from capture.photo import (
    BODY_SITE_CODES,
    BODY_SITES,
    Arrow,
    Circle,
    KeptPhoto,
    Strip,
    Text,
    annotation_from_dict,
)
from capture.prepare import prepare
from tests.support import scenes


def kept(site: str = "", note: str = "") -> KeptPhoto:
    return KeptPhoto(LoadedImage.from_frame(scenes.skin_scene(64, 48)), body_site=site, note=note)


def test_body_sites_are_data_with_translated_labels() -> None:
    assert len(BODY_SITES) == len(BODY_SITE_CODES) == 16
    for code, label in BODY_SITES:
        assert body_site_label(code) == label  # the UI's label is the French one here
    try:
        i18n.set_language("en")
        assert body_site_label("main_droite") == "right hand"
        assert body_site_label("organes_genitaux") == "genitals"
    finally:
        i18n.set_language("fr")


def test_body_site_codes_are_the_dicom_exports() -> None:
    from capture.dicom import SITES

    assert set(SITES) == BODY_SITE_CODES


def test_kept_photo_checks_its_site_and_needs_pixels() -> None:
    photo = kept("dos", "plaie de 3 jours")
    assert photo.body_site == "dos"
    with pytest.raises(ValueError, match="body site"):
        photo.set_body_site("dosse")
    with pytest.raises(ValueError, match="body site"):
        kept("nowhere")
    with pytest.raises(ValueError, match="original or its prepared"):
        KeptPhoto()
    assert photo.length_mm is None
    assert photo.area_cm2 is None
    assert photo.calibrated is False


def test_annotations_are_a_separate_vector_layer() -> None:
    photo = kept()
    assert photo.original is not None
    before = photo.original.pixels().copy()
    arrow = photo.annotate(Arrow((10, 10), (40, 30)))
    photo.annotate(Circle((32, 24), 8))
    photo.annotate(Text((5, 40), "bord nécrotique"))
    assert [a.to_dict()["kind"] for a in photo.annotations] == ["arrow", "circle", "text"]
    assert arrow.to_dict() == {"kind": "arrow", "start": [10, 10], "end": [40, 30]}
    assert (photo.original.pixels() == before).all()  # nothing drawn into the pixels
    photo.remove_annotation(arrow.id)
    assert len(photo.annotations) == 2
    with pytest.raises(KeyError):
        photo.remove_annotation(arrow.id)


def test_strip_order_delete_undo_retake() -> None:
    strip = Strip()
    a, b, c = kept("dos"), kept("cou"), kept("thorax")
    for photo in (a, b, c):
        strip.add(photo)
    with pytest.raises(ValueError, match="already"):
        strip.add(a)
    assert strip.move_up(c.id) == 1
    assert [p.id for p in strip] == [a.id, c.id, b.id]
    assert strip.move_up(a.id) == 0  # already first
    assert strip.move_down(b.id) == 2  # already last
    assert strip.move_down(a.id) == 1
    assert [p.id for p in strip] == [c.id, a.id, b.id]
    where, removed = strip.delete(a.id)
    assert (where, removed) == (1, a)
    assert len(strip) == 2
    strip.insert(where, removed)  # undo
    assert [p.id for p in strip] == [c.id, a.id, b.id]
    frame = scenes.skin_scene(64, 48)
    retaken = KeptPhoto(prepared=prepare(frame, anonymise=False), note="")
    old = strip.retake(a.id, retaken)
    assert old is a
    assert strip[1] is retaken
    assert retaken.body_site == "dos"  # carried over from the shot it replaces
    with pytest.raises(KeyError):
        strip.index(a.id)


def test_annotations_come_back_from_their_plain_data() -> None:
    drawn = [Arrow((1.0, 2.0), (30.0, 40.5)), Circle((5.0, 6.0), 7.5), Text((8.0, 9.0), "fibrine")]
    back = [annotation_from_dict(a.to_dict()) for a in drawn]
    assert [b.to_dict() for b in back] == [a.to_dict() for a in drawn]
    assert [type(b) for b in back] == [Arrow, Circle, Text]
    with pytest.raises(ValueError, match="unknown annotation kind"):
        annotation_from_dict({"kind": "blur", "start": [0, 0]})
