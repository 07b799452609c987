"""What the clip windows share: their worker thread and turning frames into images.

Decoding, face finding and preparation run on :data:`CLIP_WORKER` (one thread, named
``passavant-clips``), never on the GUI thread; :class:`ClipWorker` hands results back on
the GUI thread, and drops them when its window is gone.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QImage

from app.handback import hand_back
from app.i18n import _
from app.tasks import DedicatedWorker

CLIP_THREAD = "passavant-clips"
CLIP_WORKER = ThreadPoolExecutor(max_workers=1, thread_name_prefix=CLIP_THREAD)


class ClipWorker(DedicatedWorker):
    """Runs work on :data:`CLIP_WORKER`; the result comes back on the GUI thread.

    Signals:
        progressed(float): a share (0–1) of the current work done, from ``report``.
    """

    progressed = Signal(float)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(CLIP_WORKER, parent)

    def report(self, share: float) -> None:
        """For the work: tells the window how far it is (from any thread)."""
        hand_back(self, lambda: self.progressed.emit(share))


def to_image(frame: np.ndarray) -> QImage:
    """A BGR frame as a QImage that owns its pixels (safe to hand between threads)."""
    height, width = frame.shape[:2]
    rgb = np.ascontiguousarray(frame[..., ::-1])
    return QImage(rgb.data, width, height, 3 * width, QImage.Format.Format_RGB888).copy()


def refusal(error: BaseException) -> str:
    """One plain sentence for a clip that cannot be used."""
    code = getattr(error, "code", "")
    texts = {
        "not_a_video": _("Ce fichier n’est pas une vidéo lisible."),
        "video_damaged": _("Cette vidéo est endommagée : elle ne peut pas être lue."),
        "video_too_long": _("Cette vidéo est trop longue : un clip dure au plus une minute."),
        "video_too_large": _("Cette vidéo est trop grande pour être jointe."),
        "clip_range": _("Le début et la fin choisis sortent de la vidéo ou dépassent une minute."),
        "unreadable": _("Ce fichier ne peut pas être lu."),
    }
    if code in texts:
        return texts[code]
    if code in ("camera_unavailable", "camera_disconnected"):
        return _("La caméra ne répond pas : vérifiez qu’elle est branchée.")
    return _("Le clip n’a pas pu être préparé.")


def seconds(value: float) -> str:
    """``12.5 s``."""
    return f"{value:.1f} s"
