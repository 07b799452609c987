"""``python -m refplatform --data DIR [--port 0] ...``: runs the reference platform server."""

import sys

from refplatform.cli import main

if __name__ == "__main__":
    sys.exit(main())
