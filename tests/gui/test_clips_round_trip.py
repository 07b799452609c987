"""A request with a clip, through the widgets and the real platform (issue 17 §2): the doctor
makes the clip in the clip window (faces reviewed and confirmed, no sound), it joins the form
and travels sealed; the specialist plays it beside the request, frames decoded on the
player's thread, one frame forward and back with the keys; nothing of the video is left in
clear on any disk (profiles, platform, the temporary folder). Also: the clip screens fit
1280×720 and a 960-px-wide window, in French and English."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QSize, Qt
from PySide6.QtWidgets import QWidget
from pytestqt.qtbot import QtBot

import resources
from app import i18n
from app.mainwindow import MainWindow
from capture.clips import prepare_clip
from cases.clips import Clip, ClipAreas
from tests.gui.fit import fit
from tests.gui.test_at_rest import demo_in_private_tmp, private_tmp, scan  # noqa: F401
from tests.gui.test_end_to_end import AGAIN, WAIT, add_photos, log_in, type_text
from tests.support.demo import DemoEnv
from tests.support.videos import face_video
from widgets.background import sends_in_progress
from widgets.caseform import CaseForm
from widgets.clipplayer import PLAYER_THREAD, ClipWindow
from widgets.cliprecorder import ClipRecorder
from widgets.doctor import DoctorWorkspace
from widgets.specialist import SpecialistWorkspace

LONG = 180_000


def test_a_clip_travels_and_the_specialist_steps_through_it_and_nothing_is_left_in_clear(
    qtbot: QtBot,
    demo_in_private_tmp: DemoEnv,  # noqa: F811
    private_tmp: Path,  # noqa: F811
    tmp_path: Path,
    screenshot,  # type: ignore[no-untyped-def]
) -> None:
    env = demo_in_private_tmp
    source = face_video(tmp_path / "camera.mp4", frames=20)
    unit = MainWindow(env.layout.unit, poll_interval=0.3)
    hospital = MainWindow(env.layout.hospital, poll_interval=0.3)
    for window in (unit, hospital):
        qtbot.addWidget(window)
        window.resize(1280, 720)
        window.show()

    # --- the doctor makes a clip and sends it -------------------------------------------
    doctor = log_in(qtbot, unit, "dr-bernard")
    assert isinstance(doctor, DoctorWorkspace)
    form = doctor.form
    qtbot.waitUntil(lambda: form.recipient.currentData() is not None, timeout=WAIT)
    type_text(form.patient_ref, "P-CLIP-1")
    form.consent.setChecked(True)
    type_text(form.summary, "Tremblement de la main droite.")
    type_text(form.question, "Tremblement essentiel ?")
    add_photos(qtbot, doctor, resources.sample_photos()[:1], kept=1)
    recorder = form.clips.open_recorder()
    assert recorder is not None
    recorder.use(source)
    qtbot.waitUntil(lambda: recorder.review is not None and not recorder.job, timeout=LONG)
    assert not recorder.add_button.isEnabled()
    recorder.confirm.setChecked(True)
    qtbot.mouseClick(recorder.add_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: len(form.clips.clips()) == 1, timeout=LONG)
    (clip,) = form.clips.clips()
    assert not clip.sound
    assert "sans son" in form.clips.list.item(0).text()
    qtbot.mouseClick(form.send_button, Qt.MouseButton.LeftButton)
    if AGAIN in form.problems.text():  # warned (a specialist of another specialty, say)
        qtbot.mouseClick(form.send_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: doctor.cases.count() == 1, timeout=WAIT)
    session = unit.session
    assert session is not None
    qtbot.waitUntil(lambda: [j.state for j in session.outbox.jobs()] == ["delivered"], timeout=WAIT)

    # --- the specialist plays it --------------------------------------------------------
    specialist = log_in(qtbot, hospital, "pr-dubois")
    assert isinstance(specialist, SpecialistWorkspace)
    qtbot.waitUntil(lambda: specialist.cases.count() == 1, timeout=WAIT)
    specialist.cases.setCurrentRow(0)
    view = specialist.view
    assert view.clips.isVisible()
    assert view.clips.list.count() == 1
    player = view.clips.open_clip(0)
    assert player is not None
    qtbot.waitUntil(lambda: player.index == 0, timeout=WAIT)
    assert player.decoded_by == {PLAYER_THREAD}
    assert threading.main_thread().name != PLAYER_THREAD
    assert player.counter.text().startswith("Image 1 / 20")
    player.setFocus()
    with qtbot.waitSignal(player.decoder.frame_shown, timeout=WAIT) as shown:
        qtbot.keyClick(player, Qt.Key.Key_Right)
    assert shown.args[0] == 1
    assert shown.args[2] == PLAYER_THREAD
    assert player.counter.text().startswith("Image 2 / 20")
    with qtbot.waitSignal(player.decoder.frame_shown, timeout=WAIT) as shown:
        qtbot.keyClick(player, Qt.Key.Key_Left)
    assert shown.args[0] == 0
    first = player.frame.copy()
    for _step in range(5):  # five frames on, then back again: the same pictures
        with qtbot.waitSignal(player.decoder.frame_shown, timeout=WAIT):
            qtbot.mouseClick(player.forward_button, Qt.MouseButton.LeftButton)
    assert player.index == 5
    for _step in range(5):
        with qtbot.waitSignal(player.decoder.frame_shown, timeout=WAIT):
            qtbot.mouseClick(player.back_button, Qt.MouseButton.LeftButton)
    assert player.index == 0
    assert player.frame == first
    qtbot.keyClick(player, Qt.Key.Key_Space)  # plays to the end, then pauses
    qtbot.waitUntil(lambda: player.index == 19, timeout=WAIT)
    qtbot.waitUntil(lambda: player.play_button.text() == "Lecture", timeout=WAIT)
    screenshot(player, "specialist-clip")
    player.close()

    # --- nothing in clear on disk -------------------------------------------------------
    data = clip.data
    needles = {f"clip bytes {k}": data[k : k + 48] for k in (len(data) // 3, 2 * len(data) // 3)}
    for w in (unit, hospital):
        qtbot.waitUntil(lambda w=w: sends_in_progress(w.session.outbox) == 0, timeout=WAIT)
        w.close()
        assert w.session is None
    roots = [env.layout.unit, env.layout.hospital, env.layout.platform, private_tmp]
    assert scan(roots, needles) == []
    assert [p for p in private_tmp.rglob("*") if p.suffix in {".mp4", ".part"}] == []


@pytest.fixture(scope="module")
def sample_clip(tmp_path_factory: pytest.TempPathFactory) -> Clip:
    folder = tmp_path_factory.mktemp("clip-screens")
    source = face_video(folder / "source.mp4", frames=10, sound=False)
    report = prepare_clip(source, folder / "clip.mp4")
    return Clip.of_bytes(
        "clip-1.mp4", (folder / "clip.mp4").read_bytes(), duration=report.seconds,
        width=report.width, height=report.height, sound=False, areas=ClipAreas(found=3),
    )  # fmt: skip


def screens(language: str, clip: Clip, video: Path) -> Iterator[tuple[str, QWidget]]:
    i18n.set_language(language)
    form = CaseForm()
    form.clips.set_clips([clip])
    yield "form", form
    recorder = ClipRecorder()
    recorder.use(video)
    yield "recorder", recorder
    yield "player", ClipWindow(clip)


@pytest.mark.parametrize("language", ["fr", "en"])
def test_the_clip_screens_fit_and_are_rendered(
    qtbot: QtBot,
    language: str,
    sample_clip: Clip,
    tmp_path: Path,
    screenshot,  # type: ignore[no-untyped-def]
) -> None:
    video = face_video(tmp_path / "video.mp4", frames=10, sound=True)
    try:
        for name, widget in screens(language, sample_clip, video):
            qtbot.addWidget(widget)
            widget.show()
            if name == "recorder":
                qtbot.waitUntil(lambda w=widget: w.review is not None and not w.job, timeout=LONG)  # type: ignore[attr-defined]
                qtbot.waitUntil(lambda w=widget: w.view.sample >= 0, timeout=WAIT)  # type: ignore[attr-defined]
            if name == "player":
                qtbot.waitUntil(lambda w=widget: w.index == 0, timeout=WAIT)  # type: ignore[attr-defined]
            for size in (QSize(1280, 720), QSize(960, 1000)):
                if name == "form":
                    bar = widget.scroll.verticalScrollBar()  # type: ignore[attr-defined]
                    bar.setValue(bar.maximum())  # the clips, at the bottom
                problems = fit(widget, size)
                assert problems == [], problems
                label = f"clips-{name}-{language}-{size.width()}"
                if (language, size.width()) == ("en", 960) and name == "recorder":  # README
                    screenshot(widget, label)
                else:
                    assert widget.grab().save(str(tmp_path / f"{label}.png"))
            widget.close()
    finally:
        i18n.set_language("fr")


def test_a_clip_larger_than_its_manifest_says_is_not_played(qtbot: QtBot, tmp_path: Path) -> None:
    """A sender who built the bundle by hand: an MP4 of 1280×720 frames said to be 64×64 (or
    bytes that are no video at all) is refused in one sentence, the window stays."""
    real = face_video(tmp_path / "real.mp4", frames=5, sound=False).read_bytes()
    for data, width in ((real, 64), (b"\x00\x00\x00\x18ftypisom" + b"\x00" * 500, 64)):
        clip = Clip.of_bytes(
            "clip-1.mp4", data, duration=0.2, width=width, height=width, sound=False,
            areas=ClipAreas(),
        )  # fmt: skip
        window = ClipWindow(clip)
        qtbot.addWidget(window)
        window.show()
        qtbot.waitUntil(lambda w=window: "ne peut pas être lu" in w.picture.text(), timeout=WAIT)
        assert window.index == -1
        window.close()
