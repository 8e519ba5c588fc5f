from django.urls import include, path

app_name = "customers"

urlpatterns = [
    path("import/", include("customers.import_urls")),
]
