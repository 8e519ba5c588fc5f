from django.urls import include, path

from . import views

app_name = "customers"

urlpatterns = [
    path("", views.customer_list, name="list"),
    path("export.csv", views.customer_export, name="export"),
    path("new/", views.customer_create, name="create"),
    path("<int:pk>/", views.customer_detail, name="detail"),
    path("<int:pk>/edit/", views.customer_edit, name="edit"),
    path("<int:pk>/delete/", views.customer_delete, name="delete"),
    path("<int:pk>/interactions/add/", views.interaction_add, name="interaction_add"),
    path("<int:pk>/consents/add/", views.consent_add, name="consent_add"),
    path("<int:pk>/contacts/add/", views.contact_add, name="contact_add"),
    path("<int:pk>/orders/add/", views.order_add, name="order_add"),
    path("<int:pk>/contracts/add/", views.contract_add, name="contract_add"),
    path("import/", include("customers.import_urls")),
]
