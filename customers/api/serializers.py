"""API shapes. Output serializers render; input serializers check shape only (types, lengths,
choices, references). Domain rules (CPF/CNPJ, uniqueness, roles) live in customers.services.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from customers.models import Consent, Contact, Contract, Customer, Interaction, Order, Segment
from customers.validators import format_document, normalize_phone

User = get_user_model()


# --- shared pieces ---------------------------------------------------------------------------


class UserRefSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    username = serializers.CharField(read_only=True)
    name = serializers.SerializerMethodField()

    def get_name(self, user: Any) -> str:
        return user.get_full_name() or user.get_username()


class PhoneField(serializers.CharField):
    """Accepts national or international numbers; stores E.164 (+5511987654321)."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("max_length", 30)
        kwargs.setdefault("allow_blank", True)
        kwargs.setdefault("required", False)
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> str:
        value = super().to_internal_value(data)
        try:
            return normalize_phone(value)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.messages) from exc


class CustomerRefField(serializers.PrimaryKeyRelatedField):
    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("queryset", Customer.objects.all())
        kwargs.setdefault("help_text", _("Customer id."))
        super().__init__(**kwargs)


class CustomerBoundInputSerializer(serializers.Serializer):
    """Input for records that belong to a customer: given on create, fixed afterwards.

    Integrations may name the customer by its external id instead of its Posvenda id.
    """

    customer = CustomerRefField(required=False)
    customer_external_id = serializers.CharField(
        required=False, write_only=True, max_length=100, help_text=_("Alternative to customer: its external id.")
    )
    customer_required = True

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        external = attrs.pop("customer_external_id", None)
        if external is not None:
            customer = Customer.objects.filter(external_id=external.strip()).first()
            if customer is None:
                raise serializers.ValidationError({"customer_external_id": [_("No customer has this external ID.")]})
            if "customer" in attrs and attrs["customer"].pk != customer.pk:
                raise serializers.ValidationError(
                    {"customer_external_id": [_("Names a different customer than customer.")]}
                )
            attrs["customer"] = customer
        instance = self.instance
        if instance is not None:
            if "customer" in attrs and attrs["customer"].pk != instance.customer_id:
                raise serializers.ValidationError({"customer": [_("A record cannot be moved to another customer.")]})
            attrs.pop("customer", None)
        elif self.customer_required and "customer" not in attrs:
            raise serializers.ValidationError({"customer": [_("This field is required.")]})
        return attrs


# --- customers ---------------------------------------------------------------------------------


class CustomerSerializer(serializers.ModelSerializer):
    owner = UserRefSerializer(read_only=True, allow_null=True)
    segment = serializers.SlugRelatedField(slug_field="name", read_only=True, allow_null=True)
    tags = serializers.SerializerMethodField()
    document_formatted = serializers.CharField(source="document_display", read_only=True)
    document_label = serializers.CharField(read_only=True)

    class Meta:
        model = Customer
        fields = [
            "id",
            "kind",
            "name",
            "document",
            "document_formatted",
            "document_label",
            "email",
            "phone",
            "instagram_id",
            "owner",
            "segment",
            "tags",
            "plan",
            "mrr",
            "external_id",
            "stage",
            "language",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    @extend_schema_field(serializers.ListField(child=serializers.CharField()))
    def get_tags(self, customer: Customer) -> list[str]:
        # Sorted in Python so the prefetched tags are used (an order_by would query again).
        return sorted(tag.name for tag in customer.tags.all())


# The list endpoint is the hottest read an integration makes (a BI sync walks every page), so it
# renders plain rows instead of model instances through CustomerSerializer: about half the CPU per
# request (docs/benchmarks.md). tests/customers/test_api.py proves both give identical JSON.
CUSTOMER_ROW_FIELDS = (
    "id",
    "kind",
    "name",
    "document",
    "email",
    "phone",
    "instagram_id",
    "owner_id",
    "owner__username",
    "owner__first_name",
    "owner__last_name",
    "segment__name",
    "plan",
    "mrr",
    "external_id",
    "stage",
    "language",
    "created_at",
    "updated_at",
)


def _iso(value: Any, tz: Any) -> str:
    # What serializers.DateTimeField renders (current time zone, "Z" for UTC), without its per-call overhead.
    text = value.astimezone(tz).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def customer_rows(rows: list[dict[str, Any]], tags: dict[int, list[str]]) -> list[dict[str, Any]]:
    """Render ``.values(*CUSTOMER_ROW_FIELDS)`` rows exactly as CustomerSerializer renders customers."""
    tz = timezone.get_current_timezone()
    out = []
    for row in rows:
        owner = None
        if row["owner_id"] is not None:
            full_name = f"{row['owner__first_name']} {row['owner__last_name']}".strip()
            owner = {
                "id": row["owner_id"],
                "username": row["owner__username"],
                "name": full_name or row["owner__username"],
            }
        document = row["document"]
        out.append(
            {
                "id": row["id"],
                "kind": row["kind"],
                "name": row["name"],
                "document": document,
                "document_formatted": format_document(document),
                "document_label": "CNPJ" if row["kind"] == Customer.Kind.COMPANY else "CPF",
                "email": row["email"],
                "phone": row["phone"],
                "instagram_id": row["instagram_id"],
                "owner": owner,
                "segment": row["segment__name"],
                "tags": sorted(tags.get(row["id"], ())),
                "plan": row["plan"],
                "mrr": f"{row['mrr']:.2f}",
                "external_id": row["external_id"],
                "stage": row["stage"],
                "language": row["language"],
                "created_at": _iso(row["created_at"], tz),
                "updated_at": _iso(row["updated_at"], tz),
            }
        )
    return out


class CustomerInputSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=Customer.Kind.choices, required=False)
    name = serializers.CharField(max_length=200)
    document = serializers.CharField(
        max_length=20,
        allow_blank=True,
        required=False,
        help_text=_("CPF (person) or CNPJ (company), with or without punctuation."),
    )
    email = serializers.EmailField(allow_blank=True, required=False)
    phone = PhoneField()
    instagram_id = serializers.CharField(
        max_length=64,
        allow_blank=True,
        required=False,
        help_text=_("Instagram user id (IGSID) — the id Meta gives when the customer messages your Instagram account."),
    )
    owner = serializers.PrimaryKeyRelatedField(
        queryset=User.objects.filter(is_active=True),
        allow_null=True,
        required=False,
        help_text=_("User id of the owner; only managers may set someone else."),
    )
    segment = serializers.SlugRelatedField(
        slug_field="name",
        queryset=Segment.objects.all(),
        allow_null=True,
        required=False,
        help_text=_("Segment name (must exist)."),
    )
    tags = serializers.ListField(
        child=serializers.CharField(max_length=50),
        required=False,
        help_text=_("Replaces the customer's tags; unknown tags are created."),
    )
    plan = serializers.CharField(max_length=80, allow_blank=True, required=False)
    mrr = serializers.DecimalField(max_digits=12, decimal_places=2, min_value=0, required=False)
    external_id = serializers.CharField(max_length=100, allow_blank=True, allow_null=True, required=False)
    language = serializers.ChoiceField(choices=Customer._meta.get_field("language").choices, required=False)


class CustomerUpsertSerializer(CustomerInputSerializer):
    """Body of PUT /customers/by-external-id/{external_id}/: the external id comes from the URL."""

    name = serializers.CharField(max_length=200, required=False, help_text=_("Required when creating."))
    external_id = None  # type: ignore[assignment]


# --- contacts ----------------------------------------------------------------------------------


class ContactSerializer(serializers.ModelSerializer):
    class Meta:
        model = Contact
        fields = [
            "id",
            "customer",
            "name",
            "email",
            "phone",
            "role",
            "is_primary",
            "external_id",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class ContactInputSerializer(CustomerBoundInputSerializer):
    name = serializers.CharField(max_length=200)
    email = serializers.EmailField(allow_blank=True, required=False)
    phone = PhoneField()
    role = serializers.CharField(max_length=100, allow_blank=True, required=False)
    is_primary = serializers.BooleanField(required=False)
    external_id = serializers.CharField(max_length=100, allow_blank=True, allow_null=True, required=False)


# --- orders ------------------------------------------------------------------------------------


class OrderSerializer(serializers.ModelSerializer):
    class Meta:
        model = Order
        fields = [
            "id",
            "customer",
            "external_id",
            "purchased_at",
            "amount",
            "status",
            "channel",
            "product",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class OrderInputSerializer(CustomerBoundInputSerializer):
    external_id = serializers.CharField(max_length=100, allow_blank=True, allow_null=True, required=False)
    purchased_at = serializers.DateTimeField(required=False, help_text=_("Defaults to now."))
    amount = serializers.DecimalField(max_digits=12, decimal_places=2, min_value=0)
    status = serializers.ChoiceField(choices=Order.Status.choices, required=False)
    channel = serializers.ChoiceField(choices=Order.Channel.choices, required=False)
    product = serializers.CharField(max_length=200, allow_blank=True, required=False)


class OrderUpsertSerializer(OrderInputSerializer):
    external_id = None  # type: ignore[assignment]
    amount = serializers.DecimalField(
        max_digits=12, decimal_places=2, min_value=0, required=False, help_text=_("Required when creating.")
    )
    customer_required = False


# --- contracts ---------------------------------------------------------------------------------


class ContractSerializer(serializers.ModelSerializer):
    class Meta:
        model = Contract
        fields = [
            "id",
            "customer",
            "external_id",
            "plan",
            "started_at",
            "ends_at",
            "cancelled_at",
            "cancel_reason",
            "mrr",
            "status",
            "renewals",
            "auto_renew",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class ContractInputSerializer(CustomerBoundInputSerializer):
    external_id = serializers.CharField(max_length=100, allow_blank=True, allow_null=True, required=False)
    plan = serializers.CharField(max_length=80, allow_blank=True, required=False)
    started_at = serializers.DateField()
    ends_at = serializers.DateField(allow_null=True, required=False)
    cancelled_at = serializers.DateField(
        allow_null=True, required=False, help_text=_("Set to today when status becomes cancelled without a date.")
    )
    cancel_reason = serializers.CharField(max_length=255, allow_blank=True, required=False)
    mrr = serializers.DecimalField(max_digits=12, decimal_places=2, min_value=0, required=False)
    status = serializers.ChoiceField(choices=Contract.Status.choices, required=False)
    renewals = serializers.IntegerField(min_value=0, required=False)
    auto_renew = serializers.BooleanField(required=False)


class ContractUpsertSerializer(ContractInputSerializer):
    external_id = None  # type: ignore[assignment]
    started_at = serializers.DateField(required=False, help_text=_("Required when creating."))
    customer_required = False


# --- interactions ------------------------------------------------------------------------------


class InteractionSerializer(serializers.ModelSerializer):
    author = UserRefSerializer(read_only=True, allow_null=True)

    class Meta:
        model = Interaction
        fields = ["id", "customer", "kind", "subject", "body", "author", "happened_at", "created_at"]
        read_only_fields = fields


class InteractionInputSerializer(CustomerBoundInputSerializer):
    kind = serializers.ChoiceField(choices=Interaction.Kind.choices, required=False)
    subject = serializers.CharField(max_length=200, allow_blank=True, required=False)
    body = serializers.CharField()
    happened_at = serializers.DateTimeField(required=False, help_text=_("Defaults to now."))


# --- consents ----------------------------------------------------------------------------------


class ConsentSerializer(serializers.ModelSerializer):
    recorded_by = UserRefSerializer(read_only=True, allow_null=True)

    class Meta:
        model = Consent
        fields = [
            "id",
            "customer",
            "channel",
            "purpose",
            "granted",
            "source",
            "evidence",
            "recorded_at",
            "recorded_by",
        ]
        read_only_fields = fields


class ConsentInputSerializer(CustomerBoundInputSerializer):
    channel = serializers.ChoiceField(choices=Consent.Channel.choices)
    purpose = serializers.ChoiceField(choices=Consent.Purpose.choices)
    granted = serializers.BooleanField()
    source = serializers.ChoiceField(choices=Consent.Source.choices, default=Consent.Source.API)
    evidence = serializers.CharField(allow_blank=True, required=False, help_text=_("Where and how it was given."))
    recorded_at = serializers.DateTimeField(required=False, help_text=_("Defaults to now."))
