from django.urls import include, path

from . import views

app_name = "metrics"

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("charts/<slug:key>.csv", views.chart_csv, name="chart_csv"),
    path("health/", include("metrics.health_urls")),
    path("reviews/", include("metrics.review_urls")),
]
