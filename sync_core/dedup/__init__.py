"""Probable duplicate households: one engine for the server, the tablet and the command.

    find_duplicates(households)        every probable pair in a list, and the clusters
    score_new(new, candidates, model)  one arriving household against existing ones
    Household, Member                  what the engine compares
    household_from_answers(id, ans)    a registration form record as a Household
    Model                              Fellegi–Sunter parameters (Model.default())
    generate(n, seed)                  a labelled synthetic district (synthetic.py)

How it works, step by step: `normalise` (names and phones as enumerators type them),
`compare` (arrays, blocking rules, comparison levels), `model` (m/u, EM without labels,
term frequencies, the spouse reading), `engine` (scores, threshold, clusters).
Pure: no Kivy, HTTP or SQL.
"""

from sync_core.dedup.compare import COMPARISONS
from sync_core.dedup.engine import (
    THRESHOLD,
    DuplicateResult,
    ScoredPair,
    find_duplicates,
    score_new,
)
from sync_core.dedup.household import Household, Member, household_from_answers
from sync_core.dedup.model import Model
from sync_core.dedup.normalise import fold, name_tokens, normalise_phone, phonetic

__all__ = [
    "COMPARISONS",
    "THRESHOLD",
    "DuplicateResult",
    "Household",
    "Member",
    "Model",
    "ScoredPair",
    "find_duplicates",
    "fold",
    "household_from_answers",
    "name_tokens",
    "normalise_phone",
    "phonetic",
    "score_new",
]
