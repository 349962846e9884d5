"""Find probable duplicate households: in a whole list, or for one new registration.

    find_duplicates(households)          -> DuplicateResult (pairs, clusters, model)
    score_new(new, candidates, model)    -> [ScoredPair], best first

`find_duplicates` learns its model from the list itself (no labels, see `model`), so a
partner's distribution list is judged by its own name and phone frequencies. `score_new`
is the incremental form for the tablet's warning and the server's merge: it scores one
household against the few records sharing a blocking key with it, with a model learnt
earlier (`Model.default()` unless the caller has a better one).

A pair is reported when its probability of being one family reaches `THRESHOLD`; pairs
of a family registered three times are all reported (a cluster of up to `CLUSTER_MAX`
records linked by reported pairs is completed with its missing pairs).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from sync_core.dedup.compare import (
    COMPARISONS,
    RULE_FIELDS,
    Features,
    blocking_keys,
    candidate_pairs,
    compare,
)
from sync_core.dedup.household import Household
from sync_core.dedup.model import Model, match_weights, probability, train

THRESHOLD = 0.5  # probability: the best F1 on the generated 5,000 and 100,000 (benchmark)
CLUSTER_MAX = 4  # records: a family registered up to four times
RANDOM_PAIRS = 200_000  # compared to estimate u
MIN_TRAINING = 1000  # records: fewer teach EM too little, use the shipped model
MIN_POPULATION = 1000  # households a new registration is assumed to be drawn among

Progress = Callable[[str, float], None]  # (stage, fraction done)


@dataclass(frozen=True)
class ScoredPair:
    """Two records that are probably one family, with why."""

    record_id_1: str
    record_id_2: str
    score: float  # probability, 0..1
    weight: float  # log2 odds
    agreements: tuple[str, ...] = ()  # fields that agree fully, e.g. ("phone", "members")
    levels: dict[str, str] = field(default_factory=dict)  # field -> level name

    def reasons(self) -> list[str]:
        """How a coordinator reads the agreements: ["same phone", ...]."""
        by_name = {c.name: c.reason for c in COMPARISONS}
        return [by_name[name] for name in self.agreements]


@dataclass
class DuplicateResult:
    pairs: list[ScoredPair]
    clusters: list[list[str]]
    model: Model
    candidates: int  # pairs compared


def _levels_by_name(row: np.ndarray) -> dict[str, str]:
    return {
        c.name: c.levels[level] for c, level in zip(COMPARISONS, row, strict=True) if level >= 0
    }


def _agreements(row: np.ndarray) -> tuple[str, ...]:
    return tuple(
        c.name for c, level in zip(COMPARISONS, row, strict=True) if level == len(c.levels) - 1
    )


def _tf_u(f: Features, i: np.ndarray) -> dict[str, np.ndarray]:
    """Per pair, the share of records holding the first record's value of each TF field."""
    out = {}
    for name, ids, counts in (
        ("given", f.given, f.given_counts),
        ("family", f.family, f.family_counts),
        ("phone", f.phone, f.phone_counts),
    ):
        total = max(int((ids >= 0).sum()), 1)
        values = ids[i]
        share = np.zeros(len(i), np.float32)
        known = values >= 0
        share[known] = counts[values[known]] / total
        out[name] = share
    return out


def _random_pairs(n: int, count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    i = rng.integers(0, n, count)
    j = rng.integers(0, n, count)
    keep = i != j
    return i[keep], j[keep]


def _same_site_pairs(f: Features, count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Random pairs of different records at the same site."""
    rng = np.random.default_rng(seed)
    order = np.argsort(f.site, kind="stable")
    order = order[f.site[order] >= 0]
    if len(order) < 2:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    sites = f.site[order]
    starts = np.searchsorted(sites, sites, side="left")
    ends = np.searchsorted(sites, sites, side="right")
    picks = rng.integers(0, len(order), count)
    partners = starts[picks] + (rng.random(count) * (ends[picks] - starts[picks])).astype(np.int64)
    i, j = order[picks], order[partners]
    keep = i != j
    return i[keep], j[keep]


def find_duplicates(
    households: Sequence[Household],
    *,
    model: Model | None = None,
    threshold: float = THRESHOLD,
    site_positions: dict[str, tuple[float, float]] | None = None,
    progress: Progress | None = None,
) -> DuplicateResult:
    """Every probable duplicate pair in `households`, and the clusters they form.

    Without `model`, one is learnt from `households` (unsupervised) when there are at
    least MIN_TRAINING of them; a shorter list is scored with `Model.default()`.
    """
    report = progress or (lambda stage, done: None)
    n = len(households)
    if n < 2:
        return DuplicateResult([], [], model or Model.default(), 0)
    if model is None and n < MIN_TRAINING:
        model = Model.default()
    report("reading", 0.0)
    f = Features(households, site_positions)
    report("blocking", 0.15)
    i, j, found_by = candidate_pairs(f)
    if len(i) == 0:
        return DuplicateResult([], [], model or Model.default(), 0)
    report("comparing", 0.3)
    levels, swapped = compare(f, i, j)
    report("learning", 0.6)
    if model is None:
        ri, rj = _random_pairs(n, min(RANDOM_PAIRS, n * (n - 1) // 2), seed=n)
        random_levels, random_swapped = compare(f, ri, rj)
        masks = {rule: (found_by & (1 << bit)) > 0 for bit, rule in enumerate(RULE_FIELDS)}
        si, sj = _same_site_pairs(f, RANDOM_PAIRS // 2, seed=n + 1)
        site_levels, site_swapped = compare(f, si, sj)
        model = train(levels, masks, random_levels, n, random_swapped, site_levels, site_swapped)
        model.duplicates_per_record = _estimate_prior(levels, swapped, model, f, i, n)
    report("scoring", 0.85)
    weights = match_weights(levels, model, _prior_log2_odds(model, n), _tf_u(f, i), swapped)
    scores = probability(weights)
    kept = np.flatnonzero(scores >= threshold)
    ids = [h.record_id for h in households]
    pairs = {
        (int(i[k]), int(j[k])): ScoredPair(
            ids[i[k]],
            ids[j[k]],
            round(float(scores[k]), 4),
            round(float(weights[k]), 2),
            _agreements(levels[k]),
            _levels_by_name(levels[k]),
        )
        for k in kept
    }
    clusters = _clusters(list(pairs), n)
    _complete_clusters(clusters, pairs, f, ids, model)
    report("done", 1.0)
    ordered = sorted(pairs.values(), key=lambda p: (-p.score, p.record_id_1, p.record_id_2))
    return DuplicateResult(
        ordered,
        [sorted(ids[k] for k in cluster) for cluster in clusters],
        model,
        len(i),
    )


def _prior_log2_odds(model: Model, n: int) -> float:
    """log2 odds that two random records of `n` are one family."""
    share = min(0.5, 2 * model.duplicates_per_record / max(n - 1, 1))
    return float(np.log2(share / (1 - share)))


def _estimate_prior(
    levels: np.ndarray, swapped: np.ndarray, model: Model, f: Features, i: np.ndarray, n: int
) -> float:
    """Duplicates per record: the candidates' expected matches, re-estimated until stable."""
    # The prior only shifts every weight: compute the rest once.
    evidence = match_weights(levels, model, 0.0, _tf_u(f, i), swapped)
    for _ in range(10):
        expected = probability(evidence + _prior_log2_odds(model, n)).sum()
        model.duplicates_per_record = float(np.clip(expected / n, 1e-4, 0.5))
    return model.duplicates_per_record


def _clusters(pairs: list[tuple[int, int]], n: int) -> list[list[int]]:
    parent = list(range(n))

    def root(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in pairs:
        ra, rb = root(a), root(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    groups: dict[int, list[int]] = {}
    for a, b in pairs:
        for x in (a, b):
            groups.setdefault(root(x), [])
    for x in {x for pair in pairs for x in pair}:
        groups[root(x)].append(x)
    return [sorted(g) for g in groups.values()]


def _complete_clusters(
    clusters: list[list[int]],
    pairs: dict[tuple[int, int], ScoredPair],
    f: Features,
    ids: list[str],
    model: Model,
) -> None:
    """Report every pair of a small cluster: a family registered three times is three
    pairs even when one of them, alone, scored below the threshold."""
    missing = [
        (a, b)
        for cluster in clusters
        if 2 < len(cluster) <= CLUSTER_MAX
        for x, a in enumerate(cluster)
        for b in cluster[x + 1 :]
        if (a, b) not in pairs
    ]
    if not missing:
        return
    i = np.array([a for a, _ in missing])
    j = np.array([b for _, b in missing])
    levels, swapped = compare(f, i, j)
    weights = match_weights(levels, model, _prior_log2_odds(model, f.n), _tf_u(f, i), swapped)
    for k, (a, b) in enumerate(missing):
        pairs[(a, b)] = ScoredPair(
            ids[a],
            ids[b],
            round(float(probability(weights[k : k + 1])[0]), 4),
            round(float(weights[k]), 2),
            _agreements(levels[k]),
            _levels_by_name(levels[k]),
        )


def score_new(
    new: Household,
    candidates: Sequence[Household],
    model: Model | None = None,
    *,
    population: int | None = None,
    threshold: float = THRESHOLD,
) -> list[ScoredPair]:
    """The candidates that are probably the family `new` registers again, best first.

    `candidates` are the existing records to consider (any number; those sharing no
    blocking key with `new` are skipped); `population` is how many households they were
    drawn from, which sets the prior (default: len(candidates) + 1, at least
    MIN_POPULATION).
    """
    model = model or Model.default()
    if not candidates:
        return []
    f = Features([new, *candidates])
    keys = blocking_keys(f)
    shares = np.zeros(f.n, bool)
    for key in keys.values():
        if key[0] >= 0:
            shares |= key == key[0]
    shares[0] = False
    j = np.flatnonzero(shares)
    if len(j) == 0:
        return []
    i = np.zeros(len(j), np.int64)
    levels, swapped = compare(f, i, j)
    # The prior is the chance that `new` is a re-registration of one given household: the
    # duplicates per record spread over the population. A tablet holding 20 households still
    # registers in a site of hundreds: never assume fewer than MIN_POPULATION.
    n = max(population or f.n, MIN_POPULATION)
    weights = match_weights(levels, model, _prior_log2_odds(model, n), swapped=swapped)
    scores = probability(weights)
    out = [
        ScoredPair(
            new.record_id,
            candidates[int(j[k]) - 1].record_id,
            round(float(scores[k]), 4),
            round(float(weights[k]), 2),
            _agreements(levels[k]),
            _levels_by_name(levels[k]),
        )
        for k in np.flatnonzero(scores >= threshold)
    ]
    return sorted(out, key=lambda p: -p.score)
