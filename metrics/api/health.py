"""Health-score endpoints (docs/metrics.md, "Health score"):

- ``GET /api/v1/health-scores/`` — scores with their measures, cursor pages by customer id;
  filters ``band``, ``owner`` (an id, ``mine`` or ``none``), ``segment``, ``max_score``;
- ``GET /api/v1/health-scores/{customer_id}/`` — one score with its 90-day trend;
- ``PUT /api/v1/health-scores/{customer_id}/manual-rating/`` — the owner's 1–5 rating (or null);
- ``GET``/``PUT /api/v1/health-settings/`` — weights and bands (CS managers only).

Thin: parse, call metrics.health, render.
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import generics, serializers
from rest_framework.exceptions import ValidationError
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from customers.models import Customer
from posvenda import roles
from posvenda.api.pagination import CursorPagination
from posvenda.api.permissions import HasCRMRole
from posvenda.api.schema import read_errors, write_errors

from .. import health
from ..models import HealthBand, HealthConfig, HealthScore


@extend_schema_field(
    {"type": "string", "enum": list(HealthBand.values), "description": "red (at risk), yellow, green (healthy)"}
)
class BandField(serializers.ChoiceField):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(choices=HealthBand.choices, **kwargs)


@extend_schema_field({"type": "string", "enum": list(health.MEASURES)})
class MeasureField(serializers.CharField):
    pass


class ComponentSerializer(serializers.Serializer):
    measure = MeasureField(help_text="survey, tickets, purchases, engagement or manual")
    label = serializers.SerializerMethodField(help_text="The measure's name in the request's language.")
    score = serializers.IntegerField(allow_null=True, help_text="0–100; null when there is no data (left out).")
    weight = serializers.IntegerField(help_text="The configured weight.")
    share = serializers.FloatField(help_text="The weight's share of the measures that had data, in %.")
    lost = serializers.FloatField(help_text="Points this measure cost the score: share × (100 − score) ÷ 100.")
    down = serializers.BooleanField(help_text="It pulled the score down (lost points and is below green).")
    explanation = serializers.SerializerMethodField(help_text="What the figure is made of, in words.")
    detail = serializers.DictField(help_text="The facts behind the figure (counts, dates).")

    def get_label(self, obj: dict[str, Any]) -> str:
        return str(health.MEASURE_LABELS.get(obj.get("measure", ""), ""))

    def get_explanation(self, obj: dict[str, Any]) -> str:
        return str(health.component_text(obj))


class HealthScoreSerializer(serializers.ModelSerializer):
    customer = serializers.IntegerField(source="customer_id", read_only=True)
    customer_name = serializers.CharField(source="customer.name", read_only=True)
    owner = serializers.IntegerField(source="customer.owner_id", read_only=True, allow_null=True)
    band = BandField(read_only=True)
    band_label = serializers.CharField(source="get_band_display", read_only=True)
    components = serializers.SerializerMethodField()
    pulled_down = serializers.SerializerMethodField()
    computed_at = serializers.DateTimeField(
        read_only=True,
        help_text="When the score or one of its measures last changed (every score is rechecked nightly).",
    )

    class Meta:
        model = HealthScore
        fields = [
            "customer",
            "customer_name",
            "owner",
            "score",
            "band",
            "band_label",
            "pulled_down",
            "components",
            "manual_rating",
            "red_since",
            "computed_at",
        ]
        read_only_fields = fields

    @extend_schema_field(ComponentSerializer(many=True))
    def get_components(self, obj: HealthScore) -> list[dict[str, Any]]:
        return ComponentSerializer(obj.components, many=True).data

    @extend_schema_field(
        serializers.ListField(
            child=serializers.CharField(),
            help_text="The measures that pulled the score down, the costliest first (see components).",
        )
    )
    def get_pulled_down(self, obj: HealthScore) -> list[str]:
        return [c["measure"] for c in health.pulled_down(obj.components)]


class HealthTrendPointSerializer(serializers.Serializer):
    day = serializers.DateField()
    score = serializers.IntegerField()


class HealthScoreDetailSerializer(HealthScoreSerializer):
    trend = serializers.SerializerMethodField(help_text="The score on each of the last 90 days it existed.")

    class Meta(HealthScoreSerializer.Meta):
        fields = [*HealthScoreSerializer.Meta.fields, "trend"]
        read_only_fields = fields

    @extend_schema_field(HealthTrendPointSerializer(many=True))
    def get_trend(self, obj: HealthScore) -> list[dict[str, Any]]:
        points = health.health_trend(customer_id=obj.customer_id)
        return HealthTrendPointSerializer([{"day": d, "score": s} for d, s in points], many=True).data


class RatingInputSerializer(serializers.Serializer):
    rating = serializers.IntegerField(
        min_value=1, max_value=5, allow_null=True, help_text="1 (very unhappy) to 5 (very happy); null clears it."
    )


class HealthSettingsSerializer(serializers.ModelSerializer):
    updated_by = serializers.IntegerField(source="updated_by_id", read_only=True, allow_null=True)

    class Meta:
        model = HealthConfig
        fields = [
            "weight_survey",
            "weight_tickets",
            "weight_purchases",
            "weight_engagement",
            "weight_manual",
            "red_below",
            "green_from",
            "updated_at",
            "updated_by",
        ]
        read_only_fields = ["updated_at", "updated_by"]
        extra_kwargs = {
            name: {"min_value": 1 if name in ("red_below", "green_from") else 0, "max_value": 100}
            for name in fields[:7]
        }

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        errors = health.health_config_errors(attrs)
        if errors:
            raise ValidationError(errors)
        return attrs


class IsManager(BasePermission):
    message = gettext_lazy("Only a CS manager can see or change the health score settings.")

    def has_permission(self, request: Request, view: APIView) -> bool:
        return roles.is_manager(request.user)


SCORE_EXAMPLE = {
    "customer": 42,
    "customer_name": "Padaria Pão Quente",
    "owner": 3,
    "score": 45,
    "band": "yellow",
    "band_label": "Attention",
    "pulled_down": ["tickets", "survey"],
    "components": [
        {
            "measure": "survey",
            "label": "Latest NPS/CSAT",
            "score": 30,
            "weight": 25,
            "share": 29.4,
            "lost": 20.6,
            "down": True,
            "explanation": "NPS 6 on 10/03/2026",
            "detail": {"kind": "nps", "value": 6, "date": "2026-03-10"},
        },
        {
            "measure": "tickets",
            "label": "Open and breached tickets",
            "score": 45,
            "weight": 20,
            "share": 23.5,
            "lost": 12.9,
            "down": True,
            "explanation": "2 open, 1 past the SLA",
            "detail": {"open": 2, "breached": 1},
        },
    ],
    "manual_rating": None,
    "red_since": None,
    "computed_at": "2026-03-11T04:20:05-03:00",
}
SETTINGS_EXAMPLE = {
    "weight_survey": 25,
    "weight_tickets": 20,
    "weight_purchases": 25,
    "weight_engagement": 15,
    "weight_manual": 15,
    "red_below": 40,
    "green_from": 70,
    "updated_at": "2026-03-01T10:00:00-03:00",
    "updated_by": 2,
}


class HealthScoreCursorPagination(CursorPagination):
    ordering = ("customer_id",)


def _int_or_error(value: str | None, name: str, errors: dict[str, list[str]]) -> int | None:
    if value in (None, ""):
        return None
    if not value.isdigit():
        errors[name] = [_("Must be a whole number.")]
        return None
    return int(value)


@extend_schema(
    summary="List health scores",
    description=(
        "Each scored customer's health (0–100), band and measures, by customer id. Filter with band=red "
        "for the at-risk book. Definitions: docs/metrics.md, Health score."
    ),
    parameters=[
        OpenApiParameter("band", OpenApiTypes.STR, enum=list(HealthBand.values), description="Only this band."),
        OpenApiParameter("owner", OpenApiTypes.STR, description="A user id, mine or none."),
        OpenApiParameter("segment", OpenApiTypes.INT, description="A segment id."),
        OpenApiParameter("max_score", OpenApiTypes.INT, description="Only scores at or below this."),
    ],
    responses={200: HealthScoreSerializer(many=True), **write_errors(example={"band": ["Unknown band."]})},
    examples=[OpenApiExample("Score", value=SCORE_EXAMPLE, response_only=True)],
)
class HealthScoreListView(generics.ListAPIView):
    serializer_class = HealthScoreSerializer
    permission_classes = [IsAuthenticated, HasCRMRole]
    pagination_class = HealthScoreCursorPagination

    def get_queryset(self) -> QuerySet[HealthScore]:
        params = self.request.query_params
        errors: dict[str, list[str]] = {}
        band = params.get("band", "")
        if band and band not in HealthBand.values:
            errors["band"] = [_("Unknown band; use red, yellow or green.")]
        owner_param = params.get("owner", "")
        owner: Any = None
        if owner_param == "mine":
            owner = self.request.user.pk
        elif owner_param == "none":
            owner = "none"
        else:
            owner = _int_or_error(owner_param, "owner", errors)
        segment = _int_or_error(params.get("segment"), "segment", errors)
        max_score = _int_or_error(params.get("max_score"), "max_score", errors)
        if errors:
            raise ValidationError(errors)
        # The cursor pages set the order; the selector's "lowest first" is for the page.
        return (
            health.health_score_list(band=band, owner=owner, segment=segment, max_score=max_score)
            .select_related(None)
            .select_related("customer")
            .order_by("customer_id")
        )


@extend_schema(
    summary="Get a customer's health score",
    description="The score, its measures and the trend of the last 90 days (one point per day).",
    responses={200: HealthScoreDetailSerializer, **read_errors(detail=True)},
)
class HealthScoreDetailView(generics.RetrieveAPIView):
    serializer_class = HealthScoreDetailSerializer
    permission_classes = [IsAuthenticated, HasCRMRole]
    lookup_field = "customer_id"

    def get_queryset(self) -> QuerySet[HealthScore]:
        return HealthScore.objects.select_related("customer")


class ManualRatingView(generics.GenericAPIView):
    serializer_class = RatingInputSerializer
    permission_classes = [IsAuthenticated, HasCRMRole]

    @extend_schema(
        summary="Set the owner's rating of a customer",
        description=(
            "The CS owner's (or a manager's) 1–5 rating, one of the score's measures; null clears it. "
            "The score is recomputed at once and returned."
        ),
        request=RatingInputSerializer,
        responses={
            200: HealthScoreSerializer,
            **write_errors(detail=True, example={"rating": ["Ensure this value is less than or equal to 5."]}),
        },
        examples=[OpenApiExample("Rate 2", value={"rating": 2}, request_only=True)],
    )
    def put(self, request: Request, customer_id: int) -> Response:
        customer = get_object_or_404(Customer.objects.select_related("owner"), pk=customer_id)
        if not roles.can_edit_customer(request.user, customer):
            self.permission_denied(
                request, message=_("Only the customer's owner or a CS manager can rate this customer.")
            )
        serializer = RatingInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        score = health.health_rating_set(
            actor=request.user, customer=customer, rating=serializer.validated_data["rating"]
        )
        if score is None:
            return Response({"customer": customer.pk, "score": None})
        return Response(HealthScoreSerializer(HealthScore.objects.select_related("customer").get(pk=score.pk)).data)


class HealthSettingsView(generics.GenericAPIView):
    serializer_class = HealthSettingsSerializer
    permission_classes = [IsAuthenticated, HasCRMRole, IsManager]

    @extend_schema(
        summary="Health score settings (managers)",
        description="The weights of the five measures (relative, 0–100) and the band limits.",
        responses={200: HealthSettingsSerializer, **read_errors()},
        examples=[OpenApiExample("Settings", value=SETTINGS_EXAMPLE, response_only=True)],
    )
    def get(self, request: Request) -> Response:
        return Response(HealthSettingsSerializer(health.health_config_get()).data)

    @extend_schema(
        summary="Change the health score settings (managers)",
        description=(
            "Every weight and both limits (red below < green from). Saving recomputes every score in a worker."
        ),
        request=HealthSettingsSerializer,
        responses={
            200: HealthSettingsSerializer,
            **write_errors(example={"green_from": ["Green must start above the red limit (40)."]}),
        },
        examples=[
            OpenApiExample(
                "Tickets count more",
                value={k: v for k, v in SETTINGS_EXAMPLE.items() if k not in ("updated_at", "updated_by")}
                | {"weight_tickets": 40},
                request_only=True,
            )
        ],
    )
    def put(self, request: Request) -> Response:
        serializer = HealthSettingsSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        config = health.health_config_save(actor=request.user, values=dict(serializer.validated_data))
        return Response(HealthSettingsSerializer(config).data)
