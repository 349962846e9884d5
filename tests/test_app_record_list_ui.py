"""The record list with more records than one page, in the real Kivy window.

The list loads 200 rows at a time (laying out 10,000 rows took most of a second) and the
next page when the enumerator scrolls to the end; the summary line says how many of how
many are shown, and search still finds any record, loaded or not.
"""

from __future__ import annotations

import pytest

from fieldapp.screens.records import PAGE
from fieldapp.testing import boot, pump, shutdown

pytestmark = [pytest.mark.system, pytest.mark.ui]
COUNT = PAGE * 2 + 50


@pytest.fixture
def app(tmp_path):
    application = boot(tmp_path / "tablet", enumerator="ENUM-014", language="pt")
    form = application.catalog.newest("household_registration")
    for number in range(COUNT):
        record_id = application.store.create_draft(form.form_id, form.version)
        application.store.save_answers(
            record_id, {"n": number}, title=f"Agregado {number:04d} Mussa"
        )
    yield application
    shutdown(application)


def visible_titles(screen) -> list[str]:
    """The titles of the rows the RecycleView has on screen now."""
    view = screen.ids.list
    top, bottom = view.to_window(0, view.top)[1], view.to_window(0, view.y)[1]
    titles = []
    for row in view.layout_manager.children:
        y = row.to_window(row.x, row.center_y)[1]
        if bottom <= y <= top:
            titles.append((y, row.title))
    return [title for _y, title in sorted(titles, reverse=True)]


def test_the_list_shows_a_page_and_loads_the_next_at_the_end_keeping_the_place(app):
    app.show_records("household_registration")
    pump(3)
    screen = app.records_screen
    view = screen.ids.list
    assert len(view.data) == PAGE
    assert screen.summary == f"{PAGE} de {COUNT} registos: deslize para ver mais, ou pesquise"
    # Newest first: the last record created is on top.
    assert visible_titles(screen)[0] == f"Agregado {COUNT - 1:04d} Mussa"

    view.scroll_y = 0  # the enumerator reaches the end of the first page
    pump(3)
    assert len(view.data) == 2 * PAGE
    # The rows the enumerator was reading (the end of the first page) stay in view; the
    # new page comes below them instead of the view jumping to its end.
    seen = visible_titles(screen)
    assert f"Agregado {COUNT - PAGE:04d} Mussa" in seen  # the 200th row
    assert f"Agregado {COUNT - 2 * PAGE:04d} Mussa" not in seen  # the 400th

    view.scroll_y = 0
    pump(3)
    assert len(view.data) == COUNT
    assert screen.summary == f"{COUNT} registos"
    view.scroll_y = 0
    pump(3)
    assert visible_titles(screen)[-1] == "Agregado 0000 Mussa"  # the oldest, last
    assert len({row["record_id"] for row in view.data}) == COUNT  # none twice


def test_search_finds_a_record_that_is_not_loaded_yet(app):
    app.show_records("household_registration")
    pump(2)
    screen = app.records_screen
    assert "Agregado 0003 Mussa" not in [row["title"] for row in screen.ids.list.data]
    screen.ids.search.text = "agregado 0003"
    pump(2)
    assert [row["title"] for row in screen.ids.list.data] == ["Agregado 0003 Mussa"]
    assert screen.summary == "1 registo"
