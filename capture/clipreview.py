"""The doctor's review of a clip's key frames (issue 17 §2), without Qt.

The key frames are the samples :func:`capture.clips.find_faces` looked at. On each, the doctor
may remove an area the detector found (a false one: it is then not blurred on that sample)
or add one (a :class:`capture.clips.TimedArea` over the sample's time span: from the sample
before it to the sample after it, the span :func:`capture.clips.areas_at` follows a face
over). :meth:`ClipReview.samples` and :meth:`ClipReview.extra` are what
:func:`capture.clips.prepare_clip` is given.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from capture.clips import TimedArea
from capture.regions import Rect
from cases.clips import ClipAreas

Samples = list[tuple[float, list[Rect]]]
FOLLOWED = 0.3
"""Two areas on neighbouring key frames are the same one when they share this much of the
smaller one."""


def _overlap(a: Rect, b: Rect) -> float:
    smaller = min(a.area, b.area)
    return a.intersection(b).area / smaller if smaller else 0.0


@dataclass
class ClipReview:
    """Key frames with their areas, and what the doctor changed."""

    found: Samples
    start: float
    end: float
    removed: set[tuple[int, int]] = field(default_factory=set)
    added: list[tuple[int, Rect]] = field(default_factory=list)

    def toggle(self, sample: int, area: int) -> bool:
        """Removes the ``area``-th area found on ``sample`` (or puts it back); whether it is
        now blurred."""
        if not (0 <= sample < len(self.found) and 0 <= area < len(self.found[sample][1])):
            raise IndexError("no such area")
        key = (sample, area)
        if key in self.removed:
            self.removed.discard(key)
            return True
        self.removed.add(key)
        return False

    def toggle_track(self, sample: int, area: int) -> int:
        """Removes (or puts back) the ``area``-th area of ``sample`` and the same area on the
        key frames before and after it, followed as long as it overlaps (a false area seen
        all along the clip is removed in one go); how many areas changed."""
        blurred = (sample, area) not in self.removed
        track = self.track(sample, area)
        for key in track:
            if blurred:
                self.removed.add(key)
            else:
                self.removed.discard(key)
        return len(track)

    def track(self, sample: int, area: int) -> list[tuple[int, int]]:
        """The area ``area`` of ``sample`` followed over the key frames around it."""
        found = [(sample, area)]
        for step in (-1, 1):
            rect, index = self.found[sample][1][area], sample + step
            while 0 <= index < len(self.found):
                best = max(
                    enumerate(self.found[index][1]), key=lambda item: _overlap(rect, item[1]),
                    default=None,
                )  # fmt: skip
                if best is None or _overlap(rect, best[1]) < FOLLOWED:
                    break
                found.append((index, best[0]))
                rect, index = best[1], index + step
        return found

    def add(self, sample: int, rect: Rect) -> None:
        """An area the doctor drew on ``sample`` (ignored when empty)."""
        if not 0 <= sample < len(self.found):
            raise IndexError("no such key frame")
        if rect.area > 0:
            self.added.append((sample, rect))

    def drop_added(self, index: int) -> None:
        del self.added[index]

    def kept(self, sample: int) -> list[tuple[int, Rect, bool]]:
        """The areas found on ``sample``: (index, rect, whether it is blurred)."""
        return [
            (j, r, (sample, j) not in self.removed) for j, r in enumerate(self.found[sample][1])
        ]

    def added_on(self, sample: int) -> list[tuple[int, Rect]]:
        """The areas the doctor drew on ``sample``, with their index in :attr:`added`."""
        return [(k, r) for k, (s, r) in enumerate(self.added) if s == sample]

    def samples(self) -> Samples:
        """The faces found, without those the doctor removed."""
        return [
            (when, [r for j, r in enumerate(rects) if (i, j) not in self.removed])
            for i, (when, rects) in enumerate(self.found)
        ]

    def span(self, sample: int) -> tuple[float, float]:
        """From the key frame before ``sample`` to the one after (the clip's ends at its
        ends)."""
        times = [when for when, _rects in self.found]
        before = times[sample - 1] if sample > 0 else self.start
        after = times[sample + 1] if sample + 1 < len(times) else self.end
        return before, after

    def extra(self) -> list[TimedArea]:
        """The doctor's areas, each over its key frame's span."""
        return [TimedArea(rect, *self.span(sample)) for sample, rect in self.added]

    def counts(self) -> ClipAreas:
        """What the manifest says of the review."""
        found = sum(len(rects) for _when, rects in self.found)
        return ClipAreas(found=found, removed=len(self.removed), added=len(self.added))
