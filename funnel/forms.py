"""Forms for the funnel pages. They validate input; the views hand cleaned data to services."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from customers.forms import OwnerChoiceField, role_users
from customers.models import Segment
from messaging.models import MessageTemplate

from .models import PlaybookStep, Priority, Stage


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
