"""``python -m runbook_lib.sandbox.trace_store_server``: run the trace store process."""

import sys

from .process import main

__all__: list[str] = []

if __name__ == "__main__":
    sys.exit(main())
