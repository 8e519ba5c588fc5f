"""Forms for the funnel pages. They validate input; the views hand cleaned data to services."""

from __future__ import annotations

from typing import Any

from django import forms
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from customers.forms import OwnerChoiceField, role_users
from customers.models import Customer, Segment, Tag
from messaging.models import MessageTemplate
from surveys.models import Category

from .models import Audience, PlaybookStep, Priority, Stage


class DateInput(forms.DateInput):
    input_type = "date"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(format="%Y-%m-%d", **kwargs)


class MoveForm(forms.Form):
    to_stage = forms.ChoiceField(label=_("Move to"), choices=Stage.choices)
    reason = forms.CharField(
        label=_("Reason"),
        max_length=500,
        widget=forms.TextInput(attrs={"placeholder": _("Why is the customer moving?")}),
        error_messages={"required": _("Say why the customer is moving; it goes to the stage history.")},
    )


class RuleForm(forms.Form):
    enabled = forms.BooleanField(label=_("Enabled"), required=False)
    from_stages = forms.MultipleChoiceField(
        label=_("Moves customers from"), choices=Stage.choices, widget=forms.CheckboxSelectMultiple
    )
    to_stage = forms.ChoiceField(label=_("To stage"), choices=Stage.choices)
    days = forms.IntegerField(label=_("Days"), required=False, min_value=1, max_value=3650)


class PlaybookForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=120)
    stage = forms.ChoiceField(label=_("Stage"), choices=Stage.choices)
    segment = forms.ModelChoiceField(
        label=_("Segment"),
        queryset=Segment.objects.order_by("name"),
        required=False,
        empty_label=_("All segments (default playbook)"),
    )
    active = forms.BooleanField(label=_("Active"), required=False, initial=True)


class StepForm(forms.Form):
    day_offset = forms.IntegerField(
        label=_("Day"), min_value=0, max_value=3650, help_text=_("Days after entering the stage (0 = at once).")
    )
    action = forms.ChoiceField(label=_("Action"), choices=PlaybookStep.Action.choices)
    template = forms.ModelChoiceField(
        label=_("Message template"),
        queryset=MessageTemplate.objects.filter(is_active=True).order_by("name"),
        required=False,
    )
    task_title = forms.CharField(label=_("Task title"), max_length=200, required=False)
    task_priority = forms.ChoiceField(label=_("Task priority"), choices=Priority.choices, initial=Priority.NORMAL)
    requires_approval = forms.BooleanField(
        label=_("Requires approval (goes to the owner's queue as a draft)"), required=False
    )


class TaskForm(forms.Form):
    customer = forms.CharField(
        label=_("Customer"),
        max_length=200,
        widget=forms.TextInput(attrs={"placeholder": _("Name, e-mail, CPF/CNPJ or #id")}),
    )
    title = forms.CharField(label=_("Task"), max_length=200)
    due_date = forms.DateField(label=_("Due date"), widget=DateInput())
    priority = forms.ChoiceField(label=_("Priority"), choices=Priority.choices, initial=Priority.NORMAL)
    notes = forms.CharField(label=_("Notes"), required=False, widget=forms.Textarea(attrs={"rows": 2}))
    owner = OwnerChoiceField(label=_("Owner"), queryset=role_users(), required=False, empty_label=_("Customer's owner"))

    def __init__(self, *args: Any, can_assign: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["due_date"].initial = timezone.localdate()
        if not can_assign:
            del self.fields["owner"]


# --- campaigns -----------------------------------------------------------------------------------


class DateTimeLocalInput(forms.DateTimeInput):
    input_type = "datetime-local"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(format="%Y-%m-%dT%H:%M", **kwargs)


class AudienceForm(forms.Form):
    """The filters of an audience; ``filters()`` gives the JSON that funnel.campaigns validates."""

    name = forms.CharField(label=_("Name"), max_length=120)
    stages = forms.MultipleChoiceField(
        label=_("Stages"), choices=Stage.choices, required=False, widget=forms.CheckboxSelectMultiple
    )
    segments = forms.ModelMultipleChoiceField(
        label=_("Segments"),
        queryset=Segment.objects.order_by("name"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    tags = forms.ModelMultipleChoiceField(
        label=_("Tags (any of them)"), queryset=Tag.objects.order_by("name"), required=False
    )
    kind = forms.ChoiceField(label=_("Kind"), choices=[("", _("B2B and B2C")), *Customer.Kind.choices], required=False)
    owner = forms.ChoiceField(label=_("Owner"), required=False)
    last_purchase_before_days = forms.IntegerField(
        label=_("Last purchase more than … days ago"),
        required=False,
        min_value=1,
        max_value=36500,
        help_text=_("Customers whose latest paid order is older than this (win-back)."),
    )
    last_purchase_within_days = forms.IntegerField(
        label=_("Bought in the last … days"),
        required=False,
        min_value=1,
        max_value=36500,
        help_text=_("Customers with a paid order in this many days."),
    )
    tenure_min_days = forms.IntegerField(
        label=_("Customer for at least … days"),
        required=False,
        min_value=1,
        max_value=36500,
        help_text=_("Long-standing customers: counted from when they became a customer."),
    )
    nps_categories = forms.MultipleChoiceField(
        label=_("Latest NPS answer"),
        choices=[(c.value, c.label) for c in (Category.PROMOTER, Category.PASSIVE, Category.DETRACTOR)],
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_(
            "Customers whose most recent NPS answer is in one of these groups (promoter 9–10, passive 7–8, "
            "detractor 0–6). Customers who never answered are left out."
        ),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        owners = [(str(u.pk), u.get_full_name() or u.username) for u in role_users()]
        self.fields["owner"].choices = [("", _("Any owner")), ("none", _("No owner")), *owners]

    @staticmethod
    def initial_from(audience: Any) -> dict[str, Any]:
        initial = {"name": audience.name, **audience.filters}
        if "owner" in initial:
            initial["owner"] = str(initial["owner"])
        return initial

    def filters(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {
            "stages": data.get("stages") or [],
            "segments": [s.pk for s in data.get("segments") or []],
            "tags": [t.pk for t in data.get("tags") or []],
            "kind": data.get("kind") or "",
            "owner": data.get("owner") or None,
            "last_purchase_before_days": data.get("last_purchase_before_days"),
            "last_purchase_within_days": data.get("last_purchase_within_days"),
            "tenure_min_days": data.get("tenure_min_days"),
            "nps_categories": data.get("nps_categories") or [],
        }


class CampaignForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=150)
    template = forms.ModelChoiceField(
        label=_("Message template"),
        queryset=MessageTemplate.objects.filter(is_active=True).order_by("name"),
        help_text=_("Its purpose decides the consent needed (marketing needs the customer's opt-in)."),
    )
    audience = forms.ModelChoiceField(label=_("Audience"), queryset=Audience.objects.order_by("name"))
    scheduled_at = forms.DateTimeField(
        label=_("Send at"),
        required=False,
        widget=DateTimeLocalInput(),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"],
        help_text=_("Empty: send now."),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Live audience size next to the select (htmx swaps #audience-size).
        self.fields["audience"].widget.attrs.update(
            {
                "hx-get": reverse("funnel:campaign_audience_size"),
                "hx-trigger": "change",
                "hx-target": "#audience-size",
                "hx-swap": "outerHTML",
            }
        )
