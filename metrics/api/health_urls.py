"""Health-score endpoints (metrics/api/health.py), included under /api/v1/ by metrics/api/urls.py."""

from django.urls import path

from . import health

urlpatterns = [
    path("health-scores/", health.HealthScoreListView.as_view(), name="health-score-list"),
    path("health-scores/<int:customer_id>/", health.HealthScoreDetailView.as_view(), name="health-score-detail"),
    path(
        "health-scores/<int:customer_id>/manual-rating/",
        health.ManualRatingView.as_view(),
        name="health-score-manual-rating",
    ),
    path("health-settings/", health.HealthSettingsView.as_view(), name="health-settings"),
]
