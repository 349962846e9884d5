"""The tablet app's one theme: every colour and size the screens share, in one place.

Dark text on a light background reads best in the sun; touch targets are big because
enumerators work outdoors, often standing. The kv rules in `common.kv` import this module
(`#:import theme fieldapp.screens.theme`) and the Python widgets (`widgets.py`, `form.py`)
import it too, so a colour is changed here and nowhere else.

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

# Surfaces
PAGE_BACKGROUND: Colour = (0.97, 0.97, 0.96, 1)
BANNER_BACKGROUND: Colour = (0.99, 0.91, 0.91, 1)  # behind the pinned "can't finalize" banner
TOP_BAR: Colour = (0.06, 0.30, 0.45, 1)

# Buttons
PRIMARY_BUTTON: Colour = (0.06, 0.45, 0.35, 1)
SECONDARY_BUTTON: Colour = (0.40, 0.43, 0.48, 1)
BAR_BUTTON: Colour = (0.12, 0.45, 0.62, 1)
ANSWER_BUTTON: Colour = (0.25, 0.42, 0.55, 1)
DANGER_BUTTON: Colour = (0.8, 0.3, 0.3, 1)

# Sizes
ROW_HEIGHT = dp(56)  # big touch targets: enumerators work outdoors, often standing
