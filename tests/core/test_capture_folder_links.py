"""The watched folder never follows a link (issue 15): a symbolic link, a symlinked directory,
a hard link or a special file dropped in the folder is neither imported nor wiped, and a file
swapped for a link after the listing (or between the check and the opening) is not read nor
overwritten through it. The file outside keeps its bytes."""

from __future__ import annotations

import functools
import os
import sys
from pathlib import Path
from typing import Any

import pytest

from app.messages import reason
from capture import folder as watched
from capture.errors import CaptureError
from capture.faces_decoding import load_and_propose
from capture.folder import NOT_A_PLAIN_FILE, RefusedFile, WatchedFolder, read, wipe
from tests.support import scenes

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX links and pipes")


@functools.cache
def photo_bytes() -> bytes:
    return scenes.encode_jpeg(scenes.skin_scene(320, 240))


@pytest.fixture(params=["relative", "by path"])
def mode(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Files opened relative to the folder's descriptor (POSIX), or by their path with
    ``O_NOFOLLOW`` and the ``realpath`` check (where ``dir_fd`` is missing)."""
    if request.param == "by path":
        monkeypatch.setattr(watched, "_RELATIVE", False)
    return str(request.param)


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A file outside the watched folder: a patient's photo elsewhere, or the doctor's key."""
    place = tmp_path / "outside"
    place.mkdir()
    secret = place / "elsewhere.jpg"
    secret.write_bytes(photo_bytes())
    return secret


@pytest.fixture
def camera(tmp_path: Path) -> Path:
    """The folder the camera's software writes into."""
    place = tmp_path / "camera"
    place.mkdir()
    return place


def reported(folder: WatchedFolder) -> list[Path]:
    """What two polls report (a file is reported once its size was seen twice)."""
    return folder.poll() + folder.poll()


def assert_left_alone(secret: Path) -> None:
    assert secret.read_bytes() == photo_bytes()


# --- in the folder from the start ---------------------------------------------------------


def test_a_link_to_a_file_outside_is_neither_imported_nor_wiped(
    camera: Path, outside: Path, mode: str
) -> None:
    link = camera / "IMG_0001.JPG"
    link.symlink_to(outside)
    plain = camera / "IMG_0002.JPG"
    plain.write_bytes(photo_bytes())
    there = WatchedFolder(camera, min_age=0)
    assert there.existing == [plain]  # the link is not offered for import
    assert there.take_refused() == [(link, NOT_A_PLAIN_FILE)]
    assert there.take_refused() == []  # told once
    assert reported(there) == []
    assert there.take_refused() == []  # still there: not told again

    fresh = WatchedFolder(camera, min_age=0, include_existing=True)
    assert reported(fresh) == [plain]
    assert fresh.take_refused() == [(link, NOT_A_PLAIN_FILE)]
    with pytest.raises(RefusedFile) as caught:
        read(link)
    assert caught.value.code == NOT_A_PLAIN_FILE
    with pytest.raises(CaptureError) as refused:
        wipe(link)
    assert refused.value.code == "not_wiped"
    assert link.is_symlink()
    assert_left_alone(outside)
    assert read(plain) == photo_bytes()
    wipe(plain)
    assert not plain.exists()


def test_the_refusal_is_a_plain_sentence() -> None:
    sentence = reason(NOT_A_PLAIN_FILE)
    assert "lien" in sentence
    assert NOT_A_PLAIN_FILE not in sentence  # not the generic "Erreur inattendue (code)"


def test_a_symlinked_directory_is_not_followed(camera: Path, outside: Path, mode: str) -> None:
    (camera / "album.jpg").symlink_to(outside.parent, target_is_directory=True)
    (camera / "sub").symlink_to(outside.parent, target_is_directory=True)
    there = WatchedFolder(camera, min_age=0, include_existing=True)
    assert reported(there) == []  # nothing from the directory behind either link
    assert there.take_refused() == [(camera / "album.jpg", NOT_A_PLAIN_FILE)]
    with pytest.raises(CaptureError):
        wipe(camera / "album.jpg")
    assert_left_alone(outside)


def test_a_hard_link_is_neither_imported_nor_wiped(camera: Path, outside: Path, mode: str) -> None:
    second_name = camera / "IMG_0003.JPG"
    os.link(outside, second_name)  # the same data under a name in the folder
    there = WatchedFolder(camera, min_age=0, include_existing=True)
    assert reported(there) == []
    assert there.take_refused() == [(second_name, NOT_A_PLAIN_FILE)]
    with pytest.raises(RefusedFile, match="several names"):
        read(second_name)
    with pytest.raises(CaptureError, match="several names"):
        wipe(second_name)
    assert second_name.exists()
    assert_left_alone(outside)


def test_a_pipe_named_like_a_photo_is_refused_without_blocking(camera: Path, mode: str) -> None:
    pipe = camera / "IMG_0004.JPG"
    os.mkfifo(pipe)
    there = WatchedFolder(camera, min_age=0, include_existing=True)
    assert reported(there) == []
    assert there.take_refused() == [(pipe, NOT_A_PLAIN_FILE)]
    with pytest.raises(RefusedFile, match="not a regular file"):
        read(pipe)
    with pytest.raises(CaptureError):
        wipe(pipe)


def test_a_plain_directory_is_skipped_silently(camera: Path) -> None:
    (camera / "DCIM.jpg").mkdir()
    there = WatchedFolder(camera, min_age=0, include_existing=True)
    assert reported(there) == []
    assert there.take_refused() == []


# --- swapped after the listing ------------------------------------------------------------


def listed_photo(camera: Path, name: str = "IMG_0010.JPG") -> Path:
    """A photo the folder reported, and that was imported (read) as the station does."""
    (camera / name).write_bytes(photo_bytes())
    there = WatchedFolder(camera, min_age=0, include_existing=True)
    (path,) = reported(there)
    image, _regions = load_and_propose(read(path))
    assert image.size == (320, 240)
    return path


def test_a_file_swapped_for_a_link_after_the_listing_is_not_wiped_through_it(
    camera: Path, outside: Path, mode: str
) -> None:
    path = listed_photo(camera)
    swap = camera / "swap"
    swap.symlink_to(outside)
    os.replace(swap, path)  # atomically: the photo's name is now a link to the file outside
    with pytest.raises(RefusedFile):
        read(path)
    with pytest.raises(CaptureError) as caught:
        wipe(path)
    assert caught.value.code == "not_wiped"
    assert path.is_symlink()
    assert_left_alone(outside)


def test_a_file_swapped_for_a_hard_link_after_the_listing_is_not_wiped(
    camera: Path, outside: Path, mode: str
) -> None:
    path = listed_photo(camera)
    path.unlink()
    os.link(outside, path)
    with pytest.raises(CaptureError):
        wipe(path)
    assert_left_alone(outside)


def test_another_file_under_the_same_name_is_not_wiped(camera: Path, mode: str) -> None:
    path = listed_photo(camera)
    newer = scenes.encode_jpeg(scenes.skin_scene(320, 240, seed=1))
    (camera / "IMG_0010.JPG.part").write_bytes(newer)
    # The camera reused the name for a photo not imported yet, written aside then renamed.
    # (Written after the removal of the first, it could get the same inode number back:
    # device and inode cannot tell those two apart.)
    os.replace(camera / "IMG_0010.JPG.part", path)
    with pytest.raises(RefusedFile, match="not the file that was listed"):
        read(path)
    with pytest.raises(CaptureError):
        wipe(path)
    assert path.read_bytes() == newer


def test_a_watched_folder_swapped_for_a_link_is_not_wiped_through_it(
    camera: Path, tmp_path: Path, mode: str
) -> None:
    path = listed_photo(camera)
    decoy = tmp_path / "decoy"
    decoy.mkdir()
    (decoy / path.name).write_bytes(photo_bytes())
    camera.rename(tmp_path / "moved")
    camera.symlink_to(decoy, target_is_directory=True)  # same path, another directory
    with pytest.raises(CaptureError):
        wipe(path)
    assert (decoy / path.name).read_bytes() == photo_bytes()
    assert (tmp_path / "moved" / path.name).read_bytes() == photo_bytes()


def _swapping_open(monkeypatch: pytest.MonkeyPatch, path: Path, replace: Any) -> list[Path]:
    """``os.open`` that puts ``replace()`` in place of ``path`` just before opening it:
    after every check of the name, before the descriptor exists."""
    real_open = os.open
    swapped: list[Path] = []

    def opening(target: Any, flags: int, *args: Any, **kwargs: Any) -> int:
        if not swapped and os.path.basename(os.fspath(target)) == path.name:
            replace()
            swapped.append(path)
        return real_open(target, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", opening)
    return swapped


def test_a_link_put_in_between_the_check_and_the_opening_is_not_followed(
    camera: Path, outside: Path, mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = listed_photo(camera)

    def to_link() -> None:
        swap = camera / "swap"
        swap.symlink_to(outside)
        os.replace(swap, path)

    swapped = _swapping_open(monkeypatch, path, to_link)
    with pytest.raises(CaptureError, match="symbolic link"):
        wipe(path)  # O_NOFOLLOW
    assert swapped == [path]
    assert_left_alone(outside)


def test_another_file_put_in_between_the_check_and_the_opening_is_not_overwritten(
    camera: Path, mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = listed_photo(camera)
    other = camera / "IMG_0099.JPG"
    other.write_bytes(b"another photo, not imported")

    swapped = _swapping_open(monkeypatch, path, lambda: os.replace(other, path))
    with pytest.raises(CaptureError, match="not the file that was listed"):
        wipe(path)  # fstat on the descriptor: another inode
    assert swapped == [path]
    assert path.read_bytes() == b"another photo, not imported"


# --- reading ------------------------------------------------------------------------------


def test_read_returns_the_bytes_and_bounds_them(camera: Path, mode: str) -> None:
    path = listed_photo(camera)
    assert read(path) == photo_bytes()
    with pytest.raises(CaptureError) as caught:
        read(path, max_bytes=100)
    assert caught.value.code == "image_too_large"
    path.unlink()
    with pytest.raises(CaptureError) as gone:
        read(path)
    assert gone.value.code == "unreadable"
    wipe(path)  # gone: nothing to do
