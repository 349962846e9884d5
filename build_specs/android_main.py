"""The app's entry point on Android (python-for-android starts `main.py`).

`scripts/android-src.sh` copies this file as main.py next to forms/, fieldapp/ and
sync_core/ in build/android-src, the folder build_specs/buildozer.spec packages. On a
desktop, `python main.py --self-test` in that folder checks the assembled sources.
"""

import sys

from fieldapp.__main__ import main

if __name__ == "__main__":
    sys.exit(main())
