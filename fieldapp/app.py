"""The Kivy application: wires the store, the form catalogue and the screens together.

Screens receive the app (for navigation) and reach data only through `self.store`,
`self.catalog` and `FormSession`; none of them touches SQL.
"""

from __future__ import annotations

import datetime as dt
import gc
import sys
from pathlib import Path
from typing import Any

from kivy.app import App
from kivy.clock import Clock
from kivy.core.window import Window
from kivy.uix.screenmanager import NoTransition, ScreenManager

from fieldapp import i18n
from fieldapp.catalog import FormCatalog, FormEntry
from fieldapp.duplicates import find_local_duplicates
from fieldapp.location import LocationTracker
from fieldapp.screens.form import FormScreen
from fieldapp.screens.home import HomeScreen
from fieldapp.screens.household import HouseholdScreen
from fieldapp.screens.records import RecordListScreen
from fieldapp.screens.settings import SettingsScreen
from fieldapp.screens.setup import SetupScreen
from fieldapp.screens.sync import SyncScreen
from fieldapp.screens.theme import PAGE_BACKGROUND
from fieldapp.session import FormSession
from fieldapp.store import Store

Path(__file__).parent.joinpath("screens", "common.kv")  # loaded in build()


IDLE_COLLECT_S = 1.0
SAFETY_COLLECT_S = 30.0


class FieldApp(App):
    title = "Displacement Field Kit"

    def __init__(
        self,
        data_dir: Path,
        *,
        server_url: str | None = None,
        enroll_code: str | None = None,
        enumerator: str | None = None,
        language: str | None = None,
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        self.data_dir = Path(data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.store = Store(self.data_dir / "fieldapp.db")
        self.catalog = FormCatalog(self.store, self.data_dir / "forms")
        self.catalog.install_bundled()
        self._startup = {
            "server_url": server_url,
            "enroll_code": enroll_code,
            "enumerator": enumerator,
        }
        chosen = language or self.store.get_setting("language") or i18n.DEFAULT_LANGUAGE
        i18n.set_language(chosen)
        self.session: FormSession | None = None
        self.last_error: str | None = None
        # The GPS where there is one (start-geopoint); started with the window.
        self.location = LocationTracker()

    # --- building ----------------------------------------------------------------------

    def build(self) -> ScreenManager:
        from kivy.lang import Builder

        Builder.load_file(str(Path(__file__).parent / "screens" / "common.kv"))
        Window.clearcolor = PAGE_BACKGROUND
        from kivy.utils import platform

        self.location.start(platform)
        self.manager = ScreenManager(transition=NoTransition())
        self.setup_screen = SetupScreen(self, name="setup")
        self.home_screen = HomeScreen(self, name="home")
        self.form_screen = FormScreen(
            on_exit=self.show_home,
            on_language=self.set_language,
            on_rendered=self.screen_changed,
            name="form",
        )
        self.records_screen = RecordListScreen(self, name="records")
        self.sync_screen = SyncScreen(self, name="sync")
        self.settings_screen = SettingsScreen(self, name="settings")
        self.household_screen = HouseholdScreen(self, name="household")
        for screen in (
            self.setup_screen,
            self.home_screen,
            self.form_screen,
            self.records_screen,
            self.sync_screen,
            self.settings_screen,
            self.household_screen,
        ):
            self.manager.add_widget(screen)
        self._apply_startup_options()
        if self.last_error:
            # Enrollment from the command line failed: say so where it can be fixed.
            print(f"fieldapp: enrollment failed: {self.last_error}", file=sys.stderr)
            self.manager.current = "settings"
            self.settings_screen.show_error(i18n._("Enrollment failed.") + " " + self.last_error)
        elif self.store.get_setting("enumerator"):
            self.manager.current = "home"
        else:
            self.manager.current = "setup"
        self.store.audit("app-started")
        self._start_collecting_when_idle()
        return self.manager

    def _start_collecting_when_idle(self) -> None:
        """Collect garbage while the enumerator reads, not while a screen is being built.

        Kivy widgets are full of reference cycles, so automatic collections kept landing in
        the middle of a screen change and doubled its time. Everything built so far (forms,
        parsed expressions, Kivy's own objects) lives as long as the app, so it is frozen
        out of the collector's view; then collection runs one second after the last screen
        change, and every 30 s regardless, so memory stays bounded.
        """
        gc.collect()
        gc.freeze()
        gc.disable()
        self._idle_collection = Clock.schedule_once(lambda _dt: gc.collect(), IDLE_COLLECT_S)
        self._safety_collection = Clock.schedule_interval(
            lambda _dt: gc.collect(), SAFETY_COLLECT_S
        )

    def screen_changed(self) -> None:
        """Called after a screen is drawn: push the next collection to idle time."""
        self._idle_collection.cancel()
        self._idle_collection()

    def on_stop(self) -> None:
        self._idle_collection.cancel()
        self._safety_collection.cancel()
        gc.enable()

    def _apply_startup_options(self) -> None:
        """Command-line set-up (used by `make run` and the tests): same path as the form."""
        options = self._startup
        if options["enumerator"] and not self.store.get_setting("enumerator"):
            self.complete_setup(
                options["enumerator"], options["server_url"], options["enroll_code"], navigate=False
            )
        elif options["server_url"] and options["enroll_code"]:
            self.complete_setup(
                self.store.get_setting("enumerator") or "",
                options["server_url"],
                options["enroll_code"],
                navigate=False,
            )

    # --- navigation ---------------------------------------------------------------------

    def show_home(self) -> None:
        self.session = None
        self.manager.current = "home"
        self.home_screen.refresh()

    def show_records(self, form_id: str) -> None:
        self.records_screen.show_form(form_id)
        self.manager.current = "records"

    def show_sync(self) -> None:
        self.manager.current = "sync"

    def show_settings(self) -> None:
        self.manager.current = "settings"

    def new_record(self, form_id: str) -> None:
        form = self.catalog.newest(form_id)
        record_id = self.store.create_draft(form.form_id, form.version)
        self.store.audit("draft-created", record_id=record_id, form_id=form.form_id)
        self._open(record_id)

    def show_household(self) -> None:
        """The household card: find a household by its id, show its QR, update it."""
        self.manager.current = "household"

    def update_household(self, registration, registration_type: str) -> None:
        """A new registration of a known household (`fieldapp.households.Registration`),
        pre-filled from its latest one, with the same household id."""
        from fieldapp.households import REGISTRATION_FORM, update_answers

        form = self.catalog.newest(REGISTRATION_FORM)
        answers = update_answers(registration, registration_type, today=self.now().date())
        record_id = self.store.create_draft(form.form_id, form.version, answers)
        self.store.audit("draft-created", record_id=record_id, form_id=form.form_id)
        self._open(record_id)

    def site_label(self, site_id: str) -> str:
        """A site as the household form lists it ("MOZ-ZAM-0001 – Escola ..."), from the
        site list this tablet has (sites.csv, as of its last sync)."""
        from fieldapp.households import REGISTRATION_FORM

        try:
            form = self.catalog.newest(REGISTRATION_FORM)
        except KeyError:
            return site_id
        if not form.has_node("site_id"):
            return site_id
        for choice in form.choices_for(form.question("site_id")):
            if choice.name == site_id:
                return form.text(choice.label, i18n.current_language()) or site_id
        return site_id

    def open_record(self, record_id: str) -> None:
        self.store.open_for_edit(record_id)
        self._open(record_id)

    def _open(self, record_id: str) -> None:
        draft = self.store.draft(record_id)
        form = self.catalog.form(draft.form_id, draft.form_version)
        self.session = FormSession(
            form,
            self.store,
            record_id,
            language=i18n.current_language(),
            duplicate_finder=lambda f, summary, rid: find_local_duplicates(
                self.store, f, summary, rid
            ),
            scope=(
                self.store.get_setting("district"),
                self.store.get_setting("assigned_sites") or [],
            ),
            location=self.location,
        )
        self.form_screen.open_session(self.session)
        self.manager.current = "form"

    def resume_last_draft(self) -> bool:
        """Open the most recently edited draft, if any (used after a crash)."""
        rows = self.store.records(state="draft", newest_first=True, limit=1)
        if not rows:
            return False
        self._open(rows[0].record_id)
        return True

    # --- settings -------------------------------------------------------------------

    def set_language(self, language: str) -> None:
        i18n.set_language(language)
        self.store.set_setting("language", language)
        self.setup_screen.retranslate()
        self.home_screen.refresh()
        self.form_screen.retranslate()
        if self.manager.current == "records":
            self.records_screen.show_form(self.records_screen.form_id)
        self.sync_screen.refresh()
        self.settings_screen.retranslate()
        self.household_screen.retranslate()

    def complete_setup(
        self, enumerator: str, server_url: str | None, code: str | None, navigate: bool = True
    ) -> None:
        self.store.set_setting("enumerator", enumerator)
        if server_url:
            self.store.set_setting("server_url", server_url.rstrip("/"))
        if server_url and code:
            from fieldapp.sync_client import SyncError
            from fieldapp.sync_messages import describe

            try:
                self.enroll(server_url, code)
            except SyncError as error:  # the enumerator sees why; Settings can retry
                self.last_error = describe(error)
                self.setup_screen.message = i18n._("Enrollment failed.") + " " + self.last_error
                if navigate:
                    return
        if navigate:
            self.show_home()

    def enroll(self, server_url: str, code: str) -> None:
        """Enroll (or re-enroll after a revocation) with a code; raises SyncError."""
        from fieldapp.sync_client import FIRST_CONTACT_S, SyncClient

        client = SyncClient(self.store, server_url.rstrip("/"), first_contact=FIRST_CONTACT_S)
        client.enroll(code)
        self.store.audit("enrolled")

    def sync_client(self):
        server = self.store.get_setting("server_url")
        token = self.store.get_setting("token")
        if not server or not token:
            return None
        from fieldapp.sync_client import FIRST_CONTACT_S, SyncClient

        return SyncClient(self.store, server, first_contact=FIRST_CONTACT_S)

    def form_title(self, entry: FormEntry | None) -> str:
        if entry is None:
            return ""
        return self.catalog.title(entry, i18n.current_language())

    def now(self) -> dt.datetime:
        return dt.datetime.now()
