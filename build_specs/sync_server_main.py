"""Entry point of the server bundle (build_specs/sync_server.spec): `sync-server COMMAND`."""

import multiprocessing
import sys

from sync_server.cli import main

if __name__ == "__main__":
    # The validation worker processes re-run this executable on Windows (spawn): without
    # freeze_support each worker would start a new server instead.
    multiprocessing.freeze_support()
    sys.exit(main())
