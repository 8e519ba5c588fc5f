"""REST endpoints for support tickets: the queue, a ticket with its SLA clocks, changes, replies and
notes, the history, and the TMR / first response / SLA report. Thin: parse with an input serializer,
call support.services (which checks who may do what), render with the output serializer.
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework import filters, status
from rest_framework.decorators import action
from rest_framework.permissions import SAFE_METHODS, BasePermission, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from customers.api.views import CRMViewSet, ServiceUpdateMixin
from posvenda import roles
from posvenda.api.permissions import HasCRMRole
from posvenda.api.schema import read_errors, write_errors
from support import selectors, services
from support.models import Ticket

from . import filters as api_filters
from . import serializers as s
from .pagination import EventCursorPagination, QueueCursorPagination


class CanWorkTicket(BasePermission):
    """Everyone with a CRM role reads tickets and opens them; changing a ticket and replying is for
    its assignee or a manager (an agent may take an unassigned one). The report is for managers.

    The services check the same rule; checking here too answers 403 before a body is validated."""

    message = gettext_lazy("Only the assignee or a CS manager can change this ticket.")

    def has_permission(self, request: Request, view: APIView) -> bool:
        if getattr(view, "action", None) == "report" and not roles.is_manager(request.user):
            self.message = gettext_lazy("Only a CS manager can see the support report.")
            return False
        return True

    def has_object_permission(self, request: Request, view: APIView, obj: Any) -> bool:
        if request.method in SAFE_METHODS:
            return True
        return services.can_work_ticket(request.user, obj)


# --- examples ----------------------------------------------------------------------------------

TICKET_EXAMPLE = {
    "id": 123,
    "customer": 42,
    "customer_name": "Maria da Silva",
    "customer_external_id": "shop-1001",
    "contact": None,
    "subject": "Pedido PED-1001 não chegou",
    "description": "O rastreio parou em Curitiba há cinco dias.",
    "channel": "email",
    "category": "delivery",
    "priority": "high",
    "status": "waiting",
    "assignee": {"id": 7, "username": "ana", "name": "Ana Souza"},
    "team": {"id": 2, "name": "Suporte N1"},
    "opened_at": "2026-11-23T09:00:00-03:00",
    "first_response_at": "2026-11-23T11:00:00-03:00",
    "resolved_at": None,
    "closed_at": None,
    "reopen_count": 0,
    "source_key": "api:zendesk-88123",
    "survey_response": None,
    "created_by": {"id": 7, "username": "ana", "name": "Ana Souza"},
    "sla": {
        "policy": "Alta",
        "business_hours": True,
        "state": "paused",
        "first_response_due_at": "2026-11-23T11:00:00-03:00",
        "first_response_breached": False,
        "resolution_due_at": None,
        "resolution_paused": True,
        "resolution_remaining_seconds": 28800,
        "resolution_breached": False,
        "first_response_seconds": 7200,
        "first_response_business_seconds": 7200,
        "resolution_seconds": None,
        "resolution_business_seconds": None,
    },
    "can_work": True,
    "created_at": "2026-11-23T09:00:00-03:00",
    "updated_at": "2026-11-23T11:00:00-03:00",
}
TICKET_INPUT_EXAMPLE = {
    "customer_external_id": "shop-1001",
    "subject": "Pedido PED-1001 não chegou",
    "description": "O rastreio parou em Curitiba há cinco dias.",
    "channel": "email",
    "category": "delivery",
    "priority": "high",
    "source_key": "zendesk-88123",
}
TICKET_ERRORS = {"subject": ["This field is required."]}
CHANGE_ERRORS = {"status": ["A Resolved ticket cannot become Waiting on customer."]}
REPLY_EXAMPLE = {
    "body": "Olá, Maria! Abrimos uma investigação com a transportadora. Pode nos enviar o comprovante?",
    "public": True,
    "status": "waiting",
}
EVENT_EXAMPLE = {
    "id": 901,
    "ticket": 123,
    "kind": "reply",
    "from_value": "",
    "to_value": "",
    "body": REPLY_EXAMPLE["body"],
    "author": {"id": 7, "username": "ana", "name": "Ana Souza"},
    "at": "2026-11-23T11:00:00-03:00",
    "message": 5521,
    "inbound_id": None,
}
STATUS_EVENT_EXAMPLE = {
    **EVENT_EXAMPLE,
    "id": 902,
    "kind": "status",
    "from_value": "open",
    "to_value": "waiting",
    "body": "",
    "message": None,
}


def _figure(count: int, mean: int | None, median: int | None) -> dict[str, Any]:
    return {"count": count, "mean_seconds": mean, "median_seconds": median}


REPORT_ROW_EXAMPLE = {
    "label": "Ana Souza",
    "resolved": 3,
    "tmr": _figure(3, 7200, 7200),
    "tmr_business": _figure(3, 7200, 7200),
    "first_response": _figure(3, 1800, 1800),
    "first_response_business": _figure(3, 1800, 1800),
    "sla_total": 3,
    "sla_met": 3,
    "sla_met_pct": "100.0",
}
REPORT_EXAMPLE = {
    "start": "2026-11-01T00:00:00-03:00",
    "end": "2026-12-01T00:00:00-03:00",
    "group_by": "assignee",
    "resolved": 4,
    "tmr": _figure(4, 14400, 9000),
    "tmr_business": _figure(4, 14400, 9000),
    "first_response": _figure(4, 1800, 1800),
    "first_response_business": _figure(4, 1800, 1800),
    "sla_total": 4,
    "sla_met": 3,
    "sla_met_pct": "75.0",
    "rows": [
        REPORT_ROW_EXAMPLE,
        {
            **REPORT_ROW_EXAMPLE,
            "label": "Bruno Costa",
            "resolved": 1,
            "tmr": _figure(1, 36000, 36000),
            "tmr_business": _figure(1, 36000, 36000),
            "first_response": _figure(1, 1800, 1800),
            "first_response_business": _figure(1, 1800, 1800),
            "sla_total": 1,
            "sla_met": 0,
            "sla_met_pct": "0.0",
        },
    ],
}

REPORT_PARAMS = [
    OpenApiParameter("start", OpenApiTypes.DATETIME, description="ISO 8601 date-time: resolved at or after."),
    OpenApiParameter("end", OpenApiTypes.DATETIME, description="ISO 8601 date-time: resolved before (exclusive)."),
    OpenApiParameter(
        "group_by", OpenApiTypes.STR, enum=["assignee", "team"], description="Rows per agent (default) or per team."
    ),
    OpenApiParameter(
        "priority", OpenApiTypes.STR, enum=["low", "normal", "high", "urgent"], description="Only this priority."
    ),
    OpenApiParameter("team", OpenApiTypes.INT, description="Only this team (id)."),
    OpenApiParameter("assignee", OpenApiTypes.INT, description="Only this agent (user id)."),
]


# --- tickets -----------------------------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(
        summary="List tickets (the support queue)",
        description=(
            "Ordered by time left, as the queue page: the earliest due time first (the first response while "
            "unanswered, else the resolution), then tickets without a running clock (paused, resolved, "
            "closed, no SLA), newest first. ordering=… sorts by a field instead."
        ),
        responses={200: s.TicketSerializer(many=True), **read_errors()},
        examples=[OpenApiExample("Ticket", value=TICKET_EXAMPLE, response_only=True)],
    ),
    retrieve=extend_schema(
        summary="Get a ticket with its SLA clocks",
        responses={200: s.TicketSerializer, **read_errors(detail=True)},
        examples=[OpenApiExample("Ticket", value=TICKET_EXAMPLE, response_only=True)],
    ),
    partial_update=extend_schema(
        summary="Change a ticket's status, priority, assignee, team or category",
        description=(
            "The assignee or a manager (an agent may take an unassigned ticket; only managers assign others). "
            "Each change is an event on the ticket's history. Status moves: new/open/on_hold/reopened → "
            "open, waiting, on_hold, resolved, closed; waiting → open, on_hold, resolved, closed; resolved → "
            "reopened, closed; closed → reopened. waiting pauses the resolution clock, resolving stops it, "
            "reopening resumes it; a priority change re-targets both clocks. An invalid change is a 400 and "
            "nothing is saved."
        ),
        request=s.TicketChangeSerializer,
        responses={200: s.TicketSerializer, **write_errors(detail=True, example=CHANGE_ERRORS)},
        examples=[
            OpenApiExample("Resolve", value={"status": "resolved"}, request_only=True),
            OpenApiExample("Escalate", value={"priority": "urgent", "team": 3}, request_only=True),
            OpenApiExample("Reassign (managers)", value={"assignee": 9}, request_only=True),
            OpenApiExample("Ticket", value=TICKET_EXAMPLE, response_only=True),
        ],
    ),
)
class TicketViewSet(ServiceUpdateMixin, CRMViewSet):
    """Support tickets. Everyone with a CRM role reads them and opens them; the assignee or a manager
    changes them and replies."""

    serializer_class = s.TicketSerializer
    input_serializer_class = s.TicketChangeSerializer
    permission_classes = [IsAuthenticated, HasCRMRole, CanWorkTicket]
    filterset_class = api_filters.TicketFilter
    filter_backends = [DjangoFilterBackend, filters.OrderingFilter]  # search is a filterset field
    ordering_fields = ["id", "opened_at", "updated_at"]
    pagination_class = QueueCursorPagination
    lookup_value_regex = r"\d+"
    http_method_names = ["get", "post", "patch", "head", "options"]

    def get_queryset(self) -> QuerySet[Ticket]:
        return selectors.ticket_queue().select_related("created_by")

    def get_serializer_context(self) -> dict[str, Any]:
        return {**super().get_serializer_context(), "now": timezone.now()}

    def service_update(self, instance: Ticket, data: dict[str, Any]) -> Ticket:
        return services.ticket_change(actor=self.request.user, ticket=instance, **data)

    @extend_schema(
        summary="Open a ticket",
        description=(
            "Name the customer by id (customer) or by your id (customer_external_id). The assignee defaults "
            "to the customer's owner; agents may assign only themselves or the owner. The SLA policy of the "
            "priority (and the customer's segment) starts the clocks.\n\n"
            "Idempotent with source_key: the same key again answers 200 with the ticket it opened, so a "
            "retry after a timeout opens nothing twice."
        ),
        request=s.TicketCreateSerializer,
        responses={
            201: OpenApiResponse(s.TicketSerializer, description="Opened."),
            200: OpenApiResponse(s.TicketSerializer, description="A ticket with this source_key already existed."),
            **write_errors(example=TICKET_ERRORS),
        },
        examples=[
            OpenApiExample("New ticket", value=TICKET_INPUT_EXAMPLE, request_only=True),
            OpenApiExample(
                "By customer id",
                value={"customer": 42, "subject": "Dúvida sobre a fatura", "category": "billing"},
                request_only=True,
            ),
            OpenApiExample("Ticket", value=TICKET_EXAMPLE, response_only=True, status_codes=["200", "201"]),
        ],
    )
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        data = self.parse(s.TicketCreateSerializer, data=request.data)
        ticket, created = services.ticket_create(actor=request.user, **data)
        return self.render(ticket, status.HTTP_201_CREATED if created else status.HTTP_200_OK)

    @extend_schema(
        summary="Reply to the customer, or add an internal note",
        description=(
            'public true (default): the reply is e-mailed to the customer (subject "[Ticket #123] …", so '
            "their answer comes back to the ticket) and the first one sets the first response time; a new or "
            "reopened ticket becomes open. public false: an internal note, never sent. status optionally "
            "changes the status in the same step (e.g. waiting: pauses the resolution clock). The assignee "
            "or a manager only."
        ),
        request=s.ReplySerializer,
        responses={
            201: s.TicketEventSerializer,
            **write_errors(detail=True, example={"body": ["Write the reply or note."]}),
        },
        examples=[
            OpenApiExample("Reply and wait", value=REPLY_EXAMPLE, request_only=True),
            OpenApiExample(
                "Internal note",
                value={"body": "Cliente VIP: oferecer frete grátis no reenvio.", "public": False},
                request_only=True,
            ),
            OpenApiExample("Reply", value=EVENT_EXAMPLE, response_only=True, status_codes=["201"]),
        ],
    )
    @action(detail=True, methods=["post"])
    def replies(self, request: Request, pk: str | None = None) -> Response:
        ticket = self.get_object()  # 403 before the body is read when not the assignee
        data = self.parse(s.ReplySerializer, data=request.data)
        event = services.ticket_reply(actor=request.user, ticket=ticket, **data)
        return Response(
            s.TicketEventSerializer(event, context=self.get_serializer_context()).data, status=status.HTTP_201_CREATED
        )

    @extend_schema(
        summary="A ticket's history",
        description=(
            "Every change, reply, internal note, customer reply (from inbound e-mail) and SLA alert, in the "
            "order they happened. kind: created, status, priority, assignee, team, category (from_value → "
            "to_value), reply, note, customer_reply (body), sla_warning, sla_breach."
        ),
        filters=False,
        parameters=[
            OpenApiParameter("cursor", OpenApiTypes.STR, description="The pagination cursor value."),
            OpenApiParameter("page_size", OpenApiTypes.INT, description="Number of results to return per page."),
        ],
        responses={200: s.TicketEventSerializer(many=True), **read_errors(detail=True)},
        examples=[
            OpenApiExample("Reply", value=EVENT_EXAMPLE, response_only=True),
            OpenApiExample("Status change", value=STATUS_EVENT_EXAMPLE, response_only=True),
        ],
    )
    @action(detail=True, methods=["get"], pagination_class=EventCursorPagination)
    def events(self, request: Request, pk: str | None = None) -> Response:
        ticket = self.get_object()
        paginator = self.paginator
        # No view: ?ordering= is the ticket list's, not the history's.
        page = paginator.paginate_queryset(ticket.events.select_related("author"), request)
        data = s.TicketEventSerializer(page, many=True, context=self.get_serializer_context()).data
        return paginator.get_paginated_response(data)

    @extend_schema(
        summary="Support report: TMR, first response and SLA met (managers)",
        description=(
            "Over the tickets resolved in [start, end): TMR = sum of resolution times ÷ tickets resolved, "
            "with the median; the first response time likewise; both in calendar and in business time; and "
            "the % of tickets with an SLA policy that met it (neither the first response nor the resolution "
            "breached). Overall and per agent (group_by=assignee) or per team. Times are in seconds. "
            "Definitions: docs/metrics.md."
        ),
        filters=False,
        parameters=REPORT_PARAMS,
        responses={
            200: s.SupportReportSerializer,
            **write_errors(example={"start": ["Datetime has wrong format."]}),
        },
        examples=[OpenApiExample("Report", value=REPORT_EXAMPLE, response_only=True)],
    )
    @action(detail=False, methods=["get"], pagination_class=None)
    def report(self, request: Request) -> Response:
        query = self.parse(s.ReportQuerySerializer, data=request.query_params)
        report = selectors.support_report(
            start=query.get("start"),
            end=query.get("end"),
            group_by=query["group_by"],
            priority=query.get("priority"),
            team_id=query.get("team"),
            assignee_id=query.get("assignee"),
        )
        body = {
            **{field: getattr(report, field) for field in report.__dataclass_fields__},
            "start": query.get("start"),
            "end": query.get("end"),
            "group_by": query["group_by"],
        }
        return Response(s.SupportReportSerializer(body).data)
