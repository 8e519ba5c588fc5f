# Pages of the health score (metrics/health_views.py); included by metrics/urls.py under /metrics/health/.
from django.urls import path

from . import health_views

urlpatterns = [
    path("", health_views.health_list, name="health_list"),
    path("export/", health_views.health_export, name="health_export"),
    path("settings/", health_views.health_settings, name="health_settings"),
    path("<int:customer_id>/rating/", health_views.health_rating, name="health_rating"),
]
