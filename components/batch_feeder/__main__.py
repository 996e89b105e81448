"""`python -m batch_feeder` (in the pod) or `python -m components.batch_feeder` (here)."""

import sys

from .cli import main

sys.exit(main())
