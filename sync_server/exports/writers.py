"""The four file formats, written row by row in constant memory. Pure: no SQL.

Each writer takes a record's rows as `exports.tables.record_rows` makes them, then
optional extra tables (the per-site summary) or features (the sites), then `close()`.
It writes to a binary `sink` that need not be seekable (a file, or the pipe of an HTTP
response, `exports.stream`), so the first bytes leave while the export goes on.

CSV zip and XLSX hold several tables that are filled at the same time (a household, then
its members): the main table is written straight into its zip entry as rows come, and
the others are spooled to temporary files in `spool_dir` and appended after it. Python's
zipfile writes to an unseekable stream by itself (data descriptors after each entry), so
no zip-streaming library is needed. Memory holds one row at a time whatever the number
of records.

XLSX is written directly as SpreadsheetML (inline strings, a frozen, bold header row)
rather than with openpyxl's write-only mode: on this project's 2-core machines openpyxl
wrote about 22,000 cells/s, which is 15 minutes for 100,000 households of 6 members; this
writer does the same sheet in well under a minute. Tests read the result back with
openpyxl.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import math
import re
import shutil
import tempfile
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any, BinaryIO

from sync_server.exports.tables import Layout, Table

MAX_XLSX_ROWS = 1_048_576


class TooManyRows(Exception):
    """A table does not fit on one Excel sheet."""


class Writer:
    """Interface of every format."""

    def __init__(self, sink: BinaryIO, spool_dir: Path, layout: Layout):
        self.sink = sink
        self.spool_dir = spool_dir
        self.layout = layout

    def add_record(
        self, rows: Sequence[tuple[Table, list[Any]]], point: tuple[float, float] | None
    ) -> None:
        raise NotImplementedError

    def add_table(self, name: str, headers: list[str], rows: list[list[Any]]) -> None:
        """An extra table written whole at the end (small: one row per site)."""

    def add_features(self, features: list[dict[str, Any]]) -> None:
        """Extra GeoJSON features (the sites); only GeoJSON writes them."""

    def close(self) -> None:
        raise NotImplementedError

    def abort(self) -> None:
        """Drop everything written so far (the caller removes the output file)."""


def _text(binary: IO[bytes], *, newline: str | None = None) -> io.TextIOWrapper:
    # Buffered (8 KiB at a time reach the sink): a zip entry compresses as rows come.
    return io.TextIOWrapper(binary, encoding="utf-8", newline=newline)


def _drop(archive: zipfile.ZipFile) -> None:
    """Let go of a zip being aborted; its sink may be gone (a cut download), so writing
    its directory may fail, and that is fine: the caller discards what was written."""
    with contextlib.suppress(Exception):
        archive.close()


class _Spool:
    """Temporary files in the output's folder, one per table, removed in every case."""

    def __init__(self, folder: Path):
        self.dir = Path(tempfile.mkdtemp(prefix=".export-", dir=folder))

    def file(self, name: str, *, newline: str | None = None) -> IO[str]:
        return open(self.dir / name, "w", encoding="utf-8", newline=newline)

    def remove(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)


class CsvZipWriter(Writer):
    """ODK Central's CSV zip: `<form>.csv` and `<form>-<repeat>.csv`, UTF-8 with a BOM so
    that Excel shows accents right. The main table streams into the zip; repeats are
    spooled and follow it."""

    def __init__(self, sink: BinaryIO, spool_dir: Path, layout: Layout):
        super().__init__(sink, spool_dir, layout)
        self.spool = _Spool(spool_dir)
        self.archive = zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6)
        self.files: list[IO[str]] = []
        self.csvs: list[Any] = []
        self.extra: list[str] = []
        for table in layout.tables:
            if table.index == 0:
                handle: IO[str] = _text(self.archive.open(f"{table.name}.csv", "w"), newline="")
            else:
                handle = self.spool.file(f"{table.name}.csv", newline="")
            handle.write("\ufeff")
            writer = csv.writer(handle)
            writer.writerow(table.headers)
            self.files.append(handle)
            self.csvs.append(writer)

    def add_record(self, rows, point) -> None:
        for table, values in rows:
            self.csvs[table.index].writerow(values)

    def add_table(self, name, headers, rows) -> None:
        with self.spool.file(f"{name}.csv", newline="") as handle:
            handle.write("\ufeff")
            writer = csv.writer(handle)
            writer.writerow(headers)
            writer.writerows(rows)
        self.extra.append(name)

    def close(self) -> None:
        try:
            for handle in self.files:
                handle.close()
            names = [t.name for t in self.layout.tables[1:]] + self.extra
            for name in names:
                self.archive.write(self.spool.dir / f"{name}.csv", f"{name}.csv")
            self.archive.close()
        finally:
            self.spool.remove()

    def abort(self) -> None:
        for handle in self.files:
            with contextlib.suppress(Exception):
                handle.close()
        _drop(self.archive)
        self.spool.remove()


# --- XLSX --------------------------------------------------------------------------------

_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_REL_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PKG_REL_NS = "http://schemas.openxmlformats.org/package/2006/relationships"
_XML_HEAD = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
_STYLES = (
    f'{_XML_HEAD}<styleSheet xmlns="{_NS}">'
    '<fonts count="2"><font><sz val="11"/><name val="Calibri"/></font>'
    '<font><b/><sz val="11"/><name val="Calibri"/></font></fonts>'
    '<fills count="2"><fill><patternFill patternType="none"/></fill>'
    '<fill><patternFill patternType="gray125"/></fill></fills>'
    '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
    '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
    '<cellXfs count="2"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
    '<xf numFmtId="0" fontId="1" fillId="0" borderId="0" xfId="0" applyFont="1"/></cellXfs>'
    '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>'
    "</styleSheet>"
)
_SHEET_HEAD = (
    f'{_XML_HEAD}<worksheet xmlns="{_NS}"><sheetViews><sheetView workbookViewId="0">'
    '<pane ySplit="1" topLeftCell="A2" activePane="bottomLeft" state="frozen"/>'
    '<selection pane="bottomLeft" activeCell="A2" sqref="A2"/></sheetView></sheetViews>'
    "<sheetData>"
)
_SHEET_TAIL = "</sheetData></worksheet>"


def _xml_text(text: str) -> str:
    if "&" in text or "<" in text or ">" in text:
        text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    if _CONTROL.search(text):
        text = _CONTROL.sub("", text)
    if text[:1].isspace() or text[-1:].isspace():
        return f'<t xml:space="preserve">{text}</t>'
    return f"<t>{text}</t>"


def _xlsx_cell(value: Any, style: str = "") -> str:
    if value is None or value == "":
        return "<c/>"
    if isinstance(value, bool):
        value = int(value)
    if isinstance(value, int) or (isinstance(value, float) and math.isfinite(value)):
        return f"<c{style}><v>{value!r}</v></c>"
    return f'<c t="inlineStr"{style}><is>{_xml_text(str(value))}</is></c>'


class _Sheet:
    # The XML of recent cell values: labels, codes and small numbers repeat on most rows,
    # so most cells are a dictionary look-up. Cleared when full, so memory stays bounded.
    CACHE_SIZE = 50_000

    def __init__(self, handle: IO[str], title: str, headers: list[str]):
        self.handle = handle
        self.title = title
        self.rows = 1
        self.cache: dict[Any, str] = {}
        handle.write(_SHEET_HEAD)
        cells = "".join(_xlsx_cell(h, ' s="1"') for h in headers)
        handle.write(f'<row r="1">{cells}</row>')

    def append(self, values: list[Any]) -> None:
        self.rows += 1
        if self.rows > MAX_XLSX_ROWS:
            raise TooManyRows(
                f"The table {self.title!r} has more than {MAX_XLSX_ROWS - 1} rows, more than "
                "an Excel sheet holds: export it as a CSV zip instead, or narrow the export."
            )
        # Equal keys give equal cells (1, 1.0 and True are all the number 1 to Excel).
        get = self.cache.get
        try:
            cells = [get(value) or self._miss(value) for value in values]
        except TypeError:  # an unhashable value: no cache for this row
            cells = [_xlsx_cell(value) for value in values]
        self.handle.write(f'<row r="{self.rows}">{"".join(cells)}</row>')

    def _miss(self, value: Any) -> str:
        if len(self.cache) >= self.CACHE_SIZE:
            self.cache.clear()
        text = self.cache[value] = _xlsx_cell(value)
        return text

    def close(self) -> None:
        self.handle.write(_SHEET_TAIL)
        self.handle.close()


class XlsxWriter(Writer):
    """One sheet per table, header row bold and frozen. The main table's sheet streams
    into the zip; the other sheets are spooled and follow; the workbook's small parts
    (sheet names, styles) come last, once every sheet is known: readers find parts
    through the zip's central directory, not by their order."""

    def __init__(self, sink: BinaryIO, spool_dir: Path, layout: Layout):
        super().__init__(sink, spool_dir, layout)
        self.spool = _Spool(spool_dir)
        # Level 1: the sheets are large and repetitive; level 6 costs twice the time for
        # a file about 15% smaller.
        self.archive = zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1)
        self.sheets: list[_Sheet] = []
        titles: set[str] = set()
        for table in layout.tables:
            self.sheets.append(self._sheet(_unique(table.sheet, titles), table.headers))

    def _sheet(self, title: str, headers: list[str]) -> _Sheet:
        number = len(self.sheets) + 1
        if number == 1:
            handle: IO[str] = _text(self.archive.open("xl/worksheets/sheet1.xml", "w"))
        else:
            handle = self.spool.file(f"sheet{number}.xml")
        return _Sheet(handle, title, headers)

    def add_record(self, rows, point) -> None:
        for table, values in rows:
            self.sheets[table.index].append(values)

    def add_table(self, name, headers, rows) -> None:
        sheet = self._sheet(_unique(name[:31], {s.title for s in self.sheets}), headers)
        self.sheets.append(sheet)
        for values in rows:
            sheet.append(values)

    def close(self) -> None:
        try:
            for sheet in self.sheets:
                if not sheet.handle.closed:
                    sheet.close()
            for n in range(2, len(self.sheets) + 1):
                self.archive.write(self.spool.dir / f"sheet{n}.xml", f"xl/worksheets/sheet{n}.xml")
            self._pack()
            self.archive.close()
        finally:
            self.spool.remove()

    def abort(self) -> None:
        for sheet in self.sheets:
            with contextlib.suppress(Exception):
                sheet.handle.close()
        _drop(self.archive)
        self.spool.remove()

    def _pack(self) -> None:
        count = len(self.sheets)
        sheet_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"
        overrides = "".join(
            f'<Override PartName="/xl/worksheets/sheet{n}.xml" ContentType="{sheet_type}"/>'
            for n in range(1, count + 1)
        )
        content_types = (
            f'{_XML_HEAD}<Types xmlns="http://schemas.openxmlformats.org/package/2006/'
            'content-types"><Default Extension="rels" ContentType="application/'
            'vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" '
            'ContentType="application/xml"/><Override PartName="/xl/workbook.xml" '
            'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.'
            'sheet.main+xml"/><Override PartName="/xl/styles.xml" ContentType="application/'
            f'vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>{overrides}</Types>'
        )
        root_rels = (
            f'{_XML_HEAD}<Relationships xmlns="{_PKG_REL_NS}"><Relationship Id="rId1" '
            f'Type="{_REL_NS}/officeDocument" Target="xl/workbook.xml"/></Relationships>'
        )
        sheets = "".join(
            f'<sheet name="{_xml_attr(s.title)}" sheetId="{n}" r:id="rId{n}"/>'
            for n, s in enumerate(self.sheets, start=1)
        )
        workbook = (
            f'{_XML_HEAD}<workbook xmlns="{_NS}" xmlns:r="{_REL_NS}">'
            f"<sheets>{sheets}</sheets></workbook>"
        )
        rels = "".join(
            f'<Relationship Id="rId{n}" Type="{_REL_NS}/worksheet" '
            f'Target="worksheets/sheet{n}.xml"/>'
            for n in range(1, count + 1)
        )
        workbook_rels = (
            f'{_XML_HEAD}<Relationships xmlns="{_PKG_REL_NS}">{rels}'
            f'<Relationship Id="rId{count + 1}" Type="{_REL_NS}/styles" Target="styles.xml"/>'
            "</Relationships>"
        )
        archive = self.archive
        archive.writestr("[Content_Types].xml", content_types)
        archive.writestr("_rels/.rels", root_rels)
        archive.writestr("xl/workbook.xml", workbook)
        archive.writestr("xl/_rels/workbook.xml.rels", workbook_rels)
        archive.writestr("xl/styles.xml", _STYLES)


def _xml_attr(text: str) -> str:
    return (
        text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
    )


def _unique(title: str, taken: set[str]) -> str:
    candidate, number = title, 2
    while candidate.lower() in {t.lower() for t in taken}:
        suffix = f" ({number})"
        candidate = title[: 31 - len(suffix)] + suffix
        number += 1
    taken.add(candidate)
    return candidate


# --- GeoJSON and HXL -------------------------------------------------------------------------


class GeoJsonWriter(Writer):
    """A FeatureCollection: one point per record (null geometry when it has no position),
    its main-table answers as properties; then the extra features (sites)."""

    def __init__(self, sink: BinaryIO, spool_dir: Path, layout: Layout):
        super().__init__(sink, spool_dir, layout)
        self.handle = _text(sink)
        self.handle.write('{"type":"FeatureCollection","features":[\n')
        self.first = True
        main = layout.main
        geo_headers = {f"{layout.geopoint}-{p}" for p in ("Latitude", "Longitude")}
        self.keep = [i for i, h in enumerate(main.headers) if h not in geo_headers]
        self.headers = main.headers
        self.kind = main.name

    def _write(self, feature: dict[str, Any]) -> None:
        if not self.first:
            self.handle.write(",\n")
        self.first = False
        self.handle.write(json.dumps(feature, ensure_ascii=False, separators=(",", ":")))

    def add_record(self, rows, point) -> None:
        values = rows[0][1]
        properties = {"feature_type": self.kind}
        properties.update({self.headers[i]: values[i] for i in self.keep})
        geometry = (
            {"type": "Point", "coordinates": [point[1], point[0]]} if point is not None else None
        )
        self._write({"type": "Feature", "geometry": geometry, "properties": properties})

    def add_features(self, features) -> None:
        for feature in features:
            self._write(feature)

    def close(self) -> None:
        self.handle.write("\n]}\n")
        self.handle.flush()
        self.handle.detach()  # the sink belongs to the caller

    def abort(self) -> None:
        with contextlib.suppress(Exception):
            self.handle.detach()


class HxlWriter(Writer):
    """A CSV for HDX: the main table's HXL-tagged columns, the header row, then the hashtag
    row, then the data."""

    def __init__(self, sink: BinaryIO, spool_dir: Path, layout: Layout):
        super().__init__(sink, spool_dir, layout)
        main = layout.main
        self.keep = [i for i, column in enumerate(main.columns) if column.hxl]
        self.handle = _text(sink, newline="")
        self.csv = csv.writer(self.handle)
        self.csv.writerow([main.columns[i].header for i in self.keep])
        self.csv.writerow([main.columns[i].hxl for i in self.keep])

    def add_record(self, rows, point) -> None:
        values = rows[0][1]
        self.csv.writerow([values[i] for i in self.keep])

    def close(self) -> None:
        self.handle.flush()
        self.handle.detach()

    def abort(self) -> None:
        with contextlib.suppress(Exception):
            self.handle.detach()


WRITERS: dict[str, type[Writer]] = {
    "csvzip": CsvZipWriter,
    "xlsx": XlsxWriter,
    "geojson": GeoJsonWriter,
    "hxl": HxlWriter,
}
