"""Additive KPIs: counters that add up over days and slices — survey answers, tickets, e-mails,
orders, referrals, funnel entries. Each counter is defined once here as a *fact source* (a grouped
query over a time range), rolled up per day by metrics/rollups.py and summed back for any period;
each KPI is a formula over the summed counters. Definitions: docs/metrics.md.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.db.models import Case, Count, IntegerField, Max, Q, QuerySet, Sum, Value, When
from django.db.models.functions import TruncDate

from customers.models import Customer, Order
from funnel.models import StageChange
from loyalty.models import Referral
from messaging.models import Channel, Message, MessageEvent
from support.models import Ticket
from surveys.models import SCALES, Invitation, Kind, Response
from surveys.selectors import nps_value

from ..filters import KpiFilter
from .common import ONE, TWO, json_value, pct

# (day, owner_id, segment_id, customer kind, counter key, value)
FactRow = tuple[date, int | None, int | None, str, str, Decimal]


def _grouped(
    qs: QuerySet,
    *,
    at: str,
    prefix: str,
    start: datetime,
    end: datetime,
    f: KpiFilter | None,
    aggregates: dict[str, Any],
    by: tuple[str, ...] = (),
    key: Callable[[str, dict[str, Any]], str | None] = lambda name, row: name,
) -> Iterator[FactRow]:
    """Rows of ``qs`` whose ``at`` falls in [start, end), counted per local day, per customer slice
    (owner, segment, kind reached through ``prefix``) and per extra ``by`` columns; one query."""
    qs = qs.filter(**{f"{at}__gte": start, f"{at}__lt": end})
    if f is not None:
        qs = qs.filter(f.customer_q(prefix))
    dims = (f"{prefix}owner_id", f"{prefix}segment_id", f"{prefix}kind")
    rows = qs.annotate(_day=TruncDate(at)).values("_day", *dims, *by).annotate(**aggregates).order_by()
    for row in rows:
        for name in aggregates:
            value = row[name]
            counter = key(name, row)
            if counter is None or not value:
                continue
            yield (row["_day"], row[dims[0]], row[dims[1]], row[dims[2]] or "", counter, Decimal(value))


def survey_answer_facts(start: datetime, end: datetime, f: KpiFilter | None = None) -> Iterator[FactRow]:
    """``<kind>.score.<n>``: answers of each score, by answer time (the customer's last answer)."""
    yield from _grouped(
        Response.objects.filter(kind__in=list(SCALES), score__isnull=False),
        at="answered_at",
        prefix="customer__",
        start=start,
        end=end,
        f=f,
        aggregates={"n": Count("id")},
        by=("kind", "score"),
        key=lambda name, row: f"{row['kind']}.score.{row['score']}",
    )


def survey_invitation_facts(start: datetime, end: datetime, f: KpiFilter | None = None) -> Iterator[FactRow]:
    """``surveys.sent`` and ``surveys.answered`` (of those sent), by send time."""
    yield from _grouped(
        Invitation.objects.filter(status__in=(Invitation.Status.SENT, Invitation.Status.ANSWERED)),
        at="sent_at",
        prefix="customer__",
        start=start,
        end=end,
        f=f,
        aggregates={
            "surveys.sent": Count("id"),
            "surveys.answered": Count("id", filter=Q(status=Invitation.Status.ANSWERED)),
        },
    )


def ticket_resolved_facts(start: datetime, end: datetime, f: KpiFilter | None = None) -> Iterator[FactRow]:
    """Resolution and first-response sums and counts, and SLA met, of tickets by resolution time."""
    met = Q(sla_policy__isnull=False, first_response_breached=False, resolution_breached=False)
    yield from _grouped(
        Ticket.objects.filter(status__in=(Ticket.Status.RESOLVED, Ticket.Status.CLOSED), resolved_at__isnull=False),
        at="resolved_at",
        prefix="customer__",
        start=start,
        end=end,
        f=f,
        aggregates={
            "tickets.resolved": Count("id"),
            "tickets.resolution.sum": Sum("resolution_seconds"),
            "tickets.resolution.n": Count("resolution_seconds"),
            "tickets.resolution_business.sum": Sum("resolution_business_seconds"),
            "tickets.resolution_business.n": Count("resolution_business_seconds"),
            "tickets.first_response.sum": Sum("first_response_seconds"),
            "tickets.first_response.n": Count("first_response_seconds"),
            "tickets.sla.total": Count("id", filter=Q(sla_policy__isnull=False)),
            "tickets.sla.met": Count("id", filter=met),
        },
    )


def ticket_opened_facts(start: datetime, end: datetime, f: KpiFilter | None = None) -> Iterator[FactRow]:
    yield from _grouped(
        Ticket.objects.all(),
        at="opened_at",
        prefix="customer__",
        start=start,
        end=end,
        f=f,
        aggregates={"tickets.opened": Count("id")},
    )


def _flag(*types: str) -> Max:
    """1 when the message has an event of one of ``types`` (aggregated over its events)."""
    return Max(Case(When(events__event_type__in=types, then=Value(1)), default=Value(0), output_field=IntegerField()))


def email_facts(start: datetime, end: datetime, f: KpiFilter | None = None) -> Iterator[FactRow]:
    """E-mails by send time: sent, delivered (sent and not bounced), unique opens and clicks (a
    message counts once however often it is opened), bounces, spam complaints, unsubscribes.

    One row per message with its event flags (one join with the events, grouped by message — five
    EXISTS subqueries per message cost 8× more on a 2,000,000-message book), summed per day and
    slice here."""
    S = Message.Status
    qs = Message.objects.filter(channel=Channel.EMAIL, sent_at__gte=start, sent_at__lt=end)
    if f is not None:
        qs = qs.filter(f.customer_q())
    rows = (
        qs.values("id")
        .annotate(
            _day=TruncDate("sent_at"),
            bounced=_flag(MessageEvent.Type.BOUNCED),
            opened=_flag(MessageEvent.Type.OPENED, MessageEvent.Type.CLICKED),
            clicked=_flag(MessageEvent.Type.CLICKED),
            unsubscribed=_flag(MessageEvent.Type.UNSUBSCRIBED),
            complained=_flag(MessageEvent.Type.COMPLAINED),
        )
        .values_list(
            "_day",
            "customer__owner_id",
            "customer__segment_id",
            "customer__kind",
            "status",
            "bounced",
            "opened",
            "clicked",
            "unsubscribed",
            "complained",
        )
        .order_by()
    )
    totals: dict[tuple[Any, ...], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for day, owner, segment, kind, status, bounced, opened, clicked, unsubscribed, complained in rows:
        was_bounced = status == S.BOUNCED or bounced
        counts = totals[(day, owner, segment, kind or "")]
        counts["emails.sent"] += 1
        counts["emails.delivered"] += not was_bounced and status != S.FAILED
        counts["emails.opened"] += bool(status in (S.OPENED, S.CLICKED) or opened)
        counts["emails.clicked"] += bool(status == S.CLICKED or clicked)
        counts["emails.bounced"] += bool(was_bounced)
        counts["emails.complained"] += bool(status == S.COMPLAINED or complained)
        counts["emails.unsubscribed"] += bool(unsubscribed)
    for (day, owner, segment, kind), counts in totals.items():
        for key, value in counts.items():
            if value:
                yield (day, owner, segment, kind, key, Decimal(value))


def order_facts(start: datetime, end: datetime, f: KpiFilter | None = None) -> Iterator[FactRow]:
    """Paid orders and their revenue by purchase time (refunded and cancelled orders excluded)."""
    yield from _grouped(
        Order.objects.filter(status=Order.Status.PAID),
        at="purchased_at",
        prefix="customer__",
        start=start,
        end=end,
        f=f,
        aggregates={"orders.paid": Count("id"), "orders.revenue": Sum("amount")},
    )


def referral_facts(start: datetime, end: datetime, f: KpiFilter | None = None) -> Iterator[FactRow]:
    """Referrals sent (by creation time) and converted (by conversion time), per referrer's slice."""
    common = {"prefix": "referrer__customer__", "start": start, "end": end, "f": f}
    yield from _grouped(Referral.objects.all(), at="created_at", aggregates={"referrals.sent": Count("id")}, **common)
    yield from _grouped(
        Referral.objects.filter(converted_at__isnull=False),
        at="converted_at",
        aggregates={"referrals.converted": Count("id")},
        **common,
    )


def stage_entry_facts(start: datetime, end: datetime, f: KpiFilter | None = None) -> Iterator[FactRow]:
    """``funnel.entered.<stage>``: customers moved into each stage, by time of the move."""
    yield from _grouped(
        StageChange.objects.all(),
        at="changed_at",
        prefix="customer__",
        start=start,
        end=end,
        f=f,
        aggregates={"n": Count("id")},
        by=("to_stage",),
        key=lambda name, row: f"funnel.entered.{row['to_stage']}",
    )


FACT_SOURCES: tuple[Callable[[datetime, datetime, KpiFilter | None], Iterable[FactRow]], ...] = (
    survey_answer_facts,
    survey_invitation_facts,
    ticket_resolved_facts,
    ticket_opened_facts,
    email_facts,
    order_facts,
    referral_facts,
    stage_entry_facts,
)


# --- KPIs: formulas over summed counters -----------------------------------------------------


def _mean(total: Decimal | int, n: Decimal | int, places: Decimal = ONE) -> Decimal | None:
    if not n:
        return None
    return (Decimal(total) / Decimal(n)).quantize(places, rounding=ROUND_HALF_UP)


class Counts(dict):
    """Summed counters (missing keys are 0)."""

    def __missing__(self, key: str) -> Decimal:
        return Decimal(0)

    def scores(self, kind: str) -> dict[int, int]:
        low, high = SCALES[kind]
        return {s: int(self[f"{kind}.score.{s}"]) for s in range(low, high + 1)}


@dataclass(frozen=True)
class Kpi:
    """A KPI's headline value (None: no data — never shown as 0) and its parts."""

    value: Decimal | None
    parts: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return {"value": json_value(self.value), **{k: json_value(v) for k, v in self.parts.items()}}


def nps(c: Counts) -> Kpi:
    """NPS = % promoters (9–10) − % detractors (0–6); docs/metrics.md "NPS"."""
    s = c.scores(Kind.NPS)
    promoters, passives = s[9] + s[10], s[7] + s[8]
    detractors = sum(s[n] for n in range(7))
    return Kpi(
        nps_value(promoters, passives, detractors),
        {
            "promoters": promoters,
            "passives": passives,
            "detractors": detractors,
            "answers": promoters + passives + detractors,
        },
    )


def csat(c: Counts) -> Kpi:
    """CSAT = answers 4–5 ÷ all CSAT answers; docs/metrics.md "CSAT"."""
    s = c.scores(Kind.CSAT)
    satisfied, answers = s[4] + s[5], sum(s.values())
    return Kpi(pct(satisfied, answers), {"satisfied": satisfied, "answers": answers})


def ces(c: Counts) -> Kpi:
    """CES = mean of the 1–7 answers, two decimals; docs/metrics.md "CES"."""
    s = c.scores(Kind.CES)
    answers = sum(s.values())
    return Kpi(_mean(sum(k * v for k, v in s.items()), answers, TWO), {"answers": answers})


def response_rate(c: Counts) -> Kpi:
    return Kpi(
        pct(c["surveys.answered"], c["surveys.sent"]), {"sent": c["surveys.sent"], "answered": c["surveys.answered"]}
    )


def tmr(c: Counts) -> Kpi:
    """Mean calendar resolution time in seconds of tickets resolved in the period (docs "TMR")."""
    return Kpi(
        _mean(c["tickets.resolution.sum"], c["tickets.resolution.n"]),
        {
            "resolved": c["tickets.resolved"],
            "business_mean_seconds": _mean(c["tickets.resolution_business.sum"], c["tickets.resolution_business.n"]),
        },
    )


def first_response(c: Counts) -> Kpi:
    return Kpi(
        _mean(c["tickets.first_response.sum"], c["tickets.first_response.n"]),
        {"tickets": c["tickets.first_response.n"]},
    )


def sla_met(c: Counts) -> Kpi:
    return Kpi(
        pct(c["tickets.sla.met"], c["tickets.sla.total"]),
        {"met": c["tickets.sla.met"], "with_policy": c["tickets.sla.total"]},
    )


def tickets_opened(c: Counts) -> Kpi:
    return Kpi(c["tickets.opened"], {})


def email_rates(c: Counts) -> dict[str, Kpi]:
    """Delivery, open, click, bounce, complaint and unsubscribe rates (docs "E-mail")."""
    sent, delivered = c["emails.sent"], c["emails.delivered"]
    parts = {"sent": sent, "delivered": delivered}
    return {
        "email_delivery": Kpi(pct(delivered, sent), parts),
        "email_open": Kpi(pct(c["emails.opened"], delivered), {**parts, "opened": c["emails.opened"]}),
        "email_click": Kpi(pct(c["emails.clicked"], delivered), {**parts, "clicked": c["emails.clicked"]}),
        "email_bounce": Kpi(pct(c["emails.bounced"], sent), {**parts, "bounced": c["emails.bounced"]}),
        "email_complaint": Kpi(pct(c["emails.complained"], delivered), {**parts, "complained": c["emails.complained"]}),
        "email_unsubscribe": Kpi(
            pct(c["emails.unsubscribed"], delivered), {**parts, "unsubscribed": c["emails.unsubscribed"]}
        ),
    }


def orders(c: Counts) -> dict[str, Kpi]:
    paid = c["orders.paid"]
    return {
        "orders": Kpi(paid, {"revenue": c["orders.revenue"]}),
        "revenue": Kpi(c["orders.revenue"], {"orders": paid, "average_ticket": _mean(c["orders.revenue"], paid, TWO)}),
    }


def referrals(c: Counts) -> Kpi:
    sent, converted = c["referrals.sent"], c["referrals.converted"]
    return Kpi(converted, {"sent": sent, "converted": converted})


def stage_entries(c: Counts) -> dict[str, int]:
    return {stage: int(c[f"funnel.entered.{stage}"]) for stage in Customer.Stage.values}
