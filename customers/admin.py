from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from . import services
from .models import Consent, Contact, Contract, Customer, ImportJob, Interaction, Order, Segment, Tag


@admin.register(Customer)
class CustomerAdmin(admin.ModelAdmin):
    list_display = ("name", "kind", "document", "email", "owner", "segment", "stage", "mrr")
    list_filter = ("kind", "stage", "segment")
    search_fields = ("name", "email", "document", "external_id")
    raw_id_fields = ("owner",)
    readonly_fields = ("created_at", "updated_at")

    def save_model(self, request: HttpRequest, obj: Customer, form: Any, change: bool) -> None:
        fields = {f: form.cleaned_data[f] for f in services.CUSTOMER_FIELDS if f in form.cleaned_data and f != "name"}
        fields.pop("kind", None)
        if change:
            services.customer_update(actor=request.user, customer=obj, name=obj.name, kind=obj.kind, **fields)
        else:
            created = services.customer_create(actor=request.user, name=obj.name, kind=obj.kind, **fields)
            obj.pk = created.pk


@admin.register(Consent)
class ConsentAdmin(admin.ModelAdmin):
    list_display = ("customer", "channel", "purpose", "granted", "source", "recorded_at")
    list_filter = ("channel", "purpose", "granted", "source")
    raw_id_fields = ("customer",)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(ImportJob)
class ImportJobAdmin(admin.ModelAdmin):
    list_display = ("kind", "original_name", "status", "processed_rows", "total_rows", "error_count", "created_at")
    list_filter = ("kind", "status")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


for model in (Segment, Tag):
    admin.site.register(model)

for model, raw in (
    (Contact, ("customer",)),
    (Order, ("customer",)),
    (Contract, ("customer",)),
    (Interaction, ("customer", "author")),
):
    admin.site.register(model, raw_id_fields=raw)
