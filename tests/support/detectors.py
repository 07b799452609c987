"""A real face detector that notes the thread each detection ran on, to tell whether
:func:`capture.faces_decoding.load_and_propose` detected during the decoding or after it."""

from __future__ import annotations

import threading

import numpy as np

from capture.faces import FaceDetector
from capture.regions import Region

EARLY_THREAD = "passavant-faces-early_0"
"""The name of the thread that detects during the decoding."""


class RecordingDetector(FaceDetector):
    """The real detector, noting the thread each detection ran on."""

    def __init__(self) -> None:
        super().__init__()
        self.threads: list[str] = []

    def detect(self, image: np.ndarray, *, order: str = "bgr") -> list[Region]:
        self.threads.append(threading.current_thread().name)
        return super().detect(image, order=order)
