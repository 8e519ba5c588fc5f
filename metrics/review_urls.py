# Pages of reputation reviews (metrics/review_views.py); included by metrics/urls.py under /metrics/reviews/.
from django.urls import path

from . import review_views as views

urlpatterns = [
    path("", views.review_list, name="review_list"),
    path("export.csv", views.review_export, name="review_export"),
    path("new/", views.review_create, name="review_create"),
    path("import/", views.review_import, name="review_import"),
    path("<int:pk>/edit/", views.review_edit, name="review_edit"),
    path("<int:pk>/delete/", views.review_delete, name="review_delete"),
]
