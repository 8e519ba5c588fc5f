"""API shapes for surveys, invitations and responses. Output serializers render; input serializers
check shape only (types, lengths, choices, references). Domain rules (which trigger fits which type,
roles, the fatigue rule) live in surveys.services.

The answer link of an invitation is the customer's secret (whoever has it answers as the customer):
the nonce and the signed token are never rendered; ``answer_url`` is shown to managers only.
"""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from customers.api.serializers import UserRefSerializer
from customers.models import Segment
from posvenda import roles
from surveys import links
from surveys.models import Invitation, Kind, Response, Survey, Trigger

MAX_CUSTOMERS_PER_REQUEST = 1000
SOURCE_KEY_MAX = 64
# Keys sent over the API live in their own namespace, so "order:12" from a client cannot stand in
# for the after-order trigger's key and stop it from inviting that customer.
API_KEY_PREFIX = "api:"


# --- surveys -----------------------------------------------------------------------------------

SURVEY_WORDING_FIELDS = [
    "subject_pt_br",
    "subject_en",
    "intro_pt_br",
    "intro_en",
    "question_pt_br",
    "question_en",
    "ask_follow_up",
    "follow_up_pt_br",
    "follow_up_en",
    "exit_reasons_pt_br",
    "exit_reasons_en",
]
SURVEY_SETTING_FIELDS = [
    "trigger",
    "trigger_days",
    "segment",
    "link_valid_days",
    "reminder_after_days",
    "fatigue_days",
    "quiet_days_after_ticket",
    "detractor_task",
    "detractor_task_days",
    "detractor_ticket",
    "promoter_to_funnel",
]


class SurveySerializer(serializers.ModelSerializer):
    segment = serializers.SlugRelatedField(slug_field="name", read_only=True, allow_null=True)
    created_by = UserRefSerializer(read_only=True, allow_null=True)
    sent_count = serializers.IntegerField(read_only=True, help_text=_("Invitations sent (answered included)."))
    answered_count = serializers.IntegerField(read_only=True, help_text=_("Responses received."))

    class Meta:
        model = Survey
        fields = [
            "id",
            "name",
            "kind",
            "is_active",
            *SURVEY_WORDING_FIELDS,
            *SURVEY_SETTING_FIELDS,
            "sent_count",
            "answered_count",
            "created_by",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class SurveyInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=150)
    kind = serializers.ChoiceField(choices=Kind.choices, required=False, help_text=_("Defaults to nps."))
    is_active = serializers.BooleanField(required=False)
    subject_pt_br = serializers.CharField(max_length=200, allow_blank=True, required=False)
    subject_en = serializers.CharField(max_length=200, allow_blank=True, required=False)
    intro_pt_br = serializers.CharField(
        allow_blank=True, required=False, help_text=_("E-mail text; may use {first_name}, {name} and the like.")
    )
    intro_en = serializers.CharField(allow_blank=True, required=False)
    question_pt_br = serializers.CharField(max_length=300, allow_blank=True, required=False)
    question_en = serializers.CharField(max_length=300, allow_blank=True, required=False)
    ask_follow_up = serializers.BooleanField(required=False)
    follow_up_pt_br = serializers.CharField(max_length=300, allow_blank=True, required=False)
    follow_up_en = serializers.CharField(max_length=300, allow_blank=True, required=False)
    exit_reasons_pt_br = serializers.CharField(
        allow_blank=True, required=False, help_text=_("Exit survey: one reason per line.")
    )
    exit_reasons_en = serializers.CharField(allow_blank=True, required=False)
    trigger = serializers.ChoiceField(choices=Trigger.choices, required=False)
    trigger_days = serializers.IntegerField(min_value=0, max_value=3650, required=False)
    segment = serializers.SlugRelatedField(
        slug_field="name",
        queryset=Segment.objects.all(),
        allow_null=True,
        required=False,
        help_text=_("Segment name (must exist); recurring waves go to it."),
    )
    link_valid_days = serializers.IntegerField(min_value=1, max_value=3650, required=False)
    reminder_after_days = serializers.IntegerField(min_value=0, max_value=3650, required=False)
    fatigue_days = serializers.IntegerField(min_value=0, max_value=3650, required=False)
    detractor_task = serializers.BooleanField(required=False)
    detractor_task_days = serializers.IntegerField(min_value=0, max_value=3650, required=False)
    quiet_days_after_ticket = serializers.IntegerField(min_value=0, max_value=3650, required=False)
    detractor_ticket = serializers.BooleanField(required=False)
    promoter_to_funnel = serializers.BooleanField(required=False)


# --- results -----------------------------------------------------------------------------------


class ScoreCountSerializer(serializers.Serializer):
    score = serializers.IntegerField()
    answers = serializers.IntegerField()


class ReasonCountSerializer(serializers.Serializer):
    reason = serializers.CharField()
    answers = serializers.IntegerField()


class TrendPointSerializer(serializers.Serializer):
    month = serializers.CharField(help_text=_("YYYY-MM, local time."))
    answered = serializers.IntegerField()
    score = serializers.DecimalField(max_digits=None, decimal_places=None, allow_null=True)


class SurveyResultsSerializer(serializers.Serializer):
    survey = serializers.IntegerField(source="survey.pk")
    kind = serializers.ChoiceField(choices=Kind.choices, source="survey.kind")
    invited = serializers.IntegerField(help_text=_("Invitations sent in the period (answered included)."))
    answered = serializers.IntegerField()
    response_rate = serializers.DecimalField(
        max_digits=None, decimal_places=None, allow_null=True, help_text=_("Answered ÷ invited, in %.")
    )
    counts = serializers.DictField(
        child=serializers.IntegerField(),
        help_text=_(
            "Answers per category: promoter/passive/detractor (NPS), satisfied/neutral/unsatisfied (CSAT), "
            "easy/neutral/difficult (CES)."
        ),
    )
    shares = serializers.DictField(
        child=serializers.DecimalField(max_digits=None, decimal_places=None, allow_null=True),
        help_text=_("The same, in % of the scored answers."),
    )
    score = serializers.DecimalField(
        max_digits=None,
        decimal_places=None,
        allow_null=True,
        help_text=_("NPS (−100…100), CSAT (% satisfied) or CES (mean); null without answers or for exit surveys."),
    )
    distribution = serializers.SerializerMethodField(help_text=_("Answers per point of the scale."))
    reasons = serializers.SerializerMethodField(help_text=_("Exit survey: answers per reason."))
    trend = serializers.SerializerMethodField(help_text=_("Per month: answers and score."))
    loops_open = serializers.IntegerField(help_text=_("Answers whose follow-up is still open."))
    loops_closed = serializers.IntegerField()

    @extend_schema_field(ScoreCountSerializer(many=True))
    def get_distribution(self, results: Any) -> list[dict[str, int]]:
        return [{"score": score, "answers": n} for score, n in results.distribution]

    @extend_schema_field(ReasonCountSerializer(many=True))
    def get_reasons(self, results: Any) -> list[dict[str, Any]]:
        return [{"reason": reason, "answers": n} for reason, n in results.reasons]

    @extend_schema_field(TrendPointSerializer(many=True))
    def get_trend(self, results: Any) -> list[dict[str, Any]]:
        return TrendPointSerializer(
            [{**row, "month": row["month"].strftime("%Y-%m")} for row in results.trend], many=True
        ).data


# --- invitations -------------------------------------------------------------------------------


def _answer_url(invitation: Invitation, context: dict[str, Any]) -> str | None:
    request = context.get("request")
    if request is None or not roles.is_manager(request.user):
        return None
    if invitation.status not in (Invitation.Status.SENT, Invitation.Status.ANSWERED):
        return None
    return links.answer_url(invitation.pk, invitation.nonce)


class InvitationSerializer(serializers.ModelSerializer):
    customer_external_id = serializers.CharField(source="customer.external_id", read_only=True, allow_null=True)
    answer_url = serializers.SerializerMethodField(
        help_text=_(
            "The customer's personal answer link (a secret: whoever has it answers as the customer). "
            "Managers only, and only once the invitation was sent; null otherwise."
        )
    )

    class Meta:
        model = Invitation
        fields = [
            "id",
            "survey",
            "customer",
            "customer_external_id",
            "status",
            "skip_reason",
            "skip_detail",
            "source",
            "source_key",
            "wave",
            "language",
            "due_at",
            "sent_at",
            "expires_at",
            "reminded_at",
            "answer_url",
            "created_at",
        ]
        read_only_fields = fields

    @extend_schema_field(serializers.URLField(allow_null=True))
    def get_answer_url(self, invitation: Invitation) -> str | None:
        return _answer_url(invitation, self.context)


class InviteSerializer(serializers.Serializer):
    customer_ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1),
        required=False,
        default=list,
        help_text=_("Posvenda customer ids."),
    )
    external_ids = serializers.ListField(
        child=serializers.CharField(max_length=100),
        required=False,
        default=list,
        help_text=_("Your ids for the customers (Customer.external_id)."),
    )
    source_key = serializers.CharField(
        max_length=SOURCE_KEY_MAX,
        required=False,
        allow_blank=True,
        help_text=_(
            "Idempotency key: sending the same key again invites nobody twice (use one per send, e.g. your "
            "batch id). Without it, a customer is invited at most once a day through the API."
        ),
    )
    send_at = serializers.DateTimeField(
        required=False, allow_null=True, help_text=_("Schedule the e-mail; empty or past: send now.")
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        total = len(attrs["customer_ids"]) + len(attrs["external_ids"])
        if not total:
            raise serializers.ValidationError(
                {"customer_ids": [_("Give customer_ids or external_ids (at least one customer).")]}
            )
        if total > MAX_CUSTOMERS_PER_REQUEST:
            raise serializers.ValidationError(
                {
                    "non_field_errors": [
                        _("At most %(max)s customers per request; you sent %(count)s. Split the list.")
                        % {"max": MAX_CUSTOMERS_PER_REQUEST, "count": total}
                    ]
                }
            )
        key = (attrs.get("source_key") or "").strip()
        attrs["source_key"] = f"{API_KEY_PREFIX}{key}" if key else ""
        return attrs


class InvitationResultSerializer(serializers.Serializer):
    """One row per customer named in the request, in the order given."""

    customer = serializers.IntegerField(
        allow_null=True, help_text=_("Customer id (as sent in customer_ids); null for an unknown external id.")
    )
    external_id = serializers.CharField(allow_null=True)
    invitation = serializers.IntegerField(allow_null=True, help_text=_("Invitation id; null on an error."))
    created = serializers.BooleanField(help_text=_("False when the same source_key had already invited them."))
    status = serializers.ChoiceField(choices=Invitation.Status.choices, allow_null=True)
    skip_reason = serializers.ChoiceField(
        choices=[("", "—"), *Invitation.SkipReason.choices], allow_blank=True, allow_null=True
    )
    answer_url = serializers.URLField(allow_null=True, help_text=_("Managers only; see the invitation list."))
    error = serializers.ChoiceField(
        choices=[("not_found", _("No such customer")), ("forbidden", _("Not your customer"))],
        allow_null=True,
        help_text=_("not_found: unknown id or external id; forbidden: an agent naming another owner's customer."),
    )
    message = serializers.CharField(allow_blank=True)


class InvitationBatchSerializer(serializers.Serializer):
    created = serializers.IntegerField(help_text=_("New invitations."))
    existing = serializers.IntegerField(help_text=_("Customers already invited with this source_key."))
    errors = serializers.IntegerField(help_text=_("Rows with an error (nothing done for them)."))
    results = InvitationResultSerializer(many=True)


# --- responses ---------------------------------------------------------------------------------


class ResponseSerializer(serializers.ModelSerializer):
    customer_external_id = serializers.CharField(source="customer.external_id", read_only=True, allow_null=True)
    customer_name = serializers.CharField(source="customer.name", read_only=True)
    loop_closed_by = UserRefSerializer(read_only=True, allow_null=True)

    class Meta:
        model = Response
        fields = [
            "id",
            "survey",
            "invitation",
            "customer",
            "customer_external_id",
            "customer_name",
            "kind",
            "score",
            "category",
            "reason",
            "comment",
            "language",
            "answered_at",
            "times_answered",
            "loop",
            "loop_task",
            "loop_note",
            "loop_closed_at",
            "loop_closed_by",
            "updated_at",
        ]
        read_only_fields = fields


class CloseLoopSerializer(serializers.Serializer):
    note = serializers.CharField(
        max_length=5000, help_text=_("What you did to follow up; it goes to the customer's timeline.")
    )
