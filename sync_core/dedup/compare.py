"""Households as arrays, candidate pairs from blocking rules, and the comparison of a pair.

`Features(households)` turns the records into numpy columns once (normalised names as
integer ids, phone, site, ages, members as a padded matrix), so every later step works on
millions of pairs at C speed.

Blocking (`candidate_pairs`): two records are compared only when they share at least one
key of `BLOCKING_RULES`. Several rules, so that one typo, a missing phone or a new head's
name does not hide a pair: the same phone; the same site and family name; the same site
and first given name; the same given and family name anywhere (the next site a week
later); the same family name, sex and given name's first letters (a dropped or misspelt
given name); the first six or the last five digits of the phone (one digit off); the same
site, household size and youngest or eldest member, and anywhere the same size, youngest
and eldest member for families of three or more (the spouse registering the same family
without a phone). A key shared by more than `MAX_BLOCK`
records (a very common name at a big site) is cut into windows in a stable order, so that
the work stays bounded.

Comparison (`compare`): for each pair, one *level* per field, -1 when either side is
missing it, 0 when the field disagrees, higher when it agrees more closely. `COMPARISONS`
lists the fields and their levels.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from rapidfuzz import fuzz
from rapidfuzz.distance import OSA
from rapidfuzz.process import cpdist

from sync_core.dedup.household import Household
from sync_core.dedup.normalise import name_tokens, normalise_phone, phonetic

_WORDS = 4  # 64-bit words of a member set: 2 sexes x 128 ages
MAX_BLOCK = 600  # records per blocking key before it is cut into windows
NEIGHBOUR_KM = 30.0  # sites this close are "neighbouring"
AGE_TOLERANCE = 1  # years: a member's age as reported again (the issue: "age +- 1-2")


@dataclass(frozen=True)
class Comparison:
    """One field's comparison: its levels from disagreement (0) to full agreement."""

    name: str
    levels: tuple[str, ...]
    reason: str  # how a person reads full agreement: "same phone"


COMPARISONS: tuple[Comparison, ...] = (
    Comparison("given", ("different", "similar", "one name dropped", "same"), "same given name"),
    Comparison("family", ("different", "similar", "same"), "same family name"),
    Comparison("sex", ("different", "same"), "same sex"),
    Comparison("age", ("more than 5 years apart", "3-5 years", "1-2 years", "same"), "same age"),
    Comparison("phone", ("different", "one digit off", "same"), "same phone"),
    Comparison("site", ("far apart", "neighbouring", "same"), "same site"),
    Comparison("origin", ("different", "same"), "same origin district"),
    Comparison("date", ("over a month apart", "within a month", "within a week"), "same week"),
    Comparison("gps", ("over 10 km", "1-10 km", "100 m-1 km", "within 100 m"), "same place"),
    Comparison("size", ("different", "one apart", "same"), "same household size"),
    Comparison(
        "members",
        ("different", "some alike", "three alike", "four or more alike"),
        "same members' ages and sexes",
    ),
)
FIELD = {c.name: index for index, c in enumerate(COMPARISONS)}


def _ids(
    values: Sequence[str], table: dict[str, int] | None = None
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Integer ids for strings ("" -> -1), the count of each id, and the id -> string list.
    Fields sharing `table` share ids: a given name can be compared with a family name."""
    table = {} if table is None else table
    ids = np.fromiter(
        (table.setdefault(v, len(table)) if v else -1 for v in values),
        dtype=np.int64,
        count=len(values),
    )
    counts = np.bincount(ids[ids >= 0], minlength=len(table))
    return ids, counts, list(table)


class Features:
    """The households' fields as arrays, normalised once."""

    def __init__(
        self,
        households: Sequence[Household],
        site_positions: dict[str, tuple[float, float]] | None = None,
    ) -> None:
        self.households = households
        self.n = n = len(households)
        given_tokens = [name_tokens(h.head_given_name) for h in households]
        family_tokens = [name_tokens(h.head_family_name) for h in households]
        # Phonetic strings: the comparison tolerates Mussa/Musa before any fuzzy measure.
        given_phon = [" ".join(phonetic(t) for t in tokens) for tokens in given_tokens]
        family_phon = [" ".join(phonetic(t) for t in tokens) for tokens in family_tokens]
        names: dict[str, int] = {}
        self.given, self.given_counts, _ = _ids(
            [" ".join(sorted(p.split())) for p in given_phon], names
        )
        self.given_first, _, _ = _ids([p.split()[0] if p else "" for p in given_phon], names)
        self.family, self.family_counts, self.name_strings = _ids(
            [" ".join(sorted(p.split())) for p in family_phon], names
        )
        phones = [normalise_phone(h.phone) for h in households]
        self.phone, self.phone_counts, self.phone_strings = _ids(phones)
        # Halves of the number: one digit off or two swapped leaves one of them whole.
        self.phone_start, _, _ = _ids([p[:6] for p in phones])
        self.phone_end, _, _ = _ids([p[4:] for p in phones])
        self.given_initial, _, _ = _ids([p[:2] for p in given_phon])
        self.site, _, self.site_names = _ids([h.site_id or "" for h in households])
        self.origin, _, _ = _ids([h.origin_district or "" for h in households])
        self.sex = np.array([{"M": 1, "F": 2}.get(h.sex, 0) for h in households], np.int8)
        self.age = np.array([-1 if h.age is None else h.age for h in households], np.int16)
        self.date = np.array(
            [h.registration_date.toordinal() if h.registration_date else -1 for h in households],
            np.int32,
        )
        self.lat = np.array([np.nan if h.lat is None else h.lat for h in households], np.float64)
        self.lon = np.array([np.nan if h.lon is None else h.lon for h in households], np.float64)
        self.size = np.array(
            [-1 if h.household_size is None else h.household_size for h in households], np.int16
        )
        # Members as bit sets over (sex, age): comparing two families is then a few
        # AND and popcount instructions. "dilated" sets also hold the ages one year off.
        counts = [len(h.members) for h in households]
        self.member_count = np.array(counts, np.int16)
        owner = np.repeat(np.arange(n), counts)
        ages = np.array(
            [-1 if m.age is None else m.age for h in households for m in h.members], np.int64
        )
        sexes = np.array(
            [{"M": 0, "F": 1}.get(m.sex, -1) for h in households for m in h.members], np.int64
        )
        ages = np.where(ages >= 0, np.minimum(ages, 127), -1)
        # Every member's sex known: compare by sex; otherwise by age alone.
        unsexed = np.bincount(owner[sexes < 0], minlength=n) > 0
        self.members_sexed = (self.member_count > 0) & ~unsexed
        known = ages >= 0
        sexed = known & self.members_sexed[owner]
        self.member_set = _bit_sets(n, owner[sexed], sexes[sexed] * 128 + ages[sexed], 0)
        self.member_set_dilated = _bit_sets(
            n, owner[sexed], sexes[sexed] * 128 + ages[sexed], AGE_TOLERANCE
        )
        self.age_set = _bit_sets(n, owner[known], ages[known], 0)
        self.age_set_dilated = _bit_sets(n, owner[known], ages[known], AGE_TOLERANCE)
        has_head = self.age >= 0
        head_sexed = has_head & (self.sex > 0)
        rows = np.flatnonzero(head_sexed)
        head_age = np.minimum(self.age, 127).astype(np.int64)
        head_sex = self.sex.astype(np.int64) - 1
        self.head_near = _bit_sets(n, rows, head_sex[rows] * 128 + head_age[rows], 2)
        rows = np.flatnonzero(has_head)
        self.head_near_ages = _bit_sets(n, rows, head_age[rows], 2)
        self.youngest = np.full(n, 10_000, np.int64)
        np.minimum.at(self.youngest, owner[known], ages[known])
        self.youngest[self.youngest == 10_000] = -1
        self.eldest = np.full(n, -1, np.int64)
        np.maximum.at(self.eldest, owner[known], ages[known])
        self.site_neighbours = self._neighbouring_sites(site_positions or {})

    def _neighbouring_sites(self, known: dict[str, tuple[float, float]]) -> np.ndarray:
        """A sites x sites matrix: True where two sites are within NEIGHBOUR_KM. A site's
        position is `known[site]` or else the mean position of its households."""
        count = len(self.site_names)
        lat, lon = np.full(count, np.nan), np.full(count, np.nan)
        has = (self.site >= 0) & ~np.isnan(self.lat) & ~np.isnan(self.lon)
        if has.any():
            sums = np.bincount(self.site[has], weights=self.lat[has], minlength=count)
            sums_lon = np.bincount(self.site[has], weights=self.lon[has], minlength=count)
            hits = np.bincount(self.site[has], minlength=count)
            with np.errstate(invalid="ignore", divide="ignore"):
                lat, lon = sums / hits, sums_lon / hits
        for index, name in enumerate(self.site_names):
            if name in known:
                lat[index], lon[index] = known[name]
        km = _km(lat[:, None], lon[:, None], lat[None, :], lon[None, :])
        return np.nan_to_num(km, nan=np.inf) <= NEIGHBOUR_KM


def _bit_sets(n: int, rows: np.ndarray, positions: np.ndarray, spread: int) -> np.ndarray:
    """(n, _WORDS) bit sets: row r holds the bits at `positions` of its entries, each
    widened by `spread` on both sides (within the same 128-bit half: one sex)."""
    sets = np.zeros((n, _WORDS), np.uint64)
    for offset in range(-spread, spread + 1):
        shifted = positions + offset
        keep = (shifted >= 0) & (shifted // 128 == positions // 128)
        bits = shifted[keep]
        masks = np.left_shift(np.uint64(1), (bits % 64).astype(np.uint64))
        np.bitwise_or.at(sets, (rows[keep], bits // 64), masks)
    return sets


def _km(lat1, lon1, lat2, lon2):
    """Distance in km, equirectangular: exact enough below a few hundred km."""
    x = np.radians(lon2 - lon1) * np.cos(np.radians((lat1 + lat2) / 2))
    y = np.radians(lat2 - lat1)
    return 6371.0 * np.hypot(x, y)


# Blocking ─────────────────────────────────────────────────────────────────────────────


def _combine(*keys: np.ndarray) -> np.ndarray:
    """One int64 key from several non-negative int keys; -1 where any part is missing."""
    out = np.zeros(len(keys[0]), np.int64)
    missing = np.zeros(len(keys[0]), bool)
    for key in keys:
        key = key.astype(np.int64)
        missing |= key < 0
        out = out * (int(key.max(initial=0)) + 2) + key + 1
    return np.where(missing, -1, out)


def blocking_keys(f: Features) -> dict[str, np.ndarray]:
    """Each blocking rule's key per record (-1: the record is not in that rule)."""
    return {
        "phone": f.phone,
        "site+family": _combine(f.site, f.family),
        "site+given": _combine(f.site, f.given_first),
        "site+size+youngest": _combine(f.site, f.size, f.youngest),
        "site+size+eldest": _combine(f.site, f.size, f.eldest),
        "family+initial+sex": _combine(f.family, f.given_initial, f.sex),
        "phone start": f.phone_start,
        "phone end": f.phone_end,
        "members": _combine(np.where(f.size >= 3, f.size, -1), f.youngest, f.eldest),
    }


# Fields a rule forces to agree (a site rule also keeps GPS within a few km): EM must not
# learn their m-probabilities from its pairs.
RULE_FIELDS = {
    "phone": {"phone"},
    "site+family": {"site", "gps", "family"},
    "site+given": {"site", "gps", "given"},
    "site+size+youngest": {"site", "gps", "size", "members"},
    "site+size+eldest": {"site", "gps", "size", "members"},
    "family+initial+sex": {"family", "sex"},
    "phone start": {"phone"},
    "phone end": {"phone"},
    "members": {"size", "members"},
}


def pairs_in_blocks(key: np.ndarray) -> np.ndarray:
    """All pairs (i < j) of records sharing a key, as int64 codes i * n + j. Groups larger
    than MAX_BLOCK are compared only within overlapping windows of MAX_BLOCK records."""
    n = len(key)
    order = np.argsort(key, kind="stable")
    order = order[key[order] >= 0]
    if len(order) < 2:
        return np.empty(0, np.int64)
    sorted_key = key[order]
    starts = np.flatnonzero(np.r_[True, sorted_key[1:] != sorted_key[:-1]])
    sizes = np.diff(np.r_[starts, len(order)])
    out = []
    windowed = False
    for size in np.unique(sizes[sizes > 1]):
        group_starts = starts[sizes == size]
        if size > MAX_BLOCK:
            windowed = True
            for start in group_starts:
                members = order[start : start + size]
                for w in range(0, size - MAX_BLOCK // 2, MAX_BLOCK // 2):
                    window = members[w : w + MAX_BLOCK]
                    a, b = np.triu_indices(len(window), 1)
                    out.append(_codes(window[a], window[b], n))
            continue
        groups = order[group_starts[:, None] + np.arange(size)]  # (groups, size)
        a, b = np.triu_indices(size, 1)
        out.append(_codes(groups[:, a].ravel(), groups[:, b].ravel(), n))
    if not out:
        return np.empty(0, np.int64)
    codes = np.concatenate(out)
    return np.unique(codes) if windowed else codes  # windows overlap; groups do not


def _codes(a: np.ndarray, b: np.ndarray, n: int) -> np.ndarray:
    lo, hi = np.minimum(a, b).astype(np.int64), np.maximum(a, b).astype(np.int64)
    return lo * n + hi


def candidate_pairs(f: Features) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The union of every rule's pairs as index arrays (i, j), and per pair a bit mask of
    the rules that found it (bit k: the k-th rule of `blocking_keys`)."""
    codes, rules = [], []
    for bit, key in enumerate(blocking_keys(f).values()):
        found = pairs_in_blocks(key)
        codes.append(found)
        rules.append(np.full(len(found), 1 << bit, np.int16))
    all_codes, all_rules = np.concatenate(codes), np.concatenate(rules)
    order = np.argsort(all_codes, kind="stable")
    all_codes, all_rules = all_codes[order], all_rules[order]
    starts = np.flatnonzero(np.r_[True, all_codes[1:] != all_codes[:-1]])
    unique = all_codes[starts]
    found_by = np.bitwise_or.reduceat(all_rules, starts) if len(starts) else all_rules
    return unique // f.n, unique % f.n, found_by


# Comparison ───────────────────────────────────────────────────────────────────────────


def _string_scores(
    ids_a: np.ndarray,
    ids_b: np.ndarray,
    strings: list[str],
    scorers: tuple,
    where: np.ndarray,
    missing: float = -1.0,
) -> list[np.ndarray]:
    """Each scorer(strings[a], strings[b]) for the pairs in `where` (others get
    `missing`), computed once per distinct pair of strings."""
    outs = [np.full(len(ids_a), missing, np.float32) for _ in scorers]
    ok = where & (ids_a >= 0) & (ids_b >= 0) & (ids_a != ids_b)
    if not ok.any():
        return outs
    width = len(strings) + 1
    pair_codes = ids_a[ok] * width + ids_b[ok]
    unique, inverse = np.unique(pair_codes, return_inverse=True)
    left = [strings[k] for k in (unique // width).tolist()]
    right = [strings[k] for k in (unique % width).tolist()]
    # Threads pay off on big batches only: starting them costs milliseconds, which the
    # server's one-household-at-a-time scoring would pay on every merge.
    workers = -1 if len(left) > 20_000 else 1
    for out, scorer in zip(outs, scorers, strict=True):
        out[ok] = cpdist(left, right, scorer=scorer, dtype=np.float32, workers=workers)[inverse]
    return outs


CHUNK = 250_000  # pairs compared at a time: bounds the memory of the temporary arrays


def compare(f: Features, i: np.ndarray, j: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The comparison levels of pairs (f[i], f[j]) as an int8 matrix (pairs x COMPARISONS),
    and whether each pair's heads are swapped (see `heads_swapped`)."""
    levels = np.full((len(i), len(COMPARISONS)), -1, np.int8)
    swapped = np.zeros(len(i), bool)
    for start in range(0, len(i), CHUNK):
        part = slice(start, start + CHUNK)
        levels[part], swapped[part] = _compare(f, i[part], j[part])
    return levels, swapped


def _compare(f: Features, i: np.ndarray, j: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    levels = np.full((len(i), len(COMPARISONS)), -1, np.int8)

    def put(field: str, known: np.ndarray, conditions: list[tuple[np.ndarray, int]]) -> None:
        column = np.where(known, 0, -1).astype(np.int8)
        for condition, level in conditions:  # later conditions win: list from worst to best
            column[known & condition] = level
        levels[:, FIELD[field]] = column

    # Names. A pair whose given and family names were swapped between the two fields
    # agrees on both.
    gi, gj, fi, fj = f.given[i], f.given[j], f.family[i], f.family[j]
    first_i, first_j = f.given_first[i], f.given_first[j]
    names_swapped = (gi >= 0) & (fi >= 0) & (gi == fj) & (fi == gj)
    # "Castigo Ernesto | Mutemba" typed "Mutemba | Castigo": swapped, a given name dropped.
    names_swapped |= (fi >= 0) & (fj >= 0) & (first_i == fj) & (fi == first_j)
    names_swapped |= (fi >= 0) & (fj >= 0) & (fi == gj) & (first_i == fj)
    same_first = first_i == first_j
    # Fuzzy scores only where the exact keys leave the level open.
    given_sim, given_subset = _string_scores(
        gi, gj, f.name_strings, (fuzz.ratio, fuzz.token_set_ratio), ~same_first
    )
    put(
        "given",
        (gi >= 0) & (gj >= 0),
        [
            (given_sim >= 80, 1),
            ((given_subset >= 100) | same_first, 2),
            ((gi == gj) | names_swapped, 3),
        ],
    )
    (family_sim,) = _string_scores(fi, fj, f.name_strings, (fuzz.ratio,), fi != fj)
    put(
        "family",
        (fi >= 0) & (fj >= 0),
        [(family_sim >= 80, 1), ((fi == fj) | names_swapped, 2)],
    )

    put("sex", (f.sex[i] > 0) & (f.sex[j] > 0), [(f.sex[i] == f.sex[j], 1)])
    age_gap = np.abs(f.age[i] - f.age[j])
    put(
        "age",
        (f.age[i] >= 0) & (f.age[j] >= 0),
        [(age_gap <= 5, 1), (age_gap <= 2, 2), (age_gap == 0, 3)],
    )
    pi, pj = f.phone[i], f.phone[j]
    (phone_distance,) = _string_scores(
        pi, pj, f.phone_strings, (OSA.distance,), pi != pj, missing=9
    )
    put("phone", (pi >= 0) & (pj >= 0), [(phone_distance <= 1, 1), (pi == pj, 2)])
    si, sj = f.site[i], f.site[j]
    known = (si >= 0) & (sj >= 0)
    neighbours = np.zeros(len(i), bool)
    neighbours[known] = f.site_neighbours[si[known], sj[known]]
    put("site", known, [(neighbours, 1), (si == sj, 2)])
    put("origin", (f.origin[i] >= 0) & (f.origin[j] >= 0), [(f.origin[i] == f.origin[j], 1)])
    days = np.abs(f.date[i] - f.date[j])
    put("date", (f.date[i] >= 0) & (f.date[j] >= 0), [(days <= 30, 1), (days <= 7, 2)])
    km = _km(f.lat[i], f.lon[i], f.lat[j], f.lon[j])
    put("gps", ~np.isnan(km), [(km <= 10, 1), (km <= 1, 2), (km <= 0.1, 3)])
    size_gap = np.abs(f.size[i] - f.size[j])
    put("size", (f.size[i] > 0) & (f.size[j] > 0), [(size_gap <= 1, 1), (size_gap == 0, 2)])
    # A couple of similar ages is common at any site; four people of the same ages and
    # sexes are not. The levels count how many members agree, not only the share.
    sets = _sets(f, i, j)
    alike, fewest = members_alike(sets)
    put(
        "members",
        (fewest >= 2),
        [
            (alike >= 0.6, 1),
            (((alike >= 0.99) & (fewest == 3)) | ((alike >= 0.7) & (fewest >= 4)), 2),
            ((alike >= 0.99) & (fewest >= 4), 3),
        ],
    )
    return levels, heads_swapped(f, i, j, sets)


def _popcount(words: np.ndarray) -> np.ndarray:
    return np.bitwise_count(words).sum(axis=1, dtype=np.int32)


def _sets(f: Features, i: np.ndarray, j: np.ndarray) -> tuple[np.ndarray, ...]:
    """Per pair, the member sets to compare (a, a dilated, b, b dilated), and whether
    they are by sex: only when both sides know every member's sex, else by age alone."""
    sexed = f.members_sexed[i] & f.members_sexed[j]
    a, a_near = f.member_set[i], f.member_set_dilated[i]
    b, b_near = f.member_set[j], f.member_set_dilated[j]
    if not sexed.all():
        ages = np.flatnonzero(~sexed)
        a[ages], a_near[ages] = f.age_set[i[ages]], f.age_set_dilated[i[ages]]
        b[ages], b_near[ages] = f.age_set[j[ages]], f.age_set_dilated[j[ages]]
    return a, a_near, b, b_near, sexed


def members_alike(sets: tuple[np.ndarray, ...]) -> tuple[np.ndarray, np.ndarray]:
    """The share of distinct (sex, age) members with a counterpart of the same sex and an
    age within AGE_TOLERANCE, in the household where the share is smaller; and the fewer distinct
    members of the two."""
    a, a_near, b, b_near, _ = sets
    count_a, count_b = _popcount(a), _popcount(b)
    found_a, found_b = _popcount(a & b_near), _popcount(b & a_near)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.minimum(found_a / count_a, found_b / count_b)
    return np.nan_to_num(share), np.minimum(count_a, count_b)


def heads_swapped(
    f: Features, i: np.ndarray, j: np.ndarray, sets: tuple[np.ndarray, ...] | None = None
) -> np.ndarray:
    """True where the two heads are of different sexes and each is a member of the other
    household (age within two years): the spouse registered the same family."""
    a, _, b, _, sexed = sets or _sets(f, i, j)
    ok = (f.sex[i] > 0) & (f.sex[j] > 0) & (f.sex[i] != f.sex[j])
    ok &= (f.member_count[i] >= 2) & (f.member_count[j] >= 2)
    rows = np.flatnonzero(ok)
    if len(rows) == 0:
        return ok
    by_sex = sexed[rows, None]
    ii, jj = i[rows], j[rows]
    head_a = np.where(by_sex, f.head_near[ii], f.head_near_ages[ii])
    head_b = np.where(by_sex, f.head_near[jj], f.head_near_ages[jj])
    ok[rows] = (_popcount(head_a & b[rows]) > 0) & (_popcount(head_b & a[rows]) > 0)
    return ok
