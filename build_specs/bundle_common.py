"""What both PyInstaller specs share: the data files our packages read at run time.

Imported by `fieldapp.spec` and `sync_server.spec` (PyInstaller runs a spec with its own
folder on `sys.path`). Data is collected **by folder, not file by file**: every file of a
package that is not Python source travels with it, so a new form, GeoJSON layer, template
or translation added later is in the next bundle without anyone touching the specs.
`tests/test_bundles.py` checks the built folders against the source tree the same way.
"""

from __future__ import annotations

from pathlib import Path

from PyInstaller.utils.hooks import collect_data_files, collect_submodules, copy_metadata

ROOT = Path(__file__).resolve().parent.parent

# Never bundled: compiled caches, and pyxform's Java validator (ODK Validate, 10 MB; our
# engine validates forms itself and the bundles have no Java).
EXCLUDED_DATA = ["**/__pycache__/**", "**/*.pyc", "**/odk_validate/**"]


def package_data(*packages: str) -> list[tuple[str, str]]:
    """(source, folder in the bundle) for every non-Python file of each package."""
    datas: list[tuple[str, str]] = []
    for package in packages:
        datas += collect_data_files(package, excludes=EXCLUDED_DATA)
    return datas


def our_modules(*packages: str) -> list[str]:
    """Every module of our own packages, including ones only imported by name at run
    time (`forms.__getattr__` imports its public names lazily), minus test helpers that
    need the dev extras."""
    modules: list[str] = []
    for package in packages:
        modules += collect_submodules(package, filter=_not_server_testing)
    return modules


def metadata() -> list[tuple[str, str]]:
    """The project's installed metadata, so `importlib.metadata.version()` (the app
    version a tablet reports to the server) answers inside a bundle too."""
    return copy_metadata("displacement-field-kit")


def _not_server_testing(name: str) -> bool:
    # sync_server's testing helpers import FastAPI's TestClient (httpx, a dev extra).
    return not (name.startswith("sync_server") and name.endswith("testing"))
