"""Re-learn the parameters shipped in model.json: `python -m sync_core.dedup.train`.

They are learnt without labels (see `model`) from a generated district of 20,000
registrations. A deployment with enough real registrations on its server may learn its own
with `learn_model(households)` and keep them next to its database.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from sync_core.dedup.engine import find_duplicates
from sync_core.dedup.household import Household
from sync_core.dedup.model import Model
from sync_core.dedup.synthetic import generate

MODEL_PATH = Path(__file__).with_name("model.json")


def learn_model(households: Sequence[Household]) -> Model:
    """A model learnt from these households (at least a few thousand)."""
    return find_duplicates(households).model


def main() -> None:
    model = learn_model(generate(20_000, seed=2026).households)
    model.save(MODEL_PATH)
    print(f"wrote {MODEL_PATH}")


if __name__ == "__main__":
    main()
