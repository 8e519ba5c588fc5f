"""SLA clock arithmetic, as pure functions over a ticket's status history (tested on hand-built
histories in tests/support/test_sla.py). Rules (docs/support.md):

- First response clock: runs from opening until the first public reply by the team; the target
  comes from the ticket's current policy (a priority change re-targets it).
- Resolution clock: runs while the ticket is new, open, on hold or reopened; it is **paused** while
  waiting on the customer; **stopped** when resolved or closed; reopening **resumes** it from the
  time already used. Its target is the current policy's (a priority change re-targets it, keeping
  the time already used).
- Both count business time (working hours minus holidays) or calendar time, per the policy.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

RUNNING = frozenset({"new", "open", "on_hold", "reopened"})
PAUSED = frozenset({"waiting"})
STOPPED = frozenset({"resolved", "closed"})


class Clock(Protocol):
    def seconds_between(self, start: datetime, end: datetime) -> int: ...

    def add(self, start: datetime, seconds: float) -> datetime: ...


def running_intervals(history: Sequence[tuple[datetime, str]]) -> list[tuple[datetime, datetime | None]]:
    """Intervals in which the resolution clock runs, from (time, status entered) pairs in time order;
    the last interval is open (end None) when the ticket is running now."""
    intervals: list[tuple[datetime, datetime | None]] = []
    started: datetime | None = None
    for at, status in history:
        if status in RUNNING:
            if started is None:
                started = at
        elif started is not None:
            intervals.append((started, at))
            started = None
    if started is not None:
        intervals.append((started, None))
    return intervals


def elapsed(intervals: Sequence[tuple[datetime, datetime | None]], clock: Clock, now: datetime) -> int:
    """Clock seconds used up to ``now``."""
    total = 0
    for start, end in intervals:
        if start >= now:
            break
        total += clock.seconds_between(start, min(end, now) if end is not None else now)
    return total


def crossing(intervals: Sequence[tuple[datetime, datetime | None]], clock: Clock, target: int) -> datetime | None:
    """The moment the clock reaches ``target`` seconds: in the past (breached), in the future
    (running: the due time), or None (paused or stopped before reaching it)."""
    used = 0
    for start, end in intervals:
        if end is None:
            return clock.add(start, target - used)
        span = clock.seconds_between(start, end)
        if used + span >= target:
            return clock.add(start, target - used)
        used += span
    return None


@dataclass(frozen=True)
class ClockState:
    first_response_due_at: datetime | None
    first_response_breached: bool
    resolution_due_at: datetime | None  # None while paused or stopped
    resolution_paused: bool
    resolution_remaining_seconds: int | None  # while paused (negative: already over)
    resolution_elapsed_seconds: int
    resolution_breached: bool


def clock_state(
    *,
    opened_at: datetime,
    history: Sequence[tuple[datetime, str]],
    first_response_at: datetime | None,
    first_response_target: int | None,
    resolution_target: int | None,
    clock: Clock,
    now: datetime,
) -> ClockState:
    """The SLA state of a ticket at ``now``. Targets in seconds; None = no policy (no SLA)."""
    fr_due = clock.add(opened_at, first_response_target) if first_response_target else None
    fr_breached = bool(fr_due is not None and (first_response_at or now) > fr_due)

    intervals = running_intervals(history)
    used = elapsed(intervals, clock, now)
    current = history[-1][1] if history else "new"
    if not resolution_target:
        return ClockState(fr_due, fr_breached, None, current in PAUSED, None, used, False)
    due = crossing(intervals, clock, resolution_target)
    if current in RUNNING:
        return ClockState(fr_due, fr_breached, due, False, None, used, bool(due is not None and due <= now))
    breached = used > resolution_target  # resolved exactly at the target is met
    if current in PAUSED:
        return ClockState(fr_due, fr_breached, None, True, resolution_target - used, used, breached)
    return ClockState(fr_due, fr_breached, None, False, None, used, breached)
