"""Metrics endpoints, included by posvenda/api/urls.py: KPIs under /api/v1/metrics/, plus the
health-score and review resources (each module adds its own routes)."""

from django.urls import include, path

urlpatterns = [
    path("metrics/", include("metrics.api.kpi_urls")),
    path("", include("metrics.api.health_urls")),
    path("", include("metrics.api.review_urls")),
]
