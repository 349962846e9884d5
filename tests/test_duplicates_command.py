"""`sync-server duplicates INPUT.csv --out PAIRS.csv`: a partner's list in, probable pairs
out; bad input ends with one clear line, exit status 2 and no PAIRS.csv."""

from __future__ import annotations

import csv
import random
from dataclasses import replace

import pytest

from sync_core.dedup.synthetic import generate, write_csv
from sync_server.cli import main

pytestmark = pytest.mark.unit

HEADER = (
    "record_id,head_given_name,head_family_name,sex,age,phone,site_id,origin_district,"
    "household_size,members_ages,lat,lon,registration_date"
)


def run(tmp_path, data: bytes, capsys) -> tuple[int, str, list[list[str]] | None]:
    source, out = tmp_path / "INPUT.csv", tmp_path / "PAIRS.csv"
    source.write_bytes(data)
    status = main(["duplicates", str(source), "--out", str(out)])
    rows = list(csv.reader(out.open(encoding="utf-8"))) if out.exists() else None
    return status, capsys.readouterr().err, rows


def test_a_list_with_re_registered_families_gives_their_pairs(tmp_path, capsys):
    labelled = generate(1500, seed=3)
    status, err, rows = run(tmp_path, labelled.to_csv().encode(), capsys)
    assert status == 0
    assert rows[0] == ["record_id_1", "record_id_2", "score"]
    found = {tuple(sorted(row[:2])) for row in rows[1:]}
    truth = labelled.true_pairs()
    assert len(found & truth) >= 0.75 * len(truth)
    assert len(found & truth) >= 0.9 * len(found)
    assert all(0 <= float(row[2]) <= 1 for row in rows[1:])
    assert "100%" in err and "probable duplicate pairs" in err


def test_the_two_spellings_of_one_family_are_a_pair(tmp_path, capsys):
    lines = [
        HEADER,
        "a1,Castigo Ernesto,Mutemba,M,41,+258 84 123 4567,MOZ-ZAM-0001,MZ1120,5,41;35;12;9;3,"
        "-17.48,37.02,2026-03-02",
        "b7,CASTIGO,Muthemba,M,42,841234567,MOZ-ZAM-0001,MZ1120,5,42;35;12;9;3,,,2026-03-09",
        "c3,Maria,Mussa,F,52,,MOZ-ZAM-0001,MZ1120,2,52;15,-17.48,37.02,2026-03-02",
    ]
    status, _, rows = run(tmp_path, "\n".join(lines).encode(), capsys)
    assert status == 0
    assert [row[:2] for row in rows[1:]] == [["a1", "b7"]]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "is empty: expected a header row with the columns record_id"),
        (b"  \n", "is empty"),
        (
            b"record_id,head_given_name,sex\nx,Ana,F\n",
            "lacks the columns head_family_name, age, phone",
        ),
        (
            (HEADER + "\nx1,Jos\xe9,Mussa,M,40,,S1,MZ1120,1,40,,,2026-03-02\n").encode("latin-1"),
            "is not UTF-8 text (byte 0xe9 on line 2); save it as 'CSV UTF-8'",
        ),
        (
            (
                HEADER
                + "\nx1,Ana,Mussa,F,40,,S1,MZ1120,1,40,,,2026-03-02"
                + "\nx2,Rosa,Cossa,F,30,,S1,MZ1120,1,30,,,2026-03-02"
                + "\nx1,Ana,Musa,F,41,,S1,MZ1120,1,41,,,2026-03-03\n"
            ).encode(),
            "repeats record ids: 'x1' (lines 2 and 4); each row needs its own record_id",
        ),
        (
            (HEADER + "\nx1,Ana,Mussa,F,forty,,S1,MZ1120,1,40,,,2026-03-02\n").encode(),
            "line 2, column age: 'forty' is not a number",
        ),
        (
            (HEADER + "\nx1,Ana,Mussa,F,40,,S1,MZ1120,1,40,,,02/03/2026\n").encode(),
            "line 2, column registration_date: '02/03/2026' is not a date (YYYY-MM-DD)",
        ),
        (
            (HEADER + "\n,Ana,Mussa,F,40,,S1,MZ1120,1,40,,,2026-03-02\n").encode(),
            "line 2: record_id is empty",
        ),
    ],
    ids=[
        "empty",
        "blank",
        "missing-columns",
        "not-utf8",
        "repeated-ids",
        "bad-age",
        "bad-date",
        "no-id",
    ],
)
def test_bad_input_says_what_and_where_and_writes_nothing(tmp_path, capsys, data, message):
    status, err, rows = run(tmp_path, data, capsys)
    assert status == 2
    assert err.startswith("error: ") and message in err
    assert "Traceback" not in err
    assert rows is None
    assert not list(tmp_path.glob("PAIRS.csv*"))


def test_a_header_only_list_gives_a_header_only_pairs_file(tmp_path, capsys):
    status, _, rows = run(tmp_path, (HEADER + "\n").encode(), capsys)
    assert status == 0 and rows == [["record_id_1", "record_id_2", "score"]]


def test_a_missing_input_file_is_a_clear_error(tmp_path, capsys):
    status = main(["duplicates", str(tmp_path / "nope.csv"), "--out", str(tmp_path / "p.csv")])
    assert status == 2
    assert "cannot read" in capsys.readouterr().err


@pytest.mark.system
@pytest.mark.slow
def test_100000_rows_with_half_the_phones_empty_work(tmp_path, capsys):
    labelled = generate(100_000, seed=9)
    rng = random.Random(9)
    households = [replace(h, phone="") if rng.random() < 0.5 else h for h in labelled.households]
    source = tmp_path / "INPUT.csv"
    with source.open("w", encoding="utf-8", newline="") as out:
        write_csv(households, out)
    out = tmp_path / "PAIRS.csv"
    assert main(["duplicates", str(source), "--out", str(out)]) == 0
    rows = list(csv.reader(out.open(encoding="utf-8")))
    found = {tuple(sorted(row[:2])) for row in rows[1:]}
    truth = labelled.true_pairs()
    # Measured (seed 9): precision 0.817, recall 0.735 (seed 7 with every phone: 0.91, 0.83).
    assert len(found & truth) >= 0.68 * len(truth)
    assert len(found & truth) >= 0.78 * len(found)
