"""Admin: the business calendar (working hours, holidays), teams and SLA policies are edited here by
admins; tickets and their history are read-only (the support pages and services write them)."""

from django.contrib import admin

from posvenda.admin import ReadOnlyAdmin

from .models import Holiday, SlaAlert, SlaPolicy, Team, Ticket, TicketEvent, WorkingHours


@admin.register(WorkingHours)
class WorkingHoursAdmin(admin.ModelAdmin):
    list_display = ("weekday", "start", "end")


@admin.register(Holiday)
class HolidayAdmin(admin.ModelAdmin):
    list_display = ("date", "name")
    date_hierarchy = "date"


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ("name", "manager")
    filter_horizontal = ("members",)


@admin.register(SlaPolicy)
class SlaPolicyAdmin(admin.ModelAdmin):
    list_display = ("name", "priority", "segment", "first_response_minutes", "resolution_minutes", "business_hours")
    list_filter = ("priority", "business_hours")


@admin.register(Ticket)
class TicketAdmin(ReadOnlyAdmin):
    list_display = ("id", "subject", "customer", "status", "priority", "assignee", "opened_at", "resolution_breached")
    list_filter = ("status", "priority", "channel", "resolution_breached")
    search_fields = ("subject", "customer__name")
    list_select_related = ("customer", "assignee")


@admin.register(TicketEvent)
class TicketEventAdmin(ReadOnlyAdmin):
    list_display = ("ticket", "kind", "from_value", "to_value", "author", "at")
    list_filter = ("kind",)


@admin.register(SlaAlert)
class SlaAlertAdmin(ReadOnlyAdmin):
    list_display = ("ticket", "kind", "cycle", "recipients", "created_at")
