"""Forged and hostile reports: re-signed by another CA holder, signed under a foreign CA,
an opinion signed by a doctor, an attachment that inflates without end.

The scenario (a request answered through the real platform) and the reports made from it
come from ``test_teleexpertise_report``.
"""

# ruff: noqa: F811 - the shared fixtures are imported, and named again as parameters

from __future__ import annotations

import io
from typing import Any

import pikepdf

from app.demo import DemoLayout
from app.report_pdf import layout
from cases.model import Opinion
from cases.pades import sign_pdf
from cases.pdfa import archive
from cases.profile import Profile
from cases.teleexpertise_report import check_report
from tests.core.test_teleexpertise_report import (  # noqa: F401 - the shared fixtures
    Side,
    demo,
    reports,
    scenario,
)


def unsigned(pdf: bytes) -> bytes:
    """``pdf`` with its signature field removed (the pages and attachments kept)."""
    with pikepdf.open(io.BytesIO(pdf)) as doc:
        del doc.Root.AcroForm
        for page in doc.pages:
            if "/Annots" in page.obj:
                del page.obj["/Annots"]
        out = io.BytesIO()
        doc.save(out)
    return out.getvalue()


def test_a_ca_holder_who_is_not_the_specialist_is_recognised_as_such(
    reports: dict[str, Any], demo: DemoLayout
) -> None:
    """Pr Sophie Roux holds a certificate of the same CA. The specialist's report, its
    signature removed, signed again by her: she is named a copy-maker, not the author. The
    same pages with no opinion attached, signed by the doctor: the author is not
    established."""
    roux = Side(demo.hospital, "pr-roux")
    doctor = Side(demo.unit, "dr-bernard")
    try:
        roots = Profile(demo.hospital).trust_roots()
        resigned = sign_pdf(unsigned(reports["expert"]), roux.me.certificate, roux.me.key)
        check = check_report(resigned, roots)
        assert check.verdict == "copy"
        assert check.signer is not None
        assert check.signer.signer.display_name == "Pr Sophie Roux"
        thread = doctor.thread(reports["request"])
        bare = sign_pdf(
            archive(layout(thread, doctor.me, "author")), doctor.me.certificate, doctor.me.key
        )
        assert check_report(bare, roots).verdict == "no_opinion"
    finally:
        roux.close()
        doctor.close()


def test_a_report_signed_under_another_ca_is_not_recognised(
    reports: dict[str, Any], demo: DemoLayout
) -> None:
    from tests.support.pki import world

    w = world()  # a CA of its own, unknown to the demo's workstations
    forged = sign_pdf(unsigned(reports["expert"]), w.specialist.cert, w.specialist.key)
    assert check_report(forged, Profile(demo.hospital).trust_roots()).verdict == "untrusted"


def test_an_attachment_that_inflates_without_end_is_not_read(reports: dict[str, Any]) -> None:
    """200 MB of zeros deflate to 200 KB: attached in place of the opinion, it is left out
    (the author is then not established), never inflated."""
    import zlib

    with pikepdf.open(io.BytesIO(reports["expert"])) as pdf:
        [name] = list(pdf.attachments)
        stream = pdf.attachments[name].get_file().obj
        bomb = zlib.compressobj(9)
        chunk = bytes(1 << 20)
        packed = b"".join(bomb.compress(chunk) for _ in range(200)) + bomb.flush()
        stream.write(packed, filter=pikepdf.Name.FlateDecode)
        out = io.BytesIO()
        pdf.save(out)
    check = check_report(out.getvalue(), Profile(reports["layout"].hospital).trust_roots())
    assert check.opinions == []
    assert check.verdict in ("modified", "no_opinion")  # the PDF changed after its signature


def test_an_opinion_signed_by_a_doctor_is_not_taken_for_a_specialists(
    scenario: dict[str, Any], demo: DemoLayout
) -> None:
    """A doctor of the same CA writes an "opinion" of their own, signs it, attaches it and
    signs the report: everything verifies, and the verdict says it is no specialist's."""
    from cases.bundle import Party, pack_opinion
    from cases.model import new_id
    from cases.pdfa import Attachment
    from cases.teleexpertise_report import ATTACHMENT_PREFIX, ATTACHMENT_TYPE
    from crypto import cms

    doctor = Side(demo.unit, "dr-bernard")
    try:
        me = doctor.me
        thread = doctor.thread(scenario["request"])
        party = Party.of_certificate(me.certificate, "dr-bernard")
        bundle_id = new_id()
        plain = pack_opinion(
            bundle_id, Opinion(thread.case_id, "Rien de grave.", outcome="on_site"), party,
            [party], in_reply_to=scenario["request"],
        )  # fmt: skip
        signed = cms.sign(plain, me.certificate, me.key)
        attached = Attachment(f"{ATTACHMENT_PREFIX}{bundle_id}.p7m", signed, ATTACHMENT_TYPE, "")
        pdf = sign_pdf(archive(layout(thread, me, "author"), [attached]), me.certificate, me.key)
        check = check_report(pdf, Profile(demo.unit).trust_roots())
        assert check.verdict == "not_a_specialist"
        [opinion] = check.opinions
        assert opinion.author is not None
        assert opinion.author.role == "doctor"
    finally:
        doctor.close()
