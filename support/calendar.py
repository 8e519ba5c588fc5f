"""Business calendar for SLA clocks: working hours per weekday, Brazilian national holidays and
extra holidays a manager adds (state or city holidays, company days off).

All arithmetic happens in the local time zone (TIME_ZONE, America/Sao_Paulo): a working day is
"09:00–18:00 in São Paulo", whatever the server's clock. National holidays (Leis 662/1949,
6.802/1980, 14.759/2023): 1 Jan, Good Friday, 21 Apr, 1 May, 7 Sep, 12 Oct, 2 Nov, 15 Nov,
20 Nov (from 2024) and 25 Dec. Carnival and Corpus Christi are optional days ("pontos
facultativos"): add them as holidays when the company closes on them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from functools import lru_cache

from django.utils import timezone


def easter(year: int) -> date:
    """Gregorian Easter Sunday (anonymous Gregorian algorithm)."""
    a = year % 19
    b, c = divmod(year, 100)
    d, e = divmod(b, 4)
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    m = (32 + 2 * e + 2 * i - h - k) % 7
    n = (a + 11 * h + 22 * m) // 451
    month, day = divmod(h + m - 7 * n + 114, 31)
    return date(year, month, day + 1)


@lru_cache(maxsize=64)
def national_holidays(year: int) -> dict[date, str]:
    holidays = {
        date(year, 1, 1): "Confraternização Universal",
        easter(year) - timedelta(days=2): "Sexta-feira Santa",
        date(year, 4, 21): "Tiradentes",
        date(year, 5, 1): "Dia do Trabalho",
        date(year, 9, 7): "Independência do Brasil",
        date(year, 10, 12): "Nossa Senhora Aparecida",
        date(year, 11, 2): "Finados",
        date(year, 11, 15): "Proclamação da República",
        date(year, 12, 25): "Natal",
    }
    if year >= 2024:
        holidays[date(year, 11, 20)] = "Dia Nacional de Zumbi e da Consciência Negra"
    return holidays


@dataclass(frozen=True)
class BusinessCalendar:
    """``hours[weekday]`` = (start, end) local times, Monday = 0; a weekday missing is a day off."""

    hours: dict[int, tuple[time, time]] = field(default_factory=lambda: {d: (time(9), time(18)) for d in range(5)})
    extra_holidays: frozenset[date] = frozenset()

    def is_holiday(self, day: date) -> bool:
        return day in self.extra_holidays or day in national_holidays(day.year)

    def window(self, day: date) -> tuple[datetime, datetime] | None:
        """The working interval of ``day`` as aware datetimes, or None for a day off."""
        if self.is_holiday(day) or day.weekday() not in self.hours:
            return None
        start, end = self.hours[day.weekday()]
        tz = timezone.get_current_timezone()
        return (
            timezone.make_aware(datetime.combine(day, start), tz),
            timezone.make_aware(datetime.combine(day, end), tz),
        )

    def seconds_between(self, start: datetime, end: datetime) -> int:
        """Working seconds in [start, end)."""
        if end <= start:
            return 0
        day = timezone.localtime(start).date()
        last = timezone.localtime(end).date()
        total = 0.0
        while day <= last:
            win = self.window(day)
            if win is not None:
                lo, hi = max(start, win[0]), min(end, win[1])
                if hi > lo:
                    total += (hi - lo).total_seconds()
            day += timedelta(days=1)
        return int(total)

    def add(self, start: datetime, seconds: float) -> datetime:
        """The moment ``seconds`` working seconds after ``start`` (start itself when seconds <= 0 and
        start is in working time; otherwise the next working moment)."""
        remaining = max(0.0, float(seconds))
        day = timezone.localtime(start).date()
        for _ in range(3700):  # ten years of days: a policy cannot need more
            win = self.window(day)
            if win is not None and win[1] > start:
                lo = max(start, win[0])
                available = (win[1] - lo).total_seconds()
                if remaining <= available and (remaining > 0 or lo < win[1]):
                    return lo + timedelta(seconds=remaining)
                remaining -= available
            day += timedelta(days=1)
        raise ValueError("no working time in the next ten years; check the working hours")


class CalendarClock:
    """Calendar (24×7) time with the same interface, for policies not in business hours."""

    def seconds_between(self, start: datetime, end: datetime) -> int:
        return max(0, int((end - start).total_seconds()))

    def add(self, start: datetime, seconds: float) -> datetime:
        return start + timedelta(seconds=max(0.0, float(seconds)))


def business_calendar() -> BusinessCalendar:
    """The calendar configured in the database (working hours and extra holidays)."""
    from .models import Holiday, WorkingHours

    rows = list(WorkingHours.objects.all())
    hours = {row.weekday: (row.start, row.end) for row in rows if row.end > row.start}
    extra = frozenset(Holiday.objects.values_list("date", flat=True))
    if not rows:
        return BusinessCalendar(extra_holidays=extra)
    return BusinessCalendar(hours=hours, extra_holidays=extra)


def holidays_between(start: date, end: date, extra: Iterable[date] = ()) -> list[date]:
    days = {d for year in range(start.year, end.year + 1) for d in national_holidays(year)} | set(extra)
    return sorted(d for d in days if start <= d <= end)
