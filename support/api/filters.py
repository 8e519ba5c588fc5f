"""Query-string filters for the ticket list (django-filter), with the queue's definitions
(selectors.ticket_queue) for "active" and the SLA states."""

from __future__ import annotations

from django.db.models import QuerySet
from django.utils.translation import gettext_lazy as _
from django_filters import rest_framework as filters
from rest_framework.exceptions import ValidationError

from funnel.models import Priority
from support import selectors
from support.models import Ticket

from .serializers import SLA_STATE_CHOICES, STATUS_FILTER_CHOICES


class TicketFilter(filters.FilterSet):
    status = filters.ChoiceFilter(
        choices=STATUS_FILTER_CHOICES,
        method="filter_status",
        help_text=_("A status, or active (every status but resolved and closed)."),
    )
    priority = filters.ChoiceFilter(choices=Priority.choices)
    assignee = filters.CharFilter(
        method="filter_assignee", help_text=_('Assignee user id, or "none" for unassigned tickets.')
    )
    team = filters.NumberFilter(field_name="team_id", help_text=_("Team id."))
    customer = filters.NumberFilter(field_name="customer_id", help_text=_("Customer id."))
    customer_external_id = filters.CharFilter(
        field_name="customer__external_id", help_text=_("The customer's external id.")
    )
    sla_state = filters.ChoiceFilter(
        choices=SLA_STATE_CHOICES,
        method="filter_sla_state",
        help_text=_("Open tickets whose SLA is breached, at risk, on track or paused; none: tickets without a policy."),
    )
    channel = filters.ChoiceFilter(choices=Ticket.Channel.choices)
    category = filters.ChoiceFilter(choices=Ticket.Category.choices)
    opened_after = filters.IsoDateTimeFilter(
        field_name="opened_at", lookup_expr="gte", help_text=_("ISO 8601 date-time: opened at or after.")
    )
    opened_before = filters.IsoDateTimeFilter(
        field_name="opened_at", lookup_expr="lt", help_text=_("ISO 8601 date-time: opened before.")
    )
    resolved_after = filters.IsoDateTimeFilter(
        field_name="resolved_at", lookup_expr="gte", help_text=_("ISO 8601 date-time: resolved at or after.")
    )
    resolved_before = filters.IsoDateTimeFilter(
        field_name="resolved_at", lookup_expr="lt", help_text=_("ISO 8601 date-time: resolved before.")
    )
    search = filters.CharFilter(
        method="filter_search", help_text=_("Subject or customer name (contains), or a ticket number (#123).")
    )

    class Meta:
        model = Ticket
        fields = [
            "status",
            "priority",
            "assignee",
            "team",
            "customer",
            "customer_external_id",
            "sla_state",
            "channel",
            "category",
            "opened_after",
            "opened_before",
            "resolved_after",
            "resolved_before",
            "search",
        ]

    def filter_status(self, queryset: QuerySet[Ticket], name: str, value: str) -> QuerySet[Ticket]:
        if value == "active":
            return queryset.filter(status__in=selectors.OPEN_STATUSES)
        return queryset.filter(status=value)

    def filter_assignee(self, queryset: QuerySet[Ticket], name: str, value: str) -> QuerySet[Ticket]:
        value = value.strip()
        if value.lower() == "none":
            return queryset.filter(assignee__isnull=True)
        if not value.isdigit():
            raise ValidationError({"assignee": [_('Use a user id or "none".')]})
        return queryset.filter(assignee_id=int(value))

    def filter_sla_state(self, queryset: QuerySet[Ticket], name: str, value: str) -> QuerySet[Ticket]:
        # The queue's own definition, as a subquery: the page stays one query.
        return queryset.filter(pk__in=selectors.ticket_queue(sla_state=value).order_by().values("pk"))

    def filter_search(self, queryset: QuerySet[Ticket], name: str, value: str) -> QuerySet[Ticket]:
        value = value.strip()
        if not value:
            return queryset
        return queryset.filter(pk__in=selectors.ticket_queue(search=value).order_by().values("pk"))
