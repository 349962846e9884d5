"""The Fellegi–Sunter model: how much each level of each comparison says "same family".

For every comparison level there are two probabilities:

- *m*: how often a true duplicate pair shows this level (a re-registration keeps the phone
  most of the time, so m(phone = same) is high);
- *u*: how often two different families show it by chance (two families at one site share
  the site often, a phone almost never).

A pair's *match weight* is log2 of the prior odds plus the sum over fields of log2(m / u);
missing fields add nothing. The weight becomes a probability with the logistic function.

Nothing here needs labels (as in splink, whose training follows the same plan):

- u comes from random pairs of the data, which are almost all different families;
- m comes from expectation–maximisation over the candidate pairs, one session per
  blocking rule, each learning only the fields its rule does not force to agree;
- the prior, the expected number of duplicates per record, is re-estimated from the
  candidates' posterior probabilities.

Common values count for less (term frequencies): two records agreeing on the phone of a
site's focal point, or both named "Maria Mussa", are less telling than two agreeing on a
rare name. For the top level of `TF_FIELDS`, u is the share of records holding that value.

Place fields go together: two families at one site were registered near each other, on
dates the site was open, and often come from the site's district. Counting site, GPS,
date and origin as independent evidence would make any two neighbours look alike, so u of
`PLACE_FIELDS` is estimated separately for each site level (same site, neighbouring, far),
the same-site one from random pairs drawn within sites.

The spouse registering the family again breaks the model's assumption that fields are
independent: a new head means another given name, sex and age all at once, so the
straight weight buries such pairs under three disagreements. A pair whose heads are each
a member of the other household (`compare.heads_swapped`) is therefore also weighed as a
*spouse registration*: the head's given name, sex and age are left out (they describe
another person), a family name in common still counts, and the swap itself is evidence,
with u from random pairs and the two assumptions in `SPOUSE_SHARE` and `SPOUSE_SWAP_M`.
The pair's weight adds the odds of both readings.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np

from sync_core.dedup.compare import CHUNK, COMPARISONS, FIELD, RULE_FIELDS

TF_FIELDS = ("given", "family", "phone")
# The rules whose pairs EM learns from. The district-wide name and members rules are left
# out: their pairs are mostly families at neighbouring sites, and EM takes "neighbouring
# site" for the mark of a duplicate (measured: m(site = neighbouring) 0.9 from them).
TRAINING_RULES = ("phone", "site+family", "site+given", "site+size+youngest", "site+size+eldest")
PLACE_FIELDS = ("origin", "date", "gps")  # in COMPARISONS order
SPOUSE_SHARE = 0.2  # assumed share of re-registrations made by the spouse
SPOUSE_SWAP_M = 0.9  # assumed: heads found among each other's members when it is the spouse
SPOUSE_SKIPS = ("given", "sex", "age")  # fields that describe the other person
_FLOOR = 1e-6  # no probability is ever exactly 0 or 1: one odd pair must not dominate


@dataclass
class Model:
    """m and u per comparison level, and the expected duplicates per record."""

    m: list[list[float]]
    u: list[list[float]]
    duplicates_per_record: float = 0.1
    # Heads swapped by chance, per members level (index 0: members unknown, then level+1):
    # the more members alike, the likelier each head is found among the other's members.
    swap_u: list[float] = field(default_factory=lambda: [0.02] * 5)
    # u of PLACE_FIELDS per site level: {"2": [[origin levels], [date], [gps]], ...}
    u_by_site: dict[str, list[list[float]]] = field(default_factory=dict)
    trained_on: dict[str, int] = field(default_factory=dict)

    @classmethod
    def initial(cls) -> Model:
        """A starting point for training: the top level likely for duplicates, flat u."""
        m, u = [], []
        for comparison in COMPARISONS:
            k = len(comparison.levels)
            top = np.linspace(1, 6, k) ** 2
            m.append((top / top.sum()).tolist())
            u.append([1 / k] * k)
        return cls(m, u)

    @classmethod
    def default(cls) -> Model:
        """The parameters shipped with the engine, learnt without labels from a generated
        district (`python -m sync_core.dedup.train`): for the tablet and the server's
        incremental scoring, which see too few records to learn their own."""
        text = resources.files("sync_core.dedup").joinpath("model.json").read_text("utf-8")
        return cls.from_json(text)

    @classmethod
    def from_json(cls, text: str) -> Model:
        data = json.loads(text)
        return cls(
            data["m"],
            data["u"],
            data["duplicates_per_record"],
            data["swap_u"],
            data.get("u_by_site", {}),
            data.get("trained_on", {}),
        )

    def to_json(self) -> str:
        data = {
            "fields": [c.name for c in COMPARISONS],
            "m": [[round(p, 6) for p in row] for row in self.m],
            "u": [[round(p, 8) for p in row] for row in self.u],
            "duplicates_per_record": round(self.duplicates_per_record, 6),
            "swap_u": [round(p, 6) for p in self.swap_u],
            "u_by_site": {
                level: [[round(p, 8) for p in row] for row in rows]
                for level, rows in self.u_by_site.items()
            },
            "trained_on": self.trained_on,
        }
        return json.dumps(data, indent=1)

    def save(self, path: Path) -> None:
        path.write_text(self.to_json() + "\n", encoding="utf-8")

    def bayes_factors(self) -> np.ndarray:
        """log2(m / u) as a (fields x max levels) matrix, 0 where a level does not exist."""
        width = max(len(c.levels) for c in COMPARISONS)
        table = np.zeros((len(COMPARISONS), width))
        for f, (m, u) in enumerate(zip(self.m, self.u, strict=True)):
            table[f, : len(m)] = np.log2(np.clip(m, _FLOOR, 1) / np.clip(u, _FLOOR, 1))
        return table


def estimate_u(levels: np.ndarray, fields: Sequence[str] | None = None) -> list[list[float]]:
    """u per level from the comparison of random pairs (different families, nearly all)."""
    u = []
    for f, comparison in enumerate(COMPARISONS):
        if fields is not None and comparison.name not in fields:
            continue
        column = levels[:, f]
        known = column[column >= 0]
        counts = np.bincount(known, minlength=len(comparison.levels)).astype(float)
        # A level never seen among the random pairs is rare, not impossible.
        counts = np.maximum(counts, 0.5)
        u.append((counts / counts.sum()).tolist())
    return u


def _patterns(levels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct rows of `levels` and how often each occurs: EM runs on a few thousand
    patterns instead of millions of pairs."""
    if len(levels) == 0:
        return levels, np.zeros(0)
    # One int64 per row (each level + 1 is a base-5 digit): a 1-D unique is fast.
    powers = 5 ** np.arange(levels.shape[1], dtype=np.int64)
    codes = (levels.astype(np.int64) + 1) @ powers
    unique, counts = np.unique(codes, return_counts=True)
    patterns = (unique[:, None] // powers) % 5 - 1
    return patterns.astype(np.int8), counts.astype(float)


def expectation_maximisation(
    levels: np.ndarray,
    model: Model,
    fixed: set[str],
    iterations: int = 30,
) -> tuple[list[list[float]], float]:
    """m for the fields not in `fixed`, learnt from one blocking rule's candidate pairs;
    and the share of those pairs that are duplicates.

    u is learnt here too, from the same pairs: within one site, two different families
    are often within a kilometre of each other, which random pairs across the district
    rarely are, and holding the district's u would make every neighbour look like a
    duplicate. Only m leaves the session; the scoring uses the district's u.
    """
    patterns, counts = _patterns(levels)
    trained = [f for f, c in enumerate(COMPARISONS) if c.name not in fixed]
    m = [np.array(row, float) for row in model.m]
    u = []
    for f, comparison in enumerate(COMPARISONS):  # start u from the block's own frequencies
        column = patterns[:, f]
        known = column >= 0
        freq = np.bincount(column[known], weights=counts[known], minlength=len(comparison.levels))
        u.append(np.clip(freq / max(freq.sum(), 1), _FLOOR, 1))
    share = 0.1
    for _ in range(iterations):
        log_odds = np.full(len(patterns), np.log(share / (1 - share)))
        for f in trained:
            column = patterns[:, f]
            known = column >= 0
            ratio = np.log(np.clip(m[f], _FLOOR, 1)) - np.log(np.clip(u[f], _FLOOR, 1))
            log_odds[known] += ratio[column[known]]
        posterior = 1 / (1 + np.exp(-np.clip(log_odds, -50, 50)))
        weight, other = posterior * counts, (1 - posterior) * counts
        share = float(np.clip(weight.sum() / counts.sum(), 1e-6, 1 - 1e-6))
        for f in trained:
            column = patterns[:, f]
            known = column >= 0
            for target, w in ((m, weight), (u, other)):
                totals = np.bincount(column[known], weights=w[known], minlength=len(m[f]))
                if totals.sum() > 0:
                    target[f] = np.clip(totals / totals.sum(), _FLOOR, 1)
    return [row.tolist() for row in m], share


def train(
    levels: np.ndarray,
    rule_of_pair: dict[str, np.ndarray],
    random_levels: np.ndarray,
    records: int,
    random_swapped: np.ndarray | None = None,
    same_site_levels: np.ndarray | None = None,
    same_site_swapped: np.ndarray | None = None,
) -> Model:
    """A model learnt from the candidate pairs' levels (no labels).

    `rule_of_pair[rule]` is a boolean mask of the candidate pairs that rule found;
    `random_levels` the levels of random pairs; `records` the number of households.
    """
    model = Model.initial()
    model.u = estimate_u(random_levels)
    site = random_levels[:, FIELD["site"]]
    for level in (0, 1):
        if (site == level).sum() >= 100:
            model.u_by_site[str(level)] = estimate_u(random_levels[site == level], PLACE_FIELDS)
    if same_site_levels is not None and len(same_site_levels) >= 100:
        model.u_by_site["2"] = estimate_u(same_site_levels, PLACE_FIELDS)
    if random_swapped is not None and same_site_levels is not None:
        # Pooled: high members levels are rare among random pairs, less so within sites.
        members = FIELD["members"]
        levels_seen = np.r_[random_levels[:, members], same_site_levels[:, members]] + 1
        swapped = np.r_[random_swapped, same_site_swapped]
        hits = np.bincount(levels_seen, weights=swapped, minlength=5)
        seen = np.bincount(levels_seen, minlength=5)
        model.swap_u = ((hits + 0.5) / (seen + 1)).tolist()
    learnt: dict[int, list[np.ndarray]] = {}
    for rule, mask in rule_of_pair.items():
        if rule not in TRAINING_RULES or mask.sum() < 50:
            continue
        m, _ = expectation_maximisation(levels[mask], model, RULE_FIELDS[rule])
        for f, comparison in enumerate(COMPARISONS):
            if comparison.name not in RULE_FIELDS[rule]:
                learnt.setdefault(f, []).append(np.array(m[f]))
    for f, estimates in learnt.items():
        model.m[f] = np.mean(estimates, axis=0).tolist()
    model.trained_on = {"records": records, "pairs": len(levels)}
    return model


def match_weights(
    levels: np.ndarray,
    model: Model,
    prior_log2_odds: float,
    tf_u: dict[str, np.ndarray] | None = None,
    swapped: np.ndarray | None = None,
) -> np.ndarray:
    """Each pair's match weight (log2 odds that it is one family), `CHUNK` pairs at a time
    so that the temporary arrays stay small (see `_match_weights`)."""
    out = np.empty(len(levels))
    for start in range(0, len(levels), CHUNK):
        part = slice(start, start + CHUNK)
        out[part] = _match_weights(
            levels[part],
            model,
            prior_log2_odds,
            {name: values[part] for name, values in tf_u.items()} if tf_u else None,
            None if swapped is None else swapped[part],
        )
    return out


def _match_weights(
    levels: np.ndarray,
    model: Model,
    prior_log2_odds: float,
    tf_u: dict[str, np.ndarray] | None = None,
    swapped: np.ndarray | None = None,
) -> np.ndarray:
    """Each pair's match weight (log2 odds that it is one family).

    `tf_u[field]` gives, per pair, the u to use instead of the model's when the pair
    agrees at the field's top level (the share of records holding that value).
    `swapped` marks the pairs whose heads are each other's members (see above).
    """
    table = model.bayes_factors()
    site = levels[:, FIELD["site"]]
    straight = np.full(len(levels), prior_log2_odds + np.log2(1 - SPOUSE_SHARE))
    swap_u = np.clip(np.array(model.swap_u), _FLOOR, 1)[levels[:, FIELD["members"]] + 1]
    spouse = prior_log2_odds + np.log2(SPOUSE_SHARE) + np.log2(SPOUSE_SWAP_M / swap_u)
    for f, comparison in enumerate(COMPARISONS):
        column = levels[:, f]
        known = column >= 0
        bf = np.zeros(len(levels))
        bf[known] = table[f, column[known]]
        if tf_u and comparison.name in tf_u:
            top = column == len(comparison.levels) - 1
            m_top = max(model.m[f][-1], _FLOOR)
            # Never below the model's own u: a value seen once says no more than average.
            u_top = np.maximum(tf_u[comparison.name][top], model.u[f][-1])
            bf[top] = np.log2(m_top / np.clip(u_top, _FLOOR, 1))
        if comparison.name in PLACE_FIELDS:
            m_log = np.log2(np.clip(model.m[f], _FLOOR, 1))
            for site_level, rows in model.u_by_site.items():
                u = rows[PLACE_FIELDS.index(comparison.name)]
                here = known & (site == int(site_level))
                conditional = (m_log - np.log2(np.clip(u, _FLOOR, 1)))[column[here]]
                # Conditioning only ever tempers the evidence: GPS 10 km away at the same
                # site is a typing slip, not a sign of one family.
                bf[here] = np.minimum(bf[here], conditional)
        straight += bf
        if comparison.name == "family":
            spouse += np.maximum(bf, 0)  # she may keep her own family name
        elif comparison.name not in SPOUSE_SKIPS:
            spouse += bf
    if swapped is None or not swapped.any():
        return straight
    both = np.logaddexp2(straight, spouse)
    return np.where(swapped, both, straight)


def probability(weights: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp2(-np.clip(weights, -60, 60)))


__all__ = ["FIELD", "Model", "match_weights", "probability", "train"]
