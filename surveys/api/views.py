"""REST endpoints for surveys, their invitations and responses. Thin: parse with an input serializer,
call surveys.services (which checks roles and domain rules), render with the output serializer.
"""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import filters, serializers, status
from rest_framework.decorators import action
from rest_framework.permissions import SAFE_METHODS, BasePermission, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from customers.api.views import CRMViewSet, ServiceCreateMixin, ServiceUpdateMixin
from customers.models import Customer
from posvenda import roles
from posvenda.api.permissions import HasCRMRole
from posvenda.api.schema import read_errors, write_errors
from surveys import selectors, services
from surveys.models import Invitation, Survey
from surveys.models import Response as SurveyResponse

from . import filters as api_filters
from . import serializers as s

log = logging.getLogger(__name__)

# Larger requests are sent by the workers right after the request (see invite_customers).
INLINE_SEND_MAX = 100


class ManagesSurveys(BasePermission):
    """Everyone with a CRM role reads and sends invitations (the service checks each customer's
    owner); creating and changing surveys is for managers."""

    message = gettext_lazy("Only a CS manager can create or change surveys.")

    def has_permission(self, request: Request, view: APIView) -> bool:
        if request.method in SAFE_METHODS or getattr(view, "action", None) == "invitations":
            return True
        return roles.is_manager(request.user)


# --- examples ----------------------------------------------------------------------------------

SURVEY_EXAMPLE = {
    "id": 3,
    "name": "NPS trimestral",
    "kind": "nps",
    "is_active": True,
    "subject_pt_br": "",
    "subject_en": "",
    "intro_pt_br": "",
    "intro_en": "",
    "question_pt_br": "",
    "question_en": "",
    "ask_follow_up": True,
    "follow_up_pt_br": "",
    "follow_up_en": "",
    "exit_reasons_pt_br": "",
    "exit_reasons_en": "",
    "trigger": "recurring",
    "trigger_days": 90,
    "segment": "Varejo",
    "link_valid_days": 30,
    "reminder_after_days": 3,
    "fatigue_days": 90,
    "detractor_task": True,
    "detractor_task_days": 2,
    "promoter_to_funnel": True,
    "sent_count": 120,
    "answered_count": 48,
    "created_by": {"id": 9, "username": "gerente", "name": "Paula Lima"},
    "created_at": "2025-03-01T10:00:00-03:00",
    "updated_at": "2025-03-01T10:00:00-03:00",
}
SURVEY_INPUT_EXAMPLE = {
    "name": "NPS trimestral",
    "kind": "nps",
    "trigger": "recurring",
    "trigger_days": 90,
    "segment": "Varejo",
    "question_pt_br": "De 0 a 10, o quanto você recomendaria a Loja Exemplo a um amigo?",
}
SURVEY_ERRORS = {"trigger": ["Only an exit survey can be sent on churn."]}
RESULTS_EXAMPLE = {
    "survey": 3,
    "kind": "nps",
    "invited": 12,
    "answered": 10,
    "response_rate": "83.3",
    "counts": {"promoter": 5, "passive": 3, "detractor": 2},
    "shares": {"promoter": "50.0", "passive": "30.0", "detractor": "20.0"},
    "score": "30.0",
    "distribution": [{"score": n, "answers": a} for n, a in enumerate([1, 0, 0, 0, 0, 0, 1, 1, 2, 3, 2])],
    "reasons": [],
    "trend": [{"month": "2025-03", "answered": 10, "score": "30.0"}],
    "loops_open": 2,
    "loops_closed": 0,
}
INVITATION_EXAMPLE = {
    "id": 501,
    "survey": 3,
    "customer": 42,
    "customer_external_id": "shop-1001",
    "status": "sent",
    "skip_reason": "",
    "skip_detail": "",
    "source": "api",
    "source_key": "api:lote-2025-03-01",
    "wave": None,
    "language": "pt-br",
    "due_at": "2025-03-01T10:00:00-03:00",
    "sent_at": "2025-03-01T10:00:00-03:00",
    "expires_at": "2025-03-31T10:00:00-03:00",
    "reminded_at": None,
    "answer_url": "https://crm.example.com.br/surveys/r/WzUwMSwiZ...:1tA2x3:Qm9v/",
    "created_at": "2025-03-01T10:00:00-03:00",
}
INVITE_REQUEST_EXAMPLE = {
    "customer_ids": [42],
    "external_ids": ["shop-1002", "shop-9999"],
    "source_key": "lote-2025-03-01",
}
INVITE_RESPONSE_EXAMPLE = {
    "created": 1,
    "existing": 0,
    "errors": 2,
    "results": [
        {
            "customer": 42,
            "external_id": "shop-1001",
            "invitation": 501,
            "created": True,
            "status": "sent",
            "skip_reason": "",
            "answer_url": None,
            "error": None,
            "message": "",
        },
        {
            "customer": 43,
            "external_id": "shop-1002",
            "invitation": None,
            "created": False,
            "status": None,
            "skip_reason": None,
            "answer_url": None,
            "error": "forbidden",
            "message": "You can only send surveys to the customers you own.",
        },
        {
            "customer": None,
            "external_id": "shop-9999",
            "invitation": None,
            "created": False,
            "status": None,
            "skip_reason": None,
            "answer_url": None,
            "error": "not_found",
            "message": "No customer has this external ID.",
        },
    ],
}
RESPONSE_EXAMPLE = {
    "id": 880,
    "survey": 3,
    "invitation": 501,
    "customer": 42,
    "customer_external_id": "shop-1001",
    "customer_name": "Maria da Silva",
    "kind": "nps",
    "score": 4,
    "category": "detractor",
    "reason": "",
    "comment": "A entrega atrasou duas semanas.",
    "language": "pt-br",
    "answered_at": "2025-03-02T09:12:00-03:00",
    "times_answered": 1,
    "loop": "closed",
    "loop_task": 77,
    "loop_note": "Liguei, pedi desculpas e enviei um cupom.",
    "loop_closed_at": "2025-03-03T15:00:00-03:00",
    "loop_closed_by": {"id": 7, "username": "ana", "name": "Ana Souza"},
    "updated_at": "2025-03-03T15:00:00-03:00",
}

PERIOD_PARAMS = [
    OpenApiParameter(
        "start", OpenApiTypes.DATETIME, description="ISO 8601 date-time: count sends and answers from then on."
    ),
    OpenApiParameter("end", OpenApiTypes.DATETIME, description="ISO 8601 date-time: count until then (exclusive)."),
]


class PeriodSerializer(serializers.Serializer):
    start = serializers.DateTimeField(required=False)
    end = serializers.DateTimeField(required=False)


# --- surveys -----------------------------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(
        summary="List surveys",
        responses={200: s.SurveySerializer(many=True), **read_errors()},
        examples=[OpenApiExample("Survey", value=SURVEY_EXAMPLE, response_only=True)],
    ),
    retrieve=extend_schema(
        summary="Get a survey",
        description="Its settings and counts; the figures (NPS, distribution, trend) are under results/.",
        responses={200: s.SurveySerializer, **read_errors(detail=True)},
        examples=[OpenApiExample("Survey", value=SURVEY_EXAMPLE, response_only=True)],
    ),
    create=extend_schema(
        summary="Create a survey (managers)",
        description="Empty wording fields use the built-in wording of the survey type, in the customer's language.",
        request=s.SurveyInputSerializer,
        responses={201: s.SurveySerializer, **write_errors(example=SURVEY_ERRORS)},
        examples=[
            OpenApiExample("New survey", value=SURVEY_INPUT_EXAMPLE, request_only=True),
            OpenApiExample("Created", value=SURVEY_EXAMPLE, response_only=True, status_codes=["201"]),
        ],
    ),
    update=extend_schema(
        summary="Replace a survey's settings (managers)",
        request=s.SurveyInputSerializer,
        responses={200: s.SurveySerializer, **write_errors(detail=True, example=SURVEY_ERRORS)},
        examples=[
            OpenApiExample("Survey", value=SURVEY_INPUT_EXAMPLE, request_only=True),
            OpenApiExample("Survey", value=SURVEY_EXAMPLE, response_only=True),
        ],
    ),
    partial_update=extend_schema(
        summary="Change some settings of a survey (managers)",
        description="The type of a survey that has answers cannot change.",
        request=s.SurveyInputSerializer,
        responses={200: s.SurveySerializer, **write_errors(detail=True, example=SURVEY_ERRORS)},
        examples=[
            OpenApiExample("Deactivate", value={"is_active": False}, request_only=True),
            OpenApiExample("Survey", value=SURVEY_EXAMPLE, response_only=True),
        ],
    ),
)
class SurveyViewSet(ServiceCreateMixin, ServiceUpdateMixin, CRMViewSet):
    """NPS, CSAT, CES and exit surveys. Everyone with a CRM role reads them and invites customers
    (agents: only their own); managers create and change them."""

    serializer_class = s.SurveySerializer
    input_serializer_class = s.SurveyInputSerializer
    permission_classes = [IsAuthenticated, HasCRMRole, ManagesSurveys]
    filterset_class = api_filters.SurveyFilter
    search_fields = ["name"]
    ordering_fields = ["id", "name", "created_at"]
    http_method_names = ["get", "post", "put", "patch", "head", "options"]

    def get_queryset(self) -> QuerySet[Survey]:
        if self.action in ("invitations", "results"):
            return Survey.objects.all()
        return selectors.survey_list().select_related("created_by")

    def service_create(self, data: dict[str, Any]) -> Survey:
        return services.survey_create(actor=self.request.user, **data)

    def service_update(self, instance: Survey, data: dict[str, Any]) -> Survey:
        return services.survey_update(actor=self.request.user, survey=instance, **data)

    @extend_schema(
        summary="A survey's results",
        description=(
            "Invited, answered, response rate, answers per category, the score (NPS = % promoters − % "
            "detractors; CSAT = % satisfied; CES = mean), the distribution over the scale, exit reasons, "
            "the monthly trend and open/closed follow-ups. Definitions: docs/metrics.md."
        ),
        parameters=PERIOD_PARAMS,
        responses={
            200: s.SurveyResultsSerializer,
            **write_errors(detail=True, example={"start": ["Datetime has wrong format."]}),
        },
        examples=[OpenApiExample("NPS results", value=RESULTS_EXAMPLE, response_only=True)],
    )
    @action(detail=True, methods=["get"])
    def results(self, request: Request, pk: str | None = None) -> Response:
        survey = self.get_object()
        period = self.parse(PeriodSerializer, data=request.query_params)
        results = selectors.survey_results(survey=survey, start=period.get("start"), end=period.get("end"))
        return Response(s.SurveyResultsSerializer(results).data)

    @extend_schema(
        summary="Invite customers to a survey",
        description=(
            "Invite up to 1,000 customers, named by Posvenda id (customer_ids) and/or by your id "
            "(external_ids). Each gets one signed answer link by e-mail now, or at send_at. "
            "Consent, the weekly message cap and the survey fatigue rule apply: a customer they stop is "
            "reported with status skipped and the skip_reason.\n\n"
            "Up to 100 customers are sent during the request (status sent or skipped). A larger request "
            "only creates the invitations (status scheduled, due now) and the workers send them within "
            "about a minute; follow them with GET survey-invitations/?source_key=….\n\n"
            "Answers 200 with one result per customer named, in the order given. Unknown ids "
            "(error not_found) and, for agents, customers they do not own (error forbidden) are "
            "reported per row; the other rows are still done.\n\n"
            "Idempotent with source_key: the same key sent again creates nothing new (created: false), so "
            "a retry after a timeout completes a batch without inviting anyone twice."
        ),
        request=s.InviteSerializer,
        responses={
            200: s.InvitationBatchSerializer,
            **write_errors(
                detail=True, example={"customer_ids": ["Give customer_ids or external_ids (at least one customer)."]}
            ),
        },
        examples=[
            OpenApiExample("Invite", value=INVITE_REQUEST_EXAMPLE, request_only=True),
            OpenApiExample(
                "Scheduled",
                value={"external_ids": ["shop-1001"], "send_at": "2025-03-10T09:00:00-03:00"},
                request_only=True,
            ),
            OpenApiExample("Per-customer results", value=INVITE_RESPONSE_EXAMPLE, response_only=True),
        ],
    )
    @action(detail=True, methods=["post"])
    def invitations(self, request: Request, pk: str | None = None) -> Response:
        survey = self.get_object()
        data = self.parse(s.InviteSerializer, data=request.data)
        if not survey.is_active:
            raise DjangoValidationError(_("This survey is inactive; activate it before sending."))
        rows = invite_customers(
            actor=request.user,
            survey=survey,
            customer_ids=data["customer_ids"],
            external_ids=data["external_ids"],
            source_key=data["source_key"],
            send_at=data.get("send_at"),
            show_links=roles.is_manager(request.user),
        )
        body = {
            "created": sum(1 for row in rows if row["created"]),
            "existing": sum(1 for row in rows if row["invitation"] and not row["created"]),
            "errors": sum(1 for row in rows if row["error"]),
            "results": rows,
        }
        return Response(s.InvitationBatchSerializer(body).data)


def _row(customer: Customer | None, external_id: str | None, **fields: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "customer": customer.pk if customer else None,
        "external_id": customer.external_id if customer else external_id,
        "invitation": None,
        "created": False,
        "status": None,
        "skip_reason": None,
        "answer_url": None,
        "error": None,
        "message": "",
    }
    row.update(fields)
    return row


def invite_customers(
    *,
    actor: Any,
    survey: Survey,
    customer_ids: list[int],
    external_ids: list[str],
    source_key: str,
    send_at: Any,
    show_links: bool,
) -> list[dict[str, Any]]:
    """One services.invitation_create per customer named, each in its own transaction: a row that
    fails (unknown, not the agent's customer) does not undo the others, and a replay with the same
    source_key finishes what an interrupted request left.

    Up to INLINE_SEND_MAX customers are sent during the request, so the answer says at once who was
    skipped and why. A larger batch would outlast a proxy's timeout (sending costs a few dozen
    queries per customer), so its invitations are created due now and the workers send them: a
    task kicked after commit, and the every-minute beat entry for whatever that leaves.
    """
    from surveys import links, tasks

    by_id = Customer.objects.only("id", "external_id", "owner_id", "language", "email").in_bulk(customer_ids)
    wanted = [e.strip() for e in external_ids]
    by_external = {
        c.external_id: c
        for c in Customer.objects.only("id", "external_id", "owner_id", "language", "email").filter(
            external_id__in=wanted
        )
    }
    # (customer, the id or external id as requested, message when unknown)
    named: list[tuple[Customer | None, int | None, str | None, str]] = [
        (by_id.get(pk), pk, None, _("No customer has this id.")) for pk in customer_ids
    ] + [(by_external.get(ext), None, ext, _("No customer has this external ID.")) for ext in wanted]
    send_now = len(named) <= INLINE_SEND_MAX
    rows = []
    for customer, customer_id, external_id, not_found in named:
        if customer is None:
            row = _row(None, external_id, error="not_found", message=not_found)
            row["customer"] = customer_id
            rows.append(row)
            continue
        try:
            with transaction.atomic():
                invitation, created = services.invitation_create(
                    survey=survey,
                    customer=customer,
                    source=Invitation.Source.API,
                    source_key=source_key,
                    due_at=send_at,
                    actor=actor,
                    send_now=send_now,
                )
        except PermissionDenied as exc:
            rows.append(_row(customer, external_id, error="forbidden", message=str(exc)))
            continue
        answer_url = None
        if show_links and invitation.status in (Invitation.Status.SENT, Invitation.Status.ANSWERED):
            answer_url = links.answer_url(invitation.pk, invitation.nonce)
        rows.append(
            _row(
                customer,
                external_id,
                invitation=invitation.pk,
                created=created,
                status=invitation.status,
                skip_reason=invitation.skip_reason,
                answer_url=answer_url,
            )
        )
    if not send_now and any(row["status"] == Invitation.Status.SCHEDULED for row in rows):

        def kick() -> None:
            try:
                tasks.send_due.delay()
            except Exception:  # the invitations are the outbox: the every-minute beat sends them
                log.warning("Broker unavailable; survey invitations of survey %s will be sent by beat.", survey.pk)

        transaction.on_commit(kick)
    return rows


# --- invitations -------------------------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(
        summary="List survey invitations",
        description="The answer link (answer_url) is shown to managers only.",
        responses={200: s.InvitationSerializer(many=True), **read_errors()},
        examples=[OpenApiExample("Invitation", value=INVITATION_EXAMPLE, response_only=True)],
    ),
    retrieve=extend_schema(
        summary="Get a survey invitation",
        responses={200: s.InvitationSerializer, **read_errors(detail=True)},
        examples=[OpenApiExample("Invitation", value=INVITATION_EXAMPLE, response_only=True)],
    ),
)
class InvitationViewSet(CRMViewSet):
    """Who was asked to answer which survey, when, and whether it was sent (read-only)."""

    serializer_class = s.InvitationSerializer
    filterset_class = api_filters.InvitationFilter
    ordering_fields = ["id", "created_at", "due_at", "sent_at"]

    def get_queryset(self) -> QuerySet[Invitation]:
        return Invitation.objects.select_related("customer")


# --- responses ---------------------------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(
        summary="List survey responses",
        responses={200: s.ResponseSerializer(many=True), **read_errors()},
        examples=[OpenApiExample("Response", value=RESPONSE_EXAMPLE, response_only=True)],
    ),
    retrieve=extend_schema(
        summary="Get a survey response",
        responses={200: s.ResponseSerializer, **read_errors(detail=True)},
        examples=[OpenApiExample("Response", value=RESPONSE_EXAMPLE, response_only=True)],
    ),
)
class ResponseViewSet(CRMViewSet):
    """Answers to surveys (read-only), and closing the loop on the ones that need a follow-up."""

    serializer_class = s.ResponseSerializer
    filterset_class = api_filters.ResponseFilter
    filter_backends = [DjangoFilterBackend, filters.OrderingFilter]  # search is a filterset field
    ordering_fields = ["id", "answered_at", "score"]

    def get_queryset(self) -> QuerySet[SurveyResponse]:
        return selectors.response_list()

    @extend_schema(
        summary="Close the loop on a response",
        description=(
            "The customer's owner (or a manager) records the follow-up: the response shows loop closed, its "
            "task is completed and the note goes to the customer's timeline. Closing again keeps the first "
            "closing."
        ),
        request=s.CloseLoopSerializer,
        responses={
            200: s.ResponseSerializer,
            **write_errors(detail=True, example={"note": ["This field is required."]}),
        },
        examples=[
            OpenApiExample("Follow-up", value={"note": "Liguei, pedi desculpas e enviei um cupom."}, request_only=True),
            OpenApiExample("Closed", value=RESPONSE_EXAMPLE, response_only=True),
        ],
    )
    @action(detail=True, methods=["post"], url_path="close-loop")
    def close_loop(self, request: Request, pk: str | None = None) -> Response:
        response = self.get_object()  # 403 before the body is read when not the owner
        data = self.parse(s.CloseLoopSerializer, data=request.data)
        closed = services.response_close_loop(actor=request.user, response=response, note=data["note"])
        return self.render(closed, status.HTTP_200_OK)
