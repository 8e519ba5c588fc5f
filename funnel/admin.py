"""Read-mostly admin for the funnel: the pages are the place to edit; admin is for inspection."""

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from posvenda.admin import ReadOnlyAdmin

from .models import DigestLog, Playbook, PlaybookStep, StageChange, StepRun, Task, TransitionRule


@admin.register(StageChange)
class StageChangeAdmin(ReadOnlyAdmin):
    list_display = ("customer", "from_stage", "to_stage", "source", "changed_by", "rule", "changed_at")
    list_filter = ("source", "to_stage", "from_stage")
    raw_id_fields = ("customer", "changed_by")
    date_hierarchy = "changed_at"


@admin.register(StepRun)
class StepRunAdmin(ReadOnlyAdmin):
    list_display = ("customer", "step", "due_at", "status", "attempts", "message_id", "finished_at")
    list_filter = ("status",)
    raw_id_fields = ("customer", "step", "stage_change")
    search_fields = ("detail",)


@admin.register(DigestLog)
class DigestLogAdmin(ReadOnlyAdmin):
    list_display = ("owner", "date", "task_count", "sent_at")


@admin.register(TransitionRule)
class TransitionRuleAdmin(ReadOnlyAdmin):
    list_display = ("kind", "to_stage", "days", "enabled")


class PlaybookStepInline(admin.TabularInline):
    model = PlaybookStep
    extra = 0
    fields = ("day_offset", "action", "template", "task_title", "task_priority", "requires_approval")

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Playbook)
class PlaybookAdmin(ReadOnlyAdmin):
    list_display = ("name", "stage", "segment", "active")
    list_filter = ("stage", "active")
    inlines = [PlaybookStepInline]


@admin.register(Task)
class TaskAdmin(ReadOnlyAdmin):
    list_display = ("title", "customer", "owner", "due_date", "priority", "origin", "status")
    list_filter = ("status", "priority", "origin")
    raw_id_fields = ("customer", "owner", "done_by", "created_by", "step_run")
    search_fields = ("title", "customer__name")
