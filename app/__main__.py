"""``python -m app`` is the ``passavant`` command."""

import multiprocessing
import sys

from app.cli import main

if __name__ == "__main__":
    # The packaged app starts its own child processes (DICOM decoding, capture/dicom_isolated):
    # in a frozen build the child is this same executable, told here to run the child's work.
    multiprocessing.freeze_support()
    sys.exit(main())
