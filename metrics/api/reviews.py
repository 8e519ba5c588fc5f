"""REST endpoints for reputation reviews (/api/v1/reviews/). Thin: parse with an input serializer,
call metrics.reviews (which checks roles and rules), render with the output serializer.

Everyone with a CRM role reads and adds reviews; replacing, changing and deleting one is for CS
managers. ``PUT /api/v1/reviews/by-external-id/{external_id}/`` creates or updates idempotently.
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext_lazy as _
from django_filters import rest_framework as df
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import filters, mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from customers.models import Customer
from posvenda.api.permissions import HasCRMRole
from posvenda.api.schema import read_errors, write_errors

from .. import reviews as services
from ..models import Review

# --- serializers -------------------------------------------------------------------------------


class ReviewCustomerSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    name = serializers.CharField(read_only=True)
    external_id = serializers.CharField(read_only=True, allow_null=True)


class ReviewSerializer(serializers.ModelSerializer):
    source_label = serializers.CharField(source="get_source_display", read_only=True)
    customer = ReviewCustomerSerializer(read_only=True, allow_null=True)

    class Meta:
        model = Review
        fields = [
            "id",
            "source",
            "source_label",
            "rating",
            "reviewed_at",
            "customer",
            "author",
            "title",
            "text",
            "url",
            "external_id",
            "created_at",
        ]
        read_only_fields = fields


class ReviewInputSerializer(serializers.Serializer):
    """Shape only (types, lengths, choices, the customer reference); the rules are the service's."""

    source = serializers.ChoiceField(choices=Review.Source.choices)
    rating = serializers.DecimalField(
        max_digits=4,  # wider than needed, so "7" is answered by max_value, not by a digit count
        decimal_places=1,
        min_value=0,
        max_value=5,
        required=False,
        help_text=_("0 to 5 stars, at most one decimal. Give this or grade_10."),
    )
    grade_10 = serializers.DecimalField(
        max_digits=4,
        decimal_places=1,
        min_value=0,
        max_value=10,
        required=False,
        write_only=True,
        help_text=_("A 0–10 grade (Reclame Aqui); stored as rating = grade ÷ 2, rounded half up to one decimal."),
    )
    reviewed_at = serializers.DateTimeField(
        required=False, help_text=_("When the review was written; defaults to now.")
    )
    customer = serializers.PrimaryKeyRelatedField(
        queryset=Customer.objects.all(), required=False, allow_null=True, help_text=_("Customer id, or null.")
    )
    customer_external_id = serializers.CharField(
        required=False, write_only=True, max_length=100, help_text=_("Alternative to customer: its external id.")
    )
    customer_email = serializers.EmailField(
        required=False, write_only=True, help_text=_("Alternative to customer: its e-mail.")
    )
    author = serializers.CharField(max_length=200, required=False, allow_blank=True)
    title = serializers.CharField(max_length=200, required=False, allow_blank=True)
    text = serializers.CharField(required=False, allow_blank=True, trim_whitespace=False)
    url = serializers.URLField(max_length=500, required=False, allow_blank=True)
    external_id = serializers.CharField(max_length=100, required=False, allow_blank=True, allow_null=True)

    rating_required = True  # create and replace; an upsert of a stored review may leave it out

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if self.rating_required and not self.partial and "rating" not in attrs and "grade_10" not in attrs:
            raise serializers.ValidationError({"rating": [_("Give a rating from 0 to 5 stars, or a 0–10 grade.")]})
        for name, lookup in (("customer_external_id", "external_id"), ("customer_email", "email__iexact")):
            value = attrs.pop(name, None)
            if value is None:
                continue
            customer = Customer.objects.filter(**{lookup: value.strip()}).first()
            if customer is None:
                raise serializers.ValidationError({name: [_("No customer has this value.")]})
            if attrs.get("customer") is not None and attrs["customer"].pk != customer.pk:
                raise serializers.ValidationError({name: [_("Names a different customer than customer.")]})
            attrs["customer"] = customer
        return attrs


class ReviewUpsertSerializer(ReviewInputSerializer):
    external_id = None  # type: ignore[assignment]  # it is in the URL
    source = serializers.ChoiceField(choices=Review.Source.choices, required=False, help_text=_("Required to create."))
    rating_required = False


# --- filters -----------------------------------------------------------------------------------


class ReviewFilter(df.FilterSet):
    source = df.MultipleChoiceFilter(choices=Review.Source.choices, help_text=_("One or more sources."))
    reviewed_at = df.DateFromToRangeFilter(
        help_text=_("reviewed_at_after / reviewed_at_before: dates (YYYY-MM-DD), both inclusive, local time.")
    )
    customer = df.NumberFilter(field_name="customer_id", help_text=_("Customer id."))
    linked = df.BooleanFilter(
        field_name="customer", lookup_expr="isnull", exclude=True, help_text=_("true: linked to a customer.")
    )
    rating_min = df.NumberFilter(field_name="rating", lookup_expr="gte", help_text=_("Rating at least (0–5)."))
    rating_max = df.NumberFilter(field_name="rating", lookup_expr="lte", help_text=_("Rating at most (0–5)."))
    external_id = df.CharFilter(field_name="external_id")

    class Meta:
        model = Review
        fields = ["source", "reviewed_at", "customer", "linked", "rating_min", "rating_max", "external_id"]


# --- permissions -------------------------------------------------------------------------------


class ManagersChangeReviews(HasCRMRole):
    """Reading and adding: any CRM role. Replacing, changing, deleting: CS managers (the service
    checks the same; checking here answers 403 before a body is validated)."""

    def has_permission(self, request: Request, view: APIView) -> bool:
        if not super().has_permission(request, view):
            return False
        if getattr(view, "action", None) in ("update", "partial_update", "destroy"):
            self.message = _("Only a CS manager can change or delete a review.")
            return services.can_change(request.user)
        return True


# --- the viewset -------------------------------------------------------------------------------

REVIEW_EXAMPLE = {
    "id": 17,
    "source": "reclame_aqui",
    "source_label": "Reclame Aqui",
    "rating": "4.0",
    "reviewed_at": "2025-03-10T14:00:00-03:00",
    "customer": {"id": 42, "name": "Maria da Silva", "external_id": "shop-1001"},
    "author": "Maria S.",
    "title": "Resolveram rápido",
    "text": "Troca feita em dois dias.",
    "url": "https://www.reclameaqui.com.br/empresa/exemplo/123/",
    "external_id": "ra-123",
    "created_at": "2025-03-11T09:00:00-03:00",
}
REVIEW_INPUT_EXAMPLE = {
    "source": "reclame_aqui",
    "grade_10": "8",
    "reviewed_at": "2025-03-10T14:00:00-03:00",
    "customer_external_id": "shop-1001",
    "author": "Maria S.",
    "title": "Resolveram rápido",
    "text": "Troca feita em dois dias.",
    "url": "https://www.reclameaqui.com.br/empresa/exemplo/123/",
    "external_id": "ra-123",
}
REVIEW_ERRORS = {"rating": ["Ensure that there are no more than 1 decimal places."]}
EXTERNAL_ID_PARAM = OpenApiParameter(
    "external_id", OpenApiTypes.STR, OpenApiParameter.PATH, description="The review's id at its source."
)
MANAGERS = "CS managers only (403 for agents)."


@extend_schema_view(
    list=extend_schema(
        summary="List reviews",
        description="Newest first (cursor pagination). Filter by source, period, customer, rating.",
        responses={200: ReviewSerializer(many=True), **read_errors()},
        examples=[OpenApiExample("Review", value=REVIEW_EXAMPLE, response_only=True)],
    ),
    retrieve=extend_schema(
        summary="Get a review",
        responses={200: ReviewSerializer, **read_errors(detail=True)},
        examples=[OpenApiExample("Review", value=REVIEW_EXAMPLE, response_only=True)],
    ),
    create=extend_schema(
        summary="Record a review",
        description="Any CRM role. Give rating (0–5) or grade_10 (0–10, halved).",
        request=ReviewInputSerializer,
        responses={201: ReviewSerializer, **write_errors(example=REVIEW_ERRORS)},
        examples=[
            OpenApiExample("New review", value=REVIEW_INPUT_EXAMPLE, request_only=True),
            OpenApiExample("Created", value=REVIEW_EXAMPLE, response_only=True, status_codes=["201"]),
        ],
    ),
    update=extend_schema(
        summary="Replace a review",
        description=MANAGERS,
        request=ReviewInputSerializer,
        responses={200: ReviewSerializer, **write_errors(detail=True, example=REVIEW_ERRORS)},
        examples=[
            OpenApiExample("Review", value=REVIEW_INPUT_EXAMPLE, request_only=True),
            OpenApiExample("Review", value=REVIEW_EXAMPLE, response_only=True),
        ],
    ),
    partial_update=extend_schema(
        summary="Change some fields of a review",
        description=MANAGERS,
        request=ReviewInputSerializer,
        responses={200: ReviewSerializer, **write_errors(detail=True, example=REVIEW_ERRORS)},
        examples=[
            OpenApiExample("Link to a customer", value={"customer_external_id": "shop-1001"}, request_only=True),
            OpenApiExample("Review", value=REVIEW_EXAMPLE, response_only=True),
        ],
    ),
    destroy=extend_schema(
        summary="Delete a review",
        description=MANAGERS,
        responses={204: OpenApiResponse(description="Deleted."), **read_errors(detail=True)},
    ),
)
class ReviewViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """Public reviews of the company (Google, Reclame Aqui, store pages…), optionally linked to a
    customer; the reputation KPI (docs/metrics.md) counts and averages them."""

    serializer_class = ReviewSerializer
    permission_classes = [IsAuthenticated, ManagersChangeReviews]
    filter_backends = [df.DjangoFilterBackend, filters.SearchFilter, filters.OrderingFilter]
    filterset_class = ReviewFilter
    search_fields = ["author", "title", "text", "external_id"]
    ordering_fields = ["id", "reviewed_at", "created_at"]
    ordering = ["-id"]

    def get_queryset(self) -> QuerySet[Review]:
        return Review.objects.select_related("customer").order_by("-id")

    def _parse(self, serializer_class: type[serializers.Serializer], **kwargs: Any) -> dict[str, Any]:
        serializer = serializer_class(context=self.get_serializer_context(), **kwargs)
        serializer.is_valid(raise_exception=True)
        return dict(serializer.validated_data)

    def _render(self, review: Review, code: int = status.HTTP_200_OK) -> Response:
        return Response(self.get_serializer(self.get_queryset().get(pk=review.pk)).data, status=code)

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        data = self._parse(ReviewInputSerializer, data=request.data)
        review = services.review_create(actor=request.user, **data)
        return self._render(review, status.HTTP_201_CREATED)

    def update(self, request: Request, *args: Any, partial: bool = False, **kwargs: Any) -> Response:
        review = self.get_object()
        data = self._parse(ReviewInputSerializer, data=request.data, partial=partial)
        if not partial:
            # a replacement: what is not sent is cleared, as PUT promises
            data = {"author": "", "title": "", "text": "", "url": "", "external_id": None, "customer": None, **data}
        return self._render(services.review_update(actor=request.user, review=review, **data))

    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        services.review_delete(actor=request.user, review=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        methods=["GET"],
        summary="Get a review by external id",
        parameters=[EXTERNAL_ID_PARAM],
        responses={200: ReviewSerializer, **read_errors(detail=True)},
        examples=[OpenApiExample("Review", value=REVIEW_EXAMPLE, response_only=True)],
    )
    @extend_schema(
        methods=["PUT"],
        summary="Create or update a review by external id (idempotent)",
        description=(
            "201 when created (any CRM role; source and rating or grade_10 required), 200 when updated "
            "(CS managers) or unchanged (anyone: replaying the same body changes nothing). Fields not "
            "sent keep their stored values."
        ),
        parameters=[EXTERNAL_ID_PARAM],
        request=ReviewUpsertSerializer,
        responses={
            200: OpenApiResponse(ReviewSerializer, description="Updated, or unchanged on a replay."),
            201: OpenApiResponse(ReviewSerializer, description="Created."),
            **write_errors(example=REVIEW_ERRORS),
        },
        examples=[
            OpenApiExample(
                "Upsert", value={k: v for k, v in REVIEW_INPUT_EXAMPLE.items() if k != "external_id"}, request_only=True
            ),
            OpenApiExample("Review", value=REVIEW_EXAMPLE, response_only=True, status_codes=["200", "201"]),
        ],
    )
    @action(detail=False, methods=["get", "put"], url_path=r"by-external-id/(?P<external_id>[^/]+)")
    def by_external_id(self, request: Request, external_id: str) -> Response:
        if request.method == "GET":
            return Response(self.get_serializer(get_object_or_404(self.get_queryset(), external_id=external_id)).data)
        data = self._parse(ReviewUpsertSerializer, data=request.data)
        review, outcome = services.review_sync_by_external_id(actor=request.user, external_id=external_id, **data)
        return self._render(review, status.HTTP_201_CREATED if outcome == "created" else status.HTTP_200_OK)
