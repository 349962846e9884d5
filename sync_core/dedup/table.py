"""Households from a CSV list that comes from elsewhere (a partner's distribution list, an
old DTM sheet), and probable pairs back to CSV.

The columns (`COLUMNS`; `members_sexes` is optional, semicolon-separated like
`members_ages`, head first). Empty cells are missing values; phone, lat and lon are often
empty. Anything else wrong stops the reading with a `TableError` that says what and where:
an empty file, text that is not UTF-8, a missing column, a repeated or empty record_id, a
value that is not a number or a date.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterable

from sync_core.dedup.engine import ScoredPair
from sync_core.dedup.household import Household, Member

COLUMNS = (
    "record_id",
    "head_given_name",
    "head_family_name",
    "sex",
    "age",
    "phone",
    "site_id",
    "origin_district",
    "household_size",
    "members_ages",
    "lat",
    "lon",
    "registration_date",
)
PAIR_COLUMNS = ("record_id_1", "record_id_2", "score")


class TableError(ValueError):
    """The input list cannot be read; the message says what is wrong and where."""


def read_households(data: bytes, name: str = "the input") -> list[Household]:
    """The households of a CSV file's bytes (UTF-8, with or without a byte-order mark)."""
    if not data.strip():
        raise TableError(
            f"{name} is empty: expected a header row with the columns {', '.join(COLUMNS)}"
        )
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise TableError(
            f"{name} is not UTF-8 text (byte 0x{data[error.start]:02x} on line {line}); "
            "save it as 'CSV UTF-8' and try again"
        ) from None
    reader = csv.reader(io.StringIO(text, newline=""))
    header = [column.strip().lower() for column in next(reader)]
    missing = [column for column in COLUMNS if column not in header]
    if missing:
        raise TableError(
            f"{name} lacks the column{'s' if len(missing) > 1 else ''} {', '.join(missing)} "
            f"(found: {', '.join(header) or 'none'})"
        )
    where = {
        column: header.index(column) for column in (*COLUMNS, "members_sexes") if column in header
    }
    households: list[Household] = []
    first_line: dict[str, int] = {}
    repeated: list[str] = []
    for row in reader:
        line = reader.line_num
        if not any(cell.strip() for cell in row):
            continue
        cells = {column: (row[i].strip() if i < len(row) else "") for column, i in where.items()}
        record_id = cells["record_id"]
        if not record_id:
            raise TableError(f"{name}, line {line}: record_id is empty; every row needs an id")
        if record_id in first_line:
            repeated.append(f"{record_id!r} (lines {first_line[record_id]} and {line})")
        first_line.setdefault(record_id, line)
        households.append(_household(cells, f"{name}, line {line}"))
    if repeated:
        more = f" and {len(repeated) - 5} more" if len(repeated) > 5 else ""
        raise TableError(
            f"{name} repeats record ids: {', '.join(repeated[:5])}{more}; "
            "each row needs its own record_id"
        )
    return households


def _household(cells: dict[str, str], where: str) -> Household:
    ages = _list(cells["members_ages"])
    sexes = _list(cells.get("members_sexes", ""))
    members = tuple(
        Member(
            _number(age, int, where, "members_ages"),
            (sexes[k].upper()[:1] if k < len(sexes) else ""),
        )
        for k, age in enumerate(ages)
    )
    sex = cells["sex"].upper()[:1]
    return Household(
        record_id=cells["record_id"],
        head_given_name=cells["head_given_name"],
        head_family_name=cells["head_family_name"],
        sex=sex if sex in ("M", "F") else "",
        age=_number(cells["age"], int, where, "age"),
        phone=cells["phone"],
        site_id=cells["site_id"],
        origin_district=cells["origin_district"],
        registration_date=_date(cells["registration_date"], where),
        lat=_number(cells["lat"], float, where, "lat"),
        lon=_number(cells["lon"], float, where, "lon"),
        household_size=_number(cells["household_size"], int, where, "household_size"),
        members=members,
    )


def _list(text: str) -> list[str]:
    return [part.strip() for part in text.split(";")] if text.strip() else []


def _number(text: str, kind: type, where: str, column: str):
    if not text:
        return None
    try:
        value = float(text.replace(",", ".")) if kind is float else int(float(text))
    except ValueError:
        raise TableError(f"{where}, column {column}: {text!r} is not a number") from None
    return value


def _date(text: str, where: str) -> dt.date | None:
    if not text:
        return None
    try:
        return dt.date.fromisoformat(text[:10])
    except ValueError:
        raise TableError(
            f"{where}, column registration_date: {text!r} is not a date (YYYY-MM-DD)"
        ) from None


def write_pairs(pairs: Iterable[ScoredPair], out: io.TextIOBase) -> int:
    """PAIRS.csv: a header row, then one pair per row. Returns the number of pairs."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(PAIR_COLUMNS)
    count = 0
    for pair in pairs:
        writer.writerow([pair.record_id_1, pair.record_id_2, f"{pair.score:.4f}"])
        count += 1
    return count
