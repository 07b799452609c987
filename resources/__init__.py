"""Plain resource files (icons, sample photos, translations) and the one helper that finds them.

The helper works from a source checkout, an installed wheel and the PyInstaller build alike,
because the files always sit next to this module.
"""

from pathlib import Path

_ROOT = Path(__file__).resolve().parent


def path(*parts: str) -> Path:
    """Return the path of a resource file, e.g. ``path("samples", "plaie-1.jpg")``."""
    return _ROOT.joinpath(*parts)


def sample_photos() -> list[Path]:
    """The demo's sample photos (synthetic, no real patient)."""
    return sorted(path("samples").glob("*.jpg"))
