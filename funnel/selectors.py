"""Reads for the funnel pages. Each page costs the same number of queries at 1 row as at 1,000."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from django.db.models import Case, Count, F, IntegerField, OuterRef, Prefetch, QuerySet, Subquery, Value, When, Window
from django.db.models.functions import Lower, RowNumber

from customers.models import Customer, Interaction

from .models import Playbook, PlaybookStep, Priority, Stage, StageChange, StepRun, Task, TransitionRule

BOARD_CARD_LIMIT = 50
UPCOMING_DAYS = 14
MY_DAY_LIMIT = 200


@dataclass
class BoardColumn:
    stage: str
    label: str
    count: int = 0
    cards: list[Customer] = field(default_factory=list)

    @property
    def more(self) -> int:
        return max(self.count - len(self.cards), 0)


def _filtered_customers(*, owner: Any = None, segment: int | None = None) -> QuerySet[Customer]:
    qs = Customer.objects.all()
    if owner == "none":
        qs = qs.filter(owner__isnull=True)
    elif owner:
        qs = qs.filter(owner_id=owner)
    if segment:
        qs = qs.filter(segment_id=segment)
    return qs


def board(*, owner: Any = None, segment: int | None = None, limit: int = BOARD_CARD_LIMIT) -> list[BoardColumn]:
    """One column per stage: the count and the first ``limit`` cards, in two queries."""
    base = _filtered_customers(owner=owner, segment=segment)
    counts = dict(base.order_by().values_list("stage").annotate(n=Count("id")).values_list("stage", "n"))
    last_touch = Interaction.objects.filter(customer=OuterRef("pk")).order_by("-happened_at").values("happened_at")
    since = StageChange.objects.filter(customer=OuterRef("pk")).order_by("-changed_at", "-id").values("changed_at")
    cards = (
        # "health": the metrics app's score (reverse one-to-one) for the card badge, without its measures.
        base.select_related("owner", "segment", "health")
        .defer("health__components")
        .annotate(
            position=Window(RowNumber(), partition_by=[F("stage")], order_by=[Lower("name").asc(), F("id").asc()]),
            last_touch=Subquery(last_touch[:1]),
            stage_since=Subquery(since[:1]),
        )
        .filter(position__lte=limit)
        .order_by("stage", "position")
    )
    columns = {
        value: BoardColumn(stage=value, label=str(label), count=counts.get(value, 0)) for value, label in Stage.choices
    }
    for customer in cards:
        columns[customer.stage].cards.append(customer)
    return list(columns.values())


def stage_history(*, customer_id: int, limit: int = 50) -> list[StageChange]:
    return list(
        StageChange.objects.filter(customer_id=customer_id)
        .select_related("changed_by", "rule")
        .order_by("-changed_at", "-id")[:limit]
    )


def pending_step_runs(*, customer_id: int) -> list[StepRun]:
    return list(
        StepRun.objects.filter(customer_id=customer_id, status=StepRun.Status.PENDING)
        .select_related("step__playbook", "step__template")
        .order_by("due_at", "id")
    )


def customer_open_tasks(*, customer_id: int) -> list[Task]:
    return list(
        Task.objects.filter(customer_id=customer_id, status=Task.Status.OPEN)
        .select_related("owner")
        .order_by("due_date", "id")
    )


PRIORITY_RANK = Case(
    When(priority=Priority.URGENT, then=Value(0)),
    When(priority=Priority.HIGH, then=Value(1)),
    When(priority=Priority.NORMAL, then=Value(2)),
    default=Value(3),
    output_field=IntegerField(),
)


@dataclass
class MyDay:
    overdue: list[Task]
    today: list[Task]
    upcoming: list[Task]


def my_day(*, owner: Any, today: date, upcoming_days: int = UPCOMING_DAYS, limit: int = MY_DAY_LIMIT) -> MyDay:
    """Open tasks of one owner (``owner`` a user id), of nobody ("none") or of the whole team ("all")."""
    qs = Task.objects.filter(status=Task.Status.OPEN).select_related("customer", "owner")
    if owner == "none":
        qs = qs.filter(owner__isnull=True)
    elif owner != "all":
        qs = qs.filter(owner_id=owner)
    qs = qs.annotate(rank=PRIORITY_RANK).order_by("due_date", "rank", "id")
    return MyDay(
        overdue=list(qs.filter(due_date__lt=today)[:limit]),
        today=list(qs.filter(due_date=today)[:limit]),
        upcoming=list(qs.filter(due_date__gt=today, due_date__lte=today + timedelta(days=upcoming_days))[:limit]),
    )


def rule_list() -> list[TransitionRule]:
    return list(TransitionRule.objects.order_by("id"))


def playbook_list() -> list[Playbook]:
    return list(
        Playbook.objects.select_related("segment")
        .annotate(step_count=Count("steps"))
        .order_by("stage", F("segment__name").asc(nulls_first=True), "name")
    )


def playbook_get(*, pk: int) -> Playbook:
    return (
        Playbook.objects.select_related("segment")
        .prefetch_related(
            Prefetch("steps", queryset=PlaybookStep.objects.select_related("template").order_by("day_offset", "id"))
        )
        .get(pk=pk)
    )


def customer_lookup(*, term: str, owner_id: int | None = None) -> Customer | None:
    """A customer by id ("#12" or "12"), exact e-mail/document/external id, or name (first match)."""
    from customers.selectors import customer_search_q

    term = (term or "").strip()
    if not term:
        return None
    qs = Customer.objects.select_related("owner", "segment")
    if owner_id is not None:
        qs = qs.filter(owner_id=owner_id)
    if term.lstrip("#").isdigit():
        found = qs.filter(pk=int(term.lstrip("#"))).first()
        if found is not None:
            return found
    return qs.filter(customer_search_q(term)).order_by(Lower("name"), "id").first()
