"""KPIs over the API under /api/v1/metrics/ (metrics/api/kpis.py). The fixed paths come before
``<key>/`` so that "charts" and "cohorts" are never read as KPI keys."""

from django.urls import path

from . import kpis

urlpatterns = [
    path("", kpis.KpiListView.as_view(), name="metrics-kpis"),
    path("charts/<slug:key>/", kpis.ChartView.as_view(), name="metrics-chart"),
    path("cohorts/", kpis.CohortsView.as_view(), name="metrics-cohorts"),
    path("<slug:key>/", kpis.KpiDetailView.as_view(), name="metrics-kpi"),
]
