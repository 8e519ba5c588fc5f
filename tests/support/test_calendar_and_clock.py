"""SLA arithmetic on hand-built histories. Business calendar: Monday–Friday 09:00–18:00 in São Paulo.
Friday 2026-11-20 is a national holiday (Consciência Negra), so Thursday 19 → Monday 23 skips a
holiday and a weekend. Every expected figure below was worked out by hand in the comment beside it."""

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest

from support import sla
from support.calendar import BusinessCalendar, CalendarClock, easter, national_holidays

SP = ZoneInfo("America/Sao_Paulo")
H = 3600


def at(day: int, hour: int, minute: int = 0, month: int = 11) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=SP)


CAL = BusinessCalendar()


def test_easter_and_movable_holidays():
    assert easter(2024) == date(2024, 3, 31)
    assert easter(2025) == date(2025, 4, 20)
    assert easter(2026) == date(2026, 4, 5)
    holidays = national_holidays(2026)
    assert date(2026, 4, 3) in holidays  # Good Friday = Easter − 2
    assert date(2026, 11, 20) in holidays and date(2023, 11, 20) not in national_holidays(2023)
    assert date(2026, 2, 17) not in holidays  # Carnival is optional: a Holiday row adds it


def test_business_seconds_across_a_holiday_and_a_weekend():
    # Thu 19 17:00–18:00 = 1 h; Fri 20 holiday; Sat, Sun off; Mon 23 09:00–10:00 = 1 h
    assert CAL.seconds_between(at(19, 17), at(23, 10)) == 2 * H
    # before opening and after closing count nothing
    assert CAL.seconds_between(at(23, 6), at(23, 9)) == 0
    assert CAL.seconds_between(at(23, 18), at(23, 23)) == 0


def test_adding_business_time_skips_holiday_and_weekend():
    # 8 h from Thu 19 17:00: 1 h on Thursday, then 7 h from Monday 09:00 → Monday 16:00
    assert CAL.add(at(19, 17), 8 * H) == at(23, 16)
    # a ticket opened on Saturday starts counting on Monday 09:00
    assert CAL.add(at(21, 11), 1 * H) == at(23, 10)
    # exactly the end of a day stays there
    assert CAL.add(at(23, 9), 9 * H) == at(23, 18)


def test_extra_holiday_and_custom_hours():
    from datetime import time

    cal = BusinessCalendar(
        hours={0: (time(8), time(12)), 1: (time(8), time(12))}, extra_holidays=frozenset({date(2026, 11, 23)})
    )
    # Mon 23 is an extra holiday; Tue 24 08:00 + 3 h = 11:00
    assert cal.add(at(23, 7), 3 * H) == at(24, 11)
    # Tue 24 + 5 h → 4 h on Tuesday, then next Monday 30 08:00 + 1 h
    assert cal.add(at(24, 8), 5 * H) == at(30, 9)


def test_calendar_clock_ignores_hours():
    assert CalendarClock().add(at(20, 22), 4 * H) == at(21, 2)
    assert CalendarClock().seconds_between(at(20, 22), at(21, 2)) == 4 * H


def state(history, *, first_response_at=None, fr=2 * H, res=10 * H, now, clock=CAL):
    return sla.clock_state(
        opened_at=history[0][0],
        history=history,
        first_response_at=first_response_at,
        first_response_target=fr,
        resolution_target=res,
        clock=clock,
        now=now,
    )


def test_running_ticket_due_time_across_holiday_and_weekend():
    # opened Thu 19 16:00, 10 business hours: Thu 2 h, (Fri holiday, weekend), Mon 8 h → Mon 23 17:00
    s = state([(at(19, 16), "new")], now=at(19, 16, 30))
    assert s.resolution_due_at == at(23, 17)
    # first response 2 h: Thu 16:00–18:00 → due Thu 18:00
    assert s.first_response_due_at == at(19, 18)
    assert not s.resolution_breached and not s.first_response_breached


def test_waiting_pauses_resolving_stops_reopening_resumes():
    history = [
        (at(23, 9), "new"),
        (at(23, 11), "waiting"),  # 2 h used, clock paused
        (at(24, 10), "open"),  # resumes Tuesday 10:00
        (at(24, 15), "resolved"),  # +5 h → 7 h used: met (target 10 h)
    ]
    paused = state(history[:2], now=at(23, 16))
    assert paused.resolution_paused and paused.resolution_due_at is None
    assert paused.resolution_remaining_seconds == 8 * H  # 10 h − 2 h, however long the pause
    assert paused.resolution_elapsed_seconds == 2 * H

    resumed = state(history[:3], now=at(24, 11))
    assert resumed.resolution_due_at == at(24, 18)  # 8 h left from Tue 10:00 → Tue 18:00

    resolved = state(history, now=at(27, 12))
    assert resolved.resolution_elapsed_seconds == 7 * H
    assert resolved.resolution_due_at is None and not resolved.resolution_breached

    # reopened Wed 25 09:30: 3 h left → due Wed 12:30
    reopened = state([*history, (at(25, 9, 30), "reopened")], now=at(25, 10))
    assert reopened.resolution_due_at == at(25, 12, 30)
    assert reopened.resolution_elapsed_seconds == 7 * H + 30 * 60


def test_priority_change_retargets_and_keeps_the_time_used():
    history = [(at(23, 9), "new"), (at(23, 11), "waiting"), (at(24, 10), "open")]
    # at Tue 11:00, 3 h used; a shorter target of 4 h → due Tue 12:00; a longer 20 h → Thu 26 11:00
    shorter = state(history, res=4 * H, now=at(24, 11))
    assert shorter.resolution_due_at == at(24, 12)
    longer = state(history, res=20 * H, now=at(24, 11))
    # from Tue 10:00 with 18 h left: Tue 8 h (to 18:00), Wed 9 h, Thu 1 h → Thu 26 10:00
    assert longer.resolution_due_at == at(26, 10)


def test_breach_is_reported_while_running_and_after_resolving_late():
    history = [(at(23, 9), "new")]
    late = state(history, now=at(24, 10))  # 10 h used at Tue 10:00
    assert late.resolution_due_at == at(24, 10) and late.resolution_breached
    resolved_late = state([*history, (at(24, 12), "resolved")], now=at(24, 13))  # 12 h used
    assert resolved_late.resolution_breached
    on_time = state([*history, (at(24, 10), "resolved")], now=at(24, 13))  # exactly 10 h: met
    assert not on_time.resolution_breached


def test_first_response_met_or_breached():
    history = [(at(19, 17), "new")]
    # 2 h target from Thu 17:00: 1 h Thursday + 1 h Monday → Mon 23 10:00
    assert state(history, first_response_at=at(23, 9, 59), now=at(23, 12)).first_response_breached is False
    assert state(history, first_response_at=at(23, 10, 1), now=at(23, 12)).first_response_breached is True
    assert state(history, now=at(23, 10, 1)).first_response_breached is True


@pytest.mark.parametrize("status", ["resolved", "closed"])
def test_no_policy_means_no_due_times(status):
    s = sla.clock_state(
        opened_at=at(23, 9),
        history=[(at(23, 9), "new"), (at(23, 10), status)],
        first_response_at=None,
        first_response_target=None,
        resolution_target=None,
        clock=CAL,
        now=at(23, 12),
    )
    assert (s.first_response_due_at, s.resolution_due_at, s.resolution_breached) == (None, None, False)
