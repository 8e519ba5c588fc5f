"""Read-only admin for inspection: surveys are edited in the CS pages, answers come from customers,
and every write goes through surveys.services."""

from django.contrib import admin

from posvenda.admin import ReadOnlyAdmin

from .models import Invitation, Response, Survey, Wave


@admin.register(Survey)
class SurveyAdmin(ReadOnlyAdmin):
    list_display = ("name", "kind", "trigger", "is_active", "created_at")
    list_filter = ("kind", "trigger", "is_active")
    search_fields = ("name",)


@admin.register(Invitation)
class InvitationAdmin(ReadOnlyAdmin):
    list_display = ("survey", "customer", "status", "skip_reason", "sent_at", "reminded_at")
    list_filter = ("status", "skip_reason", "source")
    raw_id_fields = ("customer", "wave", "message", "reminder_message", "created_by")
    readonly_fields = ("nonce",)
    list_select_related = ("survey", "customer")


@admin.register(Response)
class ResponseAdmin(ReadOnlyAdmin):
    list_display = ("survey", "customer", "score", "category", "reason", "loop", "answered_at")
    list_filter = ("kind", "category", "loop")
    search_fields = ("comment", "customer__name")
    raw_id_fields = ("invitation", "customer", "loop_task", "loop_closed_by")
    list_select_related = ("survey", "customer")


@admin.register(Wave)
class WaveAdmin(ReadOnlyAdmin):
    list_display = ("survey", "segment", "status", "total", "invited", "skipped", "created_at")
    list_filter = ("status",)
