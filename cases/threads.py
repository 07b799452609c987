"""Case threads: a request and what is attached to it, as one person sees it.

:func:`assemble` groups the bundles a person could open into threads: each request with its
opinions (oldest first), the withdrawal its author sent, the outbox jobs of the request and
of the person's latest answer. It reads nothing and writes nothing: the workstation
(:mod:`cases.workstation`) opens the bundles and acts on what the threads say.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime

from cases.bundle import Bundle, Party
from outbox.queue import Job


@dataclass(frozen=True)
class Opened:
    """A bundle decrypted and verified for the logged-in person (memory only)."""

    bundle_id: str
    sender: Party
    signed_at: datetime | None
    bundle: Bundle
    signer_reader: str | None = None
    """A card signer's paired encryption certificate's fingerprint (``cases.cardidentity``)."""


@dataclass(frozen=True)
class Unreadable:
    """A bundle that could not be opened, with the code of the reason."""

    bundle_id: str
    code: str
    detail: str


@dataclass
class CaseThread:
    """A case and everything attached to it, as one person sees it."""

    case: Opened
    opinions: list[Opened] = field(default_factory=list)
    job: Job | None = None  # the outbox job of the case, on the sending side
    answer_job: Job | None = None  # the outbox job of the latest opinion this person sent
    withdrawal: Opened | None = None  # the request's author withdrew it (reason: its bundle)
    erased: bool = False  # consent withdrawn: this workstation has just erased its copy

    @property
    def case_id(self) -> str:
        assert self.case.bundle.case is not None
        return self.case.bundle.case.case_id

    @property
    def awaiting_answer(self) -> bool:
        """No opinion yet, and not withdrawn: an answer is still expected."""
        return not self.opinions and self.withdrawal is None


def assemble(
    documents: Iterable[tuple[Opened, str]], me: str, job_of: Callable[[str], Job | None]
) -> list[CaseThread]:
    """The threads of ``documents``, newest first, as the person whose certificate
    fingerprint is ``me`` sees them; ``job_of`` gives a bundle's outbox job.

    Each document comes with the case it belongs to (the bundle id of its request), as the
    rules of :mod:`cases.speaking` placed it when it was ingested: a request is its own case;
    an opinion or a withdrawal joins the request named. Nothing is joined here on what a
    manifest says (a ``case_id`` anybody can copy); receipts are not shown.
    """
    items = list(documents)
    threads = {
        o.bundle_id: CaseThread(o, job=job_of(o.bundle_id))
        for o, case in items
        if o.bundle.case is not None and case == o.bundle_id
    }
    for o, case in items:
        thread = threads.get(case)
        if thread is None or o is thread.case:
            continue
        if o.bundle.opinion is not None:
            thread.opinions.append(o)
        elif o.bundle.withdrawal is not None:
            thread.withdrawal = o
    depth = follow_depths(list(threads.values()))
    ordered = sorted(
        threads.values(),
        key=lambda t: (t.case.bundle.case.created_at, depth[t.case.bundle_id], t.case.bundle_id),  # type: ignore[union-attr]
        reverse=True,
    )
    for t in ordered:
        t.opinions.sort(key=lambda o: (o.bundle.opinion.created_at, o.bundle_id))  # type: ignore[union-attr]
        answers = [o for o in t.opinions if o.sender.fingerprint == me]
        if answers:
            t.answer_job = job_of(answers[-1].bundle_id)
    return ordered


def follow_depths(threads: list[CaseThread]) -> dict[str, int]:
    """How many requests shown here each thread's request follows up, link after link.

    Request times are kept to the second, so a follow-up sent in the second its earlier
    request was sent in must still be listed above it: this breaks that tie. It only orders
    rows (what joins a case is decided in :mod:`cases.speaking`); a loop of ``follows``
    names, which a forged request could write, ends where it closes."""
    by_case_id: dict[str, CaseThread] = {}
    for t in threads:
        by_case_id.setdefault(t.case_id, t)
    known: dict[str, int] = {}  # by case id, each walked once
    for t in threads:
        path: dict[str, None] = {}  # the walk, in order
        link: str | None = t.case_id
        while link is not None and link in by_case_id and link not in known and link not in path:
            path[link] = None
            link = by_case_id[link].case.bundle.case.follows  # type: ignore[union-attr]
        below = known.get(link, -1) if link is not None and link not in path else -1
        for case_id in reversed(path):
            below += 1
            known[case_id] = below
    return {t.case.bundle_id: known.get(t.case_id, 0) for t in threads}
