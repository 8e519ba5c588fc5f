"""Reads of the support app: the ticket queue and the TMR / first response / SLA report.
Definitions: docs/metrics.md ("Support")."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from statistics import median
from typing import Any

from django.db.models import Case, DateTimeField, F, Q, QuerySet, Value, When
from django.db.models.functions import Coalesce

from .models import Ticket

OPEN_STATUSES = (
    Ticket.Status.NEW,
    Ticket.Status.OPEN,
    Ticket.Status.WAITING,
    Ticket.Status.ON_HOLD,
    Ticket.Status.REOPENED,
)


class SlaState:
    """Queue filter values for the SLA state of open tickets."""

    BREACHED = "breached"
    AT_RISK = "at_risk"  # due within the policy's warning window
    ON_TRACK = "on_track"
    PAUSED = "paused"
    NONE = "none"


def ticket_queue(
    *,
    status: str = "",
    priority: str = "",
    assignee_id: int | None = None,
    unassigned: bool = False,
    team_id: int | None = None,
    customer_id: int | None = None,
    sla_state: str = "",
    search: str = "",
    now: datetime | None = None,
) -> QuerySet[Ticket]:
    """Tickets with customer, assignee and team joined (one query per page), ordered by time left:
    the earliest due time (first response while unanswered, else resolution) first; paused and
    closed tickets after."""
    from django.utils import timezone

    now = now or timezone.now()
    qs = Ticket.objects.select_related("customer", "assignee", "team", "sla_policy")
    if status == "active":
        qs = qs.filter(status__in=OPEN_STATUSES)
    elif status:
        qs = qs.filter(status=status)
    if priority:
        qs = qs.filter(priority=priority)
    if unassigned:
        qs = qs.filter(assignee__isnull=True)
    elif assignee_id is not None:
        qs = qs.filter(assignee_id=assignee_id)
    if team_id is not None:
        qs = qs.filter(team_id=team_id)
    if customer_id is not None:
        qs = qs.filter(customer_id=customer_id)
    if search:
        term = search.strip().lstrip("#")
        condition = Q(subject__icontains=term) | Q(customer__name__icontains=term)
        if term.isdigit():
            condition |= Q(pk=int(term))
        qs = qs.filter(condition)
    # Resolved and closed tickets have no time left: they sort after every open one.
    next_due = Case(
        When(~Q(status__in=OPEN_STATUSES), then=Value(None)),
        When(first_response_at__isnull=True, first_response_due_at__isnull=False, then=F("first_response_due_at")),
        default=F("resolution_due_at"),
        output_field=DateTimeField(),
    )
    qs = qs.annotate(next_due_at=next_due)
    if sla_state:
        active = Q(status__in=OPEN_STATUSES, sla_policy__isnull=False)
        if sla_state == SlaState.BREACHED:
            qs = qs.filter(active).filter(
                Q(first_response_breached=True, first_response_at__isnull=True)
                | Q(resolution_breached=True)
                | Q(next_due_at__lte=now)
            )
        elif sla_state == SlaState.PAUSED:
            qs = qs.filter(active, resolution_paused=True)
        elif sla_state == SlaState.NONE:
            qs = qs.filter(sla_policy__isnull=True)
        elif sla_state in (SlaState.AT_RISK, SlaState.ON_TRACK):
            from datetime import timedelta

            from django.db.models import ExpressionWrapper

            warn_at = ExpressionWrapper(
                F("next_due_at") - F("sla_policy__warn_before_minutes") * timedelta(minutes=1),
                output_field=DateTimeField(),
            )
            qs = qs.filter(active, next_due_at__gt=now).annotate(warn_at=warn_at)
            qs = qs.filter(warn_at__lte=now) if sla_state == SlaState.AT_RISK else qs.filter(warn_at__gt=now)
    far = Value(datetime(9999, 1, 1, tzinfo=timezone.get_current_timezone()), output_field=DateTimeField())
    return qs.order_by(Coalesce("next_due_at", far).asc(), "-opened_at", "-id")


@dataclass
class TimeFigure:
    """Mean and median of a duration over a set of tickets, in seconds (None: no ticket)."""

    count: int
    mean: float | None
    median: float | None


def _figure(values: list[int]) -> TimeFigure:
    if not values:
        return TimeFigure(0, None, None)
    return TimeFigure(len(values), sum(values) / len(values), float(median(values)))


@dataclass
class SupportReport:
    resolved: int
    tmr: TimeFigure  # resolution time, calendar
    tmr_business: TimeFigure
    first_response: TimeFigure
    first_response_business: TimeFigure
    sla_total: int  # resolved tickets that had a policy
    sla_met: int
    sla_met_pct: float | None
    rows: list[dict[str, Any]]  # per agent or team


def _met(ticket: dict[str, Any]) -> bool:
    return not ticket["first_response_breached"] and not ticket["resolution_breached"]


def support_report(
    *, start: datetime | None = None, end: datetime | None = None, group_by: str = "assignee", **filters: Any
) -> SupportReport:
    """TMR (sum of resolution times ÷ tickets resolved in [start, end)), its median, the first
    response time likewise, and % of SLA met, overall and per agent (``group_by="assignee"``) or
    team (``"team"``). One query."""
    qs = Ticket.objects.filter(status__in=(Ticket.Status.RESOLVED, Ticket.Status.CLOSED), resolved_at__isnull=False)
    if start is not None:
        qs = qs.filter(resolved_at__gte=start)
    if end is not None:
        qs = qs.filter(resolved_at__lt=end)
    if filters.get("priority"):
        qs = qs.filter(priority=filters["priority"])
    if filters.get("team_id"):
        qs = qs.filter(team_id=filters["team_id"])
    if filters.get("assignee_id"):
        qs = qs.filter(assignee_id=filters["assignee_id"])
    key_field = "team__name" if group_by == "team" else "assignee__username"
    tickets = list(
        qs.values(
            "id",
            "resolution_seconds",
            "resolution_business_seconds",
            "first_response_seconds",
            "first_response_business_seconds",
            "first_response_breached",
            "resolution_breached",
            "sla_policy_id",
            key_field,
            "team_id",
            "assignee_id",
            "assignee__first_name",
            "assignee__last_name",
        )
    )
    # Grouped by id, not by the label shown: two agents may share a name.
    groups: dict[int | None, list[dict[str, Any]]] = {}
    labels: dict[int | None, str] = {}
    for ticket in tickets:
        if group_by == "team":
            key, label = ticket["team_id"], ticket[key_field] or ""
        else:
            # an unassigned ticket has None names: its label is "" (the page says "unassigned")
            full = f"{ticket['assignee__first_name'] or ''} {ticket['assignee__last_name'] or ''}".strip()
            key, label = ticket["assignee_id"], full or ticket[key_field] or ""
        groups.setdefault(key, []).append(ticket)
        labels[key] = label

    def summary(items: list[dict[str, Any]]) -> dict[str, Any]:
        with_policy = [t for t in items if t["sla_policy_id"]]
        met = sum(_met(t) for t in with_policy)
        return {
            "resolved": len(items),
            "tmr": _figure([t["resolution_seconds"] for t in items if t["resolution_seconds"] is not None]),
            "tmr_business": _figure(
                [t["resolution_business_seconds"] for t in items if t["resolution_business_seconds"] is not None]
            ),
            "first_response": _figure(
                [t["first_response_seconds"] for t in items if t["first_response_seconds"] is not None]
            ),
            "first_response_business": _figure(
                [
                    t["first_response_business_seconds"]
                    for t in items
                    if t["first_response_business_seconds"] is not None
                ]
            ),
            "sla_total": len(with_policy),
            "sla_met": met,
            "sla_met_pct": round(met * 100 / len(with_policy), 1) if with_policy else None,
        }

    overall = summary(tickets)
    rows = [
        {"label": labels[key], **summary(items)}
        for key, items in sorted(groups.items(), key=lambda kv: (labels[kv[0]].lower(), kv[0] or 0))
    ]
    return SupportReport(rows=rows, **overall)


def customer_tickets(*, customer_id: int, limit: int = 10) -> list[Ticket]:
    return list(
        Ticket.objects.filter(customer_id=customer_id).select_related("assignee").order_by("-opened_at", "-id")[:limit]
    )


def ticket_events_for_customer(*, customer_id: int, limit: int) -> list[Any]:
    """The customer's ticket history for the 360 timeline (newest first, one query)."""
    from .models import TicketEvent

    return list(
        TicketEvent.objects.filter(ticket__customer_id=customer_id)
        .select_related("ticket", "author")
        .order_by("-at", "-id")[:limit]
    )
