"""What the dedup engine knows about a household, from a form record or a CSV row."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from forms.geo import parse_geopoint


@dataclass(frozen=True, slots=True)
class Member:
    """One person of the household: age in years and sex ("M", "F" or "" if unknown)."""

    age: int | None
    sex: str = ""


@dataclass(frozen=True, slots=True)
class Household:
    """A registration as the engine compares it. Every field but record_id may be missing."""

    record_id: str
    head_given_name: str = ""
    head_family_name: str = ""
    sex: str = ""
    age: int | None = None
    phone: str = ""
    site_id: str = ""
    origin_district: str = ""
    registration_date: dt.date | None = None
    lat: float | None = None
    lon: float | None = None
    household_size: int | None = None
    members: tuple[Member, ...] = ()  # head first, when known

    @property
    def head_name(self) -> str:
        return f"{self.head_given_name} {self.head_family_name}".strip()


def household_from_answers(record_id: str, answers: dict[str, Any]) -> Household:
    """The household of a registration form record (the bundled household_registration
    form's field names); fields the record lacks stay missing."""
    members = []
    for member in answers.get("members") or []:
        if isinstance(member, dict):
            members.append(Member(_member_age(member, answers), _sex(member.get("sex"))))
    head = next(
        (m for m in answers.get("members") or [] if isinstance(m, dict) and _is_head(m)),
        None,
    )
    lat = lon = None
    if answers.get("hh_gps"):
        try:
            lat, lon, _, _ = parse_geopoint(str(answers["hh_gps"]))
        except ValueError:
            lat = lon = None
    size = answers.get("hh_size_declared")
    return Household(
        record_id=record_id,
        head_given_name=str(answers.get("hh_head_given_name") or ""),
        head_family_name=str(answers.get("hh_head_family_name") or ""),
        sex=_sex(head.get("sex")) if head else "",
        age=_member_age(head, answers) if head else None,
        phone=str(answers.get("contact_phone") or ""),
        site_id=str(answers.get("site_id") or ""),
        origin_district=str(answers.get("origin_district") or ""),
        registration_date=_date(answers.get("registration_date")),
        lat=lat,
        lon=lon,
        household_size=_int(size) if size not in (None, "") else (len(members) or None),
        members=tuple(members),
    )


def _is_head(member: dict[str, Any]) -> bool:
    return member.get("relationship") == "head"


def _member_age(member: dict[str, Any], answers: dict[str, Any]) -> int | None:
    if member.get("age_reported") not in (None, ""):
        return _int(member["age_reported"])
    born, registered = _date(member.get("dob")), _date(answers.get("registration_date"))
    if born and registered:
        years = registered.year - born.year
        return years - ((registered.month, registered.day) < (born.month, born.day))
    return None


def _sex(value: Any) -> str:
    text = str(value or "").strip().upper()[:1]
    return text if text in ("M", "F") else ""


def _int(value: Any) -> int | None:
    try:
        return int(float(value))
    except (TypeError, ValueError):
        return None


def _date(value: Any) -> dt.date | None:
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value)[:10])
    except (TypeError, ValueError):
        return None
