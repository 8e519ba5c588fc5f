"""Query-string filters for the customer API lists (django-filter)."""

from __future__ import annotations

from django.db.models import QuerySet
from django.utils.translation import gettext_lazy as _
from django_filters import rest_framework as filters
from rest_framework.exceptions import ValidationError

from customers.models import Consent, Contact, Contract, Customer, Interaction, Order
from customers.selectors import customer_search_q


class CustomerFilter(filters.FilterSet):
    owner = filters.CharFilter(
        method="filter_owner", help_text=_('Owner user id, or "none" for customers without an owner.')
    )
    segment = filters.CharFilter(field_name="segment__name", help_text=_("Segment name (exact)."))
    kind = filters.ChoiceFilter(choices=Customer.Kind.choices)
    stage = filters.ChoiceFilter(choices=Customer.Stage.choices)
    tag = filters.CharFilter(field_name="tags__name", help_text=_("Tag name (exact)."))
    updated_since = filters.IsoDateTimeFilter(
        field_name="updated_at", lookup_expr="gte", help_text=_("ISO 8601 date-time: customers changed since then.")
    )
    external_id = filters.CharFilter(field_name="external_id")
    search = filters.CharFilter(
        method="filter_search",
        help_text=_("Name or e-mail (contains), document (starts with, punctuation optional) or external ID."),
    )

    class Meta:
        model = Customer
        fields = ["owner", "segment", "kind", "stage", "tag", "updated_since", "external_id", "search"]

    def filter_owner(self, queryset: QuerySet[Customer], name: str, value: str) -> QuerySet[Customer]:
        value = value.strip()
        if value.lower() == "none":
            return queryset.filter(owner__isnull=True)
        if not value.isdigit():
            raise ValidationError({"owner": [_('Use a user id or "none".')]})
        return queryset.filter(owner_id=int(value))

    def filter_search(self, queryset: QuerySet[Customer], name: str, value: str) -> QuerySet[Customer]:
        return queryset.filter(customer_search_q(value))


class ContactFilter(filters.FilterSet):
    customer = filters.NumberFilter(field_name="customer_id", help_text=_("Customer id."))
    is_primary = filters.BooleanFilter()

    class Meta:
        model = Contact
        fields = ["customer", "is_primary"]


class OrderFilter(filters.FilterSet):
    customer = filters.NumberFilter(field_name="customer_id", help_text=_("Customer id."))
    status = filters.ChoiceFilter(choices=Order.Status.choices)
    channel = filters.ChoiceFilter(choices=Order.Channel.choices)
    purchased_at = filters.DateFromToRangeFilter(
        help_text=_("purchased_at_after / purchased_at_before: dates (YYYY-MM-DD), both inclusive, local time.")
    )
    external_id = filters.CharFilter(field_name="external_id")

    class Meta:
        model = Order
        fields = ["customer", "status", "channel", "purchased_at", "external_id"]


class ContractFilter(filters.FilterSet):
    customer = filters.NumberFilter(field_name="customer_id", help_text=_("Customer id."))
    status = filters.ChoiceFilter(choices=Contract.Status.choices)
    external_id = filters.CharFilter(field_name="external_id")

    class Meta:
        model = Contract
        fields = ["customer", "status", "external_id"]


class InteractionFilter(filters.FilterSet):
    customer = filters.NumberFilter(field_name="customer_id", help_text=_("Customer id."))
    kind = filters.ChoiceFilter(choices=Interaction.Kind.choices)

    class Meta:
        model = Interaction
        fields = ["customer", "kind"]


class ConsentFilter(filters.FilterSet):
    customer = filters.NumberFilter(field_name="customer_id", help_text=_("Customer id."))
    channel = filters.ChoiceFilter(choices=Consent.Channel.choices)
    purpose = filters.ChoiceFilter(choices=Consent.Purpose.choices)

    class Meta:
        model = Consent
        fields = ["customer", "channel", "purpose"]
