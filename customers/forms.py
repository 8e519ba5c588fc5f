"""Forms for the customer pages. They validate input; the views hand cleaned data to services."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from django import forms
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.formats import get_format
from django.utils.translation import gettext_lazy as _

from posvenda import roles

from .models import Consent, Contract, Customer, Interaction, Order, Segment
from .validators import normalize_document, normalize_phone


def role_users() -> QuerySet[Any]:
    """Users who can own customers: active members of a role group."""
    return (
        get_user_model()
        .objects.filter(is_active=True, groups__name__in=roles.ALL_ROLES)
        .distinct()
        .order_by("username")
    )


class MoneyField(forms.DecimalField):
    """A localized decimal that also accepts the locale's thousand grouping ("1.234,56" in pt-BR)."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("max_digits", 12)
        kwargs.setdefault("decimal_places", 2)
        kwargs.setdefault("min_value", 0)
        super().__init__(localize=True, **kwargs)

    def to_python(self, value: Any) -> Any:
        if isinstance(value, str):
            value = value.strip().replace("R$", "").strip()
            thousand = re.escape(get_format("THOUSAND_SEPARATOR"))
            decimal = re.escape(get_format("DECIMAL_SEPARATOR"))
            if re.fullmatch(rf"-?\d{{1,3}}({thousand}\d{{3}})+({decimal}\d*)?", value):
                value = value.replace(get_format("THOUSAND_SEPARATOR"), "")
        return super().to_python(value)


class OwnerChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        full = obj.get_full_name()
        return f"{full} ({obj.username})" if full else obj.username


def apply_service_errors(form: forms.Form, exc: ValidationError) -> None:
    """Show a service's ValidationError on the form: per field when the form has that field."""
    if not hasattr(exc, "error_dict"):
        form.add_error(None, exc.messages)
        return
    for field, messages in exc.message_dict.items():
        target = field if field in form.fields else None
        form.add_error(target, messages)


def split_tags(value: str) -> list[str]:
    return [t.strip() for t in (value or "").split(",") if t.strip()]


class CustomerForm(forms.Form):
    kind = forms.ChoiceField(label=_("Kind"), choices=Customer.Kind.choices, initial=Customer.Kind.PERSON)
    name = forms.CharField(label=_("Name"), max_length=200)
    document = forms.CharField(
        label=_("CPF/CNPJ"),
        max_length=20,
        required=False,
        help_text=_("CPF for people, CNPJ for companies; with or without punctuation."),
    )
    email = forms.EmailField(label=_("E-mail"), required=False)
    phone = forms.CharField(
        label=_("Phone"), max_length=30, required=False, help_text=_("E.g. +55 11 98765-4321 or (11) 98765-4321.")
    )
    instagram_id = forms.CharField(
        label=_("Instagram ID"),
        max_length=64,
        required=False,
        help_text=_("Instagram user id (IGSID) — the id Meta gives when the customer messages your Instagram account."),
    )
    owner = OwnerChoiceField(label=_("Owner"), queryset=None, required=False, empty_label=_("— no owner —"))
    segment = forms.ModelChoiceField(label=_("Segment"), queryset=None, required=False, empty_label=_("— none —"))
    tags = forms.CharField(
        label=_("Tags"), required=False, help_text=_("Separate tags with commas, e.g. vip, e-commerce.")
    )
    plan = forms.CharField(label=_("Plan"), max_length=80, required=False)
    mrr = MoneyField(label=_("MRR (R$)"), initial=0)
    external_id = forms.CharField(label=_("External ID"), max_length=100, required=False)
    language = forms.ChoiceField(label=_("Language"), choices=Customer._meta.get_field("language").choices)

    def __init__(self, *args: Any, user: Any, instance: Customer | None = None, **kwargs: Any) -> None:
        self.user = user
        self.instance = instance
        if instance is not None and "initial" not in kwargs:
            kwargs["initial"] = self.initial_from(instance)
        super().__init__(*args, **kwargs)
        self.fields["segment"].queryset = Segment.objects.all()
        self.fields["language"].initial = instance.language if instance else "pt-br"
        if roles.can_reassign_owner(user):
            self.fields["owner"].queryset = role_users()
        else:
            del self.fields["owner"]

    @staticmethod
    def initial_from(customer: Customer) -> dict[str, Any]:
        return {
            "kind": customer.kind,
            "name": customer.name,
            "document": customer.document_display,
            "email": customer.email,
            "phone": customer.phone,
            "instagram_id": customer.instagram_id,
            "owner": customer.owner_id,
            "segment": customer.segment_id,
            "tags": ", ".join(t.name for t in customer.tags.all()),
            "plan": customer.plan,
            "mrr": customer.mrr,
            "external_id": customer.external_id or "",
            "language": customer.language,
        }

    def clean_phone(self) -> str:
        return normalize_phone(self.cleaned_data.get("phone") or "")

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        self._check_owner_not_forced()
        others = Customer.objects.all()
        if self.instance is not None:
            others = others.exclude(pk=self.instance.pk)
        kind = cleaned.get("kind")
        if kind and cleaned.get("document"):
            try:
                number = normalize_document(cleaned["document"], kind=kind)
            except ValidationError as exc:
                self.add_error("document", exc)
            else:
                if others.filter(document=number).exists():
                    self.add_error(
                        "document", ValidationError(_("Another customer already has this CPF/CNPJ."), code="duplicate")
                    )
        email = (cleaned.get("email") or "").strip().lower()
        if email and others.annotate(email_lower=Lower("email")).filter(email_lower=email).exists():
            self.add_error("email", ValidationError(_("Another customer already has this e-mail."), code="duplicate"))
        external_id = (cleaned.get("external_id") or "").strip()
        if external_id and others.filter(external_id=external_id).exists():
            self.add_error(
                "external_id", ValidationError(_("Another customer already has this external ID."), code="duplicate")
            )
        return cleaned

    def _check_owner_not_forced(self) -> None:
        """An agent's form has no owner field; a hand-made POST with another owner is refused."""
        if "owner" in self.fields or "owner" not in self.data:
            return
        posted = str(self.data.get("owner") or "")
        allowed = {"", str(self.user.pk)}
        if self.instance is not None:
            allowed.add(str(self.instance.owner_id or ""))
        if posted not in allowed:
            self.add_error(
                None, ValidationError(_("Only a CS manager can reassign a customer's owner."), code="owner_forbidden")
            )

    def service_kwargs(self) -> dict[str, Any]:
        data = self.cleaned_data
        kwargs: dict[str, Any] = {
            "kind": data["kind"],
            "name": data["name"],
            "document": data.get("document") or "",
            "email": data.get("email") or "",
            "phone": data.get("phone") or "",
            "instagram_id": (data.get("instagram_id") or "").strip(),
            "segment": data.get("segment"),
            "plan": data.get("plan") or "",
            "mrr": data["mrr"],
            "external_id": data.get("external_id") or "",
            "language": data["language"],
            "tags": split_tags(data.get("tags") or ""),
        }
        if "owner" in self.fields:
            kwargs["owner"] = data.get("owner")
        return kwargs


class InteractionForm(forms.Form):
    kind = forms.ChoiceField(label=_("Kind"), choices=Interaction.Kind.choices, initial=Interaction.Kind.NOTE)
    subject = forms.CharField(label=_("Subject"), max_length=200, required=False)
    body = forms.CharField(label=_("Text"), widget=forms.Textarea(attrs={"rows": 3}))
    happened_at = forms.DateTimeField(
        label=_("When"),
        required=False,
        localize=True,
        help_text=_("Leave empty for now."),
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"],
    )

    def clean_happened_at(self) -> Any:
        value = self.cleaned_data.get("happened_at")
        if value and value > timezone.now() + timedelta(minutes=5):
            raise ValidationError(_("An interaction cannot happen in the future."), code="future")
        return value


class ConsentForm(forms.Form):
    channel = forms.ChoiceField(label=_("Channel"), choices=Consent.Channel.choices)
    purpose = forms.ChoiceField(label=_("Purpose"), choices=Consent.Purpose.choices)
    granted = forms.TypedChoiceField(
        label=_("Decision"),
        choices=[("1", _("Granted")), ("0", _("Refused / withdrawn"))],
        coerce=lambda v: v == "1",
        widget=forms.RadioSelect,
        initial="1",
    )
    evidence = forms.CharField(
        label=_("Evidence"),
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("Where and how the customer gave or withdrew consent."),
    )


class ContactForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=200)
    email = forms.EmailField(label=_("E-mail"), required=False)
    phone = forms.CharField(label=_("Phone"), max_length=30, required=False)
    role = forms.CharField(label=_("Role"), max_length=100, required=False)
    is_primary = forms.BooleanField(label=_("Primary contact"), required=False)

    def clean_phone(self) -> str:
        return normalize_phone(self.cleaned_data.get("phone") or "")


class OrderForm(forms.Form):
    amount = MoneyField(label=_("Amount (R$)"))
    purchased_at = forms.DateTimeField(
        label=_("Purchased at"),
        required=False,
        help_text=_("Leave empty for now."),
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"],
    )
    status = forms.ChoiceField(label=_("Status"), choices=Order.Status.choices, initial=Order.Status.PAID)
    channel = forms.ChoiceField(label=_("Channel"), choices=Order.Channel.choices, initial=Order.Channel.ONLINE)
    product = forms.CharField(label=_("Product"), max_length=200, required=False)
    external_id = forms.CharField(label=_("External ID"), max_length=100, required=False)

    def clean_external_id(self) -> str:
        value = (self.cleaned_data.get("external_id") or "").strip()
        if value and Order.objects.filter(external_id=value).exists():
            raise ValidationError(_("Another order already has this external ID."), code="duplicate")
        return value


class ContractForm(forms.Form):
    plan = forms.CharField(label=_("Plan"), max_length=80, required=False)
    mrr = MoneyField(label=_("MRR (R$)"))
    started_at = forms.DateField(
        label=_("Starts on"),
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        initial=timezone.localdate,
    )
    ends_at = forms.DateField(
        label=_("Ends on"), required=False, widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
    )
    auto_renew = forms.BooleanField(label=_("Auto-renew"), required=False, initial=True)
    external_id = forms.CharField(label=_("External ID"), max_length=100, required=False)

    def clean_external_id(self) -> str:
        value = (self.cleaned_data.get("external_id") or "").strip()
        if value and Contract.objects.filter(external_id=value).exists():
            raise ValidationError(_("Another contract already has this external ID."), code="duplicate")
        return value

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        start, end = cleaned.get("started_at"), cleaned.get("ends_at")
        if start and end and end < start:
            self.add_error(
                "ends_at", ValidationError(_("The end date must be on or after the start date."), code="before_start")
            )
        return cleaned
