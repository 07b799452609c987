"""Passavant application layer: command line, profile, Qt windows."""

from app.__version__ import VERSION as __version__

__all__ = ["__version__"]
