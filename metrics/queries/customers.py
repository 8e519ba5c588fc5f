"""Customer and revenue KPIs, computed live from contracts and orders: logo churn, revenue churn
(gross, GRR, NRR), repurchase, the repeat-customer rate, cohort retention and the monthly churn and
repurchase trends. None of them adds up over days (a customer counts once per period however many
days it bought or stayed), so they are not in the daily roll-ups. Each is one query: the ORM groups
the rows per customer (with a count per day or month it needs), and the totals over customers are
taken either by the ORM or, for the trends and cohorts, by plain SQL around the ORM's own SQL
(``per_customer_totals``) — the same code on PostgreSQL and SQLite.

Definitions, period edges and worked examples: docs/metrics.md "Customers and revenue" and
"Cohort retention". Every function takes a KpiFilter and honours its customer slice.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any, Literal

from django.db import connection
from django.db.models import Count, Exists, F, OuterRef, Q, QuerySet, Sum
from django.utils import timezone

from customers.models import Contract, Order

from ..filters import KpiFilter
from .common import json_value, pct

CENTS = Decimal("0.01")
Basis = Literal["purchase", "contract"]


# --- shared helpers ---------------------------------------------------------------------------


def _money(value: Decimal | int | None) -> Decimal:
    return Decimal(value or 0).quantize(CENTS)


def _local_midnight(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


def _month_end(month: date) -> date:
    return _add_months(month, 1) - timedelta(days=1)


def _add_months(month: date, months: int) -> date:
    month0 = month.month - 1 + months
    return date(month.year + month0 // 12, month0 % 12 + 1, 1)


def count_where(condition: str) -> str:
    return f"COUNT(CASE WHEN {condition} THEN 1 END)"


def per_customer_totals(per_customer: QuerySet, totals: dict[str, str]) -> dict[str, Any]:
    """Aggregate a per-customer grouped queryset in one query: ``totals`` maps a name to an SQL
    aggregate over its columns (annotation names; written in this module, never from input).

    Plain SQL around the ORM's own SQL and parameters, valid on PostgreSQL and SQLite alike, because
    Django's ``aggregate()`` over aggregate annotations rewrites every expression in Python: ~150 ms
    per call for a 12-month trend, more than the query itself on a 100,000-customer book."""
    if not totals:
        return {}
    sql, params = per_customer.query.sql_with_params()
    select = ", ".join(f"{expression} AS {name}" for name, expression in totals.items())
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {select} FROM ({sql}) per_customer", params)  # noqa: S608 (see docstring)
        return dict(zip(totals, cursor.fetchone(), strict=True))


def per_customer_groups(per_customer: QuerySet, group: str, totals: dict[str, str]) -> dict[Any, dict[str, Any]]:
    """``per_customer_totals`` per value of ``group``, an SQL expression over the same columns
    (customers for whom it is NULL are left out): {group value: {name: total}}."""
    sql, params = per_customer.query.sql_with_params()
    select = ", ".join(f"{expression} AS {name}" for name, expression in totals.items())
    # Expressions written in this module, never from input (see per_customer_totals).
    grouped = f"SELECT {group} AS grp, per_customer.* FROM ({sql}) per_customer"  # noqa: S608
    query = f"SELECT grp, {select} FROM ({grouped}) grouped WHERE grp IS NOT NULL GROUP BY grp"  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(query, params)
        return {row[0]: dict(zip(totals, row[1:], strict=True)) for row in cursor.fetchall()}


def _month_dict(month: date, start: date, end: date) -> dict[str, str]:
    return {"month": month.strftime("%Y-%m"), "start": start.isoformat(), "end": end.isoformat()}


def _month_segments(f: KpiFilter) -> list[tuple[date, date, date]]:
    """(month, first day, last day) of each calendar month the period touches, clipped to the period."""
    return [(m, max(m, f.start), min(_month_end(m), f.end)) for m in f.months()]


# --- contracts: which are in force on a day ---------------------------------------------------


def _not_stopped(day: date) -> Q:
    """Contracts not yet stopped at the close of ``day`` (docs/metrics.md "Active contract").

    A contract stops on its cancellation date (status cancelled), on its end date when it does not
    renew (status expired, or auto-renew off), and — expired without an end date — on the day it
    was last updated (when it was marked expired). An active, auto-renewing contract whose end date
    has passed renewed: nothing in Posvenda moves ``ends_at`` forward on renewal.
    """
    close = _local_midnight(day + timedelta(days=1))
    S = Contract.Status
    term_running = Q(ends_at__isnull=True) | Q(ends_at__gt=day)
    renews_or_running = Q(auto_renew=True) | term_running
    return (
        (Q(status=S.ACTIVE) & renews_or_running)
        | (Q(status=S.CANCELLED, cancelled_at__gt=day) & renews_or_running)
        | (Q(status=S.EXPIRED) & (Q(ends_at__gt=day) | Q(ends_at__isnull=True, updated_at__gte=close)))
    )


def contract_in_force(day: date) -> Q:
    """Contracts in force at the close of local ``day``: started on or before it and not stopped by it."""
    return Q(started_at__lte=day) & _not_stopped(day)


def _contract_state(f: KpiFilter, days: list[date], *, mrr: bool = False) -> QuerySet:
    """One row per customer of the slice with a contract that could be in force on one of ``days``
    (sorted): ``n<i>`` = its contracts in force at the close of ``days[i]``, and with ``mrr`` their
    MRR ``m<i>``. Callers aggregate over it (one query, the grouping as a subquery)."""
    # Being stopped is permanent, so a contract stopped by the first day is never in force later.
    qs = Contract.objects.filter(f.customer_q(), Q(started_at__lte=days[-1]) & _not_stopped(days[0]))
    columns: dict[str, Any] = {}
    for i, day in enumerate(days):
        columns[f"n{i}"] = Count("customer_id", filter=contract_in_force(day))
        if mrr:
            columns[f"m{i}"] = Sum("mrr", filter=contract_in_force(day))
    return qs.order_by().values("customer_id").annotate(**columns)


# --- logo churn ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class LogoChurn:
    """Customers with a contract in force at the period's opening who have none at its close."""

    active_start: int  # customers with a contract in force at the close of the day before the period
    churned: int  # of those, customers with no contract in force at the close of the period's last day
    active_end: int  # customers with a contract in force at the close of the period (new ones included)
    rate: Decimal | None  # churned ÷ active_start, %, one decimal

    def as_dict(self) -> dict[str, Any]:
        return {
            "active_start": self.active_start,
            "churned": self.churned,
            "active_end": self.active_end,
            "rate": json_value(self.rate),
        }


def logo_churn(f: KpiFilter) -> LogoChurn:
    """Logo churn rate; docs/metrics.md "Logo churn". One query."""
    row = _contract_state(f, [f.start - timedelta(days=1), f.end]).aggregate(
        active_start=Count("customer_id", filter=Q(n0__gt=0)),
        churned=Count("customer_id", filter=Q(n0__gt=0, n1=0)),
        active_end=Count("customer_id", filter=Q(n1__gt=0)),
    )
    return LogoChurn(
        active_start=row["active_start"],
        churned=row["churned"],
        active_end=row["active_end"],
        rate=pct(row["churned"], row["active_start"]),
    )


# --- revenue churn, GRR, NRR --------------------------------------------------------------------


@dataclass(frozen=True)
class RevenueChurn:
    """MRR movements of the customers in force at the period's opening (new customers excluded)."""

    customers: int  # customers with a contract in force at the opening
    mrr_start: Decimal  # their MRR at the opening
    churned_mrr: Decimal  # MRR at the opening of those with no contract in force at the close
    contraction: Decimal  # MRR lost by customers still in force (end MRR below start MRR)
    expansion: Decimal  # MRR gained by customers still in force (end MRR above start MRR)
    gross_churn: Decimal | None  # (churned + contraction) ÷ start, %
    grr: Decimal | None  # (start − churned − contraction) ÷ start, %
    nrr: Decimal | None  # (start − churned − contraction + expansion) ÷ start, %

    @property
    def mrr_end(self) -> Decimal:
        """The MRR at the close of the same customers."""
        return self.mrr_start - self.churned_mrr - self.contraction + self.expansion

    def as_dict(self) -> dict[str, Any]:
        return {
            "customers": self.customers,
            "mrr_start": json_value(self.mrr_start),
            "mrr_end": json_value(self.mrr_end),
            "churned_mrr": json_value(self.churned_mrr),
            "contraction": json_value(self.contraction),
            "expansion": json_value(self.expansion),
            "gross_churn": json_value(self.gross_churn),
            "grr": json_value(self.grr),
            "nrr": json_value(self.nrr),
        }


def revenue_churn(f: KpiFilter) -> RevenueChurn:
    """Gross revenue churn, GRR and NRR from contract MRR; docs/metrics.md "Revenue churn, GRR and NRR".

    MRR is read from each contract as it is now: a plan change edited in place on a contract is
    not historised, so it shows up only when contracts start or stop (see the docs). One query.
    """
    kept = Q(n0__gt=0, n1__gt=0)
    row = _contract_state(f, [f.start - timedelta(days=1), f.end], mrr=True).aggregate(
        customers=Count("customer_id", filter=Q(n0__gt=0)),
        mrr_start=Sum("m0", filter=Q(n0__gt=0)),
        churned_mrr=Sum("m0", filter=Q(n0__gt=0, n1=0)),
        contraction=Sum(F("m0") - F("m1"), filter=kept & Q(m1__lt=F("m0"))),
        expansion=Sum(F("m1") - F("m0"), filter=kept & Q(m1__gt=F("m0"))),
    )
    start, churned = _money(row["mrr_start"]), _money(row["churned_mrr"])
    contraction, expansion = _money(row["contraction"]), _money(row["expansion"])
    lost = churned + contraction
    return RevenueChurn(
        customers=row["customers"],
        mrr_start=start,
        churned_mrr=churned,
        contraction=contraction,
        expansion=expansion,
        gross_churn=pct(lost, start),
        grr=pct(start - lost, start),
        nrr=pct(start - lost + expansion, start),
    )


# --- repurchase and the repeat-customer rate ----------------------------------------------------


def _paid_orders(f: KpiFilter) -> QuerySet:
    """Paid orders of the slice: pending, cancelled and refunded orders are not purchases."""
    return Order.objects.filter(f.customer_q(), status=Order.Status.PAID).order_by()


@dataclass(frozen=True)
class Repurchase:
    buyers: int  # customers with a paid order in the period
    repeat_buyers: int  # of those, customers with two or more paid orders in the period
    rate: Decimal | None  # repeat_buyers ÷ buyers, %

    def as_dict(self) -> dict[str, Any]:
        return {"buyers": self.buyers, "repeat_buyers": self.repeat_buyers, "rate": json_value(self.rate)}


def repurchase(f: KpiFilter) -> Repurchase:
    """Repurchase rate; docs/metrics.md "Repurchase rate". One query."""
    row = (
        _paid_orders(f)
        .filter(purchased_at__gte=f.start_dt, purchased_at__lt=f.end_dt)
        .values("customer_id")
        .annotate(n=Count("customer_id"))
        .aggregate(buyers=Count("customer_id"), repeat=Count("customer_id", filter=Q(n__gte=2)))
    )
    return Repurchase(buyers=row["buyers"], repeat_buyers=row["repeat"], rate=pct(row["repeat"], row["buyers"]))


@dataclass(frozen=True)
class RepeatCustomerRate:
    customers: int  # customers with at least one paid order up to the period's end
    repeat_customers: int  # of those, customers with two or more
    rate: Decimal | None

    def as_dict(self) -> dict[str, Any]:
        return {"customers": self.customers, "repeat_customers": self.repeat_customers, "rate": json_value(self.rate)}


def repeat_customer_rate(f: KpiFilter) -> RepeatCustomerRate:
    """Cumulative repeat-customer rate up to the period's end; docs/metrics.md "Repeat-customer rate"."""
    row = (
        _paid_orders(f)
        .filter(purchased_at__lt=f.end_dt)
        .values("customer_id")
        .annotate(n=Count("customer_id"))
        .aggregate(customers=Count("customer_id"), repeat=Count("customer_id", filter=Q(n__gte=2)))
    )
    return RepeatCustomerRate(
        customers=row["customers"], repeat_customers=row["repeat"], rate=pct(row["repeat"], row["customers"])
    )


# --- monthly trends -----------------------------------------------------------------------------


@dataclass(frozen=True)
class ChurnPoint:
    month: date  # first day of the calendar month
    start: date  # the part of the month inside the period
    end: date
    churn: LogoChurn

    def as_dict(self) -> dict[str, Any]:
        return {**_month_dict(self.month, self.start, self.end), **self.churn.as_dict()}


@dataclass(frozen=True)
class ChurnTrend:
    points: tuple[ChurnPoint, ...]

    def as_dict(self) -> dict[str, Any]:
        return {"points": [p.as_dict() for p in self.points]}


def churn_trend(f: KpiFilter) -> ChurnTrend:
    """Logo churn of each calendar month the period touches (each clipped to the period), as
    ``logo_churn`` would give for it alone. One query: the state of every customer is read at the
    close of each month boundary, and month i churns what was in force at boundary i and not at i+1."""
    segments = _month_segments(f)
    days = [f.start - timedelta(days=1)] + [end for _m, _s, end in segments]
    totals: dict[str, str] = {}
    for i in range(len(segments)):
        totals[f"s{i}"] = count_where(f"n{i} > 0")
        totals[f"c{i}"] = count_where(f"n{i} > 0 AND n{i + 1} = 0")
        totals[f"e{i}"] = count_where(f"n{i + 1} > 0")
    row = per_customer_totals(_contract_state(f, days), totals)
    points = []
    for i, (month, start, end) in enumerate(segments):
        active, churned = row[f"s{i}"], row[f"c{i}"]
        churn = LogoChurn(active_start=active, churned=churned, active_end=row[f"e{i}"], rate=pct(churned, active))
        points.append(ChurnPoint(month=month, start=start, end=end, churn=churn))
    return ChurnTrend(points=tuple(points))


@dataclass(frozen=True)
class RepurchasePoint:
    month: date
    start: date
    end: date
    repurchase: Repurchase

    def as_dict(self) -> dict[str, Any]:
        return {**_month_dict(self.month, self.start, self.end), **self.repurchase.as_dict()}


@dataclass(frozen=True)
class RepurchaseTrend:
    points: tuple[RepurchasePoint, ...]

    def as_dict(self) -> dict[str, Any]:
        return {"points": [p.as_dict() for p in self.points]}


def repurchase_trend(f: KpiFilter) -> RepurchaseTrend:
    """Repurchase rate of each calendar month the period touches (clipped to the period): a customer
    who bought twice in the month is a repeat buyer of that month. One query."""
    segments = _month_segments(f)
    per_month: dict[str, Any] = {}
    totals: dict[str, str] = {}
    for i, (_month, start, end) in enumerate(segments):
        bought_in = Q(purchased_at__gte=_local_midnight(start), purchased_at__lt=_local_midnight(end + timedelta(1)))
        per_month[f"o{i}"] = Count("customer_id", filter=bought_in)
        totals[f"b{i}"] = count_where(f"o{i} >= 1")
        totals[f"r{i}"] = count_where(f"o{i} >= 2")
    per_customer = (
        _paid_orders(f)
        .filter(purchased_at__gte=f.start_dt, purchased_at__lt=f.end_dt)
        .values("customer_id")
        .annotate(**per_month)
    )
    row = per_customer_totals(per_customer, totals)
    points = []
    for i, (month, start, end) in enumerate(segments):
        buyers, repeat = row[f"b{i}"], row[f"r{i}"]
        point = Repurchase(buyers=buyers, repeat_buyers=repeat, rate=pct(repeat, buyers))
        points.append(RepurchasePoint(month=month, start=start, end=end, repurchase=point))
    return RepurchaseTrend(points=tuple(points))


# --- cohort retention ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Cohort:
    month: date  # the cohort: month of the first purchase or of the first contract's start
    size: int  # customers in the cohort
    cells: tuple[Decimal | None, ...]  # cells[k]: % retained k months after the cohort month (k = 0…months)

    def as_dict(self) -> dict[str, Any]:
        return {"cohort": self.month.strftime("%Y-%m"), "size": self.size, "cells": [json_value(c) for c in self.cells]}


@dataclass(frozen=True)
class CohortRetention:
    basis: str
    months: int
    cohorts: tuple[Cohort, ...]

    def as_dict(self) -> dict[str, Any]:
        return {"basis": self.basis, "months": self.months, "cohorts": [c.as_dict() for c in self.cohorts]}


def cohort_retention(f: KpiFilter, *, basis: Basis = "purchase", months: int = 12) -> CohortRetention:
    """Cohort retention matrix for the cohorts of the period's months; docs/metrics.md "Cohort
    retention". ``basis="purchase"``: the cohort is the month of the first paid order and a customer
    is retained in a month when it bought in it; ``basis="contract"``: the month its first contract
    started, retained when a contract is in force at the month's close (or today, for the current
    month). Cells for months that have not begun yet are None. One query."""
    if basis not in ("purchase", "contract"):
        raise ValueError(f"unknown cohort basis: {basis!r}")
    if months < 0:
        raise ValueError("months must be 0 or more")
    cohorts = f.months()
    today = timezone.localdate()
    # Every calendar month a cell can fall in, from the first cohort to the last cohort + months,
    # stopping at the current month: later months have no data yet.
    window = [_add_months(cohorts[0], k) for k in range(len(cohorts) + months)]
    window = [m for m in window if m <= today] or [cohorts[0]]
    builder = _purchase_cohorts if basis == "purchase" else _contract_cohorts
    per_customer, first_in = builder(f, cohorts, window, today)
    # The cohort is the first of the period's months the customer entered in (customers who entered
    # earlier were left out of the per-customer rows); each cohort counts its customers retained in
    # every window month, and cell k of cohort i is window month i + k.
    entries = [first_in(i) for i in range(len(cohorts)) if first_in(i) is not None]
    cohort_of = "CASE " + " ".join(f"WHEN {column} > 0 THEN {i}" for i, column in enumerate(entries)) + " END"
    totals = {"size": "COUNT(*)"} | {f"w{k}": count_where(f"w{k} > 0") for k in range(len(window))}
    groups = per_customer_groups(per_customer, cohort_of, totals)
    out = []
    for i, month in enumerate(cohorts):
        row = groups.get(i, {})
        size = row.get("size", 0)
        cells = tuple(pct(row.get(f"w{i + k}", 0), size) if i + k < len(window) else None for k in range(months + 1))
        out.append(Cohort(month=month, size=size, cells=cells))
    return CohortRetention(basis=basis, months=months, cohorts=tuple(out))


def _purchase_cohorts(
    f: KpiFilter, cohorts: list[date], window: list[date], today: date
) -> tuple[QuerySet, Callable[[int], str | None]]:
    """Per customer whose first paid order is in or after the first cohort month: ``w<k>``, its paid
    orders in window month k. The window starts with the cohort months, so the cohort is the
    first k with ``w<k>`` > 0."""
    start = _local_midnight(cohorts[0])
    bought_before = Order.objects.filter(
        customer_id=OuterRef("customer_id"), status=Order.Status.PAID, purchased_at__lt=start
    )
    columns: dict[str, Any] = {}
    for k, month in enumerate(window):
        bought_in = Q(purchased_at__gte=_local_midnight(month), purchased_at__lt=_local_midnight(_add_months(month, 1)))
        columns[f"w{k}"] = Count("customer_id", filter=bought_in)
    per_customer = (
        _paid_orders(f)
        .filter(purchased_at__gte=start, purchased_at__lt=_local_midnight(_add_months(window[-1], 1)))
        .exclude(Exists(bought_before))
        .values("customer_id")
        .annotate(**columns)
    )
    return per_customer, lambda i: f"w{i}" if i < len(window) else None


def _contract_cohorts(
    f: KpiFilter, cohorts: list[date], window: list[date], today: date
) -> tuple[QuerySet, Callable[[int], str | None]]:
    """Per customer whose first contract starts in or after the first cohort month: ``s<i>``, its
    contracts started in cohort month i, and ``w<k>``, its contracts in force at the close of window
    month k (today for the current month)."""
    earlier = Contract.objects.filter(customer_id=OuterRef("customer_id"), started_at__lt=cohorts[0])
    columns: dict[str, Any] = {}
    started = [m for m in cohorts if m <= today]
    for i, month in enumerate(started):
        columns[f"s{i}"] = Count("customer_id", filter=Q(started_at__gte=month, started_at__lte=_month_end(month)))
    for k, month in enumerate(window):
        columns[f"w{k}"] = Count("customer_id", filter=contract_in_force(min(_month_end(month), today)))
    per_customer = (
        Contract.objects.filter(
            f.customer_q(), started_at__gte=cohorts[0], started_at__lte=min(_month_end(window[-1]), today)
        )
        .exclude(Exists(earlier))
        .order_by()
        .values("customer_id")
        .annotate(**columns)
    )
    return per_customer, lambda i: f"s{i}" if i < len(started) else None


__all__ = [
    "ChurnTrend",
    "CohortRetention",
    "LogoChurn",
    "RepeatCustomerRate",
    "Repurchase",
    "RepurchaseTrend",
    "RevenueChurn",
    "churn_trend",
    "cohort_retention",
    "contract_in_force",
    "logo_churn",
    "repeat_customer_rate",
    "repurchase",
    "repurchase_trend",
    "revenue_churn",
]
