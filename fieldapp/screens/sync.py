"""Sync: progress, last sync time, and the records the server sent back to fix.

Syncing runs on a background thread; progress comes back to the UI through
`@mainthread`, so the screen never freezes even on a 2G link.
"""

from __future__ import annotations

import threading
from pathlib import Path

from kivy.clock import mainthread
from kivy.lang import Builder
from kivy.properties import BooleanProperty, ListProperty, NumericProperty, StringProperty
from kivy.uix.button import Button
from kivy.uix.screenmanager import Screen

from fieldapp.attention import attention_items, clock_warning
from fieldapp.i18n import _, format_moment, format_number, ngettext
from fieldapp.screens import theme
from fieldapp.sync_messages import describe

Builder.load_file(str(Path(__file__).with_name("sync.kv")))


class SyncErrorRow(Button):
    record_id = StringProperty("")
    screen = None

    def __init__(self, **kwargs):
        super().__init__(
            font_size="17sp",
            halign="left",
            valign="middle",
            background_normal="",
            background_color=theme.ATTENTION_BACKGROUND,
            color=theme.ATTENTION_TEXT,
            **kwargs,
        )
        self.bind(size=lambda b, s: setattr(b, "text_size", (s[0] - 24, None)))

    def on_release(self) -> None:
        if self.screen is not None and self.record_id:
            self.screen.app.open_record(self.record_id)


class SyncScreen(Screen):
    t_back = StringProperty("")
    t_title = StringProperty("")
    t_sync_now = StringProperty("")
    t_cancel = StringProperty("")
    t_settings = StringProperty("")
    t_errors = StringProperty("")
    server_text = StringProperty("")
    last_sync_text = StringProperty("")
    outbox_text = StringProperty("")
    progress_text = StringProperty("")
    status_text = StringProperty("")
    clock_text = StringProperty("")
    status_colour = ListProperty(list(theme.TEXT_COLOUR))
    fraction = NumericProperty(0)
    running = BooleanProperty(False)

    def __init__(self, app, **kwargs):
        super().__init__(**kwargs)
        self.app = app
        SyncErrorRow.screen = self
        self.client = None

    def on_pre_enter(self, *args) -> None:
        self.refresh()

    def refresh(self) -> None:
        store = self.app.store
        self.t_back = _("Home")
        self.t_title = _("Sync")
        self.t_sync_now = _("Sync now")
        self.t_cancel = _("Cancel")
        self.t_settings = _("Settings")
        server = store.get_setting("server_url")
        self.server_text = (
            _("Server: {url}").format(url=server)
            if server
            else _("No server set up yet: add one in Settings.")
        )
        last = store.get_setting("last_sync_at")
        self.last_sync_text = _("Last sync: {when}").format(
            when=format_moment(last) if last else _("never")
        )
        pending = len(store.pending_outbox(limit=100_000))
        self.outbox_text = ngettext(
            "{count} record waiting to be sent", "{count} records waiting to be sent", pending
        ).format(count=format_number(pending))
        files = store.media_waiting()  # photos and files go up after their records
        if files:
            self.outbox_text += " · " + ngettext(
                "{count} file waiting to be sent", "{count} files waiting to be sent", files
            ).format(count=format_number(files))
        items = attention_items(store)
        self.t_errors = _("Needs attention ({count}): records the server sent back").format(
            count=len(items)
        )
        self.clock_text = clock_warning(store)
        self.ids.errors.data = [
            {
                "text": _("{title}: {reasons}").format(title=item.title, reasons=item.reason)
                + "\n"
                + item.what_to_do,
                "record_id": item.record_id,
            }
            for item in items
        ]

    def start_sync(self) -> None:
        client = self.app.sync_client()
        if client is None:
            self.status_text = _("Set up a server and enrollment code first, in Settings.")
            self.status_colour = list(theme.ERROR_COLOUR)
            return
        self.client = client
        self.running = True
        self.fraction = 0
        self.progress_text = ""
        self.status_text = _("Syncing…")
        self.status_colour = list(theme.TEXT_COLOUR)
        threading.Thread(target=self._run, args=(client,), daemon=True, name="sync").start()

    def cancel(self) -> None:
        """Stop waiting now; the sync thread stops at its next request (nothing is lost:
        revisions stay in the outbox until the server acknowledges them)."""
        if self.client is not None:
            self.client.cancel()
        from fieldapp.sync_client import Cancelled

        self._finished(None, Cancelled(code="cancelled"))

    def _run(self, client) -> None:
        from fieldapp.sync_client import SyncError

        try:
            report = client.sync(progress=self._progress)
        except SyncError as error:  # shown to the enumerator, never swallowed
            self._finished(None, error, client)
        except Exception as error:  # a bug: say so in the UI language, keep the details
            import logging

            logging.getLogger("fieldapp.sync").exception("sync failed")
            self._finished(None, error, client)
        else:
            self._finished(report, None, client)

    @mainthread
    def _progress(self, progress) -> None:
        total = max(getattr(progress, "records_total", 0) or 0, 1)
        sent = getattr(progress, "records_sent", 0) or 0
        self.fraction = min(sent / total, 1.0)
        self.progress_text = _(
            "Sent {sent} of {total} records ({bytes_sent} kB) · received {received} "
            "({bytes_received} kB)"
        ).format(
            sent=format_number(sent),
            total=format_number(getattr(progress, "records_total", 0) or 0),
            bytes_sent=format_number((getattr(progress, "bytes_sent", 0) or 0) / 1024, 1),
            received=format_number(getattr(progress, "records_received", 0) or 0),
            bytes_received=format_number((getattr(progress, "bytes_received", 0) or 0) / 1024, 1),
        )

    @mainthread
    def _finished(self, report, error: BaseException | None, client=None) -> None:
        if client is not None and client is not self.client:
            return  # a cancelled sync's thread ending late: the screen has moved on
        self.client = None
        self.running = False
        if error is not None:
            self.status_text = describe(error)
            self.status_colour = list(theme.ERROR_COLOUR)
        else:
            self.status_text = _("Sync complete.")
            self.status_colour = list(theme.OK_COLOUR)
            self.fraction = 1
        self.refresh()
