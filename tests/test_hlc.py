"""The hybrid logical clock: monotonic, causal, and sortable as plain strings."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sync_core.hlc import (
    MAX_COUNTER,
    MAX_DRIFT_MS,
    HybridClock,
    format_hlc,
    is_far_future,
    parse_hlc,
)

pytestmark = pytest.mark.unit

NODE = "tablet-a"


class FakeWallClock:
    """A wall clock the test sets by hand, like a tablet whose clock gets reset."""

    def __init__(self, ms: int) -> None:
        self.ms = ms

    def __call__(self) -> int:
        return self.ms


def test_timestamps_have_the_documented_format():
    clock = HybridClock(NODE, now_ms=FakeWallClock(1_717_200_000_000))
    assert clock.now() == "001717200000000-00000-tablet-a"
    assert clock.now() == "001717200000000-00001-tablet-a"


def test_monotonic_when_the_wall_clock_goes_backwards():
    wall = FakeWallClock(1_717_200_000_000)
    clock = HybridClock(NODE, now_ms=wall)
    issued = [clock.now()]
    # A flat battery resets the clock by years; an NTP fix moves it a little; then it
    # runs forward again from the old time.
    for ms in [1_717_200_000_000, 946_684_800_000, 946_684_800_000, 1_717_199_999_000, 0]:
        wall.ms = ms
        issued.append(clock.now())
    wall.ms = 1_717_200_000_005
    issued.append(clock.now())
    assert issued == sorted(issued)
    assert len(set(issued)) == len(issued)
    assert parse_hlc(issued[-1])[:2] == (1_717_200_000_005, 0)


def test_observe_moves_the_clock_past_a_later_remote_timestamp():
    wall = FakeWallClock(1_000)
    clock = HybridClock(NODE, now_ms=wall)
    clock.now()
    remote = "000000000200000-00007-server"  # 199 s ahead: within the drift bound
    assert clock.observe(remote) is True
    after = clock.now()
    assert after > remote
    assert parse_hlc(after)[:2] == (200_000, 9)


def test_a_remote_time_beyond_the_drift_bound_is_not_adopted():
    """One tablet whose clock runs ten years fast must not drag this one along."""
    wall = FakeWallClock(1_000_000)
    clock = HybridClock(NODE, now_ms=wall)
    before = clock.now()
    ten_years = 10 * 365 * 24 * 3600 * 1000
    assert clock.observe(format_hlc(1_000_000 + ten_years, 0, "fast")) is False
    after = clock.now()
    assert before < after and parse_hlc(after)[0] <= 1_000_000 + MAX_DRIFT_MS
    # Exactly at the bound is still adopted; the bound is configurable.
    assert clock.observe(format_hlc(1_000_000 + MAX_DRIFT_MS, 0, "b")) is True
    strict = HybridClock(NODE, now_ms=wall, max_drift_ms=1_000)
    assert strict.observe(format_hlc(1_000_000 + 1_001, 0, "c")) is False


def test_catch_up_takes_back_the_nodes_own_timestamp_however_far_ahead():
    """The clock never runs backwards, even after the wall clock was reset to 1970."""
    clock = HybridClock(NODE, now_ms=FakeWallClock(5))
    clock.catch_up("001717200000000-00003-" + NODE)
    assert parse_hlc(clock.now())[:2] == (1_717_200_000_000, 4)


def test_observe_of_an_older_timestamp_still_advances():
    wall = FakeWallClock(2_000)
    clock = HybridClock(NODE, now_ms=wall)
    before = clock.now()
    clock.observe("000000000001000-00003-other")
    assert clock.now() > before


def test_observe_with_equal_physical_time_takes_the_larger_counter():
    clock = HybridClock(NODE, now_ms=FakeWallClock(0), last="000000000005000-00004-tablet-a")
    clock.observe("000000000005000-00010-other")
    assert parse_hlc(clock.now())[:2] == (5_000, 12)


def test_last_resumes_a_persisted_clock():
    wall = FakeWallClock(10)
    first = HybridClock(NODE, now_ms=wall)
    stamp = first.now()
    restarted = HybridClock(NODE, now_ms=FakeWallClock(0), last=first.last)
    assert restarted.now() > stamp


def test_counter_overflow_borrows_the_next_millisecond():
    clock = HybridClock(NODE, now_ms=FakeWallClock(7), last=format_hlc(7, MAX_COUNTER, NODE))
    assert parse_hlc(clock.now())[:2] == (8, 0)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "garbage",
        "1717200000000-00000-a",  # milliseconds not padded to 15 digits
        "001717200000000-0-a",
        "001717200000000-00000-",
        "001717200000000-00000-node with spaces",
        "-01717200000000-00000-a",
        None,
        17,
    ],
)
def test_malformed_timestamps_raise_value_error_naming_the_text(text):
    with pytest.raises(ValueError, match="malformed HLC timestamp") as caught:
        parse_hlc(text)
    assert repr(text) in str(caught.value)
    clock = HybridClock(NODE)
    before = clock.last
    with pytest.raises(ValueError, match="malformed HLC timestamp"):
        clock.observe(text)
    assert clock.last == before


def test_bad_node_ids_are_refused():
    with pytest.raises(ValueError, match="node id"):
        HybridClock("two words")


def test_is_far_future():
    now = 1_717_200_000_000
    assert not is_far_future(format_hlc(now + MAX_DRIFT_MS, 0, "a"), now)
    assert is_far_future(format_hlc(now + MAX_DRIFT_MS + 1, 0, "a"), now)
    assert not is_far_future(format_hlc(0, 0, "a"), now)


nodes = st.text(
    alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._:-",
    min_size=1,
    max_size=40,
)
timestamps = st.tuples(
    st.integers(min_value=0, max_value=10**15 - 1),
    st.integers(min_value=0, max_value=MAX_COUNTER),
    nodes,
)


@given(timestamps, timestamps)
def test_string_order_equals_tuple_order(a, b):
    assert (format_hlc(*a) < format_hlc(*b)) == (a < b)
    assert (format_hlc(*a) == format_hlc(*b)) == (a == b)


@given(timestamps)
def test_format_and_parse_round_trip(parts):
    assert parse_hlc(format_hlc(*parts)) == parts


events = st.tuples(
    st.integers(0, 10**13),  # the wall clock, jumping anywhere
    st.none() | st.tuples(st.integers(0, 10**13), st.integers(0, MAX_COUNTER), nodes),
)


@given(st.lists(events, max_size=50))
def test_never_goes_backwards_and_always_passes_what_it_observed(history):
    wall = FakeWallClock(0)
    clock = HybridClock(NODE, now_ms=wall)
    last = clock.now()
    for wall_ms, received in history:
        wall.ms = wall_ms
        adopted = received is not None and clock.observe(format_hlc(*received))
        stamp = clock.now()
        assert stamp > last
        if received is not None:
            # Adopted exactly when within the drift bound of the wall clock, and then passed.
            assert adopted == (received[0] <= wall_ms + MAX_DRIFT_MS)
            if adopted:
                assert parse_hlc(stamp)[:2] > received[:2]
        # Never more than the bound ahead of the wall clock, unless it already was.
        assert parse_hlc(stamp)[0] <= max(wall_ms + MAX_DRIFT_MS, parse_hlc(last)[0]) + 1
        last = stamp
