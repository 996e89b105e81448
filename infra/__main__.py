"""Two entry points in one file, because Pulumi.yaml's `main: infra/` runs this module.

- Under the Pulumi engine (`pulumi preview/up`), the runtime is already configured with a
  resource monitor: run the program.
- Otherwise (`python -m infra plan ...`), run the command line.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Pulumi runs `infra/` as a directory, so the project root (for `components`, `infra`) must be
# importable explicitly.
_ROOT = str(Path(__file__).resolve().parent.parent)
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

from pulumi.runtime.settings import get_monitor  # noqa: E402

# Imports below are deferred on purpose: the Pulumi engine needs only the program, the command
# line only the plan (which imports the program itself); neither pays for the other.
if get_monitor() is not None:
    from infra.program import main as program_main

    program_main()
elif __name__ == "__main__":
    from infra.plan.cli import main as cli_main

    sys.exit(cli_main())
