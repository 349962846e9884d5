"""Places below the district: the administrative posts (postos administrativos) of Zambezia.

The forms offer them from `forms/zambezia_postos.csv`, an attachment of the household and
site-check forms (`select_one_from_file`, filtered by district), so a deployment replaces the
file without touching the workbooks. Columns: `name` (the stable answer, `<district
P-code>_<slug>`), `label`, `district` (COD-AB 2019 district P-code, or `any` for the
"not listed" row every district offers), `district_name`, `pcode`, `scheme`, `source`.

What ships is honest, not complete: names from an unofficial public list, with an empty
`pcode` wherever no published code was found (one: Macuze, MZ112001, from DTM site data).
Never invent a P-code; load the official COD-AB gazetteer (same scheme!) into this file.
Localities (localidades) are not shipped at all: the forms ask for them as text.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

__all__ = ["NOT_LISTED", "POSTOS_PATH", "Posto", "load_postos", "postos_of"]

POSTOS_PATH = Path(__file__).parent / "zambezia_postos.csv"
NOT_LISTED = "not_listed"
_COLUMNS = ("name", "label", "district", "pcode", "scheme", "source")


@dataclass(frozen=True)
class Posto:
    name: str
    label: str
    district: str
    pcode: str
    scheme: str
    source: str


def load_postos(path: str | Path | None = None) -> list[Posto]:
    """The rows of a postos file, checked: every column present, names unique, one scheme.

    Raises ValueError naming the file and the line when the file is not as described above.
    """
    path = Path(path or POSTOS_PATH)
    with open(path, encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        missing = [c for c in _COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(f"{path}: missing column(s) {', '.join(missing)}")
        postos, seen = [], set()
        for line, row in enumerate(reader, start=2):
            if not row["name"] or not row["label"] or not row["district"]:
                raise ValueError(f"{path} line {line}: name, label and district are required")
            if row["name"] in seen:
                raise ValueError(f"{path} line {line}: the name {row['name']!r} is used twice")
            seen.add(row["name"])
            postos.append(Posto(**{c: row[c].strip() for c in _COLUMNS}))
    schemes = {p.scheme for p in postos}
    if len(schemes) != 1:
        raise ValueError(f"{path}: one P-code scheme per file, found {sorted(schemes)}")
    return postos


def postos_of(district_pcode: str, path: str | Path | None = None) -> list[Posto]:
    """The posts a form offers for a district (without the "not listed" row)."""
    return [p for p in load_postos(path) if p.district == district_pcode]
