"""Generate the printable marker sheet shipped in resources/markers/.

An A4 page at 300 dpi: four 20 mm ArUco markers (4X4_50, ids 0-3) to cut out, a 10 mm ruler
and the printing instructions. The PNG and the PDF are committed; run again after changing
``capture/markers.py``:

    .venv/bin/python scripts/make_marker_sheet.py [--out DIR]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from capture import markers  # noqa: E402

NAME = "marqueurs-aruco-20mm"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "resources" / "markers")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    png, pdf = args.out / f"{NAME}.png", args.out / f"{NAME}.pdf"
    png.write_bytes(markers.sheet_png())
    pdf.write_bytes(markers.sheet_pdf())
    print(f"{png}\n{pdf}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
