"""Forms of the support pages. They validate input; the views hand cleaned data to services."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from customers.forms import OwnerChoiceField, role_users
from customers.models import Contact, Customer, Segment
from funnel.models import Priority

from .models import Holiday, SlaPolicy, Team, Ticket
from .selectors import SlaState
from .services import TRANSITIONS

Status = Ticket.Status

SLA_STATES = [
    (SlaState.BREACHED, _("Breached")),
    (SlaState.AT_RISK, _("At risk")),
    (SlaState.ON_TRACK, _("On track")),
    (SlaState.PAUSED, _("Paused")),
    (SlaState.NONE, _("No SLA")),
]


def _blank(label: Any) -> list[tuple[str, Any]]:
    return [("", label)]


class QueueFilterForm(forms.Form):
    """The queue filters; anything malformed is dropped rather than shown as an error."""

    q = forms.CharField(label=_("Search"), required=False, max_length=200)
    status = forms.ChoiceField(
        label=_("Status"),
        required=False,
        choices=[("active", _("Open (all active)")), ("all", _("All")), *Status.choices],
    )
    priority = forms.ChoiceField(label=_("Priority"), required=False, choices=_blank(_("All")) + Priority.choices)
    assignee = forms.ChoiceField(label=_("Assignee"), required=False)
    team = forms.ChoiceField(label=_("Team"), required=False)
    sla = forms.ChoiceField(label=_("SLA"), required=False, choices=_blank(_("All")) + SLA_STATES)
    customer = forms.IntegerField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args: Any, users: list[Any], teams: list[Team], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["assignee"].choices = [
            ("", _("Anyone")),
            ("me", _("Me")),
            ("unassigned", _("Unassigned")),
            *[(str(u.pk), u.get_full_name() or u.username) for u in users],
        ]
        self.fields["team"].choices = [("", _("All")), *[(str(t.pk), t.name) for t in teams]]

    def filters(self) -> dict[str, Any]:
        """Keyword arguments for selectors.ticket_queue; the default status is "active"."""
        data: dict[str, Any] = {}
        if self.is_bound:
            for name, field in self.fields.items():
                try:
                    data[name] = field.clean(field.to_python(self.data.get(name, "")))
                except forms.ValidationError:
                    data[name] = None
        status = data.get("status") or "active"
        assignee = data.get("assignee") or ""
        return {
            "search": (data.get("q") or "").strip(),
            "status": "" if status == "all" else status,
            "priority": data.get("priority") or "",
            "assignee": assignee,
            "team_id": int(data["team"]) if data.get("team") else None,
            "sla_state": data.get("sla") or "",
            "customer_id": data.get("customer"),
        }


class TicketForm(forms.Form):
    customer = forms.ModelChoiceField(queryset=Customer.objects.all(), widget=forms.HiddenInput)
    contact = forms.ModelChoiceField(label=_("Contact"), queryset=Contact.objects.none(), required=False)
    subject = forms.CharField(label=_("Subject"), max_length=200)
    description = forms.CharField(
        label=_("Description"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 6}),
        help_text=_("What the customer asked or reported, in their words if you have them."),
    )
    channel = forms.ChoiceField(label=_("Channel"), choices=Ticket.Channel.choices, initial=Ticket.Channel.EMAIL)
    category = forms.ChoiceField(label=_("Category"), choices=Ticket.Category.choices, initial=Ticket.Category.QUESTION)
    priority = forms.ChoiceField(label=_("Priority"), choices=Priority.choices, initial=Priority.NORMAL)
    assignee = OwnerChoiceField(
        label=_("Assignee"),
        queryset=role_users(),
        required=False,
        empty_label=_("The customer's owner"),
    )
    team = forms.ModelChoiceField(
        label=_("Team"), queryset=Team.objects.all(), required=False, empty_label=_("No team")
    )
    survey_response = forms.IntegerField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args: Any, customer: Customer | None, can_assign: bool, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if customer is not None:
            self.fields["contact"].queryset = Contact.objects.filter(customer=customer)
            self.fields["contact"].empty_label = _("No specific contact")
        if not can_assign:
            del self.fields["assignee"]

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        contact, customer = data.get("contact"), data.get("customer")
        if contact is not None and customer is not None and contact.customer_id != customer.pk:
            self.add_error("contact", _("This contact belongs to another customer."))
        return data


class ReplyForm(forms.Form):
    PUBLIC = "public"
    NOTE = "note"

    body = forms.CharField(
        label=_("Message"),
        widget=forms.Textarea(attrs={"rows": 5}),
        error_messages={"required": _("Write the reply or note.")},
    )
    kind = forms.ChoiceField(
        label=_("Kind"),
        choices=[(PUBLIC, _("Public reply (e-mails the customer)")), (NOTE, _("Internal note"))],
        initial=PUBLIC,
        widget=forms.RadioSelect,
    )
    then_status = forms.ChoiceField(label=_("Then set status to"), required=False)

    def __init__(self, *args: Any, ticket: Ticket, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["then_status"]
        # Any status validates (the service explains a move it refuses); the list offers the allowed ones.
        field.choices = [("", _("keep the status")), *Status.choices]
        field.widget.choices = [("", _("keep the status")), *_allowed(ticket.status)]


def _allowed(current: str) -> list[tuple[str, Any]]:
    allowed = TRANSITIONS.get(current, set())
    return [(value, label) for value, label in Status.choices if value in allowed]


class ChangeForm(forms.Form):
    status = forms.ChoiceField(label=_("Status"))
    priority = forms.ChoiceField(label=_("Priority"), choices=Priority.choices)
    assignee = OwnerChoiceField(label=_("Assignee"), queryset=role_users(), required=False, empty_label=_("Unassigned"))
    take = forms.BooleanField(label=_("Assign to me"), required=False)
    team = forms.ModelChoiceField(
        label=_("Team"), queryset=Team.objects.all(), required=False, empty_label=_("No team")
    )
    category = forms.ChoiceField(label=_("Category"), choices=Ticket.Category.choices)

    def __init__(self, *args: Any, ticket: Ticket, is_manager: bool, **kwargs: Any) -> None:
        kwargs.setdefault(
            "initial",
            {
                "status": ticket.status,
                "priority": ticket.priority,
                "assignee": ticket.assignee_id,
                "team": ticket.team_id,
                "category": ticket.category,
            },
        )
        super().__init__(*args, **kwargs)
        self.ticket = ticket
        field = self.fields["status"]
        field.choices = Status.choices
        current = [(ticket.status, ticket.get_status_display())]
        field.widget.choices = current + _allowed(ticket.status)
        if is_manager:
            del self.fields["take"]
        else:
            del self.fields["assignee"]
            if ticket.assignee_id is not None:
                del self.fields["take"]

    def changes(self, user: Any) -> dict[str, Any]:
        """Keyword arguments for services.ticket_change: only what the form can change."""
        data = self.cleaned_data
        changes: dict[str, Any] = {
            "status": data["status"],
            "priority": data["priority"],
            "team": data.get("team"),
            "category": data["category"],
        }
        if "assignee" in self.fields:
            changes["assignee"] = data.get("assignee")
        elif data.get("take"):
            changes["assignee"] = user
        return changes


# --- reports ------------------------------------------------------------------------------------


def _midnight(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


class ReportForm(forms.Form):
    PERIODS = [
        ("this_month", _("This month")),
        ("last_month", _("Last month")),
        ("30", _("Last 30 days")),
        ("90", _("Last 90 days")),
        ("custom", _("Custom dates")),
    ]
    GROUPS = [("assignee", _("Per agent")), ("team", _("Per team"))]

    period = forms.ChoiceField(label=_("Period"), required=False, choices=PERIODS)
    start = forms.DateField(label=_("From"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(label=_("To"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    priority = forms.ChoiceField(label=_("Priority"), required=False, choices=_blank(_("All")) + Priority.choices)
    team = forms.ModelChoiceField(label=_("Team"), queryset=Team.objects.all(), required=False, empty_label=_("All"))
    group = forms.ChoiceField(label=_("Group by"), required=False, choices=GROUPS)

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        period = data.get("period") or ("custom" if data.get("start") or data.get("end") else "this_month")
        data["period"] = period
        data["group"] = data.get("group") or "assignee"
        start, end = data.get("start"), data.get("end")
        if period == "custom" and start and end and start > end:
            self.add_error("end", _("The end date must be on or after the start date."))
        return data

    def bounds(self, today: date | None = None) -> tuple[datetime | None, datetime | None]:
        """(start, end) of the period as aware datetimes, end exclusive (resolved in [start, end))."""
        today = today or timezone.localdate()
        period = self.cleaned_data.get("period") if self.is_valid() else "this_month"
        first = today.replace(day=1)
        if period == "last_month":
            previous = (first - timedelta(days=1)).replace(day=1)
            return _midnight(previous), _midnight(first)
        if period in ("30", "90"):
            return _midnight(today - timedelta(days=int(period) - 1)), None
        if period == "custom":
            start, end = self.cleaned_data.get("start"), self.cleaned_data.get("end")
            return (_midnight(start) if start else None, _midnight(end + timedelta(days=1)) if end else None)
        return _midnight(first), None

    def selector_args(self) -> dict[str, Any]:
        data = self.cleaned_data if self.is_valid() else {}
        start, end = self.bounds()
        team = data.get("team")
        return {
            "start": start,
            "end": end,
            "group_by": data.get("group") or "assignee",
            "priority": data.get("priority") or "",
            "team_id": team.pk if team else None,
        }


# --- SLA policies and holidays --------------------------------------------------------------------


class SlaPolicyForm(forms.ModelForm):
    """A policy, with both targets entered as hours and minutes."""

    first_response_hours = forms.IntegerField(label=_("First response: hours"), min_value=0, initial=0)
    first_response_mins = forms.IntegerField(label=_("minutes"), min_value=0, max_value=59, initial=0)
    resolution_hours = forms.IntegerField(label=_("Resolution: hours"), min_value=0, initial=0)
    resolution_mins = forms.IntegerField(label=_("minutes"), min_value=0, max_value=59, initial=0)

    class Meta:
        model = SlaPolicy
        fields = ["name", "priority", "segment", "business_hours", "warn_before_minutes"]
        labels = {"warn_before_minutes": _("Warn before a breach (minutes)")}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["segment"].queryset = Segment.objects.order_by("name")
        self.fields["segment"].empty_label = _("All segments (default)")
        if self.instance.pk:
            for prefix in ("first_response", "resolution"):
                hours, mins = divmod(getattr(self.instance, f"{prefix}_minutes"), 60)
                self.initial[f"{prefix}_hours"], self.initial[f"{prefix}_mins"] = hours, mins

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        for prefix, label in (("first_response", _("first response")), ("resolution", _("resolution"))):
            hours, mins = data.get(f"{prefix}_hours"), data.get(f"{prefix}_mins")
            if hours is None or mins is None:
                continue
            total = hours * 60 + mins
            if total <= 0:
                self.add_error(
                    f"{prefix}_hours", _("Give the %(target)s target a time above zero.") % {"target": label}
                )
            data[f"{prefix}_minutes"] = total
        priority, segment = data.get("priority"), data.get("segment")
        if priority:
            clash = SlaPolicy.objects.filter(priority=priority, segment=segment).exclude(pk=self.instance.pk).first()
            if clash is not None:
                self.add_error(
                    "segment" if segment else "priority",
                    _("“%(name)s” already covers this priority for %(segment)s. Edit that policy instead.")
                    % {"name": clash.name, "segment": segment.name if segment else _("all segments")},
                )
        return data

    def policy_fields(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {
            "name": data["name"],
            "priority": data["priority"],
            "segment": data.get("segment"),
            "first_response_minutes": data["first_response_minutes"],
            "resolution_minutes": data["resolution_minutes"],
            "business_hours": data["business_hours"],
            "warn_before_minutes": data["warn_before_minutes"],
        }


class HolidayForm(forms.ModelForm):
    class Meta:
        model = Holiday
        fields = ["date", "name"]
        widgets = {"date": forms.DateInput(attrs={"type": "date"})}
        error_messages = {"date": {"unique": _("This day is already a holiday.")}}
