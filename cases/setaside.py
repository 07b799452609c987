"""Setting a bundle aside: once, with its reason, never opened again at a refresh.

A bundle that cannot be opened, or that the speaking rules refuse, is recorded in the index
with its state (``unreadable`` or ``refused``), its reason code and the SHA-256 of its sealed
file. The index then knows its id, so ingestion never opens it again (a hostile bundle costs
one opening, not one per refresh); the person is told until they discard it, and its sealed
file is removed then.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from cases.index import CaseIndex

if TYPE_CHECKING:
    from cases.ingestion import Source

log = logging.getLogger(__name__)

SET_ASIDE = ("refused", "unreadable")
"""The states of a bundle set aside and not discarded."""


def set_aside(
    index: CaseIndex,
    source: Source,
    sha256: str,
    state: str,
    code: str,
    refused: list[tuple[str, str, str]],
) -> None:
    """Record ``source`` as set aside (``state``, ``code``) and tell ``refused``."""
    log.warning("bundle %s set aside: %s", source.bundle_id, code)
    index.put(source.bundle_id, state=state, source=source.where, sha256=sha256, reason=code)
    refused.append((source.bundle_id, source.where, code))


def discard(
    index: CaseIndex, locate: Callable[[str], Source | None], bundle_ids: Iterable[str]
) -> list[Source]:
    """Dismiss set-aside bundles: their state becomes ``discarded`` (their ids stay known, so
    they are not opened again); returns where their sealed files lie, for the caller to
    remove."""
    gone = []
    for bundle_id in bundle_ids:
        row = index.get(bundle_id)
        if row is None or row.state not in SET_ASIDE:
            continue
        index.set_state(bundle_id, "discarded", reason=row.reason)
        source = locate(bundle_id)
        if source is not None:
            gone.append(source)
    return gone
