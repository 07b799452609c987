"""The autosave of a draft holding twelve photos of about 3 MB, CPU seconds: before and after
the photos were sealed once, apart (``cases.draftlisting``).

* ``before``: what each autosave cost while the photos travelled inside the draft: the
  previous ``DraftStore.save``'s own calls (``seal_members`` of the text **and every photo**,
  the clips and documents listed apart), on the same store;
* ``first save``: ``DraftStore.save`` of the form's request with its photos just joined (held
  in memory): each photo hashed and sealed into its own file, once;
* ``each autosave``: ``DraftStore.save`` of the form's request once it holds the photos by
  their sealed files (what ``DraftStore.sealed_photos`` hands the form after that first save):
  the text and the list only;
* ``bytes held``: an autosave while the form still holds the photos' bytes (the first save
  not back yet): hashed to find their files, never sealed again.

CPU seconds of this process (``time.process_time``, every thread), per save, the median of a
few; the ratio ``before / each autosave`` is the goal (the autosave no longer grows with the
photos). The demo's doctor (``app.demo``) in a temporary folder; photos are random bytes (a
JPEG's entropy: neither deflated nor sped up).

``python -m bench.drafts [--quick]``: about 10 s (``--quick``: 6 photos, fewer rounds).
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from bench import MIB, parse_quick, print_table

PHOTOS, QUICK_PHOTOS = 12, 6
PHOTO_SIZE = 3_000_000
ROUNDS, QUICK_ROUNDS = 5, 3


def _cpu(action: Callable[[], object], rounds: int) -> float:
    """The median CPU seconds of ``action`` over ``rounds`` runs."""
    times = []
    for _ in range(rounds):
        began = time.process_time()
        action()
        times.append(time.process_time() - began)
    return statistics.median(times)


def run(quick: bool) -> None:
    from app import demo
    from app.demo import DEMO_PASSPHRASE
    from cases.bundleseal import case_members, seal_members
    from cases.draftlisting import DRAFT_PAYLOADS
    from cases.drafts import DraftStore
    from cases.model import Case, new_id
    from cases.photos import Photo
    from cases.profile import Profile

    count = QUICK_PHOTOS if quick else PHOTOS
    rounds = QUICK_ROUNDS if quick else ROUNDS
    with tempfile.TemporaryDirectory(prefix="passavant-bench-drafts-") as folder:
        layout = demo.set_up(Path(folder) / "demo")
        profile = Profile(Path(layout.unit))
        doctor = profile.unlock("dr-bernard", DEMO_PASSPHRASE.encode())
        drafts = DraftStore(profile.path("drafts"), doctor, profile.trust_roots())
        photos = tuple(
            Photo(f"photo-{n}.jpg", os.urandom(PHOTO_SIZE), 4000, 3000, note=f"Photo {n}.")
            for n in range(1, count + 1)
        )
        case = Case(patient_ref="P-1", consent=True, specialty="dermatology",
                    summary="Plaie.", treatments="", question="Avis ?", photos=photos)  # fmt: skip
        signer = (doctor.signer_certificate, doctor.signer_key)
        before_path = Path(folder) / "draft-before.p7m"
        edits = iter(range(1_000_000))

        def edited(held: Case) -> Case:
            return replace(held, summary=f"Plaie, saisie {next(edits)}.")

        def before() -> None:  # the previous DraftStore.save: the photos inside the draft
            light = edited(case)
            seal_members(
                before_path, new_id(), "request", case_members(light), drafts._party(),
                [drafts._reader()], signer, [doctor.certificate], case_id=light.case_id,
                clinical={**light.to_json(), DRAFT_PAYLOADS: []},
            )  # fmt: skip

        before_cpu = _cpu(before, rounds)
        before_size = before_path.stat().st_size
        began = time.process_time()
        drafts.save(case)  # the photos sealed, once
        first_cpu = time.process_time() - began
        adopted = dict((id(p), sealed) for p, sealed in drafts.sealed_photos(case.photos))
        held = replace(case, photos=tuple(replace(p, payload=adopted[id(p)]) for p in photos))
        after_cpu = _cpu(lambda: drafts.save(edited(held)), rounds)
        bytes_cpu = _cpu(lambda: drafts.save(edited(case)), rounds)
        (draft,) = drafts.folder.glob("*.p7m")
        after_size = draft.stat().st_size
        drafts.discard(case.case_id)

    total = count * PHOTO_SIZE / MIB
    rows = [
        ["photos", "before: each autosave", "after: first save", "after: each autosave",
         "after: bytes held", "draft before / after", "before / after"],
        [f"{count} x {PHOTO_SIZE / 1e6:.0f} MB ({total:.0f} MiB)", f"{before_cpu:.3f} s",
         f"{first_cpu:.3f} s", f"{after_cpu:.4f} s", f"{bytes_cpu:.3f} s",
         f"{before_size / MIB:.1f} MiB / {after_size / 1024:.0f} KiB",
         f"{before_cpu / max(after_cpu, 1e-6):.0f}x"],
    ]  # fmt: skip
    print_table("Autosave of a draft holding photos, CPU seconds: before and after", rows)


def main(argv: list[str] | None = None) -> int:
    quick = parse_quick(argv, "Autosave of a draft holding twelve photos, before and after")
    run(quick)
    return 0


if __name__ == "__main__":
    sys.exit(main())
