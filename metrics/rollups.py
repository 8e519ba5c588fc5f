"""Daily roll-ups of the additive counters (metrics/queries/activity.py).

- ``rollup_day(day)`` recomputes one local day: in one transaction it deletes the day's rows and
  writes them again, so running it twice (or concurrently with readers) never double-counts.
- ``rollup_recent()`` (beat, nightly) rolls up every day since the last rolled-up one (resumable:
  a run cut off after day N starts again at N+1) and re-rolls the last ``METRICS_REFRESH_DAYS``
  days, whose counters still move (late survey answers, e-mail opens and clicks).
- ``counts(f)`` sums the period's counters: rolled-up days from ``DailyCount``; days not rolled up
  (always today, and any day the beat has not reached) computed live from the source tables.
"""

from __future__ import annotations

import time
from collections import defaultdict
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.db.models import Min, Sum
from django.utils import timezone

from .filters import KpiFilter, today
from .models import DailyCount, DailyTotal, RollupDay
from .queries.activity import FACT_SOURCES, Counts

BATCH = 5000


def _bounds(first: date, last: date) -> tuple[datetime, datetime]:
    f = KpiFilter(start=first, end=last)
    return f.start_dt, f.end_dt


def rollup_day(day: date) -> int:
    """Recompute one day's counters (replace, idempotent). Returns the number of rows written."""
    started = time.monotonic()
    start, end = _bounds(day, day)
    rows = [
        DailyCount(day=day, owner_id=owner, segment_id=segment, kind=kind, key=key, value=value)
        for source in FACT_SOURCES
        for _day, owner, segment, kind, key, value in source(start, end, None)
    ]
    totals: dict[str, Decimal] = defaultdict(Decimal)
    for row in rows:
        totals[row.key] += row.value
    with transaction.atomic():
        # Lock the day's marker so two concurrent runs of the same day serialise.
        marker, _created = RollupDay.objects.select_for_update().get_or_create(day=day)
        DailyCount.objects.filter(day=day).delete()
        DailyCount.objects.bulk_create(rows, batch_size=BATCH)
        DailyTotal.objects.filter(day=day).delete()
        DailyTotal.objects.bulk_create([DailyTotal(day=day, key=k, value=v) for k, v in totals.items()])
        marker.status = RollupDay.Status.DONE
        marker.rows = len(rows)
        marker.seconds = round(time.monotonic() - started, 3)
        marker.computed_at = timezone.now()
        marker.save()
    return len(rows)


def _first_day() -> date | None:
    """The first local day with any counted activity — where a book's roll-ups start. Imported
    history can be older than the customers' own rows, so every fact source's time column counts."""
    from customers.models import Order
    from funnel.models import StageChange
    from loyalty.models import Referral
    from messaging.models import Message
    from support.models import Ticket
    from surveys.models import Invitation, Response

    firsts = [
        model.objects.aggregate(m=Min(column))["m"]
        for model, column in (
            (Order, "purchased_at"),
            (Response, "answered_at"),
            (Invitation, "sent_at"),
            (Ticket, "opened_at"),
            (Message, "sent_at"),
            (Referral, "created_at"),
            (StageChange, "changed_at"),
        )
    ]
    known = [timezone.localdate(at) for at in firsts if at is not None]
    return min(known) if known else None


def rollup_recent(*, refresh_days: int | None = None, until: date | None = None) -> list[date]:
    """Roll up every day up to yesterday that has no roll-up (a new book, days the beat missed, days
    invalidated by an import of history), and the last ``refresh_days`` days again. Each day is
    its own transaction, so a run cut off part-way resumes where it stopped."""
    refresh = settings.METRICS_REFRESH_DAYS if refresh_days is None else refresh_days
    last = (until or today()) - timedelta(days=1)
    first = _first_day()
    if first is None or first > last:
        return []
    done = set(RollupDay.objects.filter(day__gte=first, status=RollupDay.Status.DONE).values_list("day", flat=True))
    todo = {first + timedelta(days=n) for n in range((last - first).days + 1)} - done
    todo |= {last - timedelta(days=n) for n in range(refresh) if last - timedelta(days=n) >= first}
    for day in sorted(todo):
        rollup_day(day)
    return sorted(todo)


def invalidate(days: set[date]) -> int:
    """Forget the roll-ups of ``days`` (history was imported into them): they are computed live
    until the next ``rollup_recent`` rolls them up again."""
    return RollupDay.objects.filter(day__in=days).delete()[0]


def _live(first: date, last: date, f: KpiFilter) -> list[tuple[date, str, Decimal]]:
    start, end = _bounds(first, last)
    return [(day, key, value) for source in FACT_SOURCES for day, _o, _s, _k, key, value in source(start, end, f)]


def _ranges(days: list[date]) -> list[tuple[date, date]]:
    """Contiguous runs of days as (first, last)."""
    out: list[tuple[date, date]] = []
    for day in sorted(days):
        if out and day == out[-1][1] + timedelta(days=1):
            out[-1] = (out[-1][0], day)
        else:
            out.append((day, day))
    return out


def daily_counts(f: KpiFilter) -> dict[date, Counts]:
    """Counters per day of the period, for the period's slice. Rolled-up days cost one query in
    all; days not rolled up (today at least) are computed live from the source tables."""
    last_closed = min(f.end, today() - timedelta(days=1))
    rolled = set(
        RollupDay.objects.filter(day__range=(f.start, last_closed), status=RollupDay.Status.DONE).values_list(
            "day", flat=True
        )
    )
    per_day: dict[date, Counts] = defaultdict(Counts)
    if rolled:
        sliced = bool(f.owner_id or f.segment_id or f.kind)
        # the whole book reads the per-day totals: ~30 rows a day instead of one per slice and counter
        model = DailyCount if sliced else DailyTotal
        qs = model.objects.filter(day__range=(min(rolled), max(rolled)))
        if f.owner_id:
            qs = qs.filter(owner_id=f.owner_id)
        if f.segment_id:
            qs = qs.filter(segment_id=f.segment_id)
        if f.kind:
            qs = qs.filter(kind=f.kind)
        for day, key, value in qs.values_list("day", "key").annotate(v=Sum("value")).values_list("day", "key", "v"):
            if day in rolled:
                per_day[day][key] += value
    missing = [f.start + timedelta(days=n) for n in range(f.days) if f.start + timedelta(days=n) not in rolled]
    for first, last in _ranges(missing):
        for day, key, value in _live(first, last, f):
            per_day[day][key] += value
    return per_day


def counts(f: KpiFilter) -> Counts:
    """The period's counters summed over its days."""
    total = Counts()
    for day_counts in daily_counts(f).values():
        for key, value in day_counts.items():
            total[key] += value
    return total


def bucket_of(day: date, by: str) -> date:
    return day.replace(day=1) if by == "month" else day


def bucketed(per_day: dict[date, Counts], by: str) -> dict[date, Counts]:
    """Counters per month (``by="month"``) or per day."""
    out: dict[date, Counts] = defaultdict(Counts)
    for day, day_counts in per_day.items():
        bucket = out[bucket_of(day, by)]
        for key, value in day_counts.items():
            bucket[key] += value
    return out
