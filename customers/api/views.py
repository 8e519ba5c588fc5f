"""REST endpoints for customers and their records. Thin: parse with an input serializer, call the
service (which checks roles and domain rules), render with the output serializer.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

from django.db.models import Model, QuerySet
from django.shortcuts import get_object_or_404
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import filters, mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from customers import selectors, services
from customers.models import Consent, Contact, Contract, Customer, Interaction, Order
from posvenda.api.permissions import CanWorkCustomer, HasCRMRole
from posvenda.api.schema import read_errors, write_errors

from . import filters as api_filters
from . import serializers as s

EXTERNAL_ID_PARAM = OpenApiParameter(
    "external_id", OpenApiTypes.STR, OpenApiParameter.PATH, description="The record's id in the other system."
)


def _examples(name: str, value: dict[str, Any], *, request: bool = True, response: bool = True) -> list:
    out = []
    if request:
        out.append(OpenApiExample(name, value=value, request_only=True))
    if response:
        out.append(OpenApiExample(name, value=value, response_only=True))
    return out


class CRMViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Lists and details from a queryset; the Service*Mixins add writes through services."""

    permission_classes = [IsAuthenticated, HasCRMRole, CanWorkCustomer]
    filter_backends = [DjangoFilterBackend, filters.SearchFilter, filters.OrderingFilter]
    input_serializer_class: type[serializers.Serializer]

    def customer_of(self, obj: Any) -> Customer:
        return obj.customer

    def fetch(self, obj: Model) -> Model:
        """The written object as the read endpoints show it (relations loaded)."""
        return self.get_queryset().get(pk=obj.pk)

    def render(self, obj: Model, code: int = status.HTTP_200_OK) -> Response:
        return Response(self.get_serializer(self.fetch(obj)).data, status=code)

    def parse(self, serializer_class: type[serializers.Serializer], **kwargs: Any) -> dict[str, Any]:
        serializer = serializer_class(context=self.get_serializer_context(), **kwargs)
        serializer.is_valid(raise_exception=True)
        return dict(serializer.validated_data)


class ServiceCreateMixin(ABC):
    @abstractmethod
    def service_create(self, data: dict[str, Any]) -> Model:
        """Implemented by each concrete class."""

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        view: Any = self
        data = view.parse(view.input_serializer_class, data=request.data)
        return view.render(self.service_create(data), status.HTTP_201_CREATED)


class ServiceUpdateMixin(ABC):
    @abstractmethod
    def service_update(self, instance: Any, data: dict[str, Any]) -> Model:
        """Implemented by each concrete class."""

    def update(self, request: Request, *args: Any, partial: bool = False, **kwargs: Any) -> Response:
        view: Any = self
        instance = view.get_object()
        data = view.parse(view.input_serializer_class, instance=instance, data=request.data, partial=partial)
        return view.render(self.service_update(instance, data))

    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return self.update(request, *args, partial=True, **kwargs)


class ServiceDestroyMixin(ABC):
    @abstractmethod
    def service_delete(self, instance: Any) -> None:
        """Implemented by each concrete class."""

    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        view: Any = self
        self.service_delete(view.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)


class CRMModelViewSet(ServiceCreateMixin, ServiceUpdateMixin, ServiceDestroyMixin, CRMViewSet):
    """Full CRUD; every write goes through the subclass's service_* hooks."""


class ExternalIdMixin(ABC):
    """GET/PUT .../by-external-id/{external_id}/: look up, or create-or-update idempotently."""

    upsert_serializer_class: type[serializers.Serializer]

    @abstractmethod
    def service_sync(self, external_id: str, data: dict[str, Any]) -> tuple[Model, str]:
        """Implemented by each concrete class."""

    def external_id_view(self, request: Request, external_id: str) -> Response:
        view: Any = self
        if request.method == "GET":
            obj = get_object_or_404(view.filter_queryset(view.get_queryset()), external_id=external_id)
            return Response(view.get_serializer(obj).data)
        data = view.parse(self.upsert_serializer_class, data=request.data)
        obj, outcome = self.service_sync(external_id, data)
        return view.render(obj, status.HTTP_201_CREATED if outcome == "created" else status.HTTP_200_OK)


# --- customers ---------------------------------------------------------------------------------

CUSTOMER_EXAMPLE = {
    "id": 42,
    "kind": "person",
    "name": "Maria da Silva",
    "document": "52998224725",
    "document_formatted": "529.982.247-25",
    "document_label": "CPF",
    "email": "maria@example.com.br",
    "phone": "+5511987654321",
    "owner": {"id": 7, "username": "ana", "name": "Ana Souza"},
    "segment": "Varejo",
    "tags": ["vip"],
    "plan": "Pro",
    "mrr": "149.90",
    "external_id": "shop-1001",
    "stage": "adoption",
    "language": "pt-br",
    "created_at": "2025-03-01T10:00:00-03:00",
    "updated_at": "2025-03-02T09:30:00-03:00",
}
CUSTOMER_INPUT_EXAMPLE = {
    "kind": "person",
    "name": "Maria da Silva",
    "document": "529.982.247-25",
    "email": "maria@example.com.br",
    "phone": "(11) 98765-4321",
    "owner": 7,
    "segment": "Varejo",
    "tags": ["vip"],
    "plan": "Pro",
    "mrr": "149.90",
    "external_id": "shop-1001",
}
CUSTOMER_ERRORS = {"document": ["Invalid CPF: check the 11 digits."]}


def by_external_id_action(
    *,
    noun: str,
    title: str,
    output: type[serializers.Serializer],
    upsert: type[serializers.Serializer],
    example: dict[str, Any],
    input_example: dict[str, Any],
    errors: dict[str, Any],
    description: str,
) -> Any:
    """GET/PUT …/by-external-id/{external_id}/ for a viewset with ExternalIdMixin, documented once."""
    article = "an" if noun[0] in "aeiou" else "a"

    @extend_schema(
        methods=["GET"],
        summary=f"Get {article} {noun} by external id",
        parameters=[EXTERNAL_ID_PARAM],
        responses={200: output, **read_errors(detail=True)},
        examples=_examples(title, example, request=False),
    )
    @extend_schema(
        methods=["PUT"],
        summary=f"Create or update {article} {noun} by external id (idempotent)",
        description=description,
        parameters=[EXTERNAL_ID_PARAM],
        request=upsert,
        responses={
            200: OpenApiResponse(output, description="Updated, or unchanged on a replay."),
            201: OpenApiResponse(output, description="Created."),
            **write_errors(example=errors),
        },
        examples=[
            OpenApiExample(
                "Upsert", value={k: v for k, v in input_example.items() if k != "external_id"}, request_only=True
            ),
            OpenApiExample(title, value=example, response_only=True, status_codes=["200", "201"]),
        ],
    )
    @action(detail=False, methods=["get", "put"], url_path=r"by-external-id/(?P<external_id>[^/]+)")
    def by_external_id(self: Any, request: Request, external_id: str) -> Response:
        return self.external_id_view(request, external_id)

    return by_external_id


@extend_schema_view(
    list=extend_schema(
        summary="List customers",
        responses={200: s.CustomerSerializer(many=True), **read_errors()},
        examples=_examples("Customer", CUSTOMER_EXAMPLE, request=False),
    ),
    retrieve=extend_schema(
        summary="Get a customer",
        responses={200: s.CustomerSerializer, **read_errors(detail=True)},
        examples=_examples("Customer", CUSTOMER_EXAMPLE, request=False),
    ),
    create=extend_schema(
        summary="Create a customer",
        description="Agents become the owner of what they create; only managers may set another owner.",
        request=s.CustomerInputSerializer,
        responses={201: s.CustomerSerializer, **write_errors(example=CUSTOMER_ERRORS)},
        examples=[
            OpenApiExample("New customer", value=CUSTOMER_INPUT_EXAMPLE, request_only=True),
            OpenApiExample("Created", value=CUSTOMER_EXAMPLE, response_only=True, status_codes=["201"]),
        ],
    ),
    update=extend_schema(
        summary="Replace a customer",
        request=s.CustomerInputSerializer,
        responses={200: s.CustomerSerializer, **write_errors(detail=True, example=CUSTOMER_ERRORS)},
        examples=_examples("Customer", CUSTOMER_INPUT_EXAMPLE, response=False)
        + _examples("Customer", CUSTOMER_EXAMPLE, request=False),
    ),
    partial_update=extend_schema(
        summary="Change some fields of a customer",
        description="Agents may change only customers they own and may not change the owner.",
        request=s.CustomerInputSerializer,
        responses={200: s.CustomerSerializer, **write_errors(detail=True, example=CUSTOMER_ERRORS)},
        examples=[
            OpenApiExample("New plan", value={"plan": "Enterprise", "mrr": "990.00"}, request_only=True),
            OpenApiExample("Reassign (managers)", value={"owner": 9}, request_only=True),
            OpenApiExample("Customer", value=CUSTOMER_EXAMPLE, response_only=True),
        ],
    ),
    destroy=extend_schema(
        summary="Delete a customer (managers)",
        responses={204: OpenApiResponse(description="Deleted."), **read_errors(detail=True)},
    ),
)
class CustomerViewSet(ExternalIdMixin, CRMModelViewSet):
    """Customers (B2B companies and B2C people). Agents read all and change the ones they own;
    managers also reassign owners and delete."""

    serializer_class = s.CustomerSerializer
    input_serializer_class = s.CustomerInputSerializer
    upsert_serializer_class = s.CustomerUpsertSerializer
    filter_backends = [DjangoFilterBackend, filters.OrderingFilter]  # search is a filterset field
    filterset_class = api_filters.CustomerFilter
    ordering_fields = ["id", "name", "created_at", "updated_at", "mrr"]

    def get_queryset(self) -> QuerySet[Customer]:
        return selectors.customer_list()

    def filter_queryset(self, queryset: QuerySet[Customer]) -> QuerySet[Customer]:
        if self.action == "list" and not set(self.request.query_params) - {"cursor", "page_size"}:
            return queryset  # no filter asked for: skip building the filter form (~1 ms of deepcopy)
        return super().filter_queryset(queryset)

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        # Plain rows + one query for the page's tags: same JSON as CustomerSerializer, half the CPU.
        queryset = self.filter_queryset(self.get_queryset()).prefetch_related(None).values(*s.CUSTOMER_ROW_FIELDS)
        page = self.paginate_queryset(queryset)
        tags = selectors.customer_tag_names(customer_ids=[row["id"] for row in page])
        return self.get_paginated_response(s.customer_rows(page, tags))

    def customer_of(self, obj: Any) -> Customer:
        return obj

    def service_create(self, data: dict[str, Any]) -> Customer:
        return services.customer_create(actor=self.request.user, **data)

    def service_update(self, instance: Customer, data: dict[str, Any]) -> Customer:
        return services.customer_update(actor=self.request.user, customer=instance, **data)

    def service_delete(self, instance: Customer) -> None:
        services.customer_delete(actor=self.request.user, customer=instance)

    def service_sync(self, external_id: str, data: dict[str, Any]) -> tuple[Customer, str]:
        return services.customer_sync_by_external_id(actor=self.request.user, external_id=external_id, **data)

    by_external_id = by_external_id_action(
        noun="customer",
        title="Customer",
        output=s.CustomerSerializer,
        upsert=s.CustomerUpsertSerializer,
        example=CUSTOMER_EXAMPLE,
        input_example=CUSTOMER_INPUT_EXAMPLE,
        errors=CUSTOMER_ERRORS,
        description=(
            "Creates the customer (201) or updates the fields sent (200). Sending the same body again "
            "changes nothing. name is required when creating."
        ),
    )


# --- contacts ----------------------------------------------------------------------------------

CONTACT_EXAMPLE = {
    "id": 5,
    "customer": 42,
    "name": "Carlos Lima",
    "email": "carlos@acme.com.br",
    "phone": "+5511912345678",
    "role": "Financeiro",
    "is_primary": True,
    "external_id": None,
    "created_at": "2025-03-01T10:00:00-03:00",
    "updated_at": "2025-03-01T10:00:00-03:00",
}
CONTACT_INPUT_EXAMPLE = {"customer": 42, "name": "Carlos Lima", "email": "carlos@acme.com.br", "is_primary": True}
CONTACT_ERRORS = {"phone": ["Invalid phone number: use +55 DDD number, e.g. +55 11 98765-4321."]}


def _crud_schema(
    noun: str,
    *,
    out: type[serializers.Serializer],
    inp: type[serializers.Serializer],
    example: dict[str, Any],
    input_example: dict[str, Any],
    errors: dict[str, list[str]],
    destroy: bool = True,
) -> dict[str, Any]:
    schemas: dict[str, Any] = {
        "list": extend_schema(
            summary=f"List {noun}s",
            responses={200: out(many=True), **read_errors()},
            examples=_examples(noun, example, request=False),
        ),
        "retrieve": extend_schema(
            summary=f"Get a {noun}",
            responses={200: out, **read_errors(detail=True)},
            examples=_examples(noun, example, request=False),
        ),
        "create": extend_schema(
            summary=f"Create a {noun}",
            request=inp,
            responses={201: out, **write_errors(example=errors)},
            examples=[
                OpenApiExample(f"New {noun}", value=input_example, request_only=True),
                OpenApiExample("Created", value=example, response_only=True, status_codes=["201"]),
            ],
        ),
    }
    if destroy:
        update_examples = _examples(noun, input_example, response=False) + _examples(noun, example, request=False)
        schemas["update"] = extend_schema(
            summary=f"Replace a {noun}",
            request=inp,
            responses={200: out, **write_errors(detail=True, example=errors)},
            examples=update_examples,
        )
        schemas["partial_update"] = extend_schema(
            summary=f"Change some fields of a {noun}",
            request=inp,
            responses={200: out, **write_errors(detail=True, example=errors)},
            examples=update_examples,
        )
        schemas["destroy"] = extend_schema(
            summary=f"Delete a {noun}",
            responses={204: OpenApiResponse(description="Deleted."), **read_errors(detail=True)},
        )
    return schemas


@extend_schema_view(
    **_crud_schema(
        "contact",
        out=s.ContactSerializer,
        inp=s.ContactInputSerializer,
        example=CONTACT_EXAMPLE,
        input_example=CONTACT_INPUT_EXAMPLE,
        errors=CONTACT_ERRORS,
    )
)
class ContactViewSet(CRMModelViewSet):
    """People at a customer. Writes need the right to work the customer."""

    serializer_class = s.ContactSerializer
    input_serializer_class = s.ContactInputSerializer
    filterset_class = api_filters.ContactFilter
    search_fields = ["name", "email", "phone"]
    ordering_fields = ["id", "name"]

    def get_queryset(self) -> QuerySet[Contact]:
        return Contact.objects.all()

    def service_create(self, data: dict[str, Any]) -> Contact:
        return services.contact_create(actor=self.request.user, **data)

    def service_update(self, instance: Contact, data: dict[str, Any]) -> Contact:
        return services.contact_update(actor=self.request.user, contact=instance, **data)

    def service_delete(self, instance: Contact) -> None:
        services.contact_delete(actor=self.request.user, contact=instance)


# --- orders ------------------------------------------------------------------------------------

ORDER_EXAMPLE = {
    "id": 300,
    "customer": 42,
    "external_id": "PED-1001",
    "purchased_at": "2025-03-01T14:20:00-03:00",
    "amount": "199.90",
    "status": "paid",
    "channel": "online",
    "product": "Kit inicial",
    "created_at": "2025-03-01T14:21:00-03:00",
    "updated_at": "2025-03-01T14:21:00-03:00",
}
ORDER_INPUT_EXAMPLE = {
    "customer_external_id": "shop-1001",
    "external_id": "PED-1001",
    "purchased_at": "2025-03-01T14:20:00-03:00",
    "amount": "199.90",
    "status": "paid",
    "channel": "online",
    "product": "Kit inicial",
}
ORDER_ERRORS = {"amount": ["Ensure this value is greater than or equal to 0."]}


@extend_schema_view(
    **_crud_schema(
        "order",
        out=s.OrderSerializer,
        inp=s.OrderInputSerializer,
        example=ORDER_EXAMPLE,
        input_example=ORDER_INPUT_EXAMPLE,
        errors=ORDER_ERRORS,
    )
)
class OrderViewSet(ExternalIdMixin, CRMModelViewSet):
    """Purchases. Writes need the right to work the customer; upsert by external id for integrations."""

    serializer_class = s.OrderSerializer
    input_serializer_class = s.OrderInputSerializer
    upsert_serializer_class = s.OrderUpsertSerializer
    filterset_class = api_filters.OrderFilter
    search_fields = ["external_id", "product"]
    ordering_fields = ["id", "purchased_at", "amount"]

    def get_queryset(self) -> QuerySet[Order]:
        return Order.objects.all()

    def service_create(self, data: dict[str, Any]) -> Order:
        return services.order_record(actor=self.request.user, **data)

    def service_update(self, instance: Order, data: dict[str, Any]) -> Order:
        return services.order_update(actor=self.request.user, order=instance, **data)

    def service_delete(self, instance: Order) -> None:
        services.order_delete(actor=self.request.user, order=instance)

    def service_sync(self, external_id: str, data: dict[str, Any]) -> tuple[Order, str]:
        return services.order_sync_by_external_id(actor=self.request.user, external_id=external_id, **data)

    by_external_id = by_external_id_action(
        noun="order",
        title="Order",
        output=s.OrderSerializer,
        upsert=s.OrderUpsertSerializer,
        example=ORDER_EXAMPLE,
        input_example=ORDER_INPUT_EXAMPLE,
        errors=ORDER_ERRORS,
        description="201 when created, 200 when updated or unchanged. customer and amount are required to create.",
    )


# --- contracts ---------------------------------------------------------------------------------

CONTRACT_EXAMPLE = {
    "id": 12,
    "customer": 42,
    "external_id": "CTR-77",
    "plan": "Pro",
    "started_at": "2025-01-01",
    "ends_at": "2025-12-31",
    "cancelled_at": None,
    "cancel_reason": "",
    "mrr": "1500.00",
    "status": "active",
    "renewals": 0,
    "auto_renew": True,
    "created_at": "2025-01-01T09:00:00-03:00",
    "updated_at": "2025-01-01T09:00:00-03:00",
}
CONTRACT_INPUT_EXAMPLE = {
    "customer": 42,
    "external_id": "CTR-77",
    "plan": "Pro",
    "started_at": "2025-01-01",
    "ends_at": "2025-12-31",
    "mrr": "1500.00",
}
CONTRACT_ERRORS = {"non_field_errors": ['Constraint "contract_ends_after_start" is violated.']}


@extend_schema_view(
    **_crud_schema(
        "contract",
        out=s.ContractSerializer,
        inp=s.ContractInputSerializer,
        example=CONTRACT_EXAMPLE,
        input_example=CONTRACT_INPUT_EXAMPLE,
        errors=CONTRACT_ERRORS,
    )
)
class ContractViewSet(ExternalIdMixin, CRMModelViewSet):
    """Recurring contracts. Writes need the right to work the customer; upsert by external id."""

    serializer_class = s.ContractSerializer
    input_serializer_class = s.ContractInputSerializer
    upsert_serializer_class = s.ContractUpsertSerializer
    filterset_class = api_filters.ContractFilter
    search_fields = ["external_id", "plan"]
    ordering_fields = ["id", "started_at", "ends_at", "mrr"]

    def get_queryset(self) -> QuerySet[Contract]:
        return Contract.objects.all()

    def service_create(self, data: dict[str, Any]) -> Contract:
        return services.contract_create(actor=self.request.user, **data)

    def service_update(self, instance: Contract, data: dict[str, Any]) -> Contract:
        return services.contract_update(actor=self.request.user, contract=instance, **data)

    def service_delete(self, instance: Contract) -> None:
        services.contract_delete(actor=self.request.user, contract=instance)

    def service_sync(self, external_id: str, data: dict[str, Any]) -> tuple[Contract, str]:
        return services.contract_sync_by_external_id(actor=self.request.user, external_id=external_id, **data)

    by_external_id = by_external_id_action(
        noun="contract",
        title="Contract",
        output=s.ContractSerializer,
        upsert=s.ContractUpsertSerializer,
        example=CONTRACT_EXAMPLE,
        input_example=CONTRACT_INPUT_EXAMPLE,
        errors=CONTRACT_ERRORS,
        description="201 when created, 200 when updated or unchanged. customer and started_at are required to create.",
    )


# --- interactions ------------------------------------------------------------------------------

INTERACTION_EXAMPLE = {
    "id": 900,
    "customer": 42,
    "kind": "call",
    "subject": "Onboarding",
    "body": "Walked the customer through the first setup.",
    "author": {"id": 7, "username": "ana", "name": "Ana Souza"},
    "happened_at": "2025-03-03T11:00:00-03:00",
    "created_at": "2025-03-03T11:05:00-03:00",
}
INTERACTION_INPUT_EXAMPLE = {
    "customer": 42,
    "kind": "call",
    "subject": "Onboarding",
    "body": "Walked the customer through the first setup.",
}


@extend_schema_view(
    **_crud_schema(
        "interaction",
        out=s.InteractionSerializer,
        inp=s.InteractionInputSerializer,
        example=INTERACTION_EXAMPLE,
        input_example=INTERACTION_INPUT_EXAMPLE,
        errors={"body": ["This field is required."]},
    )
)
class InteractionViewSet(CRMModelViewSet):
    """The customer timeline: notes, calls, e-mails, WhatsApp, meetings. The author is the caller."""

    serializer_class = s.InteractionSerializer
    input_serializer_class = s.InteractionInputSerializer
    filterset_class = api_filters.InteractionFilter
    search_fields = ["subject", "body"]
    ordering_fields = ["id", "happened_at"]

    def get_queryset(self) -> QuerySet[Interaction]:
        return Interaction.objects.select_related("author")

    def service_create(self, data: dict[str, Any]) -> Interaction:
        return services.interaction_add(actor=self.request.user, **data)

    def service_update(self, instance: Interaction, data: dict[str, Any]) -> Interaction:
        return services.interaction_update(actor=self.request.user, interaction=instance, **data)

    def service_delete(self, instance: Interaction) -> None:
        services.interaction_delete(actor=self.request.user, interaction=instance)


# --- consents (append-only) --------------------------------------------------------------------

CONSENT_EXAMPLE = {
    "id": 31,
    "customer": 42,
    "channel": "whatsapp",
    "purpose": "surveys",
    "granted": True,
    "source": "api",
    "evidence": "Checkbox at checkout, order PED-1001",
    "recorded_at": "2025-03-01T14:20:00-03:00",
    "recorded_by": {"id": 7, "username": "ana", "name": "Ana Souza"},
}
CONSENT_INPUT_EXAMPLE = {
    "customer": 42,
    "channel": "whatsapp",
    "purpose": "surveys",
    "granted": True,
    "evidence": "Checkbox at checkout, order PED-1001",
}


@extend_schema_view(
    **_crud_schema(
        "consent",
        out=s.ConsentSerializer,
        inp=s.ConsentInputSerializer,
        example=CONSENT_EXAMPLE,
        input_example=CONSENT_INPUT_EXAMPLE,
        errors={"channel": ['"fax" is not a valid choice.']},
        destroy=False,
    )
)
class ConsentViewSet(ServiceCreateMixin, CRMViewSet):
    """LGPD consent records: list and append only. A change of mind is a new record."""

    serializer_class = s.ConsentSerializer
    input_serializer_class = s.ConsentInputSerializer
    filterset_class = api_filters.ConsentFilter
    ordering_fields = ["id", "recorded_at"]

    def get_queryset(self) -> QuerySet[Consent]:
        return Consent.objects.select_related("recorded_by")

    def service_create(self, data: dict[str, Any]) -> Consent:
        return services.consent_record(actor=self.request.user, **data)  # the service checks the owner rule
