"""The specialist's marks drawn in the signed report, and the report time-stamped from the
command line and the workstation's setting, on a real exchange.

A request with two photos is answered once through the real platform (module fixture) by
an opinion whose marks (a length, an arrow with its text, a circle, and a circle reaching
past the photo's edge) are on the first photo only. The report's pages are rendered by
pypdfium2 (what ``Ctrl+P`` prints, too): the specialist's colour is where the marks are and
nowhere else; the unmarked photo is its JPEG, byte for byte, with nothing drawn over it.
Then ``passavant report make --tsa`` against OpenSSL's time-stamp authority on 127.0.0.1.
"""

from __future__ import annotations

import math
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from app.cli import main
from app.demo import DEMO_PASSPHRASE, DemoLayout
from app.report_pdf import make
from app.report_photos import HEAD_PT, PHOTO_WIDTH_PT, SPECIALIST
from app.session import Session
from capture.measure import line_measurement, polygon_measurement
from capture.photo import Arrow, Circle, Text
from cases.marks import PhotoMarks
from cases.model import Case, Opinion
from cases.photos import Photo
from cases.profile import Profile
from cases.teleexpertise_report import find_thread, sealed_reader, signed_opinions
from crypto import audit
from tests.core.test_cli_cases import wait_for
from tests.support.demo import running_demo
from tests.support.photos import sample_photo
from tests.support.tsa import TsaPki, running_tsa, tsa_pki, unreachable_url

ROOT = Path(__file__).resolve().parents[2]
SCALE = 3.0
"""Pixels per point when rendering (216 dpi)."""

LINE = line_measurement(None, (100.0, 500.0), (400.0, 520.0)).to_dict()
OUTLINE = polygon_measurement(None, [(600.0, 450.0), (720.0, 470.0), (660.0, 560.0)]).to_dict()
ARROW = Arrow((150.0, 120.0), (420.0, 330.0)).to_dict()
LABEL = Text((150.0, 120.0), "bord décollé").to_dict()
CIRCLE = Circle((560.0, 300.0), 90.0).to_dict()
PAST_THE_EDGE = Circle((770.0, 40.0), 150.0).to_dict()


@pytest.fixture(scope="module")
def scenario(demo_template: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("marks") / "demo"
    with running_demo(demo_template, root) as env:
        unit = Session(Profile(env.layout.unit), poll_interval=0.2)
        hospital = Session(Profile(env.layout.hospital), poll_interval=0.2)
        for session in (unit, hospital):
            session.start()
        try:
            doctor = unit.unlock("dr-bernard", DEMO_PASSPHRASE.encode())
            expert = hospital.unlock("pr-dubois", DEMO_PASSPHRASE.encode())
            photos = (
                sample_photo(ROOT / "resources/samples/plaie-jambe-1.jpg", "p1.jpg"),
                sample_photo(ROOT / "resources/samples/lesion-dos.jpg", "p2.jpg"),
            )
            case = Case(
                patient_ref="P-0148", consent=True, specialty="wounds",
                summary="Ulcère de jambe", treatments="", question="Conduite ?", photos=photos,
            )  # fmt: skip
            to = next(e for e in unit.workstation.refresh_directory() if e.id == "pr-dubois")
            request = unit.workstation.send_case(doctor, case, to)
            unit.sender.wake()
            wait_for(lambda: len(hospital.inbox.items("pr-dubois")) == 1)
            hospital.workstation.refresh_directory()
            threads, _unreadable = hospital.workstation.threads(expert)
            thread = find_thread(threads, request)
            marks = (PhotoMarks("p1.jpg", (LINE, OUTLINE), (ARROW, LABEL, CIRCLE, PAST_THE_EDGE)),)
            opinion = Opinion(thread.case_id, "Ulcère veineux.", outcome="on_site", marks=marks)
            hospital.workstation.send_opinion(expert, thread, opinion)
            hospital.sender.wake()
            wait_for(lambda: len(unit.inbox.items("dr-bernard")) == 2)  # receipt and opinion
            wait_for(lambda: all(j.state != "sending" for j in hospital.outbox.jobs()))
        finally:
            for session in (unit, hospital):
                session.stop()
                session.workstation.close()
                session.outbox.close()
                session.inbox.close()
    (root / "pass.txt").write_text(DEMO_PASSPHRASE + "\n")
    return {"root": root, "request": request}


@pytest.fixture
def demo(scenario: dict[str, Any], tmp_path: Path) -> DemoLayout:
    shutil.copytree(scenario["root"], tmp_path / "demo")
    return DemoLayout(tmp_path / "demo")


def report_of(layout: DemoLayout, request: str) -> tuple[bytes, tuple[Photo, ...]]:
    """The doctor's signed copy of the report (the opinion's marks come from the
    specialist's signed opinion, as received), and the request's photos."""
    session = Session(Profile(layout.unit), poll_interval=60)
    try:
        me = session.unlock("dr-bernard", DEMO_PASSPHRASE.encode())
        threads, _unreadable = session.workstation.threads(me)
        thread = find_thread(threads, request)
        assert thread.opinions[0].bundle.opinion is not None
        assert thread.opinions[0].bundle.opinion.marks  # they travelled, signed
        opinions = signed_opinions(sealed_reader(session.workstation), me, thread)
        case = thread.case.bundle.case
        assert case is not None
        return make(thread, me, opinions), tuple(
            Photo(p.name, p.data, p.width, p.height) for p in case.photos
        )
    finally:
        session.stop()  # the profile is free for the next session opened on it
        session.workstation.close()
        session.outbox.close()
        session.inbox.close()


@dataclass(frozen=True)
class Placed:
    """A photo as the report's page shows it: where (points, PDF coordinates), and its
    image's bytes as stored."""

    page: int
    left: float
    bottom: float
    right: float
    top: float
    stream: bytes


@dataclass
class Rendered:
    pages: list[np.ndarray]  # RGB, SCALE pixels per point
    heights: list[float]  # page heights in points
    photos: list[Placed]
    paths_over: dict[int, int]  # photo index -> path objects drawn over it


def rendered(data: bytes) -> Rendered:
    import pypdfium2
    import pypdfium2.raw as pdfium_c

    document = pypdfium2.PdfDocument(data)
    try:
        out = Rendered([], [], [], {})
        for n in range(len(document)):
            page = document[n]
            out.pages.append(np.asarray(page.render(scale=SCALE).to_pil().convert("RGB")))
            out.heights.append(page.get_height())
            paths = []
            for obj in page.get_objects():
                box = obj.get_bounds()
                if obj.type == pdfium_c.FPDF_PAGEOBJ_IMAGE and box[2] - box[0] > 200:
                    raw = obj.get_data(decode_simple=False)
                    out.photos.append(Placed(n, *box, bytes(raw)))
                elif obj.type == pdfium_c.FPDF_PAGEOBJ_PATH:
                    paths.append((n, box))
            for i, photo in enumerate(out.photos):
                out.paths_over.setdefault(i, 0)
                for page_n, (left, bottom, right, top) in paths:
                    overlaps = left < photo.right and right > photo.left
                    overlaps = overlaps and bottom < photo.top and top > photo.bottom
                    if page_n == photo.page and overlaps:
                        out.paths_over[i] += 1
        return out
    finally:
        document.close()


def specialist_coloured(image: np.ndarray) -> np.ndarray:
    """Where the page shows the specialist's colour (#64d2ff), allowing for smoothing."""
    target = np.array([round(c * 255) for c in SPECIALIST], dtype=np.int32)
    return np.all(np.abs(image.astype(np.int32) - target) <= 40, axis=2)


class Geometry:
    """Maps a photo's pixels to the rendered page's pixels, and tells where a mark is."""

    def __init__(self, placed: Placed, photo: Photo, page_height: float) -> None:
        self.placed, self.photo, self.page_height = placed, photo, page_height
        self.scale = PHOTO_WIDTH_PT / photo.width  # points per photo pixel

    def pixel(self, p: tuple[float, float]) -> tuple[float, float]:
        """(column, row) on the rendered page of the photo's pixel ``p``."""
        x_pt = self.placed.left + p[0] * self.scale
        y_pt = self.placed.top - p[1] * self.scale
        return x_pt * SCALE, (self.page_height - y_pt) * SCALE

    def near_marks(self, shape: tuple[int, int], slack: float) -> np.ndarray:
        """Every page pixel within ``slack`` page pixels of a mark, clipped to the photo."""
        rows, cols = np.mgrid[0 : shape[0], 0 : shape[1]]
        near = np.zeros(shape, dtype=bool)

        def segment(a: tuple[float, float], b: tuple[float, float]) -> None:
            ax, ay = a
            bx, by = b
            dx, dy = bx - ax, by - ay
            t = np.clip(((cols - ax) * dx + (rows - ay) * dy) / (dx * dx + dy * dy), 0, 1)
            near[np.hypot(cols - (ax + t * dx), rows - (ay + t * dy)) <= slack] = True

        def ring(centre: tuple[float, float], radius: float) -> None:
            cx, cy = self.pixel(centre)
            r = radius * self.scale * SCALE
            near[np.abs(np.hypot(cols - cx, rows - cy) - r) <= slack] = True

        segment(self.pixel(LINE["points"][0]), self.pixel(LINE["points"][1]))
        corners = [self.pixel(p) for p in OUTLINE["points"]]
        for a, b in zip(corners, corners[1:] + corners[:1], strict=True):
            segment(a, b)
        start, end = self.pixel(ARROW["start"]), self.pixel(ARROW["end"])
        segment(start, end)
        angle = math.atan2(end[1] - start[1], end[0] - start[0])
        for side in (-1, 1):
            tip = angle + math.pi + side * 0.45
            head = HEAD_PT * SCALE
            segment(end, (end[0] + head * math.cos(tip), end[1] + head * math.sin(tip)))
        ring(CIRCLE["centre"], CIRCLE["radius"])
        ring(PAST_THE_EDGE["centre"], PAST_THE_EDGE["radius"])
        # the text's label: a box above and right of its point (at most 80 characters)
        lx, ly = self.pixel(LABEL["position"])
        near[(cols >= lx) & (cols <= lx + 80 * 7.5 * SCALE) & (rows <= ly + slack)
             & (rows >= ly - 14 * SCALE)] = True  # fmt: skip
        return near & self.inside(shape, margin=1.5)

    def inside(self, shape: tuple[int, int], margin: float = 0.0) -> np.ndarray:
        """The photo's pixels (``margin`` more on each side: the rasteriser rounds)."""
        rows, cols = np.mgrid[0 : shape[0], 0 : shape[1]]
        left = self.placed.left * SCALE - margin
        top = (self.page_height - self.placed.top) * SCALE - margin
        right = self.placed.right * SCALE + margin
        bottom = (self.page_height - self.placed.bottom) * SCALE + margin
        return (cols >= left) & (cols <= right) & (rows >= top) & (rows <= bottom)


@pytest.fixture
def report(scenario: dict[str, Any], demo: DemoLayout) -> tuple[Rendered, Any]:
    data, photos = report_of(demo, scenario["request"])
    return rendered(data), photos


def test_the_specialists_marks_are_drawn_where_they_were_drawn_and_nowhere_else(
    report: tuple[Rendered, tuple[Photo, ...]],
) -> None:
    pages, photos = report
    assert len(pages.photos) == 2
    first = pages.photos[0]
    page = pages.pages[first.page]
    where = Geometry(first, photos[0], pages.heights[first.page])
    coloured = specialist_coloured(page)

    # on the marks: the middle of the arrow, the length's line, the circle's four sides
    def lit(p: tuple[float, float]) -> bool:
        col, row = (round(v) for v in where.pixel(p))
        return bool(coloured[row - 2 : row + 3, col - 2 : col + 3].any())

    arrow_middle = ((ARROW["start"][0] + ARROW["end"][0]) / 2,
                    (ARROW["start"][1] + ARROW["end"][1]) / 2)  # fmt: skip
    assert lit(arrow_middle)
    assert lit(ARROW["end"])
    assert lit(((LINE["points"][0][0] + LINE["points"][1][0]) / 2, 510.0))
    cx, cy = CIRCLE["centre"]
    r = CIRCLE["radius"]
    for dx, dy in ((r, 0), (-r, 0), (0, r), (0, -r)):
        assert lit((cx + dx, cy + dy)), (dx, dy)
    assert not lit((cx, cy))  # a circle, not a disc
    (ax, ay), (bx, by), _c = OUTLINE["points"]
    assert lit(((ax + bx) / 2, (ay + by) / 2))  # the outline's first side
    assert not lit((660.0, 493.0))  # an outline, not a filled area
    # nowhere else on any page: not off the marks, not past the photo's edge
    for n, image in enumerate(pages.pages):
        stray = specialist_coloured(image)
        if n == first.page:
            stray &= ~where.near_marks(stray.shape, slack=3 * SCALE)
        assert int(stray.sum()) == 0, (n, int(stray.sum()))
    assert int((coloured & where.inside(coloured.shape)).sum()) > 500  # plainly drawn


def test_photos_are_their_own_jpegs_and_an_unmarked_photo_has_nothing_over_it(
    report: tuple[Rendered, tuple[Photo, ...]],
) -> None:
    pages, photos = report
    marked, plain = pages.photos
    assert marked.stream == photos[0].payload  # the marks are over the photo, not in it
    assert plain.stream == photos[1].payload
    assert pages.paths_over[0] > 0
    assert pages.paths_over[1] == 0
    page = pages.pages[plain.page]
    where = Geometry(plain, photos[1], pages.heights[plain.page])
    assert not (specialist_coloured(page) & where.inside(page.shape[:2])).any()


def test_the_caption_names_the_specialists_marks(
    scenario: dict[str, Any], demo: DemoLayout, tmp_path: Path
) -> None:
    import subprocess

    from tests.support.tools import require_tool

    data, _photos = report_of(demo, scenario["request"])
    path = tmp_path / "cr.pdf"
    path.write_bytes(data)
    require_tool("pdftotext")
    text = subprocess.run(
        ["pdftotext", str(path), "-"], capture_output=True, text=True, check=True
    ).stdout
    text = " ".join(text.split())  # a caption wraps where its width ends
    assert "Marques de Pr Marc Dubois (en bleu)" in text
    assert "« bord décollé »" in text
    assert "300 px (non étalonné)" in text or "301 px (non étalonné)" in text


# --- the time-stamp from the command line and the workstation's setting -----------------


@pytest.fixture(scope="module")
def tsa(tmp_path_factory: pytest.TempPathFactory) -> TsaPki:
    return tsa_pki(tmp_path_factory.mktemp("tsa"))


def make_cli(demo: DemoLayout, request: str, out: Path, *extra: str) -> int:
    return main(["--profile", str(demo.hospital), "report", "make", "--as", "pr-dubois",
                 request, "-o", str(out), "--passphrase-file", str(demo.root / "pass.txt"),
                 *extra])  # fmt: skip


def journalled(demo: DemoLayout) -> Any:
    entries = audit.read(Profile(demo.hospital).audit_path)
    return [e for e in entries if e.event == "report_made"][-1].details


def test_report_make_with_a_time_stamp_authority(
    scenario: dict[str, Any], demo: DemoLayout, tsa: TsaPki, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    out = tmp_path / "cr.pdf"
    with running_tsa(tsa.folder) as url:
        assert make_cli(demo, scenario["request"], out, "--tsa", url) == 0
    said = capsys.readouterr().out
    assert "Horodaté par le serveur d’horodatage le " in said
    assert journalled(demo)["status"] == "stamped"
    ca = demo.hospital / "trust" / "ca.pem"
    # a hospital trusting the authority's root
    assert main(["report", "verify", str(out), "--trust", str(ca),
                 "--trust", str(tsa.ca_path)]) == 0  # fmt: skip
    said = capsys.readouterr().out
    assert "Horodatage : valide, le " in said
    assert "par Horodatage de test (tsa)." in said
    # the profile, not (yet) trusting it: valid, its authority not recognised, still good
    assert main(["--profile", str(demo.hospital), "report", "verify", str(out)]) == 0
    captured = capsys.readouterr()
    assert "n’est pas reconnue par ce poste" in captured.out
    assert "Traceback" not in captured.err
    # once the workstation names the authority's root, it is recognised
    (demo.hospital / "reports.ini").write_text(
        f"[timestamp]\nurl = {unreachable_url()}\nca = {tsa.ca_path}\n"
    )
    assert main(["--profile", str(demo.hospital), "report", "verify", str(out)]) == 0
    assert "par Horodatage de test (tsa)." in capsys.readouterr().out


def test_an_unreachable_authority_never_keeps_the_report_from_being_made(
    scenario: dict[str, Any], demo: DemoLayout, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    (demo.hospital / "reports.ini").write_text(f"[timestamp]\nurl = {unreachable_url()}\n")
    out = tmp_path / "cr.pdf"
    assert make_cli(demo, scenario["request"], out) == 0
    said = capsys.readouterr().out
    assert "Compte rendu signé écrit" in said
    assert "Horodatage absent (le serveur d’horodatage n’a pas répondu)" in said
    assert journalled(demo)["status"] == "tsa_unreachable"
    assert main(["--profile", str(demo.hospital), "report", "verify", str(out)]) == 0
    said = capsys.readouterr().out
    assert "Horodatage : absent" in said
    assert "signé par l’auteur de l’avis" in said


def test_an_authority_answering_garbage_gives_a_signed_report_without_time_stamp(
    scenario: dict[str, Any], demo: DemoLayout, tsa: TsaPki, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    out = tmp_path / "cr.pdf"
    with running_tsa(tsa.folder, "garbage") as url:
        assert make_cli(demo, scenario["request"], out, "--tsa", url) == 0
    assert "n’est pas valable" in capsys.readouterr().out
    assert journalled(demo)["status"] == "tsa_invalid"
    assert main(["--profile", str(demo.hospital), "report", "verify", str(out)]) == 0
    assert "Horodatage : absent" in capsys.readouterr().out


def test_a_bad_authority_setting_is_said_plainly(
    scenario: dict[str, Any], demo: DemoLayout, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    out = tmp_path / "cr.pdf"
    assert make_cli(demo, scenario["request"], out, "--tsa", "file:///etc/passwd") == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "serveur d’horodatage" in err
    assert not out.exists()
