"""API shapes for the loyalty programme: accounts (balances, tier, referral code), the ledger,
redemptions, cashback use, manual adjustments, referrals, rewards and the liability report.

Output serializers render; input serializers check shape only (types, lengths, references).
Domain rules (balances, idempotency, who may adjust) live in loyalty.services.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from customers.api.serializers import UserRefSerializer
from customers.models import Customer
from loyalty.models import Account, Currency, Entry, Redemption, Referral, Reward, Tier

MONEY = {"max_digits": 12, "decimal_places": 2}
REASON_MAX = 200
ORDER_REF_MAX = 80


def _customer_by_external_id(value: str, field: str) -> Customer:
    customer = Customer.objects.filter(external_id=value.strip()).first()
    if customer is None:
        raise serializers.ValidationError({field: [_("No customer has this external ID.")]})
    return customer


def _one_customer(
    attrs: dict[str, Any], *, id_field: str, external_field: str, target: str, required: bool = True
) -> dict[str, Any]:
    """Resolve "the customer by Posvenda id or by your id" into attrs[target]."""
    customer = attrs.pop(id_field, None)
    external = attrs.pop(external_field, None)
    if external is not None:
        by_external = _customer_by_external_id(external, external_field)
        if customer is not None and customer.pk != by_external.pk:
            raise serializers.ValidationError(
                {external_field: [_("Names a different customer than %(field)s.") % {"field": id_field}]}
            )
        customer = by_external
    if customer is None and required:
        raise serializers.ValidationError(
            {id_field: [_("Give %(id)s or %(external)s.") % {"id": id_field, "external": external_field}]}
        )
    attrs[target] = customer
    return attrs


# --- accounts ------------------------------------------------------------------------------------


class TierSerializer(serializers.ModelSerializer):
    class Meta:
        model = Tier
        fields = ["id", "name", "min_points", "benefits"]
        read_only_fields = fields


class AccountSerializer(serializers.ModelSerializer):
    """Needs the queryset of views.account_queryset (balances annotated) and the tiers in the
    context, so a page of accounts costs the same queries as one."""

    customer = serializers.IntegerField(source="customer_id", read_only=True)
    customer_name = serializers.CharField(source="customer.name", read_only=True)
    customer_external_id = serializers.CharField(source="customer.external_id", read_only=True, allow_null=True)
    points = serializers.DecimalField(
        read_only=True, help_text=_("Points balance (whole points; may be below zero after a refund)."), **MONEY
    )
    cashback = serializers.DecimalField(read_only=True, help_text=_("Cashback balance in R$."), **MONEY)
    points_12m = serializers.DecimalField(
        read_only=True,
        help_text=_(
            "Points earned in the last 12 months (net of reversals; spending does not lower it): sets the tier."
        ),
        **MONEY,
    )
    tier = serializers.SerializerMethodField(help_text=_("The current tier (null when no tier applies)."))
    next_tier = serializers.SerializerMethodField(help_text=_("The next tier up (null at the top)."))
    points_to_next_tier = serializers.SerializerMethodField(
        help_text=_("Points still to earn in 12 months to reach next_tier (null at the top).")
    )

    class Meta:
        model = Account
        fields = [
            "customer",
            "customer_name",
            "customer_external_id",
            "referral_code",
            "points",
            "cashback",
            "points_12m",
            "tier",
            "next_tier",
            "points_to_next_tier",
            "birthday",
            "created_at",
        ]
        read_only_fields = fields

    def _tiers(self, account: Account) -> tuple[Tier | None, Tier | None, Decimal]:
        # The rule of services.tier_status, over the annotated figure and the tiers read once.
        tiers: list[Tier] = self.context.get("tiers") or list(Tier.objects.order_by("min_points"))
        self.context["tiers"] = tiers
        points = max(Decimal("0"), account.points_12m)
        current = None
        for tier in tiers:
            if points >= tier.min_points:
                current = tier
        upcoming = next((t for t in tiers if t.min_points > points), None)
        return current, upcoming, points

    @extend_schema_field(TierSerializer(allow_null=True))
    def get_tier(self, account: Account) -> dict[str, Any] | None:
        current, _upcoming, _points = self._tiers(account)
        return TierSerializer(current).data if current else None

    @extend_schema_field(TierSerializer(allow_null=True))
    def get_next_tier(self, account: Account) -> dict[str, Any] | None:
        _current, upcoming, _points = self._tiers(account)
        return TierSerializer(upcoming).data if upcoming else None

    @extend_schema_field(serializers.DecimalField(allow_null=True, **MONEY))
    def get_points_to_next_tier(self, account: Account) -> str | None:
        _current, upcoming, points = self._tiers(account)
        if upcoming is None:
            return None
        return serializers.DecimalField(**MONEY).to_representation(Decimal(upcoming.min_points) - points)


# --- ledger ------------------------------------------------------------------------------------


class EntrySerializer(serializers.ModelSerializer):
    customer = serializers.IntegerField(source="account.customer_id", read_only=True)
    created_by = UserRefSerializer(read_only=True, allow_null=True)
    redemption_code = serializers.SerializerMethodField(help_text=_("The reward's redemption code, if any."))

    class Meta:
        model = Entry
        fields = [
            "id",
            "customer",
            "kind",
            "currency",
            "amount",
            "reason",
            "source",
            "source_ref",
            "expires_at",
            "redemption_code",
            "created_by",
            "created_at",
        ]
        read_only_fields = fields
        extra_kwargs = {
            "amount": {"help_text": _("Signed: credits above zero, debits below (points, or R$ for cashback).")},
            "source_ref": {"help_text": _("The order id, referral id, reward id or order reference it came from.")},
        }

    def get_redemption_code(self, entry: Entry) -> str | None:
        try:
            return entry.redemption.code
        except Redemption.DoesNotExist:
            return None


class RewardSerializer(serializers.ModelSerializer):
    class Meta:
        model = Reward
        fields = ["id", "name", "kind", "description", "cost_points"]
        read_only_fields = fields


class RedemptionSerializer(serializers.ModelSerializer):
    reward = RewardSerializer(read_only=True)

    class Meta:
        model = Redemption
        fields = ["id", "code", "reward", "created_at"]
        read_only_fields = fields


class RedeemResultSerializer(serializers.Serializer):
    entry = EntrySerializer(help_text=_("The ledger entry that spent the points."))
    redemption = RedemptionSerializer(allow_null=True, help_text=_("The reward and its code (null for points)."))


class RedeemSerializer(serializers.Serializer):
    reward_id = serializers.PrimaryKeyRelatedField(
        queryset=Reward.objects.all(), required=False, help_text=_("A reward of the catalogue (costs its points).")
    )
    points = serializers.DecimalField(
        required=False,
        min_value=Decimal("1"),
        max_digits=10,
        decimal_places=0,
        help_text=_("Alternative to reward_id: whole points to spend."),
    )
    reason = serializers.CharField(
        required=False, allow_blank=True, max_length=REASON_MAX, help_text=_("With points: what they were spent on.")
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        has_reward, has_points = "reward_id" in attrs, "points" in attrs
        if has_reward == has_points:
            raise serializers.ValidationError(
                {"reward_id": [_("Give either reward_id or points (with a reason), not both.")]}
            )
        return attrs


class CashbackUseSerializer(serializers.Serializer):
    amount = serializers.DecimalField(min_value=Decimal("0.01"), help_text=_("R$ of cashback used."), **MONEY)
    order_ref = serializers.CharField(max_length=ORDER_REF_MAX, help_text=_("Your order number it was used on."))


class AdjustSerializer(serializers.Serializer):
    amount = serializers.DecimalField(
        help_text=_("Signed: above zero adds, below zero takes away (never below a zero balance)."), **MONEY
    )
    currency = serializers.ChoiceField(choices=Currency.choices, required=False, default=Currency.POINTS)
    reason = serializers.CharField(max_length=REASON_MAX, help_text=_("Why the balance changes (kept in the ledger)."))


# --- referrals -------------------------------------------------------------------------------


class ReferralSerializer(serializers.ModelSerializer):
    referrer = serializers.IntegerField(source="referrer.customer_id", read_only=True, help_text=_("Customer id."))
    referrer_name = serializers.CharField(source="referrer.customer.name", read_only=True)
    referrer_external_id = serializers.CharField(
        source="referrer.customer.external_id", read_only=True, allow_null=True
    )
    referred = serializers.IntegerField(
        source="referred_id", read_only=True, allow_null=True, help_text=_("The customer the person became.")
    )
    referred_external_id = serializers.CharField(source="referred.external_id", read_only=True, allow_null=True)

    class Meta:
        model = Referral
        fields = [
            "id",
            "referrer",
            "referrer_name",
            "referrer_external_id",
            "email",
            "name",
            "status",
            "referred",
            "referred_external_id",
            "created_at",
            "converted_at",
        ]
        read_only_fields = fields


class ReferralCreateSerializer(serializers.Serializer):
    referrer_customer_id = serializers.PrimaryKeyRelatedField(
        queryset=Customer.objects.all(), required=False, help_text=_("The customer who refers (Posvenda id).")
    )
    referrer_external_id = serializers.CharField(
        required=False, max_length=100, help_text=_("Alternative to referrer_customer_id: your id.")
    )
    email = serializers.EmailField(help_text=_("The person referred."))
    name = serializers.CharField(required=False, allow_blank=True, max_length=200)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        return _one_customer(
            attrs, id_field="referrer_customer_id", external_field="referrer_external_id", target="referrer"
        )


class ReferralConvertSerializer(serializers.Serializer):
    customer_id = serializers.PrimaryKeyRelatedField(
        queryset=Customer.objects.all(), required=False, help_text=_("The customer the person became.")
    )
    customer_external_id = serializers.CharField(
        required=False, max_length=100, help_text=_("Alternative to customer_id: your id.")
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        return _one_customer(attrs, id_field="customer_id", external_field="customer_external_id", target="customer")


# --- liability ---------------------------------------------------------------------------------


class LiabilitySerializer(serializers.Serializer):
    points = serializers.DecimalField(help_text=_("Points outstanding across all accounts."), **MONEY)
    points_value = serializers.DecimalField(help_text=_("Their value in R$ (programme's value of one point)."), **MONEY)
    cashback = serializers.DecimalField(help_text=_("Cashback outstanding in R$."), **MONEY)
    total = serializers.DecimalField(help_text=_("points_value + cashback, in R$."), **MONEY)
