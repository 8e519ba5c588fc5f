"""Dashboard pages: the manager dashboard (the whole book, or a slice of it), the same page as an
agent's own book, and each chart's data as CSV. Every figure comes from metrics.selectors; these
views only read the filter from the query string and render."""

from __future__ import annotations

import csv
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET

from posvenda import roles
from posvenda.lists import csv_safe
from posvenda.web import crm_role_required

from . import selectors
from .filters import FilterError, KpiFilter, filter_from_params
from .forms import DashboardFilterForm

GROUPS = {
    "customers": gettext_lazy("Customers"),
    "surveys": gettext_lazy("Surveys"),
    "support": gettext_lazy("Support"),
    "email": gettext_lazy("E-mail"),
    "evangelization": gettext_lazy("Evangelization"),
    "reputation": gettext_lazy("Reputation"),
}
COHORTS = "cohorts"
# The CSV's first column: what a chart's labels are.
LABEL_HEADINGS = {
    "nps_distribution": gettext_lazy("Score"),
    "funnel": gettext_lazy("Stage"),
    "health_distribution": gettext_lazy("Health"),
}


def forced_owner(user: Any) -> int | None:
    """An agent sees their own book only: the owner is forced to them. Managers choose freely."""
    return None if roles.is_manager(user) else user.pk


def card_groups(cards: Iterable[selectors.Card]) -> list[dict[str, Any]]:
    """Cards by section, sections in first-seen order (the selectors' order)."""
    groups: dict[str, dict[str, Any]] = {}
    for card in cards:
        group = groups.setdefault(card.group, {"key": card.group, "label": GROUPS.get(card.group, ""), "cards": []})
        group["cards"].append(card)
    return list(groups.values())


# Order on the page (two columns): trends, then the funnel and e-mail, then health beside the
# at-risk list; the cohort heat map spans the width below.
LAYOUT = [
    "nps_trend",
    "nps_distribution",
    "churn_repurchase_trend",
    "tmr_sla_trend",
    "funnel",
    "funnel_time",
    "email_trend",
    "health_distribution",
]


def series_unit(chart: selectors.Chart, series: selectors.Series) -> str:
    """A series' own unit when its chart mixes two (drawn on a second axis), else the chart's."""
    return series.unit or chart.unit


def chart_view(chart: selectors.Chart) -> dict[str, Any]:
    """What the page needs for one chart: the JSON Chart.js draws from, and the same figures as rows
    for the text alternative (a table under the canvas)."""
    units = [series_unit(chart, series) for series in chart.series]
    # All zeros says no more than no data (e.g. no health score computed yet): the empty note instead.
    has_data = any(value for series in chart.series for value in series.data)
    return {
        "chart": chart,
        "has_data": has_data,
        "units": units,
        "rows": [
            {
                "label": label,
                "cells": [(series.data[i], unit) for series, unit in zip(chart.series, units, strict=True)],
            }
            for i, label in enumerate(chart.labels)
        ],
        "json": {
            "key": chart.key,
            "kind": chart.kind,
            "unit": chart.unit,
            "labels": list(chart.labels),
            "series": [
                {"key": series.key, "label": series.label, "data": list(series.data), "unit": unit}
                for series, unit in zip(chart.series, units, strict=True)
            ],
        },
    }


@crm_role_required
@require_GET
def dashboard(request: HttpRequest) -> HttpResponse:
    owner_id = forced_owner(request.user)
    form = DashboardFilterForm(request.GET, forced_owner_id=owner_id)
    kpi_filter = form.resolve()
    board = selectors.dashboard(kpi_filter) if kpi_filter else None
    context: dict[str, Any] = {"form": form, "board": board, "agent_view": owner_id is not None}
    if board is not None:
        rank = {key: n for n, key in enumerate(LAYOUT)}
        charts = [chart_view(c) for c in sorted(board.charts, key=lambda c: rank.get(c.key, len(LAYOUT)))]
        context.update(
            groups=card_groups(board.cards),
            charts=charts,
            charts_json=[item["json"] for item in charts if item["has_data"]],
            query=urlencode(board.filter.as_params()),
            cache_minutes=max(settings.METRICS_CACHE_SECONDS // 60, 1) if settings.METRICS_CACHE_SECONDS > 0 else 0,
        )
    return render(request, "metrics/dashboard.html", context)


def _csv_response(filename: str, header: list[str], rows: Iterable[list[Any]]) -> HttpResponse:
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response.write("\ufeff")  # spreadsheet apps read the file as UTF-8 (accents in pt-BR labels)
    writer = csv.writer(response)
    writer.writerow([csv_safe(str(cell)) for cell in header])
    for row in rows:
        writer.writerow([csv_safe(cell) if isinstance(cell, str) else _csv_number(cell) for cell in row])
    return response


def _csv_number(value: Any) -> str:
    """Numbers as a BI tool reads them: a dot, no grouping, no unit; empty when there is no figure."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


@crm_role_required
@require_GET
def chart_csv(request: HttpRequest, key: str) -> HttpResponse:
    """One chart's data (rows = labels, columns = series), or the cohort table, for the same filter
    query string as the page; an agent gets their own book, whatever owner the link names."""
    try:
        kpi_filter = filter_from_params(request.GET, owner_id=forced_owner(request.user))
    except FilterError as exc:
        lines = [f"{name}: {message}" for name, message in exc.errors.items()]
        return HttpResponse("\n".join(lines), status=400, content_type="text/plain; charset=utf-8")
    filename = f"{key}-{kpi_filter.start:%Y%m%d}-{kpi_filter.end:%Y%m%d}.csv"
    if key == COHORTS:
        return _cohorts_csv(kpi_filter, filename)
    try:
        chart = selectors.chart(kpi_filter, key)
    except KeyError:
        raise Http404(_("No such chart.")) from None
    header = [LABEL_HEADINGS.get(key, _("Period")), *(series.label for series in chart.series)]
    rows = ([label, *(series.data[i] for series in chart.series)] for i, label in enumerate(chart.labels))
    return _csv_response(filename, header, rows)


def _cohorts_csv(kpi_filter: KpiFilter, filename: str) -> HttpResponse:
    cohorts = selectors.cohorts(kpi_filter)
    months = cohorts.months if cohorts else []
    rows = ([row.cohort, row.size, *row.cells] for row in (cohorts.rows if cohorts else []))
    return _csv_response(filename, [_("Cohort"), _("Customers"), *months], rows)
