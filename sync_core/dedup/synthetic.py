"""A seeded, labelled set of household registrations with the duplicates a flood brings.

`generate(5000, seed=1)` returns the same registrations and the same truth every time, so a
test can hold the engine's precision and recall, and a benchmark can time 100,000. Every
name, phone and position is invented; the name frequencies imitate Zambezia, where Macua,
Chuabo and Lomwe family names mix with Portuguese given names and Muslim names from the
coast (Mussa, Momade, Assane), and a handful of names covers much of a site.

What it puts in (each with its own share, see `generate`):

- **re-registrations** of the same family: by another enumerator (accents, case, spacing,
  given and family name swapped, a second given name dropped, a phonetic variant such as
  Mussa/Musa or Momade/Mohamed, a typo; the phone with a country code or spaces, one digit
  off, two digits transposed or missing; the age one or two years off; a member missing
  or a baby added), at the same site, a neighbouring one a week later, or another one;
  some families three times;
- **the spouse registering** the family again: another head (other given name, sex and
  age, often another family name), the same members, usually the same phone and site;
- **look-alikes that are not duplicates**: many "Maria Mussa" at one site, namesakes
  across the district, a father and his son of the same name pitched next to each other,
  and a site focal point's phone given by the families that have none.

`LabelledSet.true_pairs()` are all pairs of records of one family (a family registered
three times gives three pairs).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import math
import random
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from itertools import accumulate
from pathlib import Path

from forms.text import strip_accents
from sync_core.dedup.household import Household, Member

# (name, weight): a few names are very common, a long tail is rare.
GIVEN_FEMALE: list[tuple[str, float]] = [
    ("Maria", 14), ("Ana", 6), ("Rosa", 4), ("Joana", 4), ("Fátima", 5), ("Amina", 3),
    ("Luísa", 3), ("Teresa", 3), ("Isabel", 3), ("Helena", 2), ("Celeste", 2),
    ("Albertina", 2), ("Felizarda", 2), ("Marta", 2), ("Lúcia", 2), ("Esperança", 2),
    ("Graça", 2), ("Ermelinda", 1.5), ("Felismina", 1.5), ("Angelina", 2), ("Domingas", 2),
    ("Carolina", 1), ("Regina", 1), ("Laura", 1), ("Olinda", 1), ("Judite", 1), ("Sara", 1),
    ("Rabia", 1), ("Zainabo", 1), ("Muaziza", 1), ("Anifa", 1), ("Saquina", 1),
    ("Cecília", 1), ("Madalena", 1), ("Alzira", 1), ("Hortência", 1), ("Catarina", 1),
    ("Natércia", 1), ("Filomena", 1), ("Margarida", 1), ("Lurdes", 1), ("Virgínia", 1),
    ("Nélia", 1), ("Joaquina", 1), ("Inês", 1), ("Belmira", 1), ("Josefina", 1),
    ("Palmira", 1), ("Cristina", 1), ("Aissa", 1), ("Assia", 0.7), ("Ancha", 0.7),
    ("Luciana", 0.7), ("Verónica", 0.7), ("Marcelina", 0.7), ("Georgina", 0.7),
]  # fmt: skip
GIVEN_MALE: list[tuple[str, float]] = [
    ("João", 8), ("José", 6), ("António", 6), ("Manuel", 5), ("Momade", 4), ("Mussa", 3),
    ("Carlos", 3), ("Alberto", 3), ("Fernando", 3), ("Francisco", 3), ("Domingos", 3),
    ("Armando", 2), ("Luís", 2), ("Pedro", 2), ("Jorge", 2), ("Joaquim", 2), ("Castigo", 2),
    ("Ernesto", 2), ("Abdul", 2), ("Assane", 2), ("Amade", 2), ("Ali", 1.5),
    ("Issufo", 1.5), ("Américo", 1), ("Lourenço", 1), ("Sumail", 1), ("Rachide", 1),
    ("Faque", 1), ("Zacarias", 1), ("Jacinto", 1), ("Tomás", 1), ("Cristóvão", 1),
    ("Zito", 1), ("Agostinho", 1), ("Bernardo", 1), ("Celestino", 1), ("Custódio", 1),
    ("Eusébio", 1), ("Felisberto", 1), ("Germano", 1), ("Horácio", 1), ("Inácio", 1),
    ("Januário", 1), ("Laurindo", 1), ("Mateus", 1), ("Nelson", 1), ("Orlando", 1),
    ("Rafael", 1), ("Sérgio", 1), ("Valentim", 1), ("Vasco", 1), ("Xavier", 1),
    ("Adelino", 1), ("Raul", 1), ("Samuel", 1), ("Saíde", 1), ("Abílio", 1), ("Arlindo", 0.7),
]  # fmt: skip
FAMILY: list[tuple[str, float]] = [
    ("Mussa", 6), ("Momade", 5), ("João", 4), ("Manuel", 4), ("António", 4), ("Amade", 3),
    ("Assane", 3), ("Issufo", 2), ("Carlos", 2), ("Alberto", 2), ("Fernando", 2),
    ("Ernesto", 2), ("Zacarias", 2), ("Chale", 2), ("Saíde", 2), ("Abdul", 2), ("Sumail", 1),
    ("Mariano", 2), ("Jossias", 1), ("Francisco", 2), ("Domingos", 2), ("Raposo", 1),
    ("Gimo", 1), ("Cebola", 1), ("Mutemba", 1), ("Nhamussua", 1), ("Chiposse", 1),
    ("Namuera", 1), ("Muhala", 1), ("Napuanha", 1), ("Murrupa", 1), ("Nantumbo", 1),
    ("Mutaquiha", 1), ("Muacua", 1), ("Naquiaia", 1), ("Cuna", 1), ("Tomo", 1),
    ("Chemane", 1), ("Muanaca", 1), ("Lampião", 1), ("Mucuaia", 1), ("Nampuio", 1),
    ("Quembo", 1), ("Sabão", 1), ("Fumo", 1), ("Chivale", 1), ("Namashulua", 1),
    ("Mutola", 1), ("Lopes", 1), ("Pereira", 1), ("Gonçalves", 1), ("Ferreira", 1),
    ("Santos", 1), ("Dias", 1), ("Matos", 1), ("Costa", 1), ("Sousa", 1), ("Almeida", 1),
    ("Gomes", 1), ("Rachide", 1), ("Aly", 1), ("Abdala", 1), ("Jamal", 0.5),
]  # fmt: skip
# The long tail of Macua/Chuabo/Lomwe family names, built from their syllables.
_PREFIXES = ["Mu", "Na", "Cha", "Nha", "Ma", "Chi", "Mo", "Ca", "Mua", "Ni"]
_SYLLABLES = "cu la ta qui pa ri ssa mba ne lo ca ra pe te mo nu hi tho ve nga que li ro sse ha"
_SYLLABLES = _SYLLABLES.split()
_ENDINGS = ["a", "e", "o", "ua", "ia"]
TAIL_SHARE = 0.45  # of family names drawn from the long tail

# Spellings an enumerator may write for a name (either direction).
SPELLINGS: dict[str, list[str]] = {
    "Mussa": ["Musa", "Mussá"], "Momade": ["Mohamed", "Mamade", "Muhammad", "Mahomed"],
    "Assane": ["Hassane", "Assani"], "Issufo": ["Issufu", "Yussuf"], "Amade": ["Ahmad", "Amad"],
    "Teresa": ["Tereza"], "Luísa": ["Luiza", "Luisa"], "Mutemba": ["Muthemba"],
    "Chale": ["Shale", "Xale"], "Isabel": ["Izabel", "Isabela"], "Ali": ["Aly"],
    "Aly": ["Ali"], "Rachide": ["Rashid", "Rachid"], "Sumail": ["Ismail", "Ismael"],
    "Abdul": ["Abdula"], "Fátima": ["Fatima", "Fatuma"], "Saíde": ["Said", "Saide"],
    "José": ["Jose", "Zé"], "Amina": ["Aminah"], "Muhala": ["Muala"], "Cuna": ["Kuna"],
    "Quembo": ["Kembo"], "Nhamussua": ["Nhamusua"], "Joaquim": ["Joakim"],
    "Gonçalves": ["Goncalves", "Gonsalves"], "Zainabo": ["Zainab"],
}  # fmt: skip

# Where the sites are: around the towns of the districts hit by floods (lat, lon).
TOWNS = {
    "MZ1103": (-17.879, 36.888),  # Quelimane
    "MZ1114": (-16.839, 36.986),  # Mocuba
    "MZ1122": (-17.60, 36.82),  # Nicoadala
    "MZ1120": (-17.48, 37.02),  # Namacurra
    "MZ1118": (-17.32, 35.58),  # Morrumbala
    "MZ1102": (-18.58, 36.46),  # Chinde
    "MZ1111": (-17.31, 37.50),  # Maganja da Costa
    "MZ1117": (-17.98, 35.71),  # Mopeia
    "MZ1108": (-17.95, 36.95),  # Inhassunge
}
FLOOD = dt.date(2026, 2, 10)


@dataclass
class LabelledSet:
    """Registrations with the truth: which family each record belongs to, and how it came
    to be registered ("first", "again" by another enumerator, "spouse")."""

    households: list[Household]
    family: dict[str, int] = field(default_factory=dict)
    kind: dict[str, str] = field(default_factory=dict)

    def true_pairs(self) -> set[tuple[str, str]]:
        """Every pair of records of one family, each as (smaller id, larger id)."""
        by_family: dict[int, list[str]] = {}
        for record_id, family in self.family.items():
            by_family.setdefault(family, []).append(record_id)
        pairs = set()
        for ids in by_family.values():
            ids.sort()
            pairs.update((a, b) for i, a in enumerate(ids) for b in ids[i + 1 :])
        return pairs

    def spouse_pairs(self) -> set[tuple[str, str]]:
        """The true pairs in which one record was registered by the spouse."""
        return {p for p in self.true_pairs() if "spouse" in (self.kind[p[0]], self.kind[p[1]])}

    def to_csv(self, path: Path | None = None) -> str:
        """The registrations as the `sync-server duplicates` command reads them (plus
        `members_sexes`, which it uses when present)."""
        out = io.StringIO()
        write_csv(self.households, out)
        if path is not None:
            path.write_text(out.getvalue(), encoding="utf-8")
        return out.getvalue()


CSV_COLUMNS = [
    "record_id", "head_given_name", "head_family_name", "sex", "age", "phone", "site_id",
    "origin_district", "household_size", "members_ages", "lat", "lon", "registration_date",
]  # fmt: skip


def write_csv(households: Iterable[Household], out: io.TextIOBase) -> None:
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([*CSV_COLUMNS, "members_sexes"])
    for h in households:
        writer.writerow(
            [
                h.record_id, h.head_given_name, h.head_family_name, h.sex,
                "" if h.age is None else h.age, h.phone, h.site_id, h.origin_district,
                "" if h.household_size is None else h.household_size,
                ";".join("" if m.age is None else str(m.age) for m in h.members),
                "" if h.lat is None else f"{h.lat:.6f}", "" if h.lon is None else f"{h.lon:.6f}",
                h.registration_date.isoformat() if h.registration_date else "",
                ";".join(m.sex for m in h.members),
            ]
        )  # fmt: skip


@dataclass
class _Site:
    site_id: str
    district: str
    lat: float
    lon: float
    opened: dt.date
    focal_phone: str


class _Generator:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.used_ids: set[str] = set()
        self.used_phones: set[str] = set()
        self._cumulative: dict[int, tuple[list[str], list[float]]] = {}

    def pick(self, names: list[tuple[str, float]]) -> str:
        key = id(names)
        if key not in self._cumulative:
            self._cumulative[key] = ([n for n, _ in names], list(accumulate(w for _, w in names)))
        values, cumulative = self._cumulative[key]
        return self.rng.choices(values, cum_weights=cumulative)[0]

    def family_name(self) -> str:
        if self.rng.random() < TAIL_SHARE:
            rng = self.rng
            middle = "".join(rng.choice(_SYLLABLES) for _ in range(rng.choice([1, 1, 2])))
            return rng.choice(_PREFIXES) + middle + rng.choice(_ENDINGS)
        return self.pick(FAMILY)

    def given_name(self, sex: str) -> str:
        names = GIVEN_FEMALE if sex == "F" else GIVEN_MALE
        first = self.pick(names)
        if self.rng.random() < 0.25:
            second = self.pick(names)
            if second != first:
                return f"{first} {second}"
        return first

    def record_id(self) -> str:
        while True:
            record_id = f"hh-{self.rng.getrandbits(40):010x}"
            if record_id not in self.used_ids:
                self.used_ids.add(record_id)
                return record_id

    def phone(self) -> str:
        while True:
            phone = f"8{self.rng.choice('2345667')}{self.rng.randint(0, 9_999_999):07d}"
            if phone not in self.used_phones:
                self.used_phones.add(phone)
                return phone

    def sites(self, count: int) -> list[_Site]:
        sites = []
        districts = list(TOWNS)
        for index in range(count):
            district = districts[index % len(districts)]
            lat, lon = TOWNS[district]
            sites.append(
                _Site(
                    site_id=f"MOZ-ZAM-{index + 1:04d}",
                    district=district,
                    lat=lat + self.rng.uniform(-0.12, 0.12),
                    lon=lon + self.rng.uniform(-0.12, 0.12),
                    opened=FLOOD + dt.timedelta(days=self.rng.randint(0, 20)),
                    focal_phone=self.phone(),
                )
            )
        return sites

    def position(self, site: _Site, spread_m: float = 200) -> tuple[float | None, float | None]:
        if self.rng.random() < 0.15:  # no GPS fix
            return None, None
        return self.near(site.lat, site.lon, spread_m)

    def near(self, lat: float, lon: float, spread_m: float) -> tuple[float, float]:
        dlat = self.rng.gauss(0, spread_m) / 111_000
        dlon = self.rng.gauss(0, spread_m) / (111_000 * math.cos(math.radians(lat)))
        return round(lat + dlat, 6), round(lon + dlon, 6)

    def family(self, site: _Site, sites: list[_Site], head_sex: str | None = None) -> Household:
        """A new family's first registration at `site`."""
        rng = self.rng
        sex = head_sex or ("F" if rng.random() < 0.4 else "M")
        age = int(rng.triangular(18, 80, 30))
        family_name = self.family_name()
        members = [Member(age, sex)]
        if rng.random() < 0.65:
            gap = abs(int(rng.gauss(5, 5)))
            spouse_age = age - gap if sex == "M" else age + gap
            members.append(Member(max(16, min(90, spouse_age)), "M" if sex == "F" else "F"))
        # Children born when the mother was 16 to 45, fewer for the young.
        mother = next((m.age for m in members if m.sex == "F"), age) or age
        possible = range(max(0, mother - 45), min(17, mother - 16) + 1)
        children = min(10, len(possible) // 2, int(rng.expovariate(1 / 2.8)))
        for _ in range(children):
            members.append(Member(rng.choice(possible), rng.choice("MF")))
        if rng.random() < 0.1:
            members.append(Member(rng.randint(60, 90), rng.choice("MF")))
        lat, lon = self.position(site)
        origin = site.district if rng.random() < 0.7 else rng.choice(sites).district
        phone = self.phone() if rng.random() < 0.65 else ""
        if not phone and rng.random() < 0.12:
            phone = site.focal_phone  # the site focal point's number, given by many
        return Household(
            record_id=self.record_id(),
            head_given_name=self.given_name(sex),
            head_family_name=family_name,
            sex=sex,
            age=age,
            phone=phone,
            site_id=site.site_id,
            origin_district=origin,
            registration_date=site.opened + dt.timedelta(days=int(rng.expovariate(1 / 6))),
            lat=lat,
            lon=lon,
            household_size=len(members),
            members=tuple(members),
        )

    # Another registration of the same family ──────────────────────────────────────────

    def again(
        self, first: Household, site: _Site, sites: list[_Site], *, spouse: bool
    ) -> Household:
        rng = self.rng
        given, family_name, sex, age = (
            first.head_given_name,
            first.head_family_name,
            first.sex,
            first.age,
        )
        members = list(first.members)
        if spouse:
            partner = members[1]
            members[0], members[1] = partner, members[0]
            sex, age = partner.sex, partner.age
            given = self.given_name(sex)
            if rng.random() < 0.6:  # women in Zambezia often keep their own family name
                family_name = self.family_name()
        given, family_name = self.retyped(given), self.retyped(family_name)
        if rng.random() < 0.06:
            given, family_name = family_name, given
        members = [
            Member(
                None
                if m.age is None
                else max(0, m.age + (rng.choice([-1, 1]) if rng.random() < 0.25 else 0)),
                m.sex,
            )
            for m in members
        ]
        if len(members) > 2 and rng.random() < 0.08:
            members.pop(rng.randrange(2, len(members)))  # a child not present that day
        if rng.random() < 0.04:
            members.append(Member(0, rng.choice("MF")))  # a baby born since
        age = members[0].age
        if age is not None and rng.random() < 0.5:
            age = max(16, age + rng.choice([-2, -1, 1, 2]))
        elif age is not None and rng.random() < 0.05:
            age = max(16, age + rng.choice([-5, -4, -3, 3, 4, 5]))
        members[0] = Member(age, sex)
        where = rng.random()
        if where < 0.55:
            new_site = site
        else:
            neighbours = [
                s for s in sites if s is not site and _km(s.lat, s.lon, site.lat, site.lon) < 30
            ]
            new_site = rng.choice(neighbours or sites)
            if where > 0.9:
                new_site = rng.choice(sites)
        lat, lon = self.position(new_site)
        if new_site is site and first.lat is not None and rng.random() < 0.5:
            lat, lon = self.near(first.lat, first.lon or 0.0, 30)  # the same tent
        days = rng.choice([rng.randint(0, 3), rng.randint(4, 14), rng.randint(15, 40)])
        date = (first.registration_date or FLOOD) + dt.timedelta(days=days)
        origin = first.origin_district if rng.random() < 0.9 else rng.choice(sites).district
        return Household(
            record_id=self.record_id(),
            head_given_name=given,
            head_family_name=family_name,
            sex=sex,
            age=age,
            phone=self.rephoned(first.phone, spouse=spouse),
            site_id=new_site.site_id,
            origin_district=origin,
            registration_date=date,
            lat=lat,
            lon=lon,
            household_size=len(members) + (rng.choice([-1, 1]) if rng.random() < 0.04 else 0),
            members=tuple(members),
        )

    def retyped(self, name: str) -> str:
        """`name` as another enumerator types it."""
        rng = self.rng
        words = name.split()
        if len(words) > 1 and rng.random() < 0.5:
            words = words[:1]  # the second given name dropped
        words = [
            rng.choice(SPELLINGS[w]) if w in SPELLINGS and rng.random() < 0.5 else w for w in words
        ]
        text = " ".join(words)
        if rng.random() < 0.1:
            text = _typo(rng, text)
        if rng.random() < 0.4:
            text = strip_accents(text)
        roll = rng.random()
        if roll < 0.15:
            text = text.upper()
        elif roll < 0.25:
            text = text.lower()
        if rng.random() < 0.1:
            text = "  " + text.replace(" ", "  ") + " "
        return text

    def rephoned(self, phone: str, *, spouse: bool) -> str:
        rng = self.rng
        if not phone:
            return ""
        roll = rng.random()
        if roll < (0.25 if spouse else 0.15):
            return ""  # not given this time
        if roll < (0.32 if spouse else 0.2):
            return self.phone()  # another SIM
        digits = list(phone)
        roll = rng.random()
        if roll < 0.07:
            i = rng.randrange(2, 9)
            digits[i] = rng.choice([d for d in "0123456789" if d != digits[i]])
        elif roll < 0.12:
            i = rng.randrange(2, 8)
            digits[i], digits[i + 1] = digits[i + 1], digits[i]
        text = "".join(digits)
        spaced = f"+258 {text[:2]} {text[2:5]} {text[5:]}"
        return rng.choice([text, text, spaced, f"258{text}", f"{text[:2]} {text[2:]}"])


def generate(n: int, seed: int = 0) -> LabelledSet:
    """`n` registrations of Zambezia households after a flood, with the truth."""
    gen = _Generator(seed)
    rng = gen.rng
    sites = gen.sites(max(6, n // 350))
    weights = [rng.paretovariate(1.5) for _ in sites]  # a few very big centres
    out = LabelledSet([])

    def add(household: Household, family: int, kind: str) -> None:
        out.households.append(household)
        out.family[household.record_id] = family
        out.kind[household.record_id] = kind

    family = 0
    # Look-alikes first: many families of one very common name at a few sites.
    for site in rng.sample(sites, max(1, len(sites) // 5)):
        sex, given, family_name = rng.choice(
            [("F", "Maria", "Mussa"), ("M", "João", "Manuel"), ("F", "Fátima", "Momade")]
        )
        for _ in range(rng.randint(8, 16)):
            household = gen.family(site, sites, head_sex=sex)
            add(replace(household, head_given_name=given, head_family_name=family_name),
                family, "first")  # fmt: skip
            family += 1
    while len(out.households) < n:
        site = rng.choices(sites, weights=weights)[0]
        first = gen.family(site, sites)
        add(first, family, "first")
        roll = rng.random()
        if roll < 0.02 and (first.age or 0) >= 40 and first.sex == "M":
            # His son, named after him, pitched next to him with his own young family.
            son = gen.family(site, sites, head_sex="M")
            son_age = (first.age or 40) - rng.randint(18, 26)
            lat, lon = (None, None)
            if first.lat is not None:
                lat, lon = gen.near(first.lat, first.lon or 0, 40)
            members = (Member(son_age, "M"), *son.members[1:])
            add(
                replace(son, head_given_name=first.head_given_name, age=son_age,
                        head_family_name=first.head_family_name, members=members,
                        household_size=len(members), lat=lat, lon=lon,
                        origin_district=first.origin_district),
                family + 1, "first",
            )  # fmt: skip
            family += 1
        elif roll < 0.15:
            times = 2 if rng.random() < 0.15 else 1
            for _ in range(times):
                spouse = len(first.members) > 1 and first.members[1].age and rng.random() < 0.25
                again = gen.again(first, site, sites, spouse=bool(spouse))
                add(again, family, "spouse" if spouse else "again")
        family += 1
    del out.households[n:]
    kept = {h.record_id for h in out.households}
    out.family = {k: v for k, v in out.family.items() if k in kept}
    out.kind = {k: v for k, v in out.kind.items() if k in kept}
    rng.shuffle(out.households)
    return out


def _km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    dlat = (lat2 - lat1) * 111.0
    dlon = (lon2 - lon1) * 111.0 * math.cos(math.radians((lat1 + lat2) / 2))
    return math.hypot(dlat, dlon)


def _typo(rng: random.Random, text: str) -> str:
    letters = [i for i, ch in enumerate(text) if ch.isalpha()]
    if len(letters) < 4:
        return text
    i = rng.choice(letters[1:])
    roll = rng.random()
    if roll < 0.4:
        return text[:i] + text[i + 1 :]
    if roll < 0.7:
        return text[:i] + rng.choice("aeioumnrst") + text[i + 1 :]
    return text[:i] + text[i] + text[i:]
