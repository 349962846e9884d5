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


# Pulled in only by optional imports of libraries (kivy.clock's trio support, lark's rich
# output, Kivy's reStructuredText widget) or by the dev extras installed next to the
# project: none runs in the app or the server. Left out, the bundles are ~40 MB smaller.
NOT_AT_RUN_TIME = [
    "pytest",
    "_pytest",
    "hypothesis",
    "schemathesis",
    "selenium",
    "trio",
    "IPython",
    "tkinter",
    "docutils",
    "pygments",
]

# Not stripped (PyInstaller's strip=True): it would save ~90 MB of debug symbols, but it
# breaks numpy's OpenBLAS ("ELF load command address/offset not page-aligned"), as the
# self-tests showed.

# Babel's locale data (35 MB, ~800 locales) and pycountry's country-name translations
# (22 MB): the app and the workspace speak Portuguese and English only
# (fieldapp.i18n.LANGUAGES, sync_server.workspace.i18n.LANGUAGES), so the bundles keep
# those and Babel's "root", from which every locale inherits.
KEPT_LANGUAGES = ("root", "en", "pt")


def trim_locales(datas: list[tuple[str, str, str]]) -> list[tuple[str, str, str]]:
    """Analysis.datas without the locale files of languages the programs never show."""

    def wanted(entry: tuple[str, str, str]) -> bool:
        parts = Path(entry[0]).parts
        if parts[:2] == ("babel", "locale-data") and len(parts) == 3:
            language = Path(parts[2]).stem
        elif parts[:2] == ("pycountry", "locales") and len(parts) > 3:
            language = parts[2]
        else:
            return True
        return language.split("_")[0] in KEPT_LANGUAGES

    return [entry for entry in datas if wanted(entry)]


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
