"""``python -m bench.cases [--quick]`` (and its ``--child`` processes)."""

import sys

from bench.cases import main

sys.exit(main())
