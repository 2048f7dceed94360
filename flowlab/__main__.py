"""``python -m flowlab`` runs the same entry point as the ``flowlab`` console script."""

import sys

from flowlab.cli import main

if __name__ == "__main__":  # not in a training process, which imports this module again
    sys.exit(main())
