"""The administrative posts file: read and checked, offered by district, found by the tablet."""

from __future__ import annotations

import pytest

from forms import FORMS_DIR, load_form, validate_record
from forms.places import NOT_LISTED, POSTOS_PATH, load_postos, postos_of
from forms.samples import sample_household

pytestmark = pytest.mark.unit


def test_bundled_postos_are_named_by_district_without_invented_codes():
    postos = load_postos()
    assert len({p.district for p in postos if p.district != "any"}) == 21
    assert [p.label for p in postos_of("MZ1120")] == ["Macuze", "Namacurra-Sede"]
    coded = [p for p in postos if p.pcode]
    assert [(p.label, p.pcode) for p in coded] == [("Macuze", "MZ112001")]
    assert "DTM" in coded[0].source
    assert next(p for p in postos if p.name == NOT_LISTED).district == "any"


def test_a_household_from_a_listed_post_gets_its_code_from_the_file():
    form = load_form(FORMS_DIR / "household_registration.xlsx")
    record = sample_household(4, site_id="MOZ-ZAM-0001")  # Namacurra
    for name, code in (("MZ1120_macuze", "MZ112001"), ("MZ1120_namacurra_sede", None)):
        record["origin_posto"] = name
        result = validate_record(form, record)
        assert result.ok, result.errors
        assert result.record.get("origin_posto_pcode") in ((code,) if code else ("", None))
    record["origin_posto"] = "MZ1122_nicoadala_sede"  # a post of another district
    errors = validate_record(form, record).errors
    assert [(e.path, e.code) for e in errors] == [("origin_posto", "choice-filtered")]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("name,label,district,pcode,scheme\n", "missing column(s) source"),
        ("name,label,district,pcode,scheme,source\n,X,MZ1101,,COD-AB 2019,s\n", "line 2"),
        (
            "name,label,district,pcode,scheme,source\n"
            "a,A,MZ1101,,COD-AB 2019,s\na,B,MZ1102,,COD-AB 2019,s\n",
            "line 3: the name 'a' is used twice",
        ),
        (
            "name,label,district,pcode,scheme,source\n"
            "a,A,MZ1101,,COD-AB 2019,s\nb,B,MZ0401,,COD-AB 2025 v02,s\n",
            "one P-code scheme per file",
        ),
    ],
)
def test_a_bad_postos_file_names_the_file_and_line(tmp_path, text, message):
    path = tmp_path / "postos.csv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ValueError, match=r"postos\.csv") as error:
        load_postos(path)
    assert message in str(error.value)


def test_the_tablet_finds_the_bundled_postos_after_a_restart(tmp_path):
    from fieldapp.catalog import FormCatalog, form_attachment_dir
    from fieldapp.store import Store

    store = Store(tmp_path / "device.sqlite3")
    try:
        FormCatalog(store, tmp_path / "cache").install_bundled()
        copy = (
            form_attachment_dir(
                store,
                "household_registration",
                load_form(FORMS_DIR / "household_registration.xlsx").version,
            )
            / POSTOS_PATH.name
        )
        assert copy.read_bytes() == POSTOS_PATH.read_bytes()
        # A new process: the form comes from the store's cache, its posts from the copy.
        form = FormCatalog(store, tmp_path / "cache2").newest("household_registration")
        assert form.missing_attachments() == []
        record = sample_household(4, site_id="MOZ-ZAM-0001")
        record["origin_posto"] = "MZ1120_macuze"
        assert validate_record(form, record).record["origin_posto_pcode"] == "MZ112001"
    finally:
        store.close()
