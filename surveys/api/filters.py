"""Query-string filters for the surveys API lists (django-filter)."""

from __future__ import annotations

from django.db.models import Q, QuerySet
from django.utils.translation import gettext_lazy as _
from django_filters import rest_framework as filters

from surveys.api.serializers import API_KEY_PREFIX
from surveys.models import Category, Invitation, Kind, Response, Survey, Trigger


class SurveyFilter(filters.FilterSet):
    kind = filters.ChoiceFilter(choices=Kind.choices)
    is_active = filters.BooleanFilter()
    trigger = filters.ChoiceFilter(choices=Trigger.choices)

    class Meta:
        model = Survey
        fields = ["kind", "is_active", "trigger"]


class InvitationFilter(filters.FilterSet):
    survey = filters.NumberFilter(field_name="survey_id", help_text=_("Survey id."))
    customer = filters.NumberFilter(field_name="customer_id", help_text=_("Customer id."))
    customer_external_id = filters.CharFilter(
        field_name="customer__external_id", help_text=_("The customer's external id.")
    )
    status = filters.ChoiceFilter(choices=Invitation.Status.choices)
    source = filters.ChoiceFilter(choices=Invitation.Source.choices)
    source_key = filters.CharFilter(
        method="filter_source_key",
        help_text=_("The source_key sent when inviting over the API (with or without its api: prefix)."),
    )
    sent_after = filters.IsoDateTimeFilter(
        field_name="sent_at", lookup_expr="gte", help_text=_("ISO 8601 date-time: sent at or after.")
    )
    sent_before = filters.IsoDateTimeFilter(
        field_name="sent_at", lookup_expr="lt", help_text=_("ISO 8601 date-time: sent before.")
    )

    class Meta:
        model = Invitation
        fields = [
            "survey",
            "customer",
            "customer_external_id",
            "status",
            "source",
            "source_key",
            "sent_after",
            "sent_before",
        ]

    def filter_source_key(self, queryset: QuerySet[Invitation], name: str, value: str) -> QuerySet[Invitation]:
        value = value.strip()
        return queryset.filter(Q(source_key=value) | Q(source_key=f"{API_KEY_PREFIX}{value}")) if value else queryset


LOOP_CHOICES = [
    ("open", _("Follow-up open")),
    ("closed", _("Loop closed")),
    ("none", _("No follow-up needed")),
]


class ResponseFilter(filters.FilterSet):
    survey = filters.NumberFilter(field_name="survey_id", help_text=_("Survey id."))
    kind = filters.ChoiceFilter(choices=Kind.choices)
    category = filters.ChoiceFilter(choices=Category.choices)
    customer = filters.NumberFilter(field_name="customer_id", help_text=_("Customer id."))
    customer_external_id = filters.CharFilter(
        field_name="customer__external_id", help_text=_("The customer's external id.")
    )
    answered_after = filters.IsoDateTimeFilter(
        field_name="answered_at", lookup_expr="gte", help_text=_("ISO 8601 date-time: answered at or after.")
    )
    answered_before = filters.IsoDateTimeFilter(
        field_name="answered_at", lookup_expr="lt", help_text=_("ISO 8601 date-time: answered before.")
    )
    loop = filters.ChoiceFilter(
        choices=LOOP_CHOICES, method="filter_loop", help_text=_("open, closed or none (no follow-up needed).")
    )
    search = filters.CharFilter(method="filter_search", help_text=_("Comment, reason or customer name (contains)."))

    class Meta:
        model = Response
        fields = [
            "survey",
            "kind",
            "category",
            "customer",
            "customer_external_id",
            "answered_after",
            "answered_before",
            "loop",
            "search",
        ]

    def filter_loop(self, queryset: QuerySet[Response], name: str, value: str) -> QuerySet[Response]:
        return queryset.filter(loop=Response.Loop.NONE if value == "none" else value)

    def filter_search(self, queryset: QuerySet[Response], name: str, value: str) -> QuerySet[Response]:
        value = value.strip()
        if not value:
            return queryset
        return queryset.filter(
            Q(comment__icontains=value) | Q(reason__icontains=value) | Q(customer__name__icontains=value)
        )
