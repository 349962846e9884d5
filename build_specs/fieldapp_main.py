"""Entry point of the tablet app bundle (build_specs/fieldapp.spec): `fieldapp [options]`."""

import multiprocessing
import sys

from fieldapp.__main__ import main

if __name__ == "__main__":
    multiprocessing.freeze_support()  # harmless on Linux; needed for any child on Windows
    sys.exit(main())
