"""The tablet app's one theme: every colour and size the screens share, in one place.

Dark text on a light background reads best in the sun; touch targets are big because
enumerators work outdoors, often standing. Every .kv file imports this module
(`#:import theme fieldapp.screens.theme`) and the Python screens and widgets import it too,
so a colour is changed here and nowhere else (tests/test_theme.py checks that no .kv file
spells a colour out).

Buttons come in three roles:
    PRIMARY_BUTTON    the screen's main action (`PrimaryButton`: save, sync, start)
    ANSWER_BUTTON     an action inside a question or the form (`BigButton`: add a member,
                      "now", go back)
    DANGER_BUTTON     an action that throws work away (discard a draft)
"""

from __future__ import annotations

from kivy.metrics import dp

Colour = tuple[float, float, float, float]

# Text
TEXT_COLOUR: Colour = (0.1, 0.1, 0.12, 1)
HINT_COLOUR: Colour = (0.35, 0.35, 0.4, 1)
ERROR_COLOUR: Colour = (0.75, 0.1, 0.1, 1)
WARNING_COLOUR: Colour = (0.55, 0.33, 0.0, 1)  # 5.8:1 on the page (tests/test_theme.py)
ON_DARK_COLOUR: Colour = (1, 1, 1, 1)
STATUS_TEXT: Colour = (0.2, 0.2, 0.25, 1)  # the form's "N of M questions answered"
SECONDARY_TEXT: Colour = (0.3, 0.3, 0.35, 1)  # a form card's counts
HEADING_COLOUR: Colour = (0.06, 0.30, 0.45, 1)  # "Membro do agregado: 2 of 3"
OK_COLOUR: Colour = (0.06, 0.45, 0.35, 1)  # "Saved.", "Enrolled."
ATTENTION_TEXT: Colour = (0.5, 0.1, 0.1, 1)  # records the server sent back (Sync screen)

# Surfaces
PAGE_BACKGROUND: Colour = (0.97, 0.97, 0.96, 1)
BANNER_BACKGROUND: Colour = (0.99, 0.91, 0.91, 1)  # behind the pinned "can't finalize" banner
TOP_BAR: Colour = (0.06, 0.30, 0.45, 1)
CARD_BACKGROUND: Colour = (1, 1, 1, 1)  # home's form cards, free choices, list rows
CARD_BORDER: Colour = (0.82, 0.84, 0.86, 1)
ROW_ALTERNATE: Colour = (0.94, 0.95, 0.96, 1)  # every other row of the record list
INDEX_ROW: Colour = (0.93, 0.94, 0.95, 1)  # a row of the question index
ATTENTION_BACKGROUND: Colour = (0.98, 0.92, 0.9, 1)

# Buttons
PRIMARY_BUTTON: Colour = (0.06, 0.45, 0.35, 1)
SECONDARY_BUTTON: Colour = (0.40, 0.43, 0.48, 1)
BAR_BUTTON: Colour = (0.12, 0.45, 0.62, 1)
ANSWER_BUTTON: Colour = (0.25, 0.42, 0.55, 1)
DANGER_BUTTON: Colour = (0.8, 0.3, 0.3, 1)
CHOSEN_BUTTON: Colour = (0.06, 0.45, 0.35, 1)  # the selected language, a date picker's OK
CHOSEN_CHOICE: Colour = (0.06, 0.40, 0.45, 1)  # a chosen answer (white text on it)
CHECKBOX_COLOUR: Colour = (0.1, 0.35, 0.55, 1)

# States and ratings
RECORD_STATE_COLOURS: dict[str, Colour] = {
    "draft": (0.65, 0.4, 0.0, 1),
    "finalized": (0.06, 0.3, 0.45, 1),
    "sent": (0.06, 0.45, 0.35, 1),
}
RATING_COLOURS: dict[str, Colour] = {  # Sphere minimum standards
    "green": (0.13, 0.55, 0.25, 1),
    "amber": (0.85, 0.55, 0.05, 1),
    "red": (0.75, 0.12, 0.12, 1),
}
NO_RATING: Colour = (0.5, 0.5, 0.5, 1)

# Sizes
ROW_HEIGHT = dp(56)  # big touch targets: enumerators work outdoors, often standing
