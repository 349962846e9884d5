"""The forms the tablet can fill: those bundled with the app and those downloaded later.

Every form is cached in the store (bytes of the .xlsx), so a record can always be opened
with the exact form version it was started on, even after a newer version arrives.
"""

from __future__ import annotations

import hashlib
import shutil
from dataclasses import dataclass
from pathlib import Path

from forms import Form, bundled_form_paths, load_form


def localized_title(form: Form, language: str) -> str:
    """The form title in `language`.

    XLSForm has one form_title; ours are written "Português / English" (default language
    first), so show the part for the language, or the whole title when it has no parts.
    """
    parts = [part.strip() for part in form.title.split(" / ")]
    if len(parts) != 2:
        return form.title
    wants_default = form.language_for(language) == form.default_language
    return parts[0] if wants_default else parts[1]


def form_attachment_dir(store, form_id: str, version: str) -> Path:
    """Where the files published with a form version (CSV/GeoJSON choices and lookups,
    media) are kept on the tablet: beside the store, one folder per form version."""
    return Path(store.path).parent / "form-attachments" / form_id / version


def _folder_state(folder: Path) -> tuple:
    """(name, size, mtime) of each file in `folder`: changes when a sync replaces one."""
    if not folder.is_dir():
        return ()
    return tuple(sorted((f.name, f.stat().st_size, f.stat().st_mtime_ns) for f in folder.iterdir()))


def _suffix_of(content: bytes) -> str:
    """The file type of a cached form, from its bytes: the server publishes .xlsx and .xls
    workbooks, and pyxform's .md and .csv text forms (pyxform reads by suffix)."""
    if content[:2] == b"PK":
        return ".xlsx"
    if content[:4] == b"\xd0\xcf\x11\xe0":
        return ".xls"
    return ".md" if content.lstrip()[:1] == b"|" else ".csv"


@dataclass(frozen=True)
class FormEntry:
    form_id: str
    version: str
    title: str


class FormCatalog:
    def __init__(self, store, cache_dir: Path):
        self.store = store
        self.cache_dir = cache_dir
        self._loaded: dict[tuple[str, str, tuple], Form] = {}

    def install_bundled(self, paths: list[Path] | None = None) -> None:
        """Put the bundled demo forms in the store's form cache (idempotent)."""
        for path in paths if paths is not None else bundled_form_paths():
            form = load_form(path)
            state = _folder_state(form_attachment_dir(self.store, form.form_id, form.version))
            self._loaded[(form.form_id, form.version, state)] = form
            self.store.cache_form(
                form.form_id, form.version, form.title, path.read_bytes(), source="bundled"
            )
            self._install_bundled_attachments(form, path.parent)

    def _install_bundled_attachments(self, form: Form, folder: Path) -> None:
        """Copy the files a bundled form uses (the postos list, ...) to where a downloaded
        form keeps its attachments, so the cached copy finds them after a restart. A file
        replaced in the app's bundle (a deployment's own postos list) replaces the copy."""
        target = form_attachment_dir(self.store, form.form_id, form.version)
        for name in form.attachments:
            source, copy = folder / name, target / name
            if source.is_file() and (
                not copy.is_file() or copy.read_bytes() != source.read_bytes()
            ):
                target.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(source, copy)

    def entries(self) -> list[FormEntry]:
        """The newest version of each form, in title order."""
        newest: dict[str, FormEntry] = {}
        for row in self.store.cached_forms():
            if row["form_id"] not in newest:
                newest[row["form_id"]] = FormEntry(row["form_id"], row["version"], row["title"])
        return sorted(newest.values(), key=lambda entry: entry.title.lower())

    def form(self, form_id: str, version: str) -> Form:
        attachments = form_attachment_dir(self.store, form_id, version)
        # A sync may have replaced an attachment (the site list): a form is loaded again
        # when its folder's files changed.
        key = (form_id, version, _folder_state(attachments))
        if key not in self._loaded:
            content = self.store.form_content(form_id, version)
            digest = hashlib.sha256(content).hexdigest()[:12]
            self.cache_dir.mkdir(parents=True, exist_ok=True)
            path = self.cache_dir / f"{form_id}-{digest}{_suffix_of(content)}"
            if not path.exists():
                path.write_bytes(content)
            # A form downloaded with attachments has them in its own folder; a bundled form
            # has its files beside it.
            self._loaded[key] = load_form(
                path, attachment_dir=attachments if attachments.is_dir() else None
            )
        return self._loaded[key]

    def title(self, entry: FormEntry, language: str) -> str:
        return localized_title(self.form(entry.form_id, entry.version), language)

    def newest(self, form_id: str) -> Form:
        for entry in self.entries():
            if entry.form_id == form_id:
                return self.form(entry.form_id, entry.version)
        raise KeyError(f"no form {form_id!r} on this device")
