from django.urls import include, path

from . import views

app_name = "messaging"

urlpatterns = [
    path("", views.message_list, name="list"),
    path("export/", views.message_export, name="export"),
    path("approvals/", views.approval_queue, name="approvals"),
    path("templates/", views.template_list, name="templates"),
    path("templates/new/", views.template_edit, name="template_create"),
    path("templates/<int:pk>/", views.template_edit, name="template_edit"),
    path("<int:pk>/", views.message_detail, name="detail"),
    path("<int:pk>/approve/", views.message_approve, name="approve"),
    path("<int:pk>/discard/", views.message_discard, name="discard"),
    # Public, no login: signed per-customer links from every e-mail.
    path("u/<str:token>/", views.unsubscribe, name="unsubscribe"),
    path("p/<str:token>/", views.preferences, name="preferences"),
    # ESP tracking webhooks (anymail verifies basic auth and signatures), e.g. /messaging/anymail/mailgun/tracking/
    path("anymail/", include("anymail.urls")),
]
