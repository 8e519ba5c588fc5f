from django.urls import path

from . import views

app_name = "support"

urlpatterns = [
    path("", views.queue, name="queue"),
    path("new/", views.ticket_create, name="create"),
    path("<int:pk>/", views.ticket_detail, name="detail"),
    path("<int:pk>/change/", views.ticket_change, name="change"),
    path("<int:pk>/reply/", views.ticket_reply, name="reply"),
    path("reports/", views.reports, name="reports"),
    path("reports/export.csv", views.reports_export, name="reports_export"),
    path("sla/", views.sla_policies, name="sla"),
]
