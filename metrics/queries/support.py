"""Support medians (docs/metrics.md "TMR" and "First response time"). Means come from the daily
roll-ups (activity.py); a median does not add up over days, so it is computed from the tickets."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from statistics import median

from django.db import connection
from django.db.models import Q

from support.models import Ticket

from ..filters import KpiFilter


def _resolved(f: KpiFilter):  # noqa: ANN202 - a QuerySet of Ticket
    return Ticket.objects.filter(
        Q(status__in=(Ticket.Status.RESOLVED, Ticket.Status.CLOSED)),
        resolved_at__gte=f.start_dt,
        resolved_at__lt=f.end_dt,
    ).filter(f.customer_q())


def ticket_medians(f: KpiFilter) -> dict[str, Decimal | None]:
    """Median calendar resolution time and median first response time (seconds) of the tickets
    resolved in the period; one query."""
    qs = _resolved(f)
    if connection.vendor == "postgresql":
        sql, params = qs.values("resolution_seconds", "first_response_seconds").query.sql_with_params()
        with connection.cursor() as cursor:
            # sql is the ORM's own query text, its values are in params
            medians = "percentile_cont(0.5) WITHIN GROUP (ORDER BY t.{})"
            columns = ", ".join(medians.format(c) for c in ("resolution_seconds", "first_response_seconds"))
            median_sql = f"SELECT {columns} FROM ({sql}) t"  # noqa: S608
            cursor.execute(median_sql, params)
            resolution, first = cursor.fetchone()
    else:
        rows = list(qs.values_list("resolution_seconds", "first_response_seconds"))
        res = [r for r, _ in rows if r is not None]
        frt = [x for _, x in rows if x is not None]
        resolution, first = (median(res) if res else None), (median(frt) if frt else None)

    def q(value: float | None) -> Decimal | None:
        return None if value is None else Decimal(str(value)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)

    return {"resolution_median": q(resolution), "first_response_median": q(first)}
