"""Reads of the surveys app: results (NPS, CSAT, CES, response rate, distribution, monthly trend),
responses with filters, and the survey panel of the customer 360 page. Definitions: docs/metrics.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.db.models import Case, Count, Q, QuerySet, When
from django.db.models.functions import TruncMonth

from customers.models import Customer

from .models import SCALES, Category, Invitation, Kind, Response, Survey

ONE_DECIMAL = Decimal("0.1")


def _pct(part: int, whole: int) -> Decimal | None:
    if not whole:
        return None
    return (Decimal(part) * 100 / Decimal(whole)).quantize(ONE_DECIMAL, rounding=ROUND_HALF_UP)


def nps_value(promoters: int, passives: int, detractors: int) -> Decimal | None:
    """NPS = % promoters (9–10) − % detractors (0–6) of all scored answers, one decimal; None when
    there is no answer. 5 promoters, 3 passives, 2 detractors → 50 % − 20 % = 30."""
    total = promoters + passives + detractors
    if not total:
        return None
    return (Decimal(promoters - detractors) * 100 / Decimal(total)).quantize(ONE_DECIMAL, rounding=ROUND_HALF_UP)


@dataclass
class Results:
    survey: Survey
    invited: int = 0  # invitations sent (answered included)
    answered: int = 0
    response_rate: Decimal | None = None
    counts: dict[str, int] = field(default_factory=dict)  # per category
    score: Decimal | None = None  # NPS, CSAT % satisfied, or CES mean
    distribution: list[tuple[int, int]] = field(default_factory=list)  # (score, answers) for each point
    reasons: list[tuple[str, int]] = field(default_factory=list)  # exit survey
    trend: list[dict[str, Any]] = field(default_factory=list)  # per month: month, answered, score
    loops_open: int = 0
    loops_closed: int = 0

    @property
    def shares(self) -> dict[str, Decimal | None]:
        total = sum(self.counts.values())
        return {key: _pct(value, total) for key, value in self.counts.items()}


def _score_of(kind: str, counts: dict[str, int], total_score: int, scored: int) -> Decimal | None:
    if kind == Kind.NPS:
        return nps_value(
            counts.get(Category.PROMOTER, 0), counts.get(Category.PASSIVE, 0), counts.get(Category.DETRACTOR, 0)
        )
    if kind == Kind.CSAT:
        return _pct(counts.get(Category.SATISFIED, 0), scored)
    if kind == Kind.CES:
        return (Decimal(total_score) / Decimal(scored)).quantize(Decimal("0.01")) if scored else None
    return None


def _filtered(qs: QuerySet, *, start: datetime | None, end: datetime | None, field_name: str) -> QuerySet:
    if start is not None:
        qs = qs.filter(**{f"{field_name}__gte": start})
    if end is not None:
        qs = qs.filter(**{f"{field_name}__lt": end})
    return qs


def survey_results(*, survey: Survey, start: datetime | None = None, end: datetime | None = None) -> Results:
    """All figures of the results page in a fixed number of queries (period on answer / send time)."""
    result = Results(survey=survey)
    invitations = _filtered(
        Invitation.objects.filter(survey=survey, status__in=(Invitation.Status.SENT, Invitation.Status.ANSWERED)),
        start=start,
        end=end,
        field_name="sent_at",
    )
    agg = invitations.aggregate(invited=Count("id"), answered=Count("id", filter=Q(status=Invitation.Status.ANSWERED)))
    result.invited, result.answered = agg["invited"], agg["answered"]
    result.response_rate = _pct(result.answered, result.invited)

    responses = _filtered(Response.objects.filter(survey=survey), start=start, end=end, field_name="answered_at")
    by_score = dict(
        responses.exclude(score__isnull=True).values_list("score").annotate(n=Count("id")).values_list("score", "n")
    )
    scale = SCALES.get(survey.kind)
    if scale is not None:
        result.distribution = [(s, by_score.get(s, 0)) for s in range(scale[0], scale[1] + 1)]
    categories = {
        Kind.NPS: (Category.PROMOTER, Category.PASSIVE, Category.DETRACTOR),
        Kind.CSAT: (Category.SATISFIED, Category.NEUTRAL, Category.UNSATISFIED),
        Kind.CES: (Category.EASY, Category.NEUTRAL, Category.DIFFICULT),
    }.get(survey.kind, ())
    from .services import category_for

    counts = dict.fromkeys(categories, 0)
    for score, n in by_score.items():
        counts[category_for(survey.kind, score)] = counts.get(category_for(survey.kind, score), 0) + n
    result.counts = counts
    scored = sum(by_score.values())
    result.score = _score_of(survey.kind, counts, sum(s * n for s, n in by_score.items()), scored)
    if survey.kind == Kind.EXIT:
        result.reasons = list(
            responses.values_list("reason").annotate(n=Count("id")).order_by("-n", "reason").values_list("reason", "n")
        )

    monthly: dict[Any, dict[int, int]] = {}
    for month, score, n in (
        responses.exclude(score__isnull=True)
        .annotate(month=TruncMonth("answered_at"))
        .values_list("month", "score")
        .annotate(n=Count("id"))
        .values_list("month", "score", "n")
    ):
        monthly.setdefault(month, {})[score] = monthly.setdefault(month, {}).get(score, 0) + n
    for month in sorted(monthly):
        scores = monthly[month]
        month_counts: dict[str, int] = {}
        for score, n in scores.items():
            key = category_for(survey.kind, score)
            month_counts[key] = month_counts.get(key, 0) + n
        total = sum(scores.values())
        result.trend.append(
            {
                "month": month,
                "answered": total,
                "score": _score_of(survey.kind, month_counts, sum(s * n for s, n in scores.items()), total),
            }
        )
    if survey.kind == Kind.EXIT:  # no score: the trend is the number of answers per month
        result.trend = [
            {"month": month, "answered": n, "score": None}
            for month, n in responses.annotate(month=TruncMonth("answered_at"))
            .values_list("month")
            .annotate(n=Count("id"))
            .order_by("month")
            .values_list("month", "n")
        ]
    loops = responses.aggregate(
        open=Count("id", filter=Q(loop=Response.Loop.OPEN)), closed=Count("id", filter=Q(loop=Response.Loop.CLOSED))
    )
    result.loops_open, result.loops_closed = loops["open"], loops["closed"]
    return result


def response_list(
    *,
    survey: Survey | None = None,
    category: str = "",
    search: str = "",
    loop: str = "",
    customer_id: int | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
) -> QuerySet[Response]:
    """Responses, newest first, with customer and owner joined (one query per page)."""
    qs = Response.objects.select_related("customer", "customer__owner", "survey", "loop_closed_by")
    if survey is not None:
        qs = qs.filter(survey=survey)
    if category:
        qs = qs.filter(category=category)
    if loop:
        qs = qs.filter(loop=loop)
    if customer_id is not None:
        qs = qs.filter(customer_id=customer_id)
    if search:
        qs = qs.filter(Q(comment__icontains=search) | Q(customer__name__icontains=search) | Q(reason__icontains=search))
    qs = _filtered(qs, start=start, end=end, field_name="answered_at")
    return qs.order_by("-answered_at", "-id")


def _per_survey(qs: QuerySet, value: Any) -> Any:
    """A correlated subquery: one aggregate of ``qs`` per survey row (0 when there is none)."""
    from django.db.models import IntegerField, OuterRef, Subquery
    from django.db.models.functions import Coalesce

    return Coalesce(
        Subquery(qs.filter(survey_id=OuterRef("pk")).order_by().values("survey_id").annotate(v=value).values("v")[:1]),
        0,
        output_field=value.output_field if hasattr(value, "output_field") else IntegerField(),
    )


def survey_list() -> QuerySet[Survey]:
    """Surveys with their invitation and answer counts and the figures behind their score, one query.

    Correlated subqueries rather than joins: joining invitations and responses multiplies the rows
    (invitations × responses per survey)."""
    from django.db.models import Avg, F, FloatField
    from django.db.models.functions import Cast

    sent = Invitation.objects.filter(status__in=(Invitation.Status.SENT, Invitation.Status.ANSWERED))
    scored = Response.objects.exclude(score__isnull=True)
    return Survey.objects.select_related("segment").annotate(
        sent_count=_per_survey(sent, Count("id")),
        answered_count=_per_survey(Response.objects.all(), Count("id")),
        scored_count=_per_survey(scored, Count("id")),
        promoter_count=_per_survey(Response.objects.filter(category=Category.PROMOTER), Count("id")),
        detractor_count=_per_survey(Response.objects.filter(category=Category.DETRACTOR), Count("id")),
        satisfied_count=_per_survey(Response.objects.filter(category=Category.SATISFIED), Count("id")),
        score_mean=_per_survey(scored, Avg(Cast("score", FloatField()))),
        response_rate=Case(
            When(sent_count=0, then=None),
            default=Cast(F("answered_count"), FloatField()) * 100 / Cast(F("sent_count"), FloatField()),
            output_field=FloatField(),
        ),
    )


def survey_score(survey: Survey) -> Decimal | None:
    """The headline score of a ``survey_list`` row: NPS, CSAT % satisfied or CES mean (None: no answer)."""
    scored = getattr(survey, "scored_count", 0)
    if survey.kind == Kind.NPS:
        passives = scored - survey.promoter_count - survey.detractor_count
        return nps_value(survey.promoter_count, passives, survey.detractor_count)
    if survey.kind == Kind.CSAT:
        return _pct(survey.satisfied_count, scored)
    if survey.kind == Kind.CES and scored:
        return Decimal(str(survey.score_mean)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    return None


def customer_survey_panel(*, customer: Customer, limit: int = 10) -> dict[str, Any]:
    """The 360 panel: latest answer per survey type and the last invitations, each with its response
    (two queries)."""
    responses = list(
        Response.objects.filter(customer=customer).select_related("survey").order_by("-answered_at", "-id")[:limit]
    )
    latest: dict[str, Response] = {}
    for response in responses:
        latest.setdefault(response.kind, response)
    invitations = list(
        Invitation.objects.filter(customer=customer)
        .select_related("survey", "response")
        .order_by("-created_at", "-id")[:limit]
    )
    return {"latest": latest, "responses": responses, "invitations": invitations}


def latest_nps_category_subquery() -> Any:
    """A subquery of a customer's latest NPS category, for audience filters (funnel campaigns)."""
    from django.db.models import OuterRef, Subquery

    return Subquery(
        Response.objects.filter(customer_id=OuterRef("pk"), kind=Kind.NPS)
        .order_by("-answered_at", "-id")
        .values("category")[:1]
    )
