"""``python -m runbook_lib.sandbox.agentops_api``: run the stand-in API process."""

import sys

from .process import main

__all__: list[str] = []

if __name__ == "__main__":
    sys.exit(main())
