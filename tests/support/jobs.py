"""Outbox jobs made by hand, for the tests of what displays or follows them."""

from __future__ import annotations

from outbox.jobs import Job, JobState


def make_job(
    number: int,
    state: str = "pending",
    priority: str = "normal",
    rank: float = 0.0,
    **changes: object,
) -> Job:
    """Job number ``number`` (its id, its creation time and by default its rank), in ``state``,
    with any other field given in ``changes``."""
    fields: dict[str, object] = {
        "bundle_id": f"{number:08d}-bbbb",
        "recipient_id": "pr",
        "recipient_label": "Pr X",
        "kind": "case",
        "size": 1000,
        "sha256": "0" * 64,
        "state": JobState(state),
        "attempts": 0,
        "bytes_sent": 0,
        "next_attempt_at": None,
        "upload_url": None,
        "last_error_code": None,
        "last_error_detail": None,
        "created_at": float(number),
        "updated_at": float(number),
        "delivered_at": None,
        "priority": priority,
        "rank": rank or float(number),
    }
    fields.update(changes)
    return Job(**fields)  # type: ignore[arg-type]
