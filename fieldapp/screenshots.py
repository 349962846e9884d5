"""`python -m fieldapp.screenshots OUTDIR`: a PNG of every screen type, both orientations
and both UI languages (`pt-landscape-03-consent-choices.png`, `en-portrait-...`).

Each size and language runs in its own process (a Kivy window can't be reliably resized
offscreen) on a fresh, throw-away data folder, and walks through: set-up, home, each kind
of question screen, a repeat, an error, the index, finalize with errors, the record list,
sync, and home after switching language. Open the images and look: nothing cut off,
nothing overlapping, text readable.

Next to the images, `<language>-<orientation>.json` lists for each image the labels that
are fully on screen (text and box, from the widget tree) and the texts that must be
visible; the OCR test (tests/test_screens_ocr.py) reads the images back against it.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

SIZES = {"landscape": (1280, 800), "portrait": (800, 1280)}
LANGUAGES = ("pt", "en")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fieldapp.screenshots")
    parser.add_argument("outdir", type=Path)
    parser.add_argument("--only", choices=sorted(SIZES), help=argparse.SUPPRESS)
    parser.add_argument("--language", choices=LANGUAGES, help="only this UI language")
    args = parser.parse_args(argv)
    if args.only:
        width, height = SIZES[args.only]
        written = capture(args.outdir, args.only, width, height, args.language or "pt")
        print("\n".join(str(path) for path in written))
        return 0
    for language in [args.language] if args.language else LANGUAGES:
        for name in SIZES:
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "fieldapp.screenshots",
                    str(args.outdir),
                    "--only",
                    name,
                    "--language",
                    language,
                ],
                check=True,
            )
    return 0


def capture(
    outdir: Path, orientation: str, width: int, height: int, language: str = "pt"
) -> list[Path]:
    from fieldapp.i18n import _, current_language
    from fieldapp.testing import boot, pump, screenshot, visible_labels, wait

    written: list[Path] = []
    manifest: dict[str, dict] = {}

    def shot(name: str, *expect: str) -> None:
        """Save the window as an image; `expect`: texts a person must be able to read."""
        path = screenshot(outdir / f"{language}-{orientation}-{name}.png")
        written.append(path)
        manifest[path.name] = {
            "language": current_language(),
            "labels": visible_labels(),
            "expect": list(expect),
        }

    def question(name: str) -> str:
        return app.session.label(app.session.form.question(name))

    def hint(name: str) -> str:
        return app.session.hint(app.session.form.question(name))

    with tempfile.TemporaryDirectory() as data_dir:
        app = boot(Path(data_dir), size=(width, height), language=language)
        shot("01-setup", _("Start"))
        app.setup_screen.ids.enumerator.text = "Maria Cossa (ENUM-014)"
        app.setup_screen.start()
        pump(3)
        shot("02-home", _("Sync"), _("New"), _("Records"))

        app.new_record("household_registration")
        session = app.session
        screen = app.form_screen
        pump(3)
        yes, no = (label for _name, label in session.choices(screen.question_widgets[1].slot))
        shot(
            "03-consent-choices",
            question("consent_script"),
            question("consent_informed"),
            yes,
            no,
            _("Next"),
            _("Save & exit"),
        )
        answer_step(
            session,
            {
                "interview_language": "chuabo",
                "interpreter_used": "yes",
                "consent_informed": "yes",
                "consent_by": "self",
                "consent_given": "yes",
                "consent_recontact": "yes",
                "consent_share": "yes",
            },
        )
        screen.go_next()
        answer_step(
            session, {"enumerator": "ENUM-014", "district": "MZ1120", "site_id": "MOZ-ZAM-0001"}
        )
        screen.render()
        pump(3)
        shot(
            "04-registration-date-text-filtered-choices",
            question("registration_date"),
            question("enumerator"),
            hint("enumerator"),
            _("Today"),
            _("Previous"),
        )
        go_to_question(screen, "hh_gps")
        shot("05-geopoint", question("hh_gps"))
        go_to_question(screen, "hh_head_given_name")
        answer_step(session, {"hh_head_given_name": "Ana", "hh_head_family_name": "Mussa"})
        screen.render()
        widget = next(
            w for w in screen.question_widgets if w.slot.question.name == "hh_size_declared"
        )
        widget.input.text = "três"  # text in a numeric field
        pump(3)
        shot("06-text-integer-with-error", question("hh_head_given_name"))
        go_to_question(screen, "members")
        members = session.form.node("members")
        for given, sex in (("Ana", "F"), ("Zito", "M"), ("Rosa", "F")):
            position = session.add_instance(members)
            answer_step(
                session,
                {"given_name": given, "family_name": "Mussa", "sex": sex},
                index=(position,),
            )
        go_to_question(screen, "members")
        shot("07-repeat-overview", "Zito")
        screen.open_instance(members, (), 1)
        pump(3)
        shot("08-member-2-of-3", question("given_name"))
        go_to_question(screen, "vulnerabilities", index=(1,))
        for widget in screen.question_widgets:  # below the longer document list
            if widget.slot.question.name == "vulnerabilities":
                screen.ids.scroll.scroll_to(widget, padding=10, animate=False)
        pump(3)
        shot("09-select-multiple", question("vulnerabilities"))
        screen.open_index()
        pump(3)
        shot("10-jump-index", _("Jump to a question"), _("needs attention"), _("Go back"))
        screen.popup.dismiss()
        wait(0.5)
        screen.finalize()
        pump(3)
        # Scrolled to the end of the questions: the banner stays pinned in view.
        screen.ids.scroll.scroll_y = 0
        pump(3)
        shot("11-finalize-blocked", screen.banner_text, _("Next"))
        screen.save_and_exit()
        pump(2)

        app.new_record("site_check")
        from forms.samples import sample_site_check

        site_check = sample_site_check(1, latrines=8)
        site_check.pop("assessment_date")  # keeps its default of today
        answer_step(app.session, site_check)
        go_to_question(app.form_screen, "people_per_latrine", fallback_last=True)
        app.form_screen.ids.scroll.scroll_y = 0  # the minimum-standards panel is at the end
        pump(3)
        shot("12-site-check-sphere-ratings", _("green"))
        app.form_screen.save_and_exit()

        # The household card: an earlier registration found by its id, shown as a QR, and
        # its update pre-filled with the same id (fieldapp.households).
        from fieldapp.session import FormSession
        from forms.samples import sample_household

        registered = sample_household(seed=2, members=4, site_id="MOZ-ZAM-0001")
        form = app.catalog.newest("household_registration")
        record_id = app.store.create_draft(form.form_id, form.version, registered)
        FormSession(form, app.store, record_id).finalize(confirm_duplicates=True)
        app.show_household()
        pump(3)
        app.household_screen.ids.household_id.text = registered["household_id"].lower()
        app.household_screen.find()
        pump(3)
        shot(
            "12b-household-card",
            _("Household card"),
            registered["household_id"],
            _("Update (births, deaths, departures)"),
        )
        consent = {"consent_informed": "yes", "consent_by": "self", "consent_given": "yes",
                   "consent_recontact": "yes", "consent_share": "yes"}  # fmt: skip
        app.household_screen.start("update")
        answer_step(app.session, consent)  # asked again at every registration
        go_to_question(app.form_screen, "registration_type")
        shot("12c-household-update", question("registration_type"), question("household_id"))
        app.form_screen.save_and_exit()
        # A site not on the list: its name, type and GPS, for the coordinator to confirm.
        app.new_record("household_registration")
        answer_step(
            app.session,
            {**consent, "district": "MZ1120", "site_id": "new_site"},
        )
        go_to_question(app.form_screen, "new_site_name")
        shot("12d-new-site", question("new_site_name"), question("new_site_type"))
        app.form_screen.save_and_exit()
        app.show_records("household_registration")
        pump(3)
        shot("13-record-list", "MOZ-ZAM-0001")  # titles never carry the head's name
        app.show_sync()
        pump(3)
        shot("14-sync", _("Sync"))
        app.show_settings()
        pump(3)
        shot("15-settings", _("Settings"), _("Copy"), app.store.device_id)
        app.set_language("en" if language == "pt" else "pt")
        app.show_home()
        pump(3)
        shot("16-home-other-language", _("Sync"), _("New"), _("Records"))
    manifest_path = outdir / f"{language}-{orientation}.json"
    manifest_path.write_text(json.dumps(manifest, ensure_ascii=False, indent=1), encoding="utf-8")
    return written


def answer_step(session, answers: dict, index: tuple[int, ...] = ()) -> None:
    from fieldapp.session import Slot

    for name, value in answers.items():
        session.set_answer(Slot(session.form.question(name), index), value)


def go_to_question(screen, name: str, index: tuple[int, ...] = (), fallback_last=False) -> None:
    from fieldapp.testing import pump

    session = screen.session
    for position, step in enumerate(session.steps):
        names = {slot.question.name for slot in step.slots if slot.index == index}
        if name in names or (step.kind == "repeat" and step.group.name == name):
            session.go_to(position)
            break
    else:
        if fallback_last:
            session.go_to(len(session.steps) - 1)
    screen.render()
    pump(3)


if __name__ == "__main__":
    raise SystemExit(main())
