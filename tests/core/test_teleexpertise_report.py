"""The signed PDF/A tele-expertise report, and ``passavant report make|verify``, on a real demo.

A request with a measured photo is answered once through the real platform (module
fixture); each test works offline on its own copy of both profiles. The report is checked
by independent tools: poppler's ``pdfsig`` and ``pdffonts``, pyHanko's validator (through
``cases.pades``), pikepdf's PDF/A validator (veraPDF's rules) and the XMP it reads.
"""

from __future__ import annotations

import io
import shutil
import subprocess
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

import pikepdf
import pytest
from PIL import Image

from app.cli import main
from app.demo import DEMO_PASSPHRASE, DemoLayout
from app.report_pdf import make
from app.session import Session
from capture.measure import Measurement
from capture.photo import Arrow
from cases.documents import Document
from cases.model import Case, Opinion
from cases.pades import check_pdf
from cases.profile import Profile, UnlockedIdentity
from cases.teleexpertise_report import (
    check_report,
    find_thread,
    sealed_reader,
    signed_opinions,
)
from cases.threads import CaseThread
from crypto import audit
from tests.core.test_cli_cases import wait_for
from tests.core.test_identity import JEANNE
from tests.support.demo import running_demo
from tests.support.photos import sample_photo
from tests.support.tools import require_tool

ROOT = Path(__file__).resolve().parents[2]
SUMMARY = "Ulcère de jambe depuis trois semaines"
QUESTION = "Quel pansement ?"
OPINION = "Ulcère veineux probable ; compression et hydrocolloïde."


def _document() -> Document:
    buffer = io.BytesIO()
    Image.new("RGB", (40, 30), "white").save(buffer, "JPEG")
    return Document.of_bytes(
        "document-1.jpg", buffer.getvalue(), kind="biologie", when=date(2026, 11, 28),
        title="NFS plaquettes",
    )  # fmt: skip


BIOLOGY = _document()


def measured(photo: Any) -> Any:
    line = Measurement("line", ((40.0, 40.0), (400.0, 300.0)), True, "mm", 42.5, marker_mm=20.0)
    outline = Measurement(
        "polygon", ((100.0, 100.0), (300.0, 120.0), (200.0, 280.0)), True, "mm", 31.0,
        perimeter=80.0, area=3.2, marker_mm=20.0,
    )  # fmt: skip
    return replace(
        photo,
        site="membre_inferieur_gauche",
        note="Bord inférieur décollé.",
        measurements=(line.to_dict(), outline.to_dict()),
        annotations=(Arrow((20.0, 20.0), (120.0, 90.0)).to_dict(),),
    )


@pytest.fixture(scope="module")
def scenario(demo_template: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("report") / "demo"
    with running_demo(demo_template, root) as env:
        unit = Session(Profile(env.layout.unit), poll_interval=0.2)
        hospital = Session(Profile(env.layout.hospital), poll_interval=0.2)
        for session in (unit, hospital):
            session.start()
        try:
            doctor = unit.unlock("dr-bernard", DEMO_PASSPHRASE.encode())
            expert = hospital.unlock("pr-dubois", DEMO_PASSPHRASE.encode())
            photo = measured(sample_photo(ROOT / "resources/samples/plaie-jambe-1.jpg", "p1.jpg"))
            case = Case(
                patient_ref="P-0147", consent=True, specialty="wounds", summary=SUMMARY,
                treatments="Paracétamol", question=QUESTION, photos=(photo,),
                identity=JEANNE, consent_date=date(2026, 12, 1), documents=(BIOLOGY,),
            )  # fmt: skip
            to = next(e for e in unit.workstation.refresh_directory() if e.id == "pr-dubois")
            request = unit.workstation.send_case(doctor, case, to)
            unit.sender.wake()
            wait_for(lambda: len(hospital.inbox.items("pr-dubois")) == 1)
            hospital.workstation.refresh_directory()
            threads, _unreadable = hospital.workstation.threads(expert)
            thread = find_thread(threads, request)
            hospital.workstation.send_opinion(
                expert, thread, Opinion(thread.case_id, OPINION, outcome="on_site", review_weeks=3)
            )
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


class Side:
    """One workstation of a copy of the scenario, offline, a person logged in."""

    def __init__(self, profile: Path, identity: str) -> None:
        self.session = Session(Profile(profile), poll_interval=60)
        self.me = self.session.unlock(identity, DEMO_PASSPHRASE.encode())

    def thread(self, request: str) -> CaseThread:
        threads, _unreadable = self.session.workstation.threads(self.me)
        return find_thread(threads, request)

    def report(self, request: str) -> bytes:
        thread = self.thread(request)
        reader = sealed_reader(self.session.workstation)
        return make(thread, self.me, signed_opinions(reader, self.me, thread))

    def close(self) -> None:
        self.session.stop()  # the profile is free for the next side opened on it
        self.session.workstation.close()
        self.session.outbox.close()
        self.session.inbox.close()


@pytest.fixture
def demo(scenario: dict[str, Any], tmp_path: Path) -> DemoLayout:
    shutil.copytree(scenario["root"], tmp_path / "demo")
    return DemoLayout(tmp_path / "demo")


@pytest.fixture
def reports(scenario: dict[str, Any], demo: DemoLayout) -> dict[str, Any]:
    """The specialist's report and the doctor's copy of the same request."""
    made: dict[str, Any] = {"layout": demo, "request": scenario["request"]}
    for key, profile, identity in (
        ("expert", demo.hospital, "pr-dubois"),
        ("doctor", demo.unit, "dr-bernard"),
    ):
        side = Side(profile, identity)
        try:
            made[key] = side.report(scenario["request"])
            made[key + "_me"] = side.me
        finally:
            side.close()
    return made


def pdfsig(path: Path) -> str:
    require_tool("pdfsig")
    done = subprocess.run(["pdfsig", str(path)], capture_output=True, text=True, check=False)
    return done.stdout + done.stderr


def test_the_specialists_report_is_signed_by_the_specialist_and_pdfsig_agrees(
    reports: dict[str, Any], tmp_path: Path
) -> None:
    path = tmp_path / "cr.pdf"
    path.write_bytes(reports["expert"])
    out = pdfsig(path)
    assert "Signer Certificate Common Name: Pr Marc Dubois" in out
    assert "Signature Validation: Signature is Valid." in out
    assert "Total document signed" in out
    assert "ETSI.CAdES.detached" in out  # PAdES, not the older adbe.pkcs7.detached
    roots = Profile(reports["layout"].hospital).trust_roots()
    check = check_report(reports["expert"], roots)
    assert check.verdict == "author"
    [sig] = check.signatures
    assert sig.good
    assert sig.signer.display_name == "Pr Marc Dubois"
    assert sig.signer.role == "specialist"
    [opinion] = check.opinions
    assert opinion.author is not None
    assert opinion.author.display_name == "Pr Marc Dubois"
    assert opinion.request_id == reports["request"]


def test_the_doctors_copy_is_signed_by_the_doctor_and_carries_the_specialists_opinion(
    reports: dict[str, Any], tmp_path: Path
) -> None:
    path = tmp_path / "copie.pdf"
    path.write_bytes(reports["doctor"])
    out = pdfsig(path)
    assert "Signer Certificate Common Name: Dr Claire Bernard" in out
    assert "Signature Validation: Signature is Valid." in out
    check = check_report(reports["doctor"], Profile(reports["layout"].unit).trust_roots())
    assert check.verdict == "copy"
    assert check.signer is not None
    assert check.signer.signer.display_name == "Dr Claire Bernard"
    [opinion] = check.opinions
    assert opinion.author is not None
    assert opinion.author.display_name == "Pr Marc Dubois"
    # the attached opinion is the SignedData its author made: openssl reads it
    require_tool("openssl")
    with pikepdf.open(io.BytesIO(reports["doctor"])) as pdf:
        [name] = list(pdf.attachments)
        signed = pdf.attachments[name].get_file().read_bytes()
    (tmp_path / "avis.p7m").write_bytes(signed)
    ca = tmp_path / "ca.pem"
    shutil.copy(Path(reports["layout"].unit) / "trust" / "ca.pem", ca)
    done = subprocess.run(
        ["openssl", "cms", "-verify", "-inform", "DER", "-in", str(tmp_path / "avis.p7m"),
         "-CAfile", str(ca), "-purpose", "any", "-out", str(tmp_path / "avis.zip")],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert b"manifest.json" in (tmp_path / "avis.zip").read_bytes()


def test_the_report_is_pdfa_with_its_fonts_embedded_and_the_content_in_it(
    reports: dict[str, Any], tmp_path: Path
) -> None:
    import pikepdf.pdfa

    data = reports["expert"]
    with pikepdf.open(io.BytesIO(data)) as pdf:
        with pdf.open_metadata() as meta:
            assert meta.get("pdfaid:part") == "3"
            assert meta.get("pdfaid:conformance") == "B"
        [intent] = pdf.Root.OutputIntents
        assert intent.S == "/GTS_PDFA1"
        assert intent.DestOutputProfile.read_bytes()[36:40] == b"acsp"  # an ICC profile
        # the validator's own rules: no violation; what it does not know after signing is
        # the signature's form field and the attached opinion, nothing else
        report = pikepdf.pdfa.check(pdf, "3b")
        kinds = {(f.kind, f.rule) for f in report.findings}
        assert all(kind == "unsupported" for kind, _rule in kinds), report.findings
        assert {rule for _kind, rule in kinds} <= {
            "pikepdf:schema-Catalog",
            "pikepdf:embedded-file",
        }
    require_tool("pdffonts")
    path = tmp_path / "cr.pdf"
    path.write_bytes(data)
    fonts = subprocess.run(["pdffonts", str(path)], capture_output=True, text=True, check=True)
    rows = fonts.stdout.splitlines()[2:]
    assert rows, fonts.stdout
    assert all(row.split()[-5] == "yes" for row in rows), fonts.stdout  # emb column
    require_tool("pdftotext")
    text = subprocess.run(
        ["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True
    ).stdout
    for expected in (SUMMARY, QUESTION, "Ulcère veineux probable", "42,5 mm", "3,2 cm²",
                     "Pr Marc Dubois", "Dr Claire Bernard", "Martin", "Jeanne Marie",
                     "2 85 03 75 112 045 53", "qualifiée", "NFS plaquettes", "Biologie",
                     "RQD"):  # fmt: skip
        assert expected in text, expected


def test_a_modified_byte_breaks_the_signature_for_both_tools(
    reports: dict[str, Any], tmp_path: Path
) -> None:
    data = bytearray(reports["expert"])
    at = data.index(b"Ulc") if b"Ulc" in data else len(data) // 3  # inside a content stream
    at = len(data) // 4
    data[at] ^= 0x01
    path = tmp_path / "cr.pdf"
    path.write_bytes(bytes(data))
    out = pdfsig(path)
    assert "Signature is Valid" not in out
    roots = Profile(reports["layout"].hospital).trust_roots()
    check = check_report(bytes(data), roots)
    assert check.verdict == "modified"
    assert not check.signatures[0].intact


def test_bytes_appended_after_the_signature_are_seen(reports: dict[str, Any]) -> None:
    data = reports["expert"] + b"\n% an appended revision\n"
    [sig] = check_pdf(data, Profile(reports["layout"].hospital).trust_roots())
    assert sig.intact
    assert not sig.whole_file


def test_report_make_and_verify_on_the_command_line(
    scenario: dict[str, Any], demo: DemoLayout, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    passfile = demo.root / "pass.txt"
    out = tmp_path / "cr.pdf"
    base = ["--profile", str(demo.hospital), "report"]
    status = main([*base, "make", "--as", "pr-dubois", scenario["request"], "-o", str(out),
                   "--passphrase-file", str(passfile)])  # fmt: skip
    captured = capsys.readouterr()
    assert status == 0, captured.err
    assert out.is_file()
    assert out.read_bytes().startswith(b"%PDF-")
    assert (out.stat().st_mode & 0o077) == 0
    # journalled: the request's id and the size, nothing clinical
    entries = [e for e in audit.read(Profile(demo.hospital).audit_path) if e.event == "report_made"]
    assert entries
    assert entries[-1].details["bundle_id"] == scenario["request"]
    assert SUMMARY not in Profile(demo.hospital).audit_path.read_text("utf-8")
    # no overwrite
    again = main([*base, "make", "--as", "pr-dubois", scenario["request"], "-o", str(out),
                  "--passphrase-file", str(passfile)])  # fmt: skip
    assert again == 1
    assert "existe déjà" in capsys.readouterr().err
    # verify: who, when, intact, the verdict
    assert main([*base, "verify", str(out)]) == 0
    said = capsys.readouterr().out
    assert "Signé par Pr Marc Dubois (Spécialiste, " in said
    assert "Fichier intact : oui." in said
    assert "signé par l’auteur de l’avis, Pr Marc Dubois" in said
    # with the CA named, as another hospital would
    ca = demo.hospital / "trust" / "ca.pem"
    assert main(["report", "verify", str(out), "--trust", str(ca)]) == 0
    capsys.readouterr()
    damaged = bytearray(out.read_bytes())
    damaged[len(damaged) // 4] ^= 0x01
    (tmp_path / "bad.pdf").write_bytes(bytes(damaged))
    assert main([*base, "verify", str(tmp_path / "bad.pdf")]) == 1
    assert "modifié après sa signature" in capsys.readouterr().out
    # plain one-line errors
    (tmp_path / "x.pdf").write_bytes(b"not a pdf")
    assert main([*base, "verify", str(tmp_path / "x.pdf")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "PDF lisible" in err
    assert main([*base, "make", "--as", "pr-dubois", "no-such-request", "-o",
                 str(tmp_path / "n.pdf"), "--passphrase-file", str(passfile)]) == 1  # fmt: skip
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "Aucune demande" in err


def test_the_doctor_makes_the_copy_on_the_command_line(
    scenario: dict[str, Any], demo: DemoLayout, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "copie.pdf"
    status = main(["--profile", str(demo.unit), "report", "make", "--as", "dr-bernard",
                   scenario["request"], "-o", str(out), "--passphrase-file",
                   str(demo.root / "pass.txt")])  # fmt: skip
    assert status == 0, capsys.readouterr().err
    assert "Copie" in capsys.readouterr().out
    assert main(["--profile", str(demo.unit), "report", "verify", str(out)]) == 0
    said = capsys.readouterr().out
    assert "Copie établie par Dr Claire Bernard" in said
    assert "écrit et signé par Pr Marc Dubois" in said


def test_an_unanswered_request_has_no_report(demo: DemoLayout) -> None:
    from cases.pades import ReportError
    from cases.teleexpertise_report import make_report

    side = Side(demo.unit, "dr-bernard")
    try:
        me: UnlockedIdentity = side.me
        threads, _unreadable = side.session.workstation.threads(me)
        bare = replace(threads[0], opinions=[])
        with pytest.raises(ReportError) as caught:
            signed_opinions(sealed_reader(side.session.workstation), me, bare)
        assert caught.value.code == "not_answered"
        with pytest.raises(ReportError):
            make_report(me, bare, [], lambda _r: b"", reason="")
    finally:
        side.close()


def test_the_report_in_english(scenario: dict[str, Any], demo: DemoLayout, tmp_path: Path) -> None:
    from app import i18n

    side = Side(demo.hospital, "pr-dubois")
    i18n.set_language("en")
    try:
        data = side.report(scenario["request"])
    finally:
        i18n.set_language("fr")
        side.close()
    path = tmp_path / "report-en.pdf"
    path.write_bytes(data)
    require_tool("pdftotext")
    text = subprocess.run(
        ["pdftotext", str(path), "-"], capture_output=True, text=True, check=True
    ).stdout
    for expected in ("Tele-expertise report", "Made and electronically signed by Pr Marc Dubois",
                     "Birth name: Lefèvre", "Specialist's opinion", "42.5 mm",
                     "Tele-expertise act"):  # fmt: skip
        assert expected in text, expected
    assert "Compte rendu de télé-expertise" not in text
    assert check_report(data, Profile(demo.hospital).trust_roots()).verdict == "author"


def test_characters_the_font_lacks_do_not_keep_the_report_from_being_made(
    scenario: dict[str, Any], demo: DemoLayout, tmp_path: Path
) -> None:
    """PDF/A forbids the .notdef glyph: a text in a script DejaVu does not cover (or a
    control character) is drawn as U+FFFD rather than refused."""
    side = Side(demo.hospital, "pr-dubois")
    try:
        thread = side.thread(scenario["request"])
        opened = thread.opinions[0]
        assert opened.bundle.opinion is not None
        odd = replace(opened.bundle.opinion, text="Avis 漢字\u0007 fin")
        thread = replace(
            thread, opinions=[replace(opened, bundle=replace(opened.bundle, opinion=odd))]
        )
        opinions = signed_opinions(sealed_reader(side.session.workstation), side.me, thread)
        data = make(thread, side.me, opinions)
    finally:
        side.close()
    assert check_report(data, Profile(demo.hospital).trust_roots()).verdict == "author"
    path = tmp_path / "odd.pdf"
    path.write_bytes(data)
    require_tool("pdftotext")
    text = subprocess.run(
        ["pdftotext", str(path), "-"], capture_output=True, text=True, check=True
    ).stdout
    assert "Avis \ufffd\ufffd\ufffd fin" in text
