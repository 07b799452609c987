"""Command-line subcommands for administrators, scripts and hospital integrations.

Each area registers its own subcommands from its own module:

- ``app.commands.photo``   ``passavant photo prepare|measure|to-dicom`` (the capture engine)
- ``app.commands.identity`` ``passavant identity|trust|contact`` (identities, trust, address book)
- ``app.commands.bundle``  ``passavant bundle`` (sealed bundles)
- ``app.commands.audit``   ``passavant audit verify|show`` (the profile's audit journal)
- ``app.commands.outbox``  ``passavant outbox|inbox|faultproxy`` (the resilient outbox)
- ``app.commands.casestore`` ``passavant cases|index`` (a person's case list and index)
- ``app.commands.report``  ``passavant report make|verify`` (the signed tele-expertise report)
- ``app.commands.document`` ``passavant document prepare`` (exam results and documents)
- ``app.commands.handover`` ``passavant handover setup|off|status`` (two PCs on one desk)
- ``app.commands.clip``    ``passavant clip prepare`` (short video clips)

A module exposes ``register(subparsers)``; each parser it adds sets ``handler=`` to a function
``(args) -> int``. :func:`app.commands.common.dispatch` runs the handler and turns every
failure into one plain line on stderr and a non-zero exit, never a traceback.

Like ``app.cli``, these modules stay free of Qt.
"""

from __future__ import annotations

import argparse
import importlib

MODULES = (
    "app.commands.photo",
    "app.commands.identity",
    "app.commands.bundle",
    "app.commands.audit",
    "app.commands.outbox",
    "app.commands.casestore",
    "app.commands.report",
    "app.commands.document",
    "app.commands.handover",
    "app.commands.clip",
)


def register_all(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    for name in MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as error:
            if error.name != name:
                raise
            continue  # an area whose commands are not written yet
        module.register(subparsers)
