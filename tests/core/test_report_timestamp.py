"""PAdES B-T: the report's signature time-stamped by a real, independent RFC 3161 authority.

The authority is OpenSSL's (``openssl ts -reply``) behind a small HTTP server on 127.0.0.1
(``tests.support.tsa``), with its own CA and a certificate carrying the timeStamping usage.
Its tokens are checked three ways: pyHanko's validator (``cases.pades.check_pdf``),
poppler's ``pdfsig`` (the PDF signature stays valid) and ``openssl ts -verify`` on the token
taken out of the file (it stamps this signature's value). Then what others could do: an
authority answering garbage, one whose certificate is not for time-stamping, one replaying
an old token, one that is unreachable, and a time-stamp's time changed in the file.
"""

from __future__ import annotations

import hashlib
import io
import re
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from cases.pades import check_pdf, sign_pdf
from cases.timestamp import (
    INVALID,
    REFUSED,
    UNREACHABLE,
    TimestampError,
    TsaSettings,
    checked_url,
    timestamper,
    tsa_settings,
)
from tests.support.pki import world
from tests.support.tools import require_tool
from tests.support.tsa import TsaPki, running_tsa, tsa_pki, unreachable_url


@pytest.fixture(scope="module")
def tsa(tmp_path_factory: pytest.TempPathFactory) -> TsaPki:
    require_tool("openssl")
    return tsa_pki(tmp_path_factory.mktemp("tsa"))


@pytest.fixture(scope="module")
def pdf() -> bytes:
    from reportlab.pdfgen import canvas

    out = io.BytesIO()
    page = canvas.Canvas(out)
    page.drawString(72, 720, "Compte rendu de test")
    page.save()
    return out.getvalue()


def signed(pdf: bytes, settings: TsaSettings | None) -> bytes:
    w = world()
    stamper = timestamper(settings) if settings is not None else None
    return sign_pdf(pdf, w.specialist.cert, w.specialist.key, timestamper=stamper)


def token_of(data: bytes) -> tuple[bytes, bytes]:
    """The signature's time-stamp token (DER) and the signature value it should stamp."""
    from pyhanko.pdf_utils.reader import PdfFileReader

    [sig] = PdfFileReader(io.BytesIO(data), strict=False).embedded_signatures
    info = sig.signer_info
    [token] = [
        a["values"][0]
        for a in info["unsigned_attrs"]
        if a["type"].native == "signature_time_stamp_token"
    ]
    return token.dump(), info["signature"].native


def pdfsig(data: bytes, folder: Path) -> str:
    require_tool("pdfsig")
    path = folder / "signed.pdf"
    path.write_bytes(data)
    done = subprocess.run(["pdfsig", str(path)], capture_output=True, text=True, check=False)
    return done.stdout + done.stderr


def test_a_real_authority_time_stamps_the_signature(
    tsa: TsaPki, pdf: bytes, tmp_path: Path
) -> None:
    with running_tsa(tsa.folder) as url:
        stamper = timestamper(TsaSettings(url, (tsa.ca,)))
        before = time.time()
        w = world()
        data = sign_pdf(pdf, w.specialist.cert, w.specialist.key, timestamper=stamper)
    assert stamper.stamped_at is not None
    assert abs(stamper.stamped_at.timestamp() - before) < 60
    # pyHanko: intact, and trusted once the authority's root is trusted
    [sig] = check_pdf(data, w.roots, tsa_roots=[tsa.ca])
    assert sig.good
    assert sig.timestamp is not None
    assert sig.timestamp.intact
    assert sig.timestamp.trusted
    assert sig.timestamp.at == stamper.stamped_at
    assert sig.timestamp.authority == "Horodatage de test (tsa)"
    [unknown] = check_pdf(data, w.roots)  # the authority's root not trusted: said so
    assert unknown.good  # the signature itself is no worse
    assert unknown.timestamp is not None
    assert unknown.timestamp.intact
    assert not unknown.timestamp.trusted
    # poppler: the PDF signature is still whole and valid with the token in it
    out = pdfsig(data, tmp_path)
    assert "Signature Validation: Signature is Valid." in out
    assert "Total document signed" in out
    # OpenSSL, independently: the token stamps exactly this signature's value
    token, value = token_of(data)
    (tmp_path / "token.der").write_bytes(token)
    verify = [
        "openssl", "ts", "-verify", "-token_in", "-in", str(tmp_path / "token.der"),
        "-CAfile", str(tsa.ca_path),
    ]  # fmt: skip
    good = subprocess.run(
        [*verify, "-digest", hashlib.sha256(value).hexdigest()], capture_output=True, text=True
    )
    assert good.returncode == 0, good.stdout + good.stderr
    assert "Verification: OK" in good.stdout
    other = subprocess.run(
        [*verify, "-digest", hashlib.sha256(value + b"x").hexdigest()], capture_output=True
    )
    assert other.returncode != 0


def test_without_an_authority_the_signature_has_no_time_stamp(pdf: bytes) -> None:
    [sig] = check_pdf(signed(pdf, None), world().roots)
    assert sig.good
    assert sig.timestamp is None


@pytest.mark.parametrize(
    ("mode", "code"),
    [("garbage", INVALID), ("no-eku", INVALID)],
)
def test_an_authority_that_cannot_be_trusted_gives_no_time_stamp(
    tsa: TsaPki, pdf: bytes, mode: str, code: str
) -> None:
    with running_tsa(tsa.folder, mode) as url, pytest.raises(TimestampError) as caught:
        signed(pdf, TsaSettings(url))
    assert caught.value.code == code


def test_a_replayed_token_is_refused(tsa: TsaPki, pdf: bytes) -> None:
    """The authority hands every request the token it made first: our nonce is not in it."""
    with running_tsa(tsa.folder, "replay") as url:
        signed(pdf, TsaSettings(url))  # the first answer is genuine
        with pytest.raises(TimestampError) as caught:
            signed(pdf, TsaSettings(url))
    assert caught.value.code == INVALID
    assert "nonce" in str(caught.value)


def test_an_authority_chained_elsewhere_than_configured_is_refused(tsa: TsaPki, pdf: bytes) -> None:
    with running_tsa(tsa.folder) as url, pytest.raises(TimestampError) as caught:
        signed(pdf, TsaSettings(url, (world().ca.cert,)))  # not the authority's root
    assert caught.value.code == INVALID


def test_an_authority_that_drips_its_answer_is_given_up(tsa: TsaPki, pdf: bytes) -> None:
    """One byte every 0.3 s never ends a read's time limit: the whole answer has one."""
    with running_tsa(tsa.folder, "slow") as url:
        began = time.monotonic()
        with pytest.raises(TimestampError) as caught:
            signed(pdf, TsaSettings(url, deadline=1.5))
        assert time.monotonic() - began < 5
    assert caught.value.code == UNREACHABLE


def test_a_redirect_is_not_followed(tsa: TsaPki, pdf: bytes) -> None:
    with running_tsa(tsa.folder, "redirect") as url, pytest.raises(TimestampError) as caught:
        signed(pdf, TsaSettings(url))
    assert caught.value.code == REFUSED


def test_an_unreachable_authority_fails_fast(pdf: bytes) -> None:
    began = time.monotonic()
    with pytest.raises(TimestampError) as caught:
        signed(pdf, TsaSettings(unreachable_url()))
    assert caught.value.code == UNREACHABLE
    assert time.monotonic() - began < 5


def test_a_token_by_a_certificate_not_for_time_stamping_is_not_trusted(
    tsa: TsaPki, pdf: bytes
) -> None:
    """Embedded by another tool that does not check (pyHanko's own client): the reader
    sees a time-stamp that verifies but whose authority is not a time-stamping one."""
    from pyhanko.sign.timestamps import HTTPTimeStamper

    w = world()
    with running_tsa(tsa.folder, "no-eku") as url:
        data = sign_pdf(pdf, w.specialist.cert, w.specialist.key, timestamper=HTTPTimeStamper(url))
    [sig] = check_pdf(data, w.roots, tsa_roots=[tsa.ca])
    assert sig.timestamp is not None
    assert not sig.timestamp.trusted
    assert sig.good  # the signature is what it is; only its time is not established


def _with_year_changed(data: bytes) -> bytes:
    """The file with the token's genTime moved back a year, in place (same length): the
    token sits outside the bytes the PDF signature covers."""
    match = re.search(rb"/Contents\s*<([0-9A-Fa-f]+)>", data)
    assert match is not None
    raw = bytes.fromhex(match.group(1).decode())
    at = raw.index(b"\x18\x0f20")  # GeneralizedTime, YYYYMMDDHHMMSSZ
    year = raw[at + 2 : at + 6]
    forged = raw[: at + 2] + str(int(year) - 1).encode() + raw[at + 6 :]
    text = forged.hex()
    text = text.upper() if match.group(1).isupper() else text
    return data[: match.start(1)] + text.encode() + data[match.end(1) :]


def test_a_time_stamp_whose_time_was_changed_is_seen(
    tsa: TsaPki, pdf: bytes, tmp_path: Path
) -> None:
    from cases.teleexpertise_report import _verdict

    with running_tsa(tsa.folder) as url:
        data = signed(pdf, TsaSettings(url, (tsa.ca,)))
    forged = _with_year_changed(data)
    assert forged != data
    assert len(forged) == len(data)
    # poppler does not look at the token: for it, the signature is still valid
    assert "Signature is Valid" in pdfsig(forged, tmp_path)
    [sig] = check_pdf(forged, world().roots, tsa_roots=[tsa.ca])
    assert sig.intact
    assert sig.whole_file
    assert sig.timestamp is not None
    assert not sig.timestamp.intact
    assert _verdict([sig], []) == "bad_timestamp"


def test_the_workstation_setting(tmp_path: Path, tsa: TsaPki) -> None:
    assert tsa_settings(tmp_path) is None
    ini = tmp_path / "reports.ini"
    ini.write_text("[records]\ndrop_folder=/tmp\n")
    assert tsa_settings(tmp_path) is None
    ini.write_text("[records]\ndrop_folder=/tmp\n[records]\n")  # not ours to judge
    assert tsa_settings(tmp_path) is None
    ini.write_text(f"[timestamp]\nurl = https://tsa.example/tsr\nca = {tsa.ca_path}\n")
    settings = tsa_settings(tmp_path)
    assert settings is not None
    assert settings.url == "https://tsa.example/tsr"
    assert settings.roots == (tsa.ca,)
    bad: list[Any] = [
        "[timestamp]\nurl = file:///etc/passwd\n",
        "[timestamp]\nurl = tsa.example\n",
        "[timestamp]\nurl = https://tsa.example/\nca = missing.pem\n",
        "[timestamp]\nurl = https://tsa.example/\n[timestamp]\n",
    ]
    for text in bad:
        ini.write_text(text)
        with pytest.raises(ValueError, match=r"URL|certificate|unreadable"):
            tsa_settings(tmp_path)
    with pytest.raises(ValueError, match="not an http"):
        checked_url("http://" + "a" * 3000)


def test_the_authority_is_asked_before_the_key_signs(tsa: TsaPki) -> None:
    """A dead or lying authority is known before the signature is made (a card signs
    once, B-B); a good one is asked for the real token afterwards."""
    from cases.timestamp import ready_timestamper

    for mode, code in (("garbage", INVALID), ("no-eku", INVALID)):
        with running_tsa(tsa.folder, mode) as url, pytest.raises(TimestampError) as caught:
            ready_timestamper(TsaSettings(url))
        assert caught.value.code == code
    with pytest.raises(TimestampError) as caught:
        ready_timestamper(TsaSettings(unreachable_url()))
    assert caught.value.code == UNREACHABLE
    with running_tsa(tsa.folder) as url:
        stamper = ready_timestamper(TsaSettings(url, (tsa.ca,)))
    assert stamper.stamped_at is None
