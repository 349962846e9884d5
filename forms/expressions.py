"""XLSForm expressions: parse once when the form loads, evaluate many times while it is filled.

This is the subset of XPath that XLSForm authors write in the `relevant`, `constraint`,
`calculation`, `required`, `choice_filter`, `repeat_count` and `default` columns:

    ${age} >= 18 and selected(${needs}, 'shelter')
    if(${hh_size} > 0, ${food_kg} div ${hh_size}, 0)
    format-date(today(), '%Y-%m') != '' and . <= today()

`parse()` turns the text into an `Expression`, checking everything that can be checked up front
(syntax, function names, argument counts), and compiles it into nested Python closures, so
evaluating is a handful of plain function calls: no `eval`, no tree walking per evaluation.

    expr = parse("${age} >= 18 and ${sex} = 'F'")  # raises ExpressionError if it's wrong
    expr.references                                  # frozenset({'age', 'sex'})
    expr.evaluate_bool(ctx)                          # ctx implements EvaluationContext

Semantics follow ODK's JavaRosa engine, so a form behaves here as it does in ODK Collect:

* An unanswered question is "". It is false as a boolean, NaN as a number, and NaN fails
  every comparison except `!=`. Evaluating never raises for bad data: a nonsensical value
  gives NaN, "" or false, like JavaRosa's "null" values.
* `=` and `!=` compare as booleans if either side is a boolean, as numbers if either side is
  a number (text that isn't a number is then compared as text), and as text otherwise.
  `<`, `<=`, `>`, `>=` always compare numbers.
* Dates are numbers of days since 1970-01-01 (a dateTime has a fraction; a time is the
  fraction of its day), so `today() - ${dob}` is an age in days. Text compared with a date is
  read as a date: `${dob} < '2000-01-01'` works.
* A node-set (a field inside a repeat, seen from outside it) compares true if any of its
  values does; converted to a single value it is its first value.

Timezones: dateTimes are compared and converted as wall-clock time wherever they were
recorded; a UTC offset in a value is ignored rather than converted to this machine's zone.
"""

from __future__ import annotations

import datetime
import functools
import itertools
import math
import operator
import random
import re
import secrets
import string
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from decimal import ROUND_HALF_DOWN, ROUND_HALF_UP, Context, Decimal
from typing import NamedTuple, Protocol, TypeAlias

from forms.geopoint import ODK_NUMBER, geopoint_numbers

__all__ = [
    "EvaluationContext",
    "Expression",
    "ExpressionError",
    "NodeSet",
    "Value",
    "parse",
    "to_bool",
    "to_number",
    "to_string",
]


class ExpressionError(ValueError):
    """An expression that can't be parsed: bad syntax, unknown function, wrong argument count.

    `str()` is a full sentence a form author can act on:
    `unknown function 'foo' at position 4 in "1 + foo(2)"`. Positions are 0-based character
    offsets into `expression`.
    """

    def __init__(self, message: str, expression: str, position: int | None = None):
        self.message = message
        self.expression = expression
        self.position = position
        where = f" at position {position}" if position is not None else ""
        super().__init__(f'{message}{where} in "{expression}"')

    def __reduce__(self):
        # The default would call ExpressionError(str(self)); rebuild from the real arguments so
        # errors survive pickling (multiprocessing, pytest-xdist).
        return type(self), (self.message, self.expression, self.position)


class NodeSet(list):
    """Values of a field across repeat instances, or the instances of a repeat.

    What XPath calls a node-set. `count()` is its length; `sum()`, `max()`, `join()` and
    friends work on its items; converted to a single value it is its first item ("" if it is
    empty); compared with `=`, `<` etc. it is true if any item satisfies the comparison.
    """

    __slots__ = ()

    def __repr__(self) -> str:
        return f"NodeSet({list.__repr__(self)})"


Value: TypeAlias = str | float | bool | datetime.date | datetime.datetime | datetime.time | NodeSet


class EvaluationContext(Protocol):
    """What an expression needs from the form being filled in.

    Values come back already typed: "" for an unanswered question (never None), float for
    numbers, str for text and select_one, "a b c" for select_multiple, datetime.date /
    datetime.datetime / datetime.time for date / dateTime / time, "lat lon alt acc" for a
    geopoint and "lat lon alt acc;lat lon alt acc;..." for a geotrace or geoshape.
    """

    now: datetime.datetime  # for today() and now(); naive local time is fine

    def resolve(self, name: str) -> Value:
        """`${name}`. A NodeSet for a repeat, or for a field in a repeat seen from outside it."""
        ...

    def current(self) -> Value:
        """`.`: the value of the question the expression belongs to."""
        ...

    def position(self) -> int:
        """`position(..)`: the 1-based index of the current repeat instance."""
        ...

    def indexed_repeat(self, name: str, repeat: str, index: int) -> Value:
        """`indexed-repeat(${name}, ${repeat}, index)`: `name` in the index-th (1-based)
        instance of `repeat`."""
        ...

    def choice_label(self, field: str, value: str) -> str:
        """`jr:choice-name(value, '${field}')`: the label of choice `value` of select `field`."""
        ...

    # Optional: `instance_rows(name) -> list[dict[str, str]]`, the items of a secondary
    # instance for instance('name')/root/item[...] lookups and pulldata(). A context without
    # it sees no items.


Fn: TypeAlias = Callable[[EvaluationContext], Value]

NAN = math.nan
INF = math.inf

# Static result types, so the compiler can skip conversions it knows are no-ops. _DATE,
# _NODESET and _OTHER only describe runtime values (see _category).
_BOOL, _NUMBER, _STRING, _ANY = "bool", "number", "string", "any"
_DATE, _NODESET, _OTHER = "date", "nodeset", "other"


# --- Conversions -----------------------------------------------------------------------------

_EPOCH = datetime.datetime(1970, 1, 1)
_EPOCH_ORDINAL = _EPOCH.toordinal()
_ONE_DAY = datetime.timedelta(days=1)
_SECONDS_PER_DAY = 86400.0

# JavaRosa's number(): only digits, '-' and '.' (no exponent, no "Infinity"), and a decimal
# comma is accepted because Collect runs in locales that write 1,5.
_NUMERIC_TEXT = ODK_NUMBER  # ODK reads numbers in text the same way everywhere


def to_bool(v: Value) -> bool:
    """XPath boolean(): "" and 0 and NaN are false, an empty NodeSet is false, a date is true."""
    t = type(v)
    if t is bool:
        return v  # type: ignore[return-value]
    if t is str:
        return v != ""
    if t is float:
        return abs(v) > 1e-12  # NaN > x is false, as wanted; the tolerance is JavaRosa's
    if isinstance(v, bool):
        return bool(v)
    if isinstance(v, (int, float)):
        return abs(v) > 1e-12
    if isinstance(v, str):
        return v != ""
    if isinstance(v, list):
        return len(v) > 0
    return True  # dates, times, repeat instances: something is there


def to_number(v: Value) -> float:
    """XPath number(): NaN for anything that isn't a number; dates count days since 1970-01-01."""
    t = type(v)
    if t is float:
        return v  # type: ignore[return-value]
    if t is str:
        return _text_to_number(v)  # type: ignore[arg-type]
    if isinstance(v, bool):
        return 1.0 if v else 0.0
    if isinstance(v, (int, float)):
        return float(v)
    if isinstance(v, str):
        return _text_to_number(v)
    if isinstance(v, list):
        return to_number(v[0]) if v else NAN
    if isinstance(v, datetime.datetime):
        return (v.replace(tzinfo=None) - _EPOCH) / _ONE_DAY
    if isinstance(v, datetime.date):
        return float(v.toordinal() - _EPOCH_ORDINAL)
    if isinstance(v, datetime.time):
        return _fraction_of_day(v)
    return NAN


def to_string(v: Value) -> str:
    """XPath string(): 3.0 is "3", NaN is "NaN", dates are ISO 8601, a NodeSet is its first item."""
    t = type(v)
    if t is str:
        return v  # type: ignore[return-value]
    if t is float:
        return _number_to_string(v)  # type: ignore[arg-type]
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return _number_to_string(float(v))
    if isinstance(v, str):
        return str(v)
    if isinstance(v, list):
        return to_string(v[0]) if v else ""
    if isinstance(v, datetime.datetime):
        return v.isoformat(timespec="seconds")
    if isinstance(v, datetime.date):
        return v.isoformat()
    if isinstance(v, datetime.time):
        return v.isoformat(timespec="seconds")
    return ""  # a repeat instance has no text of its own


def _text_to_number(text: str) -> float:
    text = text.replace(",", ".").strip()
    if _NUMERIC_TEXT.fullmatch(text):
        try:
            return float(text)
        except ValueError:  # "1-2", "--", "."
            pass
    return NAN


def _number_to_string(n: float) -> str:
    if n != n:
        return "NaN"
    if n in (INF, -INF):
        return "Infinity" if n > 0 else "-Infinity"
    if abs(n) < 1e-12:
        return "0"
    whole = int(n)
    if abs(n - whole) < 1e-12:  # JavaRosa's tolerance: 2.0000000000000004 prints as "2"
        return str(whole)
    text = repr(n)
    if "e" in text:  # XPath numbers never use exponents: 1e-07 is "0.0000001"
        text = format(Decimal(text), "f")
    return text


def _first(v: Value) -> Value:
    """A NodeSet as a single value: its first item, or "" when it is empty."""
    if isinstance(v, list):
        return v[0] if v else ""
    return v


def _items(v: Value) -> list[Value]:
    """A value as a node-set: a scalar where a node-set is expected counts as one item."""
    return list(v) if isinstance(v, list) else [v]


def _category(v: Value) -> str:
    if isinstance(v, bool):
        return _BOOL
    if isinstance(v, (float, int)):
        return _NUMBER
    if isinstance(v, str):
        return _STRING
    if isinstance(v, list):
        return _NODESET
    if isinstance(v, (datetime.date, datetime.time)):
        return _DATE
    return _OTHER


def _java_int(n: float) -> int:
    """Java's (int) cast, which JavaRosa uses for indexes: NaN is 0, out of range saturates."""
    if n != n:
        return 0
    if n >= 2147483647:
        return 2147483647
    if n <= -2147483648:
        return -2147483648
    return int(n)


# --- Dates and times -------------------------------------------------------------------------

_DATE_TEXT = re.compile(
    r"\s*(\d{4})-(\d{1,2})-(\d{1,2})"
    r"(?:[T ](\d{1,2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?)?"
    r"\s*(?:Z|[+-]\d{2}(?::?\d{2})?)?\s*",
    re.ASCII,
)
_TIME_TEXT = re.compile(
    r"\s*(\d{1,2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?\s*(?:Z|[+-]\d{2}(?::?\d{2})?)?\s*",
    re.ASCII,
)


def _parse_date_time(text: str) -> datetime.date | datetime.datetime | datetime.time | None:
    """Read '2024-03-01', '2024-03-01T10:20:30.400+02:00' or '10:20' the lenient way JavaRosa
    does (single-digit months and days are fine). The UTC offset is dropped: wall-clock time."""
    try:
        if m := _DATE_TEXT.fullmatch(text):
            year, month, day, hour, minute, second, fraction = m.groups()
            date = datetime.date(int(year), int(month), int(day))
            if hour is None:
                return date
            clock = _clock(hour, minute, second, fraction)
            return datetime.datetime.combine(date, clock)
        if m := _TIME_TEXT.fullmatch(text):
            return _clock(*m.groups())
    except ValueError:  # month 13, 25 o'clock, year 0
        return None
    return None


def _clock(hour: str, minute: str, second: str | None, fraction: str | None) -> datetime.time:
    micro = int((fraction or "0")[:6].ljust(6, "0"))
    return datetime.time(int(hour), int(minute), int(second or 0), micro)


def _fraction_of_day(t: datetime.time) -> float:
    seconds = t.hour * 3600 + t.minute * 60 + t.second + t.microsecond / 1e6
    return seconds / _SECONDS_PER_DAY


def _date_from_days(n: float) -> datetime.date | None:
    try:
        return datetime.date.fromordinal(_EPOCH_ORDINAL + int(n))
    except (ValueError, OverflowError):  # NaN, infinite, or beyond year 1..9999
        return None


def _datetime_from_days(n: float) -> datetime.datetime | None:
    try:
        return _EPOCH + datetime.timedelta(days=n)
    except (ValueError, OverflowError):
        return None


def _as_datetime(v: Value) -> datetime.datetime | None:
    """JavaRosa's toDate(v, preserveTime=true), for format-date() and date-time()."""
    v = _first(v)
    if isinstance(v, datetime.datetime):
        return v
    if isinstance(v, datetime.date):
        return datetime.datetime.combine(v, datetime.time())
    if isinstance(v, datetime.time):
        return datetime.datetime.combine(_EPOCH.date(), v)
    if isinstance(v, str):
        parsed = _parse_date_time(v) if v else None
        return None if parsed is None else _as_datetime(parsed)
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return _datetime_from_days(v)
    return None


def _text_as_days(text: str, like: Value) -> float:
    """Text compared with a date-like value, read as the same kind of value, in days."""
    parsed = _parse_date_time(text)
    if parsed is None:
        return NAN
    if isinstance(like, datetime.time):
        if isinstance(parsed, datetime.datetime):
            parsed = parsed.time()
        return to_number(parsed) if isinstance(parsed, datetime.time) else NAN
    return NAN if isinstance(parsed, datetime.time) else to_number(parsed)


# --- Comparisons and arithmetic ---------------------------------------------------------------


def _any_pair(test: Callable[[Value, Value], bool], a: Value, b: Value) -> bool:
    """XPath's rule for a node-set in a comparison: true if any item satisfies it. A node-set
    compared with a boolean is converted to a boolean first, as XPath 1.0 says."""
    if isinstance(a, list):
        if isinstance(b, bool):
            return test(to_bool(a), b)
        return any(test(item, b) for item in a)
    if isinstance(a, bool):
        return test(a, to_bool(b))
    return any(test(a, item) for item in b)  # type: ignore[union-attr]


def _equals(a: Value, b: Value) -> bool:
    ca, cb = _category(a), _category(b)
    if ca == _NODESET or cb == _NODESET:
        return _any_pair(_equals, a, b)
    if ca == _BOOL or cb == _BOOL:
        return to_bool(a) == to_bool(b)
    if ca == _NUMBER or cb == _NUMBER:
        x, y = to_number(a), to_number(b)
        # Text that isn't a number is compared as text, so 'abc' = 5 is plainly false and
        # a NaN from the number side can never make "" equal to anything.
        if (ca == _STRING and x != x) or (cb == _STRING and y != y):
            return to_string(a) == to_string(b)
        return x == y or abs(x - y) < 1e-12
    if ca == _DATE or cb == _DATE:
        x = _text_as_days(a, b) if ca == _STRING else to_number(a)  # type: ignore[arg-type]
        y = _text_as_days(b, a) if cb == _STRING else to_number(b)  # type: ignore[arg-type]
        if x == x and y == y:
            return x == y or abs(x - y) < 1e-12
    return to_string(a) == to_string(b)


def _not_equals(a: Value, b: Value) -> bool:
    # Not simply `not _equals`: an empty node-set is neither = nor != to anything.
    if isinstance(a, list) or isinstance(b, list):
        return _any_pair(_not_equals, a, b)
    return not _equals(a, b)


def _relate(cmp: Callable[[float, float], bool], a: Value, b: Value) -> bool:
    """`<`, `<=`, `>`, `>=`: always numeric; text beside a date is read as a date."""
    if isinstance(a, list) or isinstance(b, list):
        return _any_pair(functools.partial(_relate, cmp), a, b)
    ca, cb = _category(a), _category(b)
    if ca == _DATE and cb == _STRING:
        return cmp(to_number(a), _text_as_days(b, a))  # type: ignore[arg-type]
    if cb == _DATE and ca == _STRING:
        return cmp(_text_as_days(a, b), to_number(b))  # type: ignore[arg-type]
    return cmp(to_number(a), to_number(b))


def _divide(a: float, b: float) -> float:
    try:
        return a / b
    except ZeroDivisionError:  # XPath follows IEEE 754: 1 div 0 is Infinity, 0 div 0 NaN
        if a != a or a == 0:
            return NAN
        return math.copysign(INF, a) * math.copysign(1.0, b)


def _modulo(a: float, b: float) -> float:
    try:
        return math.fmod(a, b)  # the sign of the dividend, as XPath's mod
    except ValueError:  # x mod 0, Infinity mod x
        return NAN


# --- Tokenizer ---------------------------------------------------------------------------------


class _Problem(Exception):
    """A syntax error at a position; parse() turns it into an ExpressionError with the text."""

    def __init__(self, message: str, position: int | None):
        super().__init__(message)
        self.message = message
        self.position = position


class _Token(NamedTuple):
    kind: str  # "number", "string", "ref", "name", "op", "(", ")", ",", ".", "..", "end"
    value: str | float
    pos: int
    source: str  # the token as written, for messages


_NUMBER_TOKEN = re.compile(r"[0-9]+(?:\.[0-9]*)?|\.[0-9]+")
# Function names: count-selected, format-date-time, jr:choice-name. A '-' belongs to the name
# only when a letter follows, so `5 div-3` still reads as `5 div -3`.
_NAME_TOKEN = re.compile(
    r"[A-Za-z_]\w*(?:-[A-Za-z_]\w*)*(?::[A-Za-z_]\w*(?:-[A-Za-z_]\w*)*)?", re.ASCII
)
_REF_TOKEN = re.compile(r"\$\{([^\W\d][\w.-]*)\}")
_OPERATOR_CHARS = ("!=", "<=", ">=", "=", "<", ">", "+", "-", "*")


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c.isspace():
            i += 1
        elif m := _NUMBER_TOKEN.match(text, i):
            tokens.append(_Token("number", float(m.group()), i, m.group()))
            i = m.end()
        elif c == ".":
            source = ".." if text.startswith("..", i) else "."
            tokens.append(_Token(source, source, i, source))
            i += len(source)
        elif c in "'\"":
            end = text.find(c, i + 1)  # XPath has no escapes: the other quote kind nests
            if end < 0:
                raise _Problem("unterminated string literal", i)
            tokens.append(_Token("string", text[i + 1 : end], i, text[i : end + 1]))
            i = end + 1
        elif c == "$":
            m = _REF_TOKEN.match(text, i)
            if m is None:
                raise _Problem(_bad_reference(text, i), i)
            tokens.append(_Token("ref", m.group(1), i, m.group()))
            i = m.end()
        elif c in "(),":
            tokens.append(_Token(c, c, i, c))
            i += 1
        elif text.startswith("==", i):
            raise _Problem("'==' is not an operator; use '=' to compare", i)
        elif op := next((op for op in _OPERATOR_CHARS if text.startswith(op, i)), None):
            tokens.append(_Token("op", op, i, op))
            i += len(op)
        elif m := _NAME_TOKEN.match(text, i):
            tokens.append(_Token("name", m.group(), i, m.group()))
            i = m.end()
        elif c == "/" and re.search(r"\binstance\s*\(", text[:i]):
            raise _Problem(
                "only lookups of the form instance('name')/root/item[condition]/column are "
                "supported",
                i,
            )
        elif c == "/":
            raise _Problem(
                "XPath paths like /data/name are not supported; refer to questions as ${name}", i
            )
        elif c in "[]":
            raise _Problem("XPath predicates [...] are not supported", i)
        elif c == "|":
            raise _Problem("node-set unions with '|' are not supported", i)
        else:
            raise _Problem(f"unexpected character {c!r}", i)
    tokens.append(_Token("end", "", n, "end of expression"))
    return tokens


def _bad_reference(text: str, i: int) -> str:
    if not text.startswith("${", i):
        return "'$' must start a question reference like ${name}"
    close = text.find("}", i)
    if close < 0:
        return "unterminated reference: '${' without '}'"
    return f"invalid question name in {text[i : close + 1]}"


# --- Syntax tree and parser --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Literal:
    value: str | float
    pos: int


@dataclass(frozen=True, slots=True)
class _Ref:
    name: str
    pos: int


@dataclass(frozen=True, slots=True)
class _Current:
    pos: int


@dataclass(frozen=True, slots=True)
class _Parent:
    pos: int


@dataclass(frozen=True, slots=True)
class _Negate:
    operand: _Node
    pos: int


@dataclass(frozen=True, slots=True)
class _Binary:
    op: str
    left: _Node
    right: _Node
    pos: int


@dataclass(frozen=True, slots=True)
class _Call:
    name: str
    args: tuple[_Node, ...]
    pos: int


_Node: TypeAlias = _Literal | _Ref | _Current | _Parent | _Negate | _Binary | _Call

# XPath 1.0, loosest first. All binary operators are left-associative.
_PRECEDENCE = {
    "or": 1,
    "and": 2,
    "=": 3,
    "!=": 3,
    "<": 4,
    "<=": 4,
    ">": 4,
    ">=": 4,
    "+": 5,
    "-": 5,
    "*": 6,
    "div": 6,
    "mod": 6,
}
_WORD_OPERATORS = frozenset({"and", "or", "div", "mod"})

# Deep enough for any real form (a 60-branch if() chain, a sum of 150 fields), shallow
# enough that parsing, compiling and evaluating stay far from Python's recursion limit.
_MAX_NESTING = 100
_MAX_DEPTH = 200


class _Parser:
    """Recursive descent for operands, precedence climbing for binary operators."""

    def __init__(self, text: str):
        self.tokens = _tokenize(text)
        self.i = 0
        self.nesting = 0

    def parse(self) -> _Node:
        if self.peek().kind == "end":
            raise _Problem("empty expression", 0)
        node = self.binary(1)
        token = self.peek()
        if token.kind == ")":
            raise _Problem("unbalanced parenthesis: ')' without a matching '('", token.pos)
        if token.kind != "end":
            raise _Problem(f"unexpected {_describe(token)}; expected an operator", token.pos)
        return node

    def peek(self) -> _Token:
        return self.tokens[self.i]

    def advance(self) -> _Token:
        token = self.tokens[self.i]
        self.i += 1
        return token

    def binary(self, min_precedence: int) -> _Node:
        left = self.unary()
        while True:
            token = self.peek()
            precedence = _binary_precedence(token)
            if precedence is None or precedence < min_precedence:
                return left
            self.advance()
            right = self.binary(precedence + 1)
            left = _Binary(str(token.value), left, right, token.pos)

    def unary(self) -> _Node:
        token = self.peek()
        if token.kind == "op" and token.value == "-":
            self.advance()
            operand = self.nested(self.unary, token.pos)
            if isinstance(operand, _Literal) and isinstance(operand.value, float):
                return _Literal(-operand.value, token.pos)  # so `. > -1` compiles as a constant
            return _Negate(operand, token.pos)
        return self.primary()

    def nested(self, parse: Callable[[], _Node], pos: int) -> _Node:
        self.nesting += 1
        if self.nesting > _MAX_NESTING:
            raise _Problem(f"expression is nested more than {_MAX_NESTING} levels deep", pos)
        node = parse()
        self.nesting -= 1
        return node

    def primary(self) -> _Node:
        token = self.advance()
        match token.kind:
            case "number" | "string":
                return _Literal(token.value, token.pos)
            case "ref":
                return _Ref(str(token.value), token.pos)
            case ".":
                return _Current(token.pos)
            case "..":
                return _Parent(token.pos)  # only valid as position(..); the compiler checks
            case "(":
                inner = self.nested(lambda: self.binary(1), token.pos)
                self.expect_close(token, "')'")
                return inner
            case "name" if self.peek().kind == "(":
                return self.call(token)
            case "name" if token.value in _WORD_OPERATORS:
                raise _Problem(f"unexpected operator '{token.value}'", token.pos)
            case "name":
                raise _Problem(
                    f"unexpected name '{token.value}'; refer to questions as ${{{token.value}}}",
                    token.pos,
                )
            case "end":
                raise _Problem("unexpected end of expression", token.pos)
            case _:
                raise _Problem(f"unexpected {_describe(token)}", token.pos)

    def call(self, name: _Token) -> _Call:
        function = _FUNCTIONS.get(str(name.value))
        if function is None and name.value == "instance":
            raise _Problem(
                "instance('name') must be followed by /root/item[condition]/column", name.pos
            )
        if function is None:
            raise _Problem(f"unknown function '{name.value}'", name.pos)
        paren = self.advance()
        args: list[_Node] = []
        if self.peek().kind != ")":
            while True:
                args.append(self.nested(lambda: self.binary(1), paren.pos))
                if self.peek().kind != ",":
                    break
                self.advance()
        self.expect_close(paren, "',' or ')'")
        most = len(args) if function.max_args is None else function.max_args
        if not function.min_args <= len(args) <= most:
            raise _Problem(
                f"function '{name.value}' takes {function.arity()}, got {len(args)}", name.pos
            )
        return _Call(str(name.value), tuple(args), name.pos)

    def expect_close(self, paren: _Token, expected: str) -> None:
        token = self.advance()
        if token.kind == ")":
            return
        if token.kind == "end":
            raise _Problem("unbalanced parenthesis: '(' is never closed", paren.pos)
        raise _Problem(f"unexpected {_describe(token)}; expected {expected}", token.pos)


def _binary_precedence(token: _Token) -> int | None:
    if token.kind == "op" or (token.kind == "name" and token.value in _WORD_OPERATORS):
        return _PRECEDENCE[str(token.value)]
    return None


def _describe(token: _Token) -> str:
    """How a token reads in a message: number 2, string 'a', name 'x', reference ${x}, ')'."""
    match token.kind:
        case "number" | "string":
            return f"{token.kind} {token.source}"
        case "name":
            return f"name '{token.source}'"
        case "ref":
            return f"reference {token.source}"
        case "end":
            return "end of expression"
    return f"'{token.source}'"


def _depth(root: _Node) -> int:
    """Height of the tree, without recursion (a long `a + b + c + ...` is a deep tree)."""
    deepest = 0
    stack = [(root, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        match node:
            case _Negate(operand=operand):
                stack.append((operand, depth + 1))
            case _Binary(left=left, right=right):
                stack.extend([(left, depth + 1), (right, depth + 1)])
            case _Call(args=args):
                stack.extend((arg, depth + 1) for arg in args)
    return deepest


# --- Compiler ----------------------------------------------------------------------------------

_RELATIONAL: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
_MIRRORED = {"<": ">", "<=": ">=", ">": "<", ">=": "<=", "=": "=", "!=": "!="}
_ARITHMETIC: dict[str, Callable[[float, float], float]] = {
    "+": operator.add,
    "-": operator.sub,
    "*": operator.mul,
    "div": _divide,
    "mod": _modulo,
}


class _Compiler:
    """Turns a syntax tree into closures, noting the references it meets on the way."""

    def __init__(self) -> None:
        self.references: set[str] = set()
        self.uses_current = False

    def compile(self, node: _Node) -> tuple[Fn, str]:
        """A closure computing the node's value, and its static kind (_BOOL, _NUMBER, ...)."""
        match node:
            case _Literal(value=value):
                return (lambda ctx: value), (_NUMBER if isinstance(value, float) else _STRING)
            case _Ref(name=name):
                self.references.add(name)
                return (lambda ctx: ctx.resolve(name)), _ANY
            case _Current():
                self.uses_current = True
                return (lambda ctx: ctx.current()), _ANY
            case _Parent(pos=pos):
                raise _Problem("'..' is only supported as position(..)", pos)
            case _Negate(operand=operand):
                fn = self.number(operand)
                return (lambda ctx: -fn(ctx)), _NUMBER
            case _Binary(op="and" | "or"):
                return self.logical(node), _BOOL
            case _Binary(op=op) if op in _ARITHMETIC:
                return self.arithmetic(node), _NUMBER
            case _Binary():
                return self.comparison(node), _BOOL
            case _Call(name=name):
                function = _FUNCTIONS[name]
                return function.build(self, node), function.kind
        raise AssertionError(f"unknown node {node!r}")

    def fn(self, node: _Node) -> Fn:
        return self.compile(node)[0]

    def number(self, node: _Node) -> Callable[[EvaluationContext], float]:
        fn, kind = self.compile(node)
        if kind == _NUMBER:
            return fn  # type: ignore[return-value]
        return lambda ctx: to_number(fn(ctx))

    def boolean(self, node: _Node) -> Callable[[EvaluationContext], bool]:
        fn, kind = self.compile(node)
        if kind == _BOOL:
            return fn  # type: ignore[return-value]
        return lambda ctx: to_bool(fn(ctx))

    def logical(self, node: _Binary) -> Fn:
        left, right = self.boolean(node.left), self.boolean(node.right)
        if node.op == "and":
            return lambda ctx: left(ctx) and right(ctx)
        return lambda ctx: left(ctx) or right(ctx)

    def arithmetic(self, node: _Binary) -> Fn:
        left, right = self.fn(node.left), self.fn(node.right)
        apply = _ARITHMETIC[node.op]

        def arithmetic(ctx: EvaluationContext) -> float:
            a, b = left(ctx), right(ctx)
            # Inline fast path: answers to number questions are already floats.
            if type(a) is not float:
                a = to_number(a)
            if type(b) is not float:
                b = to_number(b)
            return apply(a, b)  # type: ignore[arg-type]

        return arithmetic

    def comparison(self, node: _Binary) -> Fn:
        op, left_node, right_node = node.op, node.left, node.right
        if isinstance(left_node, _Literal) and not isinstance(right_node, _Literal):
            # `18 <= ${age}` is `${age} >= 18`: put the constant on the right to specialise.
            op, left_node, right_node = _MIRRORED[op], right_node, left_node
        left = self.fn(left_node)
        if isinstance(right_node, _Literal):
            return _compare_with_constant(op, left, right_node.value)
        right = self.fn(right_node)
        if op == "=":
            return lambda ctx: _equals(left(ctx), right(ctx))
        if op == "!=":
            return lambda ctx: _not_equals(left(ctx), right(ctx))
        cmp = _RELATIONAL[op]
        return lambda ctx: _relate(cmp, left(ctx), right(ctx))


def _compare_with_constant(op: str, left: Fn, constant: str | float) -> Fn:
    """The common `${x} >= 18` / `${x} = 'yes'`: the value's usual type is tested inline and
    only anything unusual takes the general path."""
    if op in ("=", "!="):
        negate = op == "!="
        if isinstance(constant, float):

            def equals_number(ctx: EvaluationContext) -> bool:
                a = left(ctx)
                if type(a) is float:
                    return (a == constant or abs(a - constant) < 1e-12) != negate  # type: ignore[operator]
                return _not_equals(a, constant) if negate else _equals(a, constant)

            return equals_number

        def equals_text(ctx: EvaluationContext) -> bool:
            a = left(ctx)
            if type(a) is str:
                return (a == constant) != negate
            return _not_equals(a, constant) if negate else _equals(a, constant)

        return equals_text

    cmp = _RELATIONAL[op]
    number = to_number(constant)

    def relate(ctx: EvaluationContext) -> bool:
        a = left(ctx)
        if type(a) is float:
            return cmp(a, number)  # type: ignore[arg-type]
        return _relate(cmp, a, constant)

    return relate


# --- Functions ---------------------------------------------------------------------------------

Builder: TypeAlias = Callable[[_Compiler, _Call], Fn]


@dataclass(frozen=True)
class _Function:
    min_args: int
    max_args: int | None  # None: any number
    kind: str  # static result kind, see _BOOL etc.
    build: Builder

    def arity(self) -> str:
        """ "2 arguments", "1 or 2 arguments", "at least 1 argument", for messages."""
        low, high = self.min_args, self.max_args
        plural = "" if low == 1 else "s"
        if high is None:
            return f"at least {low} argument{plural}"
        if low == high:
            return f"{low} argument{plural}"
        if high == low + 1:
            return f"{low} or {high} arguments"
        return f"{low} to {high} arguments"


def _eager(impl: Callable[..., Value]) -> Builder:
    """A builder for a function that only needs the values of its arguments."""

    def build(compiler: _Compiler, call: _Call) -> Fn:
        fns = [compiler.fn(arg) for arg in call.args]
        match fns:
            case []:
                return lambda ctx: impl()
            case [a]:
                return lambda ctx: impl(a(ctx))
            case [a, b]:
                return lambda ctx: impl(a(ctx), b(ctx))
            case _:
                return lambda ctx: impl(*[fn(ctx) for fn in fns])

    return build


# Lazy and context-dependent functions


def _build_if(compiler: _Compiler, call: _Call) -> Fn:
    # Only the branch taken is evaluated, as in JavaRosa: `if(${n} > 0, 100 div ${n}, 0)`.
    condition = compiler.boolean(call.args[0])
    then, otherwise = compiler.fn(call.args[1]), compiler.fn(call.args[2])
    return lambda ctx: then(ctx) if condition(ctx) else otherwise(ctx)


def _is_null(v: Value) -> bool:
    v = _first(v)
    return v == "" or (isinstance(v, float) and v != v)


def _build_coalesce(compiler: _Compiler, call: _Call) -> Fn:
    first, second = compiler.fn(call.args[0]), compiler.fn(call.args[1])

    def coalesce(ctx: EvaluationContext) -> Value:
        value = first(ctx)
        return second(ctx) if _is_null(value) else value

    return coalesce


def _build_once(compiler: _Compiler, call: _Call) -> Fn:
    # The question keeps the first non-empty value it was given: once(uuid()) is stable.
    fn = compiler.fn(call.args[0])

    def once(ctx: EvaluationContext) -> Value:
        current = ctx.current()
        return current if to_string(current) != "" else fn(ctx)

    return once


def _build_today(compiler: _Compiler, call: _Call) -> Fn:
    return lambda ctx: ctx.now.date()


def _build_now(compiler: _Compiler, call: _Call) -> Fn:
    return lambda ctx: ctx.now


def _build_position(compiler: _Compiler, call: _Call) -> Fn:
    if call.args and not isinstance(call.args[0], _Parent):
        raise _Problem("position() only supports '..' as its argument", call.args[0].pos)
    return lambda ctx: float(ctx.position())


def _build_indexed_repeat(compiler: _Compiler, call: _Call) -> Fn:
    field_node, repeat_node, index_node = call.args
    for number, node in ((1, field_node), (2, repeat_node)):
        if not isinstance(node, _Ref):
            raise _Problem(
                f"argument {number} of indexed-repeat() must be a ${{reference}}", node.pos
            )
    name, repeat_name = field_node.name, repeat_node.name  # type: ignore[union-attr]
    compiler.references.update((name, repeat_name))
    index = compiler.fn(index_node)

    def indexed_repeat(ctx: EvaluationContext) -> Value:
        # JavaRosa quietly uses the first instance for an index that isn't yet a positive
        # number (an empty field while a repeat is being added).
        i = _java_int(to_number(index(ctx)))
        return ctx.indexed_repeat(name, repeat_name, i if i > 0 else 1)

    return indexed_repeat


_QUOTED_REF = re.compile(r"\s*\$\{([^\W\d][\w.-]*)\}\s*")


def _build_choice_name(compiler: _Compiler, call: _Call) -> Fn:
    value_node, field_node = call.args
    if isinstance(field_node, _Ref):
        field = field_node.name
    elif (
        isinstance(field_node, _Literal)
        and isinstance(field_node.value, str)
        and (m := _QUOTED_REF.fullmatch(field_node.value))
    ):
        field = m.group(1)
    else:
        raise _Problem(
            "argument 2 of jr:choice-name() must name the select question, like '${field}'",
            field_node.pos,
        )
    compiler.references.add(field)
    value = compiler.fn(value_node)

    def choice_name(ctx: EvaluationContext) -> str:
        chosen = to_string(value(ctx))
        return ctx.choice_label(field, chosen) if chosen else ""

    return choice_name


class _ItemContext:
    """What a lookup's condition sees: the columns of one item of a secondary instance as
    `${__choice__column}`, everything else from the form's context."""

    __slots__ = ("_ctx", "_item", "now")

    def __init__(self, ctx: EvaluationContext, item: dict[str, str]):
        self._ctx = ctx
        self._item = item
        self.now = ctx.now

    def resolve(self, name: str) -> Value:
        if name.startswith(CHOICE_COLUMN_PREFIX):
            return self._item.get(name[len(CHOICE_COLUMN_PREFIX) :], "")
        return self._ctx.resolve(name)

    def __getattr__(self, name: str):
        return getattr(self._ctx, name)


def _rows(ctx: EvaluationContext, instance: str) -> list[dict[str, str]]:
    """The items of a secondary instance: a choice list of the form, or a CSV/GeoJSON file
    attached to it. A context that has none (a test's) sees no items."""
    rows = getattr(ctx, "instance_rows", None)
    return rows(instance) if rows is not None else []


def _build_lookup(compiler: _Compiler, call: _Call) -> Fn:
    """instance('name')/root/item[condition]/column, rewritten by parse() into
    odk:lookup('name', 'column', condition): the column of the first item meeting the
    condition, as ODK does for a path that selects one node."""
    instance_node, column_node, condition_node = call.args
    instance, column = compiler.fn(instance_node), compiler.fn(column_node)
    condition = compiler.fn(condition_node)

    def lookup(ctx: EvaluationContext) -> Value:
        name, wanted = to_string(instance(ctx)), to_string(column(ctx))
        for item in _rows(ctx, name):
            if to_bool(condition(_ItemContext(ctx, item))):  # type: ignore[arg-type]
                return item.get(wanted, "")
        return ""

    return lookup


def _build_pulldata(compiler: _Compiler, call: _Call) -> Fn:
    """pulldata('file', 'column', 'key_column', key): ODK's lookup in a CSV attached to the
    form (file.csv): `column` of the first row whose `key_column` equals `key`, else ""."""
    file, column, key_column, key = (compiler.fn(arg) for arg in call.args)

    def pulldata(ctx: EvaluationContext) -> Value:
        wanted, key_name, key_value = to_string(column(ctx)), to_string(key_column(ctx)), key(ctx)
        key_text = to_string(key_value)
        for row in _rows(ctx, to_string(file(ctx))):
            if row.get(key_name) == key_text:
                return row.get(wanted, "")
        return ""

    return pulldata


def _build_of_current(impl: Callable[[Value], Value]) -> Builder:
    """string-length() and normalize-space() without an argument work on `.`."""
    eager = _eager(impl)

    def build(compiler: _Compiler, call: _Call) -> Fn:
        if not call.args:
            call = _Call(call.name, (_Current(call.pos),), call.pos)
        return eager(compiler, call)

    return build


def _build_regex(compiler: _Compiler, call: _Call) -> Fn:
    text = compiler.fn(call.args[0])
    pattern_node = call.args[1]
    if isinstance(pattern_node, _Literal) and isinstance(pattern_node.value, str):
        # Compiled once with the form. A pattern Python can't compile (Java-only syntax such
        # as \p{L}) just never matches, rather than making the whole form unusable.
        compiled = _compile_regex(pattern_node.value)
        if compiled is None:
            return lambda ctx: False
        return lambda ctx: compiled.fullmatch(to_string(text(ctx))) is not None
    pattern = compiler.fn(pattern_node)
    return lambda ctx: _regex(text(ctx), pattern(ctx))


@functools.lru_cache(maxsize=256)
def _compile_regex(pattern: str) -> re.Pattern[str] | None:
    try:
        return re.compile(pattern)
    except (re.error, OverflowError, RecursionError, ValueError):
        return None


def _regex(text: Value, pattern: Value) -> bool:
    # JavaRosa uses Pattern.matches(): the whole text must match, as ODK's docs say.
    compiled = _compile_regex(to_string(pattern))
    return compiled is not None and compiled.fullmatch(to_string(text)) is not None


# Text and selects


def _selected(choices: Value, choice: Value) -> bool:
    wanted = to_string(choice).strip()
    return wanted != "" and wanted in to_string(choices).split()


def _count_selected(choices: Value) -> float:
    return float(len(to_string(choices).split()))


def _selected_at(choices: Value, index: Value) -> str:
    items = to_string(choices).split()
    i = _java_int(to_number(index))  # 0-based, as in ODK
    return items[i] if 0 <= i < len(items) else ""


def _concat(*args: Value) -> str:
    return "".join(to_string(item) for arg in args for item in _items(arg))


def _join(separator: Value, *args: Value) -> str:
    return to_string(separator).join(to_string(item) for arg in args for item in _items(arg))


def _substr(text: Value, start: Value, end: Value | None = None) -> str:
    """ODK's substr(): 0-based start, exclusive end; negative positions count from the end."""
    s = to_string(text)
    length = len(s)
    first = _java_int(to_number(start))
    last = length if end is None else _java_int(to_number(end))
    if first < 0:
        first += length
    if last < 0:
        last += length
    first, last = min(max(0, first), length), min(max(0, last), length)
    return s[first:last] if first <= last else ""


def _substring_before(text: Value, part: Value) -> str:
    s, p = to_string(text), to_string(part)
    index = s.find(p)
    return s[:index] if index >= 0 else ""


def _substring_after(text: Value, part: Value) -> str:
    s, p = to_string(text), to_string(part)
    index = s.find(p)
    return s[index + len(p) :] if index >= 0 else ""


def _translate(text: Value, source: Value, target: Value) -> str:
    mapping: dict[str, str | None] = {}
    replacements = to_string(target)
    for i, char in enumerate(to_string(source)):
        mapping.setdefault(char, replacements[i] if i < len(replacements) else None)
    return to_string(text).translate(str.maketrans(mapping))  # type: ignore[arg-type]


def _boolean_from_string(v: Value) -> bool:
    s = to_string(v)
    return s.lower() == "true" or s == "1"


# Node-sets


def _count(v: Value) -> float:
    # A reference to a field outside any repeat is a node-set of one node, even when empty.
    return float(len(v)) if isinstance(v, list) else 1.0


def _count_non_empty(v: Value) -> float:
    return float(sum(1 for item in _items(v) if to_string(item) != ""))


def _numbers(args: tuple[Value, ...]) -> list[float]:
    """The numeric values among the items, skipping empty and non-numeric ones (JavaRosa)."""
    numbers = (to_number(item) for arg in args for item in _items(arg))
    return [n for n in numbers if n == n]


def _sum(v: Value) -> float:
    return float(sum(_numbers((v,))))


def _max(*args: Value) -> float:
    numbers = _numbers(args)
    return max(numbers) if numbers else NAN


def _min(*args: Value) -> float:
    numbers = _numbers(args)
    return min(numbers) if numbers else NAN


# Numbers


def _int(v: Value) -> float:
    n = to_number(v)
    return float(math.trunc(n)) if math.isfinite(n) else n


# Enough digits for round(1.7976931348623157e308, 30).
_ROUNDING = Context(prec=400)


def _round(v: Value, digits: Value = 0.0) -> float:
    """JavaRosa's round(): halves round up (towards +Infinity, so round(-2.5) is -2) on the
    decimal digits as printed, so round(1.005, 2) is 1.01 despite binary floating point."""
    n = to_number(v)
    places = _java_int(to_number(digits))
    if not math.isfinite(n):
        return n
    if not -30 <= places <= 30:
        return NAN
    rounding = ROUND_HALF_DOWN if n < 0 else ROUND_HALF_UP
    quantum = Decimal(1).scaleb(-places)
    return float(Decimal(repr(n)).quantize(quantum, rounding=rounding, context=_ROUNDING))


def _unary_math(fn: Callable[[float], float]) -> Callable[[Value], float]:
    """A math function as XPath wants it: NaN instead of a domain error, Infinity on overflow."""

    def apply(v: Value) -> float:
        try:
            return fn(to_number(v))
        except ValueError:
            return NAN
        except OverflowError:
            return INF

    return apply


def _floor(n: float) -> float:
    return float(math.floor(n)) if math.isfinite(n) else n


def _ceiling(n: float) -> float:
    return float(math.ceil(n)) if math.isfinite(n) else n


def _log(fn: Callable[[float], float]) -> Callable[[float], float]:
    return lambda n: -INF if n == 0 else fn(n)  # Java's log(0) is -Infinity, not an error


def _pow(base: Value, exponent: Value) -> float:
    a, b = to_number(base), to_number(exponent)
    if b != b:
        return NAN  # Java: pow(1, NaN) is NaN, where C says 1
    odd = b.is_integer() and b % 2 == 1 if math.isfinite(b) else False
    try:
        return math.pow(a, b)
    except OverflowError:
        return -INF if a < 0 and odd else INF
    except ValueError:
        if a == 0 and b < 0:  # pow(0, -1) is Infinity in Java
            return math.copysign(INF, a) if odd else INF
        return NAN  # a negative number to a fractional power


def _atan2(y: Value, x: Value) -> float:
    return math.atan2(to_number(y), to_number(x))


# Dates


def _date(v: Value) -> Value:
    v = _first(v)
    if isinstance(v, datetime.datetime):
        return v.date()
    if isinstance(v, datetime.date):
        return v
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return _date_from_days(v) or NAN  # days since 1970-01-01
    if isinstance(v, str) and v:
        parsed = _parse_date_time(v)
        if isinstance(parsed, datetime.datetime):
            return parsed.date()
        if isinstance(parsed, datetime.date):
            return parsed
    return ""


def _date_time(v: Value) -> Value:
    v = _first(v)
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return _datetime_from_days(v) or NAN
    if v == "" or isinstance(v, datetime.time):
        return ""
    return _as_datetime(v) or ""


def _decimal_date_time(v: Value) -> Value:
    v = _first(v)
    if isinstance(v, str):
        if v == "":
            return ""
        parsed = _parse_date_time(v)
        return NAN if parsed is None else to_number(parsed)
    if isinstance(v, (int, float, datetime.date, datetime.time)) and not isinstance(v, bool):
        return to_number(v)
    return NAN


def _decimal_time(v: Value) -> Value:
    v = _first(v)
    if isinstance(v, str):
        if v == "":
            return ""
        parsed = _parse_date_time(v)
        if parsed is None:
            return NAN
        v = parsed
    if isinstance(v, datetime.datetime):
        return _fraction_of_day(v.time())
    if isinstance(v, datetime.date):
        return 0.0
    if isinstance(v, datetime.time):
        return _fraction_of_day(v)
    if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
        return v - math.floor(v)
    return NAN


_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_DATE_CODES: dict[str, Callable[[datetime.datetime], str]] = {
    "Y": lambda d: f"{d.year:04d}",
    "y": lambda d: f"{d.year:04d}"[2:],
    "m": lambda d: f"{d.month:02d}",
    "n": lambda d: str(d.month),
    "b": lambda d: _MONTHS[d.month - 1],
    "d": lambda d: f"{d.day:02d}",
    "e": lambda d: str(d.day),
    "H": lambda d: f"{d.hour:02d}",
    "h": lambda d: str(d.hour),
    "M": lambda d: f"{d.minute:02d}",
    "S": lambda d: f"{d.second:02d}",
    "3": lambda d: f"{d.microsecond // 1000:03d}",
    "a": lambda d: _WEEKDAYS[d.weekday()],
    "%": lambda d: "%",
}


def _format_date(value: Value, pattern: Value) -> str:
    """format-date() and format-date-time() with ODK's codes (%Y %y %m %n %b %d %e %H %h %M %S
    %3 %a). "" when the value isn't a date. An unknown code is copied as written (JavaRosa
    throws)."""
    moment = _as_datetime(value)
    if moment is None:
        return ""
    out: list[str] = []
    chars = iter(to_string(pattern))
    for char in chars:
        if char != "%":
            out.append(char)
            continue
        code = next(chars, "")
        formatter = _DATE_CODES.get(code)
        out.append(formatter(moment) if formatter else "%" + code)
    return "".join(out)


# Geography: ODK's GeoUtils, on a sphere of the Earth's equatorial radius.

_EARTH_RADIUS_M = 6_378_100.0
_METRES_PER_DEGREE = 2 * math.pi * _EARTH_RADIUS_M / 360.0


def _geo_points(args: tuple[Value, ...]) -> list[tuple[float, float]] | None:
    """(lat, lon) pairs from geopoints, geotraces and geoshapes, or from NodeSets of them.
    None if any of them isn't a valid location or there are none at all."""
    points: list[tuple[float, float]] = []
    for arg in args:
        for item in _items(arg):
            for segment in to_string(item).split(";"):
                if not segment.strip():
                    continue  # ODK writes a trailing ';' in some versions
                numbers = geopoint_numbers(segment, odk_numbers=True)
                if numbers is None:
                    return None
                lat, lon = numbers[0], numbers[1]
                if not (-90 <= lat <= 90 and -180 <= lon <= 180):
                    return None
                points.append((lat, lon))
    return points or None


def _distance(*args: Value) -> float:
    """Length in metres of the path through the points (great circles, law of cosines)."""
    points = _geo_points(args)
    if points is None:
        return NAN
    total = 0.0
    for (lat1, lon1), (lat2, lon2) in itertools.pairwise(points):
        phi1, phi2 = math.radians(lat1), math.radians(lat2)
        cos_angle = math.sin(phi1) * math.sin(phi2) + math.cos(phi1) * math.cos(phi2) * math.cos(
            math.radians(lon1 - lon2)
        )
        # Rounding can push the cosine of a tiny angle past 1, where acos() has no answer.
        total += math.acos(min(1.0, max(-1.0, cos_angle))) * _EARTH_RADIUS_M
    return total


def _area(v: Value) -> float:
    """Area in m² of a geoshape: the triangle fan from its first point on a local projection,
    as ODK's GeoUtils.calculateAreaOfGPSPolygonOnEarthInSquareMeters does."""
    points = _geo_points((v,))
    if points is None:
        return NAN
    if len(points) < 3:
        return 0.0
    lat0, lon0 = points[0]
    xy = [
        (
            (lon - lon0) * _METRES_PER_DEGREE * math.cos(math.radians(lat)),
            (lat - lat0) * _METRES_PER_DEGREE,
        )
        for lat, lon in points[1:]
    ]
    twice_area = sum(y1 * x2 - x1 * y2 for (x1, y1), (x2, y2) in itertools.pairwise(xy))
    return abs(twice_area) / 2


# Other


_ALPHANUMERIC = string.ascii_letters + string.digits
_MAX_UUID_LENGTH = 1000  # uuid(n) makes n random characters; keep absurd n from eating memory


def _uuid(length: Value | None = None) -> str:
    if length is None:
        return str(uuid.uuid4())
    n = min(_java_int(to_number(length)), _MAX_UUID_LENGTH)
    return "".join(secrets.choice(_ALPHANUMERIC) for _ in range(n))


def _normalize_space(v: Value) -> str:
    return " ".join(to_string(v).split())


def _string_length(v: Value) -> float:
    return float(len(to_string(v)))


_FUNCTIONS: dict[str, _Function] = {
    # Logic
    "true": _Function(0, 0, _BOOL, _eager(lambda: True)),
    "false": _Function(0, 0, _BOOL, _eager(lambda: False)),
    "not": _Function(1, 1, _BOOL, _eager(lambda v: not to_bool(v))),
    "boolean": _Function(1, 1, _BOOL, _eager(to_bool)),
    "boolean-from-string": _Function(1, 1, _BOOL, _eager(_boolean_from_string)),
    "if": _Function(3, 3, _ANY, _build_if),
    "coalesce": _Function(2, 2, _ANY, _build_coalesce),
    "once": _Function(1, 1, _ANY, _build_once),
    # Conversions
    "number": _Function(1, 1, _NUMBER, _eager(to_number)),
    "string": _Function(1, 1, _STRING, _eager(to_string)),
    "int": _Function(1, 1, _NUMBER, _eager(_int)),
    "round": _Function(1, 2, _NUMBER, _eager(_round)),
    # Selects
    "selected": _Function(2, 2, _BOOL, _eager(_selected)),
    "is-selected": _Function(2, 2, _BOOL, _eager(_selected)),
    "count-selected": _Function(1, 1, _NUMBER, _eager(_count_selected)),
    "selected-at": _Function(2, 2, _STRING, _eager(_selected_at)),
    "jr:choice-name": _Function(2, 2, _STRING, _build_choice_name),
    # Repeats and node-sets
    "count": _Function(1, 1, _NUMBER, _eager(_count)),
    "count-non-empty": _Function(1, 1, _NUMBER, _eager(_count_non_empty)),
    "sum": _Function(1, 1, _NUMBER, _eager(_sum)),
    "max": _Function(1, None, _NUMBER, _eager(_max)),
    "min": _Function(1, None, _NUMBER, _eager(_min)),
    "join": _Function(1, None, _STRING, _eager(_join)),
    "position": _Function(0, 1, _NUMBER, _build_position),
    "indexed-repeat": _Function(3, 3, _ANY, _build_indexed_repeat),
    # Text
    "concat": _Function(0, None, _STRING, _eager(_concat)),
    "string-length": _Function(0, 1, _NUMBER, _build_of_current(_string_length)),
    "normalize-space": _Function(0, 1, _STRING, _build_of_current(_normalize_space)),
    "substr": _Function(2, 3, _STRING, _eager(_substr)),
    "substring-before": _Function(2, 2, _STRING, _eager(_substring_before)),
    "substring-after": _Function(2, 2, _STRING, _eager(_substring_after)),
    "translate": _Function(3, 3, _STRING, _eager(_translate)),
    "contains": _Function(2, 2, _BOOL, _eager(lambda s, p: to_string(p) in to_string(s))),
    "starts-with": _Function(
        2, 2, _BOOL, _eager(lambda s, p: to_string(s).startswith(to_string(p)))
    ),
    "ends-with": _Function(2, 2, _BOOL, _eager(lambda s, p: to_string(s).endswith(to_string(p)))),
    "regex": _Function(2, 2, _BOOL, _build_regex),
    # Dates
    "today": _Function(0, 0, _ANY, _build_today),
    "now": _Function(0, 0, _ANY, _build_now),
    "date": _Function(1, 1, _ANY, _eager(_date)),
    "date-time": _Function(1, 1, _ANY, _eager(_date_time)),
    "decimal-date-time": _Function(1, 1, _ANY, _eager(_decimal_date_time)),
    "decimal-time": _Function(1, 1, _ANY, _eager(_decimal_time)),
    "format-date": _Function(2, 2, _STRING, _eager(_format_date)),
    "format-date-time": _Function(2, 2, _STRING, _eager(_format_date)),
    # Maths
    "pow": _Function(2, 2, _NUMBER, _eager(_pow)),
    "abs": _Function(1, 1, _NUMBER, _eager(_unary_math(abs))),
    "floor": _Function(1, 1, _NUMBER, _eager(_unary_math(_floor))),
    "ceiling": _Function(1, 1, _NUMBER, _eager(_unary_math(_ceiling))),
    "sqrt": _Function(1, 1, _NUMBER, _eager(_unary_math(math.sqrt))),
    "exp": _Function(1, 1, _NUMBER, _eager(_unary_math(math.exp))),
    "exp10": _Function(1, 1, _NUMBER, _eager(lambda v: _pow(10.0, v))),
    "log": _Function(1, 1, _NUMBER, _eager(_unary_math(_log(math.log)))),
    "log10": _Function(1, 1, _NUMBER, _eager(_unary_math(_log(math.log10)))),
    "sin": _Function(1, 1, _NUMBER, _eager(_unary_math(math.sin))),
    "cos": _Function(1, 1, _NUMBER, _eager(_unary_math(math.cos))),
    "tan": _Function(1, 1, _NUMBER, _eager(_unary_math(math.tan))),
    "asin": _Function(1, 1, _NUMBER, _eager(_unary_math(math.asin))),
    "acos": _Function(1, 1, _NUMBER, _eager(_unary_math(math.acos))),
    "atan": _Function(1, 1, _NUMBER, _eager(_unary_math(math.atan))),
    "atan2": _Function(2, 2, _NUMBER, _eager(_atan2)),
    "pi": _Function(0, 0, _NUMBER, _eager(lambda: math.pi)),
    "random": _Function(0, 0, _NUMBER, _eager(random.random)),
    # Geography
    "distance": _Function(1, None, _NUMBER, _eager(_distance)),
    "area": _Function(1, 1, _NUMBER, _eager(_area)),
    "enclosed-area": _Function(1, 1, _NUMBER, _eager(_area)),
    # Identifiers
    "uuid": _Function(0, 1, _STRING, _eager(_uuid)),
    # External data: choice lists and files attached to the form
    "pulldata": _Function(4, 4, _STRING, _build_pulldata),
    "odk:lookup": _Function(3, 3, _STRING, _build_lookup),
}


# --- Choice filters and lookups name the columns of an item bare --------------------------------

CHOICE_COLUMN_PREFIX = "__choice__"
# choice_filter expressions name columns of the choices sheet bare ("district = ${district}").
_BARE_NAME = re.compile(
    r"""('[^']*'|"[^"]*"|\$\{[^}]*\})|([A-Za-z_][\w.\-]*(?::[A-Za-z_][\w.\-]*)?)(\s*\()?"""
)
_OPERATOR_WORDS = {"and", "or", "div", "mod"}


def rewrite_choice_filter(text: str) -> str:
    """Turn the bare item-column names of a choice_filter into references.

    `district = ${district}` becomes `${__choice__district} = ${district}`, which the
    expression engine understands; the validator resolves those names on each choice.
    """

    def replace(match: re.Match[str]) -> str:
        literal_or_reference, name, call = match.groups()
        if literal_or_reference or call or name in _OPERATOR_WORDS:
            return match.group(0)
        return "${" + CHOICE_COLUMN_PREFIX + name + "}"

    return _BARE_NAME.sub(replace, text)


# instance('name')/root/item[condition]/column, the lookup ODK forms use. The condition may
# hold quoted text and ${references}, but no brackets of its own.
_LOOKUP = re.compile(
    r"""instance\(\s*(['"])([^'"]+)\1\s*\)\s*/\s*root\s*/\s*item\s*"""
    r"""\[((?:'[^']*'|"[^"]*"|[^\]'"])*)\]\s*/\s*([A-Za-z_][\w.:-]*)"""
)


def rewrite_lookups(text: str) -> str:
    """instance('name')/root/item[condition]/column -> odk:lookup('name', 'column', condition)
    with the condition's bare column names as item references (see rewrite_choice_filter)."""
    if "instance" not in text:
        return text

    def replace(match: re.Match[str]) -> str:
        _quote, instance, condition, column = match.groups()
        return f"odk:lookup('{instance}', '{column}', {rewrite_choice_filter(condition)})"

    return _LOOKUP.sub(replace, text)


# --- Public entry points -----------------------------------------------------------------------


class Expression:
    """A parsed and compiled expression. Immutable; evaluate it as often as you like.

    `references` holds every question named as `${name}` (also inside jr:choice-name's
    quoted second argument and indexed-repeat's arguments), for dependency tracking.
    `uses_current` tells whether the expression reads `.`; string-length() and
    normalize-space() called without an argument count, as they read `.` implicitly. once()
    reads the current value too but doesn't set it: it never *depends* on that value, it only
    keeps it.
    """

    __slots__ = ("_fn", "references", "text", "uses_current")

    text: str
    references: frozenset[str]
    uses_current: bool

    def __init__(self, text: str, fn: Fn, references: frozenset[str], uses_current: bool):
        # parse() caches and shares Expressions, so they must not be changed after the fact.
        object.__setattr__(self, "text", text)
        object.__setattr__(self, "references", references)
        object.__setattr__(self, "uses_current", uses_current)
        object.__setattr__(self, "_fn", fn)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"Expression is immutable; can't set {name!r}")

    def evaluate(self, ctx: EvaluationContext) -> Value:
        """The raw XPath value: str, float, bool, a date/time, or a NodeSet."""
        return self._fn(ctx)

    def evaluate_bool(self, ctx: EvaluationContext) -> bool:
        """For relevant, constraint and required: XPath boolean() of the value."""
        value = self._fn(ctx)
        return value if type(value) is bool else to_bool(value)  # type: ignore[return-value]

    def evaluate_number(self, ctx: EvaluationContext) -> float:
        """For repeat_count and numeric calculations: XPath number(), NaN if not a number."""
        return to_number(self._fn(ctx))

    def evaluate_string(self, ctx: EvaluationContext) -> str:
        """For calculations and defaults stored as text: XPath string() of the value."""
        return to_string(self._fn(ctx))

    def __repr__(self) -> str:
        return f"Expression({self.text!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Expression) and other.text == self.text

    def __hash__(self) -> int:
        return hash(self.text)

    def __reduce__(self):
        # Closures don't pickle; the text is all it takes to rebuild one.
        return parse, (self.text,)


@functools.lru_cache(maxsize=4096)
def parse(text: str) -> Expression:
    """Parse and compile an expression, or raise ExpressionError saying what is wrong and where.

    Everything that can be checked without data is checked here, once, when the form loads:
    syntax, function names, argument counts, the special arguments of indexed-repeat(),
    jr:choice-name() and position(). Results are cached by text, which is safe because an
    Expression is immutable and parsing depends on nothing else.
    """
    try:
        tree = _Parser(rewrite_lookups(text)).parse()
        if _depth(tree) > _MAX_DEPTH:
            raise _Problem(f"expression is nested more than {_MAX_DEPTH} levels deep", None)
        compiler = _Compiler()
        fn, _kind = compiler.compile(tree)
    except _Problem as problem:
        raise ExpressionError(problem.message, text, problem.position) from None
    except RecursionError:  # a safety net; the limits above should make this unreachable
        raise ExpressionError("expression is too deeply nested", text) from None
    return Expression(text, fn, frozenset(compiler.references), compiler.uses_current)
