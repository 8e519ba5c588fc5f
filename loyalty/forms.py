"""Forms of the loyalty CS pages. They parse input; every rule lives in loyalty.services."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from .models import Currency, Programme, Referral, Reward, Tier


class ProgrammeForm(forms.ModelForm):
    class Meta:
        model = Programme
        fields = [
            "name",
            "is_active",
            "points_per_real",
            "cashback_percent",
            "survey_points",
            "referral_points",
            "birthday_points",
            "expiry_months",
            "point_value",
        ]
        help_texts = {
            "expiry_months": _("0 means points never expire."),
            "cashback_percent": _("0 means no cashback."),
        }

    def clean_cashback_percent(self) -> Decimal:
        value = self.cleaned_data["cashback_percent"]
        if value < 0 or value > 100:
            raise forms.ValidationError(_("Enter a percentage between 0 and 100."))
        return value

    def clean_points_per_real(self) -> Decimal:
        value = self.cleaned_data["points_per_real"]
        if value < 0:
            raise forms.ValidationError(_("Enter zero or a positive number."))
        return value

    def clean_point_value(self) -> Decimal:
        value = self.cleaned_data["point_value"]
        if value < 0:
            raise forms.ValidationError(_("Enter zero or a positive number."))
        return value


class TierForm(forms.ModelForm):
    class Meta:
        model = Tier
        fields = ["name", "min_points", "benefits"]
        widgets = {"benefits": forms.Textarea(attrs={"rows": 3})}

    def validate_unique(self) -> None:
        # the service says which tier clashes, in words the manager understands
        pass


class RewardForm(forms.ModelForm):
    class Meta:
        model = Reward
        fields = ["name", "kind", "description", "cost_points", "is_active"]
        widgets = {"description": forms.Textarea(attrs={"rows": 3})}


class AdjustmentForm(forms.Form):
    currency = forms.ChoiceField(
        label=_("Balance"), choices=Currency.choices, initial=Currency.POINTS, widget=forms.RadioSelect
    )
    amount = forms.DecimalField(
        label=_("Amount"),
        max_digits=12,
        decimal_places=2,
        help_text=_("Positive to credit, negative to debit (e.g. -50)."),
    )
    reason = forms.CharField(
        label=_("Reason"),
        max_length=200,
        help_text=_("Kept in the customer's history and shown to them."),
    )
    nonce = forms.CharField(widget=forms.HiddenInput, max_length=64)

    def clean_amount(self) -> Decimal:
        value = self.cleaned_data["amount"]
        if value == 0:
            raise forms.ValidationError(_("The adjustment cannot be zero."))
        return value


class ReferralFilterForm(forms.Form):
    q = forms.CharField(label=_("Search"), required=False, max_length=100)
    status = forms.ChoiceField(
        label=_("Status"), required=False, choices=[("", _("All statuses")), *Referral.Status.choices]
    )
    start = forms.DateField(label=_("From"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(label=_("To"), required=False, widget=forms.DateInput(attrs={"type": "date"}))

    def filters(self) -> dict[str, Any]:
        if not self.is_valid():
            return {"q": "", "status": "", "start": None, "end": None}
        return {k: self.cleaned_data.get(k) or ("" if k in ("q", "status") else None) for k in self.fields}


class ReferralForm(forms.Form):
    """The public referral landing page: the visitor leaves their name and e-mail."""

    name = forms.CharField(label=_("Your name"), max_length=200)
    email = forms.EmailField(label=_("Your e-mail"), max_length=254)
