"""``python -m gnnrec ...`` == the ``gnnrec`` console script."""

import sys

from gnnrec.cli import main

if __name__ == "__main__":
    sys.exit(main())
