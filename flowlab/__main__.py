"""``python -m flowlab`` runs the same entry point as the ``flowlab`` console script."""

import sys

from flowlab.cli import main

sys.exit(main())
