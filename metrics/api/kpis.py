"""KPIs over the API, for BI tools: every card of the dashboard, one KPI with all its parts, one
chart's series and the cohort table — the figures of the dashboard page (metrics.selectors), for
the same query parameters (period or start/end, segment, owner, kind).

An agent gets their own book only, as on the page: the owner is forced to them. Asking for another
owner's book is refused with 403 rather than silently answered with different figures than the
client asked for (a BI tool would otherwise chart the wrong book without noticing)."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.exceptions import NotFound, PermissionDenied, ValidationError
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from customers.models import Customer
from posvenda import roles
from posvenda.api.permissions import HasCRMRole
from posvenda.api.schema import bad_request, read_errors

from .. import selectors
from ..filters import PRESETS, FilterError, KpiFilter, filter_from_params
from ..views import series_unit

UNITS = ["pct", "score", "seconds", "count", "brl", "stars", "mean", "hours", "mixed"]

FILTER_PARAMETERS = [
    OpenApiParameter(
        "period",
        str,
        enum=list(PRESETS),
        description=(
            "A preset period ending today (local days, America/Sao_Paulo), or `custom` with `start` and "
            "`end`. Default `30d`; `start`/`end` without `period` mean `custom`. Every figure is also "
            "computed for the previous period of the same length (whole months: the same number of "
            "months before)."
        ),
    ),
    OpenApiParameter("start", OpenApiTypes.DATE, description="First day of a custom period (inclusive)."),
    OpenApiParameter("end", OpenApiTypes.DATE, description="Last day of a custom period (inclusive); at most 5 years."),
    OpenApiParameter("segment", int, description="Only customers of this segment (id)."),
    OpenApiParameter(
        "owner",
        int,
        description=(
            "Only customers owned by this user (id). Managers only: an agent always gets their own book, "
            "and naming another owner answers 403."
        ),
    ),
    OpenApiParameter("kind", str, enum=list(Customer.Kind.values), description="Only companies or only people."),
]
FILTER_ERRORS = {
    400: bad_request({"end": ["The end is before the start."]}),
    **read_errors(),
}


def request_filter(request: Request) -> KpiFilter:
    """The KpiFilter of the query string; 400 with a message per bad parameter, 403 for an agent
    naming someone else's book."""
    user = request.user
    own = None if roles.is_manager(user) else user.pk
    wanted = request.query_params.get("owner")
    if own is not None and wanted not in (None, "", str(own)):
        raise PermissionDenied(_("An agent sees only their own book: leave out owner or give your own user id."))
    try:
        return filter_from_params(request.query_params, owner_id=own)
    except FilterError as exc:
        raise ValidationError({name: [message] for name, message in exc.errors.items()}) from None


def figure(**kwargs: Any) -> serializers.DecimalField:
    return serializers.DecimalField(
        max_digits=None, decimal_places=None, coerce_to_string=False, allow_null=True, **kwargs
    )


class MetricsFilterSerializer(serializers.Serializer):
    period = serializers.CharField(source="preset", help_text="The preset asked for, or custom.")
    start = serializers.DateField()
    end = serializers.DateField()
    days = serializers.IntegerField()
    segment = serializers.IntegerField(source="segment_id", allow_null=True)
    owner = serializers.IntegerField(source="owner_id", allow_null=True)
    kind = serializers.CharField(allow_null=True)


class MetricsPeriodSerializer(serializers.Serializer):
    start = serializers.DateField()
    end = serializers.DateField()


class MetricsCardSerializer(serializers.Serializer):
    key = serializers.CharField(help_text="The KPI's key, for /api/v1/metrics/<key>/.")
    label = serializers.CharField(help_text="Its name in the user's language.")
    value = figure(help_text="The period's figure; null when there is no data (never 0 for missing).")
    previous = figure(help_text="The previous period's figure (null: no data, or a balance with no period).")
    change = figure(help_text="value − previous (percentage points for rates); null when either is null.")
    unit = serializers.ChoiceField(choices=UNITS, help_text="pct, score (NPS), seconds, count, brl, stars, mean.")
    better = serializers.ChoiceField(choices=["up", "down", ""], help_text="Which direction of change is good.")
    detail = serializers.CharField(help_text="The counts behind the figure, in words.")
    group = serializers.CharField(help_text="Dashboard section: customers, surveys, support, email, …")


class MetricsKpiListSerializer(serializers.Serializer):
    filter = MetricsFilterSerializer()
    previous = MetricsPeriodSerializer()
    cards = MetricsCardSerializer(many=True)


class MetricsSeriesSerializer(serializers.Serializer):
    key = serializers.CharField()
    label = serializers.CharField()
    unit = serializers.SerializerMethodField(help_text="This series' unit (a chart may mix two, e.g. hours and %).")
    data = serializers.ListField(
        child=serializers.FloatField(allow_null=True), help_text="One per label; null: no data."
    )

    def get_unit(self, series: selectors.Series) -> str:
        return series_unit(self.context["chart"], series)


class MetricsChartSerializer(serializers.Serializer):
    key = serializers.CharField()
    title = serializers.CharField()
    kind = serializers.ChoiceField(choices=["line", "bar", "stacked"])
    unit = serializers.ChoiceField(choices=UNITS, help_text="mixed: the series have different units (see each).")
    labels = serializers.ListField(child=serializers.CharField(), help_text="Days, months, scores or stages.")
    series = MetricsSeriesSerializer(many=True)


class MetricsCohortRowSerializer(serializers.Serializer):
    cohort = serializers.CharField(help_text="YYYY-MM: the month the customers started.")
    size = serializers.IntegerField(help_text="Customers in the cohort.")
    cells = serializers.ListField(
        child=serializers.FloatField(allow_null=True), help_text="% still active in M0, M1, …; null: not reached yet."
    )


class MetricsCohortsSerializer(serializers.Serializer):
    basis = serializers.CharField(help_text="What starts a cohort: purchase or contract.")
    months = serializers.ListField(child=serializers.CharField())
    rows = MetricsCohortRowSerializer(many=True)


KpiDetailSerializer = inline_serializer(
    name="MetricsKpiDetail",
    fields={
        "key": serializers.CharField(),
        "label": serializers.CharField(),
        "unit": serializers.ChoiceField(choices=UNITS),
        "better": serializers.ChoiceField(choices=["up", "down", ""]),
        "group": serializers.CharField(),
        "value": serializers.FloatField(allow_null=True, help_text="The headline figure; null: no data."),
        "previous": serializers.DictField(
            help_text="The same figures for the previous period (absent for a balance with no period)."
        ),
    },
)

NPS_CARD = {
    "key": "nps",
    "label": "NPS",
    "value": 33.3,
    "previous": 20.0,
    "change": 13.3,
    "unit": "score",
    "better": "up",
    "detail": "2 promoters · 0 passives · 1 detractors",
    "group": "surveys",
}
FILTER_EXAMPLE = {
    "period": "30d",
    "start": "2025-05-02",
    "end": "2025-05-31",
    "days": 30,
    "segment": None,
    "owner": None,
    "kind": None,
}


class KpiListView(APIView):
    """Every KPI card of the dashboard for the filter."""

    permission_classes = [IsAuthenticated, HasCRMRole]

    @extend_schema(
        summary="All KPIs",
        operation_id="metrics_kpis",
        description=(
            "Every KPI of the dashboard for the period and slice: the figure, the previous period's and "
            "the change, with the unit and which direction is better. Figures are JSON numbers, null when "
            "there is no data."
        ),
        parameters=FILTER_PARAMETERS,
        responses={200: MetricsKpiListSerializer, **FILTER_ERRORS},
        examples=[
            OpenApiExample(
                "KPIs",
                value={
                    "filter": FILTER_EXAMPLE,
                    "previous": {"start": "2025-04-02", "end": "2025-05-01"},
                    "cards": [NPS_CARD],
                },
                response_only=True,
            )
        ],
    )
    def get(self, request: Request) -> Response:
        f = request_filter(request)
        previous = f.previous()
        return Response(
            {
                "filter": MetricsFilterSerializer(f).data,
                "previous": {"start": previous.start, "end": previous.end},
                "cards": MetricsCardSerializer(selectors.cards(f), many=True).data,
            }
        )


class KpiDetailView(APIView):
    """One KPI with all its parts, for the period and the previous one."""

    permission_classes = [IsAuthenticated, HasCRMRole]

    @extend_schema(
        summary="One KPI",
        operation_id="metrics_kpi",
        description=(
            "One KPI's headline `value` and every part of it (e.g. for `nps`: promoters, passives, "
            "detractors, answers), plus the same under `previous` for the previous period. Keys: "
            + ", ".join(f"`{key}`" for key in selectors.KPI_KEYS)
            + ". Definitions: docs/metrics.md."
        ),
        parameters=[
            OpenApiParameter("key", str, OpenApiParameter.PATH, enum=list(selectors.KPI_KEYS), description="KPI key."),
            *FILTER_PARAMETERS,
        ],
        responses={200: KpiDetailSerializer, **FILTER_ERRORS, 404: read_errors(detail=True)[404]},
        examples=[
            OpenApiExample(
                "NPS",
                value={
                    "key": "nps",
                    "label": "NPS",
                    "unit": "score",
                    "better": "up",
                    "group": "surveys",
                    "value": 33.3,
                    "promoters": 2,
                    "passives": 0,
                    "detractors": 1,
                    "answers": 3,
                    "previous": {"value": None, "promoters": 0, "passives": 0, "detractors": 0, "answers": 0},
                },
                response_only=True,
            )
        ],
    )
    def get(self, request: Request, key: str) -> Response:
        f = request_filter(request)
        try:
            return Response(selectors.kpi(f, key))
        except KeyError:
            raise NotFound(_("No such KPI; use one of: %(keys)s.") % {"keys": ", ".join(selectors.KPI_KEYS)}) from None


class ChartView(APIView):
    """One dashboard chart's labels and series."""

    permission_classes = [IsAuthenticated, HasCRMRole]

    @extend_schema(
        summary="One chart's data",
        operation_id="metrics_chart",
        description=(
            "The labels (days or months for trends — per day up to 62 days, per month beyond — scores, "
            "stages or health bands) and one list of values per series, aligned with the labels. Keys: "
            + ", ".join(f"`{key}`" for key in selectors.CHART_KEYS)
            + "."
        ),
        parameters=[
            OpenApiParameter(
                "key", str, OpenApiParameter.PATH, enum=list(selectors.CHART_KEYS), description="Chart key."
            ),
            *FILTER_PARAMETERS,
        ],
        responses={200: MetricsChartSerializer, **FILTER_ERRORS, 404: read_errors(detail=True)[404]},
        examples=[
            OpenApiExample(
                "NPS trend",
                value={
                    "key": "nps_trend",
                    "title": "NPS trend",
                    "kind": "line",
                    "unit": "score",
                    "labels": ["Mar 2025", "Apr 2025", "May 2025"],
                    "series": [
                        {"key": "nps", "label": "NPS", "data": [20.0, None, 33.3]},
                        {"key": "answers", "label": "NPS answers", "data": [5.0, 0.0, 3.0]},
                    ],
                },
                response_only=True,
            )
        ],
    )
    def get(self, request: Request, key: str) -> Response:
        f = request_filter(request)
        try:
            chart = selectors.chart(f, key)
        except KeyError:
            raise NotFound(
                _("No such chart; use one of: %(keys)s.") % {"keys": ", ".join(selectors.CHART_KEYS)}
            ) from None
        return Response(MetricsChartSerializer(chart, context={"chart": chart}).data)


class CohortsView(APIView):
    """The cohort retention table of the dashboard's heat map."""

    permission_classes = [IsAuthenticated, HasCRMRole]

    @extend_schema(
        summary="Cohort retention",
        operation_id="metrics_cohorts",
        description=(
            "One row per cohort (customers by the month they started) with its size and the % still "
            "active in each following month (M0 = the starting month); the filter's slice applies."
        ),
        parameters=FILTER_PARAMETERS,
        responses={200: MetricsCohortsSerializer, **FILTER_ERRORS},
        examples=[
            OpenApiExample(
                "Cohorts",
                value={
                    "basis": "purchase",
                    "months": ["M0", "M1", "M2"],
                    "rows": [
                        {"cohort": "2025-03", "size": 40, "cells": [100.0, 35.0, 27.5]},
                        {"cohort": "2025-04", "size": 25, "cells": [100.0, 32.0, None]},
                    ],
                },
                response_only=True,
            )
        ],
    )
    def get(self, request: Request) -> Response:
        f = request_filter(request)
        return Response(MetricsCohortsSerializer(selectors.cohorts(f)).data)
