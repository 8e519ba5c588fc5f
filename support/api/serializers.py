"""API shapes for support tickets, their replies and history, and the TMR / SLA report. Output
serializers render; input serializers check shape only (types, lengths, choices, references).
Domain rules (status moves, who may change or assign a ticket) live in support.services.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from customers.api.serializers import CustomerBoundInputSerializer, UserRefSerializer
from customers.models import Contact
from funnel.models import Priority
from posvenda import roles
from support.models import Team, Ticket, TicketEvent
from support.selectors import OPEN_STATUSES, SlaState

User = get_user_model()

SOURCE_KEY_MAX = 100
# Keys sent over the API live in their own namespace, so a client's "survey:12" cannot stand in for
# the key of the ticket a survey answer opened (or "inbound:<id>" for an inbound e-mail's).
API_KEY_PREFIX = "api:"

SLA_STATE_CHOICES = [
    (SlaState.BREACHED, _("Breached")),
    (SlaState.AT_RISK, _("At risk (due within the warning window)")),
    (SlaState.ON_TRACK, _("On track")),
    (SlaState.PAUSED, _("Paused (waiting on the customer)")),
    (SlaState.NONE, _("No SLA policy")),
]
STATUS_FILTER_CHOICES = [("active", _("Active (not resolved or closed)")), *Ticket.Status.choices]


def sla_state(ticket: Ticket, now: datetime) -> str | None:
    """The queue's SLA state of one ticket, by the definitions of selectors.ticket_queue's sla_state
    filter (breached wins over paused, paused over at risk). None for a resolved or closed ticket
    that had a policy: its clocks are stopped (see the breached flags)."""
    if ticket.sla_policy_id is None:
        return SlaState.NONE
    if ticket.status not in OPEN_STATUSES:
        return None
    next_due = getattr(ticket, "next_due_at", None)
    if next_due is None:
        next_due = (
            ticket.first_response_due_at
            if ticket.first_response_at is None and ticket.first_response_due_at is not None
            else ticket.resolution_due_at
        )
    if (
        (ticket.first_response_breached and ticket.first_response_at is None)
        or ticket.resolution_breached
        or (next_due is not None and next_due <= now)
    ):
        return SlaState.BREACHED
    if ticket.resolution_paused:
        return SlaState.PAUSED
    if (
        next_due is not None
        and ticket.sla_policy is not None
        and next_due - timedelta(minutes=ticket.sla_policy.warn_before_minutes) <= now
    ):
        return SlaState.AT_RISK
    return SlaState.ON_TRACK


class TeamRefSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    name = serializers.CharField(read_only=True)


class SlaSerializer(serializers.Serializer):
    """The ticket's SLA clocks and figures (derived from its history by support.sla)."""

    policy = serializers.CharField(source="sla_policy.name", allow_null=True, help_text=_("SLA policy name."))
    business_hours = serializers.BooleanField(
        source="sla_policy.business_hours", allow_null=True, help_text=_("The targets count business hours only.")
    )
    state = serializers.SerializerMethodField(
        help_text=_(
            "breached, at_risk, paused, on_track or none (no policy), as the sla_state filter; null once "
            "resolved or closed."
        )
    )
    first_response_due_at = serializers.DateTimeField(allow_null=True)
    first_response_breached = serializers.BooleanField()
    resolution_due_at = serializers.DateTimeField(
        allow_null=True, help_text=_("Null while the clock is paused (waiting on the customer) or stopped.")
    )
    resolution_paused = serializers.BooleanField()
    resolution_remaining_seconds = serializers.IntegerField(
        allow_null=True, help_text=_("While paused: resolution time left (negative: already over).")
    )
    resolution_breached = serializers.BooleanField()
    first_response_seconds = serializers.IntegerField(allow_null=True, help_text=_("Calendar time to first reply."))
    first_response_business_seconds = serializers.IntegerField(
        allow_null=True, help_text=_("Business time (working hours, holidays off) to first reply.")
    )
    resolution_seconds = serializers.IntegerField(
        allow_null=True, help_text=_("Calendar time from opening to resolution (null until resolved).")
    )
    resolution_business_seconds = serializers.IntegerField(allow_null=True)

    @extend_schema_field(serializers.ChoiceField(choices=SLA_STATE_CHOICES, allow_null=True))
    def get_state(self, ticket: Ticket) -> str | None:
        return sla_state(ticket, self.context.get("now") or timezone.now())


class TicketSerializer(serializers.ModelSerializer):
    customer_name = serializers.CharField(source="customer.name", read_only=True)
    customer_external_id = serializers.CharField(source="customer.external_id", read_only=True, allow_null=True)
    assignee = UserRefSerializer(read_only=True, allow_null=True)
    team = TeamRefSerializer(read_only=True, allow_null=True)
    created_by = UserRefSerializer(read_only=True, allow_null=True)
    sla = SlaSerializer(source="*", read_only=True)
    can_work = serializers.SerializerMethodField(
        help_text=_("Whether you may change this ticket and reply (its assignee, a manager, or unassigned).")
    )

    class Meta:
        model = Ticket
        fields = [
            "id",
            "customer",
            "customer_name",
            "customer_external_id",
            "contact",
            "subject",
            "description",
            "channel",
            "category",
            "priority",
            "status",
            "assignee",
            "team",
            "opened_at",
            "first_response_at",
            "resolved_at",
            "closed_at",
            "reopen_count",
            "source_key",
            "survey_response",
            "created_by",
            "sla",
            "can_work",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    def get_can_work(self, ticket: Ticket) -> bool:
        from support.services import can_work_ticket

        request = self.context.get("request")
        return bool(request is not None and can_work_ticket(request.user, ticket))


class TicketCreateSerializer(CustomerBoundInputSerializer):
    contact = serializers.PrimaryKeyRelatedField(
        queryset=Contact.objects.all(),
        required=False,
        allow_null=True,
        help_text=_("Contact id (one of the customer's contacts)."),
    )
    subject = serializers.CharField(max_length=200)
    description = serializers.CharField(allow_blank=True, required=False, max_length=20000)
    channel = serializers.ChoiceField(choices=Ticket.Channel.choices, required=False, help_text=_("Defaults to email."))
    category = serializers.ChoiceField(
        choices=Ticket.Category.choices, required=False, help_text=_("Defaults to question.")
    )
    priority = serializers.ChoiceField(choices=Priority.choices, required=False, help_text=_("Defaults to normal."))
    assignee = serializers.PrimaryKeyRelatedField(
        queryset=User.objects.filter(is_active=True),
        required=False,
        allow_null=True,
        help_text=_("User id; defaults to the customer's owner. Agents may assign only themselves or the owner."),
    )
    team = serializers.PrimaryKeyRelatedField(queryset=Team.objects.all(), required=False, allow_null=True)
    source_key = serializers.CharField(
        max_length=SOURCE_KEY_MAX,
        required=False,
        allow_blank=True,
        help_text=_(
            "Idempotency key (e.g. your ticket or form id): the same key again returns the ticket it opened "
            "(200) instead of opening another."
        ),
    )

    def validate_assignee(self, user: Any) -> Any:
        if user is not None and not roles.is_agent(user):
            raise serializers.ValidationError(_("This user has no CRM role."))
        return user

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        attrs = super().validate(attrs)
        key = (attrs.get("source_key") or "").strip()
        attrs["source_key"] = f"{API_KEY_PREFIX}{key}" if key else None
        return attrs


class TicketChangeSerializer(serializers.Serializer):
    """Only the fields sent change; each change is an event on the ticket's history."""

    status = serializers.ChoiceField(
        choices=Ticket.Status.choices,
        required=False,
        help_text=_(
            "waiting pauses the resolution clock, resolved or closed stops it, reopened (from resolved or "
            "closed) resumes it."
        ),
    )
    priority = serializers.ChoiceField(
        choices=Priority.choices, required=False, help_text=_("Re-targets both clocks (the time used is kept).")
    )
    assignee = serializers.PrimaryKeyRelatedField(
        queryset=User.objects.filter(is_active=True),
        required=False,
        allow_null=True,
        help_text=_("User id, or null to unassign. Agents may only take a ticket themselves."),
    )
    team = serializers.PrimaryKeyRelatedField(queryset=Team.objects.all(), required=False, allow_null=True)
    category = serializers.ChoiceField(choices=Ticket.Category.choices, required=False)

    def validate_assignee(self, user: Any) -> Any:
        if user is not None and not roles.is_agent(user):
            raise serializers.ValidationError(_("This user has no CRM role."))
        return user


class ReplySerializer(serializers.Serializer):
    body = serializers.CharField(max_length=20000, help_text=_("The reply (e-mailed to the customer) or the note."))
    public = serializers.BooleanField(
        default=True, help_text=_("true: a public reply e-mailed to the customer; false: an internal note.")
    )
    status = serializers.ChoiceField(
        choices=Ticket.Status.choices,
        required=False,
        help_text=_("Change the status in the same step (e.g. waiting after asking the customer something)."),
    )


class TicketEventSerializer(serializers.ModelSerializer):
    author = UserRefSerializer(read_only=True, allow_null=True)
    kind = serializers.ChoiceField(choices=TicketEvent.Kind.choices, read_only=True)

    class Meta:
        model = TicketEvent
        fields = ["id", "ticket", "kind", "from_value", "to_value", "body", "author", "at", "message", "inbound_id"]
        read_only_fields = fields
        extra_kwargs = {
            "message": {"help_text": _("The e-mail a public reply queued (messaging id).")},
            "inbound_id": {"help_text": _("Message-ID of the customer's e-mail (customer replies).")},
        }


# --- report ------------------------------------------------------------------------------------


class ReportQuerySerializer(serializers.Serializer):
    start = serializers.DateTimeField(required=False)
    end = serializers.DateTimeField(required=False)
    group_by = serializers.ChoiceField(choices=[("assignee", _("Agent")), ("team", _("Team"))], default="assignee")
    priority = serializers.ChoiceField(choices=Priority.choices, required=False)
    team = serializers.IntegerField(min_value=1, required=False)
    assignee = serializers.IntegerField(min_value=1, required=False)


class TimeFigureSerializer(serializers.Serializer):
    count = serializers.IntegerField(help_text=_("Tickets with this figure."))
    mean_seconds = serializers.IntegerField(
        source="mean", allow_null=True, help_text=_("Sum ÷ count, in seconds (null without tickets).")
    )
    median_seconds = serializers.IntegerField(source="median", allow_null=True)

    def to_representation(self, figure: Any) -> dict[str, Any]:
        return {
            "count": figure.count,
            "mean_seconds": None if figure.mean is None else round(figure.mean),
            "median_seconds": None if figure.median is None else round(figure.median),
        }


class ReportFiguresSerializer(serializers.Serializer):
    resolved = serializers.IntegerField(help_text=_("Tickets resolved in the period."))
    tmr = TimeFigureSerializer(help_text=_("Resolution time (TMR), calendar."))
    tmr_business = TimeFigureSerializer(help_text=_("Resolution time, business hours."))
    first_response = TimeFigureSerializer(help_text=_("First response time, calendar."))
    first_response_business = TimeFigureSerializer()
    sla_total = serializers.IntegerField(help_text=_("Resolved tickets that had an SLA policy."))
    sla_met = serializers.IntegerField(help_text=_("…of which neither the first response nor the resolution breached."))
    sla_met_pct = serializers.DecimalField(
        max_digits=None, decimal_places=None, allow_null=True, help_text=_("sla_met ÷ sla_total, in %.")
    )

    def to_representation(self, instance: Any) -> dict[str, Any]:
        data = super().to_representation(instance)
        pct = instance["sla_met_pct"]
        data["sla_met_pct"] = None if pct is None else f"{pct:.1f}"
        return data


class ReportRowSerializer(ReportFiguresSerializer):
    label = serializers.CharField(help_text=_("The agent's name (or username) or the team; empty: none."))


class SupportReportSerializer(ReportFiguresSerializer):
    start = serializers.DateTimeField(allow_null=True)
    end = serializers.DateTimeField(allow_null=True)
    group_by = serializers.ChoiceField(choices=[("assignee", _("Agent")), ("team", _("Team"))])
    rows = ReportRowSerializer(many=True, help_text=_("Per agent or per team, by label."))
