# CSV import pages (upload, live progress, error report); included under /customers/import/.
from django.urls import path

from . import import_views

urlpatterns = [
    path("", import_views.import_upload, name="import"),
    path("<int:pk>/", import_views.import_detail, name="import_detail"),
    path("<int:pk>/progress/", import_views.import_progress, name="import_progress"),
    path("<int:pk>/errors.csv", import_views.import_errors_csv, name="import_errors_csv"),
]
