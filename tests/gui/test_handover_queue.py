"""The networked PC's secretary sees which sends the capture PC handed over, and nothing
clinical (issue 17 §3)."""

from __future__ import annotations

from pathlib import Path

from outbox.handover import HandoverLedger
from outbox.queue import Outbox
from widgets.queue import Column, JobTableModel


def test_a_handed_over_job_says_where_it_came_from(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "queue.sqlite", tmp_path / "spool")
    try:
        ledger = HandoverLedger(outbox)
        outbox.enqueue("b-here", "pr-dubois", "Pr Marc Dubois", "case", b"sealed here")
        outbox.enqueue("b-there", "pr-dubois", "Pr Marc Dubois", "case", b"handed over")
        ledger.record("b-there", "demo-capture")
        model = JobTableModel()
        model.origin = ledger.origin
        model.set_jobs(outbox.queue_order())
        kinds = {
            model.job(row).bundle_id: model.index(row, Column.KIND).data()
            for row in range(model.rowCount())
        }
        assert kinds["b-there"].endswith("· remis par le poste de capture")
        assert "remis" not in kinds["b-here"]
    finally:
        outbox.close()
