from django.urls import path

from . import views

app_name = "funnel"

urlpatterns = [
    path("", views.board, name="board"),
    path("customer/<int:pk>/move/", views.move, name="move"),
    path("customer/<int:pk>/history/", views.history, name="history"),
    path("rules/", views.rules, name="rules"),
    path("rules/<int:pk>/edit/", views.rule_edit, name="rule_edit"),
    path("playbooks/", views.playbooks, name="playbooks"),
    path("playbooks/new/", views.playbook_create, name="playbook_create"),
    path("playbooks/<int:pk>/", views.playbook_detail, name="playbook"),
    path("playbooks/<int:pk>/preview/", views.preview, name="preview"),
    path("playbooks/<int:pk>/steps/add/", views.step_edit, name="step_add"),
    path("playbooks/<int:pk>/steps/<int:step_pk>/edit/", views.step_edit, name="step_edit"),
    path("playbooks/<int:pk>/steps/<int:step_pk>/delete/", views.step_delete, name="step_delete"),
    path("my-day/", views.my_day, name="my_day"),
    path("tasks/new/", views.task_create, name="task_create"),
    path("tasks/<int:pk>/complete/", views.task_complete, name="task_complete"),
    path("campaigns/", views.campaign_list, name="campaigns"),
    path("campaigns/new/", views.campaign_create, name="campaign_create"),
    path("campaigns/audience-size/", views.campaign_audience_size, name="campaign_audience_size"),
    path("campaigns/<int:pk>/", views.campaign_detail, name="campaign"),
    path("campaigns/<int:pk>/edit/", views.campaign_edit, name="campaign_edit"),
    path("campaigns/<int:pk>/progress/", views.campaign_progress, name="campaign_progress"),
    path("campaigns/<int:pk>/send/", views.campaign_send, name="campaign_send"),
    path("campaigns/<int:pk>/cancel/", views.campaign_cancel, name="campaign_cancel"),
    path("campaigns/audiences/", views.audience_list, name="audiences"),
    path("campaigns/audiences/new/", views.audience_create, name="audience_create"),
    path("campaigns/audiences/size/", views.audience_size, name="audience_size"),
    path("campaigns/audiences/<int:pk>/edit/", views.audience_edit, name="audience_edit"),
]
