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
]
