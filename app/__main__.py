"""``python -m app`` is the ``passavant`` command."""

import sys

from app.cli import main

sys.exit(main())
