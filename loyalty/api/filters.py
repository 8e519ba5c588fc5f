"""Query-string filters for loyalty accounts, the ledger and referrals (django-filter)."""

from __future__ import annotations

from django.db.models import Q, QuerySet
from django.utils.translation import gettext_lazy as _
from django_filters import rest_framework as filters
from rest_framework.exceptions import ValidationError

from loyalty.models import Account, Currency, Entry, Referral, Tier


class AccountFilter(filters.FilterSet):
    customer = filters.NumberFilter(field_name="customer_id", help_text=_("Customer id."))
    customer_external_id = filters.CharFilter(
        method="filter_external_id",
        help_text=_("The customer's external id (its account is opened if the customer has none yet)."),
    )
    referral_code = filters.CharFilter(method="filter_referral_code", help_text=_("A referral code (any case)."))
    tier = filters.CharFilter(method="filter_tier", help_text=_("Tier name, e.g. Prata (by points_12m)."))

    class Meta:
        model = Account
        fields = ["customer", "customer_external_id", "referral_code", "tier"]

    def filter_external_id(self, queryset: QuerySet[Account], name: str, value: str) -> QuerySet[Account]:
        return queryset.filter(customer__external_id=value.strip())

    def filter_referral_code(self, queryset: QuerySet[Account], name: str, value: str) -> QuerySet[Account]:
        return queryset.filter(referral_code=value.strip().upper())

    def filter_tier(self, queryset: QuerySet[Account], name: str, value: str) -> QuerySet[Account]:
        tiers = list(Tier.objects.order_by("min_points"))
        tier = next((t for t in tiers if t.name.lower() == value.strip().lower()), None)
        if tier is None:
            raise ValidationError({"tier": [_("No tier has this name.")]})
        query = Q(points_12m__gte=tier.min_points) if tier.min_points > 0 else Q()
        upper = next((t for t in tiers if t.min_points > tier.min_points), None)
        if upper is not None:
            query &= Q(points_12m__lt=upper.min_points)
        return queryset.filter(query)


class LedgerFilter(filters.FilterSet):
    currency = filters.ChoiceFilter(choices=Currency.choices)
    kind = filters.ChoiceFilter(choices=Entry.Kind.choices)
    source = filters.ChoiceFilter(choices=Entry.Source.choices)
    created_after = filters.IsoDateTimeFilter(
        field_name="created_at", lookup_expr="gte", help_text=_("ISO 8601 date-time: booked at or after.")
    )
    created_before = filters.IsoDateTimeFilter(
        field_name="created_at", lookup_expr="lt", help_text=_("ISO 8601 date-time: booked before.")
    )

    class Meta:
        model = Entry
        fields = ["currency", "kind", "source", "created_after", "created_before"]


class ReferralFilter(filters.FilterSet):
    status = filters.ChoiceFilter(choices=Referral.Status.choices)
    referrer = filters.NumberFilter(field_name="referrer__customer_id", help_text=_("The referrer's customer id."))
    referrer_external_id = filters.CharFilter(
        field_name="referrer__customer__external_id", help_text=_("The referrer's external id.")
    )
    email = filters.CharFilter(method="filter_email", help_text=_("The e-mail of the person referred."))

    class Meta:
        model = Referral
        fields = ["status", "referrer", "referrer_external_id", "email"]

    def filter_email(self, queryset: QuerySet[Referral], name: str, value: str) -> QuerySet[Referral]:
        return queryset.filter(email=value.strip().lower())
