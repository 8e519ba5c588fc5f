from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from . import services
from .forms import MessageTemplateAdminForm
from .models import Message, MessageEvent, MessageTemplate, Suppression


@admin.register(MessageTemplate)
class MessageTemplateAdmin(admin.ModelAdmin):
    form = MessageTemplateAdminForm
    list_display = ("name", "slug", "channel", "purpose", "is_active", "updated_at")
    list_filter = ("channel", "purpose", "is_active")
    search_fields = ("name", "slug", "subject_pt_br", "subject_en")
    prepopulated_fields = {"slug": ("name",)}

    def save_model(self, request: HttpRequest, obj: MessageTemplate, form: Any, change: bool) -> None:
        services.template_save(template=obj)


class MessageEventInline(admin.TabularInline):
    model = MessageEvent
    extra = 0
    can_delete = False
    fields = ("event_type", "at", "detail", "payload")
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    """Read-only: messages are written by the services (queue, approve, deliver, track) only."""

    list_display = (
        "id",
        "customer",
        "channel",
        "purpose",
        "subject",
        "status",
        "blocked_reason",
        "created_at",
        "sent_at",
    )
    list_filter = ("status", "channel", "purpose", "automated", "blocked_reason")
    search_fields = ("subject", "to_address", "idempotency_key", "provider_message_id", "customer__name")
    raw_id_fields = ("customer", "template", "created_by", "approved_by")
    inlines = [MessageEventInline]
    date_hierarchy = "created_at"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Suppression)
class SuppressionAdmin(admin.ModelAdmin):
    list_display = ("address", "reason", "at")
    list_filter = ("reason",)
    search_fields = ("address",)
    raw_id_fields = ("message",)

    def save_model(self, request: HttpRequest, obj: Suppression, form: Any, change: bool) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        saved = services.suppression_add(address=obj.address, reason=obj.reason, message=obj.message, at=obj.at)
        obj.pk = saved.pk
