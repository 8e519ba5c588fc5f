"""REST endpoints for the loyalty programme. Thin: parse with an input serializer, call
loyalty.services (which keeps the ledger, the balances and the idempotency keys), render with the
output serializer.

Idempotency: redeem and cashback need an ``Idempotency-Key`` header (adjust takes one optionally).
The key is scoped to the account (``api:<account id>:<key>``), so two clients cannot collide, and
is handed to the service as its entry key: a retry finds the first entry (200, the same body) and
books nothing twice; the same key sent with a different request is refused (400).
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import DecimalField, Q, QuerySet, Sum, Value
from django.db.models.functions import Coalesce
from django.shortcuts import get_object_or_404
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import status
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from customers.api.views import CRMViewSet
from customers.models import Customer
from loyalty import services
from loyalty.models import Account, Currency, Entry, Redemption, Referral, Reward
from posvenda import roles
from posvenda.api.pagination import CursorPagination
from posvenda.api.permissions import HasCRMRole
from posvenda.api.schema import read_errors, write_errors

from . import filters as api_filters
from . import serializers as s

IDEMPOTENCY_HEADER = "Idempotency-Key"
IDEMPOTENCY_KEY_MAX = 100
MANAGER_ACTIONS = {"adjust": gettext_lazy("Only a CS manager can adjust loyalty balances.")}


class IsManagerForManagerActions(BasePermission):
    """Every CRM role reads and redeems (an integration acts with a user's token); adjusting a
    balance is for managers."""

    def has_permission(self, request: Request, view: APIView) -> bool:
        message = MANAGER_ACTIONS.get(getattr(view, "action", None) or "")
        if message is not None and not roles.is_manager(request.user):
            self.message = message
            return False
        return True


class IsManager(BasePermission):
    message = gettext_lazy("Only a CS manager can see the loyalty liability.")

    def has_permission(self, request: Request, view: APIView) -> bool:
        return roles.is_manager(request.user)


def idempotency_key(request: Request, account: Account, *, required: bool) -> str:
    """The client's Idempotency-Key header, scoped to the account; "" when absent and optional."""
    raw = (request.headers.get(IDEMPOTENCY_HEADER) or "").strip()
    if not raw:
        if required:
            raise ValidationError(
                {
                    "idempotency_key": [
                        _(
                            "Send an Idempotency-Key header with a unique value per operation (e.g. a UUID); "
                            "a retry with the same key returns the first result and books nothing twice."
                        )
                    ]
                }
            )
        return ""
    if len(raw) > IDEMPOTENCY_KEY_MAX:
        raise ValidationError(
            {
                "idempotency_key": [
                    _("The Idempotency-Key header is too long (at most %(max)d characters).")
                    % {"max": IDEMPOTENCY_KEY_MAX}
                ]
            }
        )
    return f"api:{account.pk}:{raw}"


def _reused(entry: Entry | None, matches: bool) -> bool:
    if entry is not None and not matches:
        raise ValidationError(
            {"idempotency_key": [_("This Idempotency-Key was already used for a different request.")]}
        )
    return entry is not None


def _service_errors(exc: DjangoValidationError, renames: dict[str, str]) -> ValidationError:
    """A service's field errors under the names the client sent (amount → points, reward → reward_id)."""
    if not hasattr(exc, "error_dict"):
        return ValidationError({"non_field_errors": exc.messages})
    return ValidationError({renames.get(field, field): messages for field, messages in exc.message_dict.items()})


def entry_queryset() -> QuerySet[Entry]:
    return Entry.objects.select_related("account", "created_by", "redemption__reward")


def account_queryset() -> QuerySet[Account]:
    """Accounts with their balances and 12-month points (the tier's figure, as services.tier_status
    counts it: points earned, net of reversals) summed in the page's one query."""
    money = DecimalField(max_digits=12, decimal_places=2)
    zero = Value(Decimal("0"), output_field=money)
    points = Q(entries__currency=Currency.POINTS)
    recent = points & Q(
        entries__kind__in=[Entry.Kind.EARN, Entry.Kind.REVERSE],
        entries__created_at__gt=timezone.now() - timedelta(days=365),
    )
    return Account.objects.select_related("customer").annotate(
        points=Coalesce(Sum("entries__amount", filter=points), zero, output_field=money),
        cashback=Coalesce(
            Sum("entries__amount", filter=Q(entries__currency=Currency.CASHBACK)), zero, output_field=money
        ),
        points_12m=Coalesce(Sum("entries__amount", filter=recent), zero, output_field=money),
    )


# --- examples ----------------------------------------------------------------------------------

TIER_EXAMPLE = {"id": 2, "name": "Prata", "min_points": 1000, "benefits": "Frete grátis"}
ACCOUNT_EXAMPLE = {
    "customer": 42,
    "customer_name": "Maria da Silva",
    "customer_external_id": "shop-1001",
    "referral_code": "K7M2QX9P",
    "points": "1250.00",
    "cashback": "37.45",
    "points_12m": "1450.00",
    "tier": TIER_EXAMPLE,
    "next_tier": {"id": 3, "name": "Ouro", "min_points": 5000, "benefits": "Atendimento prioritário"},
    "points_to_next_tier": "3550.00",
    "birthday": "1990-11-23",
    "created_at": "2026-02-10T14:00:00-03:00",
}
ENTRY_EXAMPLE = {
    "id": 9001,
    "customer": 42,
    "kind": "earn",
    "currency": "points",
    "amount": "199.00",
    "reason": "Pedido PED-1001",
    "source": "order",
    "source_ref": "311",
    "expires_at": "2027-11-18T10:00:00-03:00",
    "redemption_code": None,
    "created_by": None,
    "created_at": "2026-11-23T10:00:00-03:00",
}
REWARD_EXAMPLE = {
    "id": 4,
    "name": "Cupom R$ 20",
    "kind": "coupon",
    "description": "R$ 20 de desconto na próxima compra.",
    "cost_points": 400,
}
REDEEM_ENTRY_EXAMPLE = {
    **ENTRY_EXAMPLE,
    "id": 9002,
    "kind": "redeem",
    "amount": "-400.00",
    "reason": "Cupom R$ 20",
    "source": "reward",
    "source_ref": "4",
    "expires_at": None,
    "redemption_code": "PV-8HQ3ZK2M",
    "created_by": {"id": 12, "username": "loja-integracao", "name": "Integração da loja"},
    "created_at": "2026-11-23T10:05:00-03:00",
}
REDEEM_EXAMPLE = {
    "entry": REDEEM_ENTRY_EXAMPLE,
    "redemption": {
        "id": 77,
        "code": "PV-8HQ3ZK2M",
        "reward": REWARD_EXAMPLE,
        "created_at": "2026-11-23T10:05:00-03:00",
    },
}
CASHBACK_ENTRY_EXAMPLE = {
    **ENTRY_EXAMPLE,
    "id": 9003,
    "kind": "redeem",
    "currency": "cashback",
    "amount": "-15.00",
    "reason": "Cashback usado no pedido PED-1002",
    "source": "cashback_use",
    "source_ref": "PED-1002",
    "expires_at": None,
    "created_by": {"id": 12, "username": "loja-integracao", "name": "Integração da loja"},
}
ADJUST_ENTRY_EXAMPLE = {
    **ENTRY_EXAMPLE,
    "id": 9004,
    "kind": "adjust",
    "amount": "150.00",
    "reason": "Compensação pelo atraso na entrega",
    "source": "manual",
    "source_ref": "",
    "expires_at": None,
    "created_by": {"id": 9, "username": "gerente", "name": "Paula Lima"},
}
REFERRAL_EXAMPLE = {
    "id": 15,
    "referrer": 42,
    "referrer_name": "Maria da Silva",
    "referrer_external_id": "shop-1001",
    "email": "joana@example.com.br",
    "name": "Joana Alves",
    "status": "sent",
    "referred": None,
    "referred_external_id": None,
    "created_at": "2026-11-20T09:00:00-03:00",
    "converted_at": None,
}
CONVERTED_EXAMPLE = {
    **REFERRAL_EXAMPLE,
    "status": "converted",
    "referred": 58,
    "referred_external_id": "shop-1077",
    "converted_at": "2026-11-23T10:00:00-03:00",
}
LIABILITY_EXAMPLE = {"points": "125000.00", "points_value": "6250.00", "cashback": "3120.55", "total": "9370.55"}
BALANCE_ERRORS = {"points": ["Not enough balance: 120.00 available."]}

IDEMPOTENCY_PARAM = OpenApiParameter(
    IDEMPOTENCY_HEADER,
    OpenApiTypes.STR,
    location=OpenApiParameter.HEADER,
    required=True,
    description=(
        "A unique value per operation (e.g. a UUID), up to 100 characters. The same key again returns the "
        "first result (200) and books nothing twice; with a different request it is refused (400)."
    ),
)
CUSTOMER_ID_PARAM = OpenApiParameter(
    "customer_id", OpenApiTypes.INT, location=OpenApiParameter.PATH, description="The customer's Posvenda id."
)
PAGE_PARAMS = [
    OpenApiParameter("cursor", OpenApiTypes.STR, description="The pagination cursor value."),
    OpenApiParameter("page_size", OpenApiTypes.INT, description="Number of results to return per page."),
]
LEDGER_PARAMS = [
    OpenApiParameter("currency", OpenApiTypes.STR, enum=Currency.values, description="points or cashback."),
    OpenApiParameter("kind", OpenApiTypes.STR, enum=Entry.Kind.values, description="The kind of entry."),
    OpenApiParameter("source", OpenApiTypes.STR, enum=Entry.Source.values, description="Where it came from."),
    OpenApiParameter("created_after", OpenApiTypes.DATETIME, description="ISO 8601 date-time: booked at or after."),
    OpenApiParameter("created_before", OpenApiTypes.DATETIME, description="ISO 8601 date-time: booked before."),
    *PAGE_PARAMS,
]


class LedgerCursorPagination(CursorPagination):
    """Newest first, as the ledger is read (back-dated order entries sort by when they happened)."""

    ordering = ("-created_at", "-id")


class RewardCursorPagination(CursorPagination):
    ordering = ("cost_points", "id")


# --- accounts ----------------------------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(
        summary="List loyalty accounts",
        description=(
            "One account per customer in the programme, with its balances, tier and referral code. "
            "customer_external_id=… finds one customer's account by your id (opening it if the customer has "
            "none yet)."
        ),
        responses={200: s.AccountSerializer(many=True), **read_errors()},
        examples=[OpenApiExample("Account", value=ACCOUNT_EXAMPLE, response_only=True)],
    ),
    retrieve=extend_schema(
        summary="A customer's loyalty balance, tier and referral code",
        description=(
            "By customer id. points and cashback (R$) are the sums of the ledger; the tier follows the points "
            "earned in the last 12 months (points_12m); points_to_next_tier is what is still missing for "
            "next_tier. The account is opened, with its referral code, the first time it is asked for."
        ),
        parameters=[CUSTOMER_ID_PARAM],
        responses={200: s.AccountSerializer, **read_errors(detail=True)},
        examples=[OpenApiExample("Account", value=ACCOUNT_EXAMPLE, response_only=True)],
    ),
)
class AccountViewSet(CRMViewSet):
    """Loyalty accounts by customer id: balances, ledger, redemptions, cashback, adjustments."""

    serializer_class = s.AccountSerializer
    permission_classes = [IsAuthenticated, HasCRMRole, IsManagerForManagerActions]
    filterset_class = api_filters.AccountFilter
    ordering_fields = ["id", "created_at"]
    lookup_field = "customer_id"
    lookup_url_kwarg = "customer_id"
    lookup_value_regex = r"\d+"

    def get_queryset(self) -> QuerySet[Account]:
        return account_queryset()

    def account(self) -> Account:
        customer = get_object_or_404(Customer.objects.only("id", "email", "name"), pk=self.kwargs["customer_id"])
        return services.account_for(customer)

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        external_id = (request.query_params.get("customer_external_id") or "").strip()
        if external_id:
            customer = Customer.objects.filter(external_id=external_id).only("id").first()
            if customer is not None:
                services.account_for(customer)
        return super().list(request, *args, **kwargs)

    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        account = self.get_queryset().get(pk=self.account().pk)
        return Response(self.get_serializer(account).data)

    def _entry_response(self, body: dict[str, Any] | Entry, replay: bool) -> Response:
        code = status.HTTP_200_OK if replay else status.HTTP_201_CREATED
        if isinstance(body, Entry):
            return Response(s.EntrySerializer(body, context=self.get_serializer_context()).data, status=code)
        return Response(s.RedeemResultSerializer(body, context=self.get_serializer_context()).data, status=code)

    @extend_schema(
        summary="A customer's ledger",
        description=(
            "Every entry, newest first: earn (orders, referrals, surveys, birthdays), redeem (rewards, points, "
            "cashback used), expire, adjust (managers) and reverse (refunded or cancelled orders). amount is "
            "signed, in points or, for cashback, in R$."
        ),
        filters=False,
        parameters=[CUSTOMER_ID_PARAM, *LEDGER_PARAMS],
        responses={
            200: s.EntrySerializer(many=True),
            **write_errors(
                detail=True, example={"currency": ["Select a valid choice. euros is not one of the available choices."]}
            ),
        },
        examples=[
            OpenApiExample("Earned on an order", value=ENTRY_EXAMPLE, response_only=True),
            OpenApiExample("Reward redeemed", value=REDEEM_ENTRY_EXAMPLE, response_only=True),
        ],
    )
    @action(detail=True, methods=["get"], pagination_class=LedgerCursorPagination)
    def ledger(self, request: Request, customer_id: str | None = None) -> Response:
        account = self.account()
        filterset = api_filters.LedgerFilter(
            request.query_params, queryset=entry_queryset().filter(account=account), request=request
        )
        if not filterset.is_valid():
            raise ValidationError(filterset.errors)
        paginator = self.paginator
        page = paginator.paginate_queryset(filterset.qs, request)  # no view: ?ordering= is the list's
        data = s.EntrySerializer(page, many=True, context=self.get_serializer_context()).data
        return paginator.get_paginated_response(data)

    @extend_schema(
        summary="Redeem points: a reward, or a number of points",
        description=(
            "reward_id spends the reward's cost and answers its redemption code (what the customer shows or "
            "types); points (with a reason) spends that many points, e.g. for a discount your store applies. "
            "Never overdraws: not enough points is a 400 and nothing is booked, even under concurrent "
            "requests.\n\nThe Idempotency-Key header is required: the same key again answers 200 with the "
            "same entry and redemption, and nothing is booked twice."
        ),
        parameters=[CUSTOMER_ID_PARAM, IDEMPOTENCY_PARAM],
        request=s.RedeemSerializer,
        responses={
            201: OpenApiResponse(s.RedeemResultSerializer, description="Booked."),
            200: OpenApiResponse(s.RedeemResultSerializer, description="A replay: the first result of this key."),
            **write_errors(detail=True, example=BALANCE_ERRORS),
        },
        examples=[
            OpenApiExample("A reward", value={"reward_id": 4}, request_only=True),
            OpenApiExample("Points", value={"points": 100, "reason": "Desconto no pedido PED-1002"}, request_only=True),
            OpenApiExample("Redeemed", value=REDEEM_EXAMPLE, response_only=True, status_codes=["200", "201"]),
        ],
    )
    @action(detail=True, methods=["post"])
    def redeem(self, request: Request, customer_id: str | None = None) -> Response:
        account = self.account()
        key = idempotency_key(request, account, required=True)
        data = self.parse(s.RedeemSerializer, data=request.data)
        reward: Reward | None = data.get("reward_id")
        existing = entry_queryset().filter(idempotency_key=f"redeem:{key}").first()
        if reward is not None:
            matches = (
                existing is not None and existing.account_id == account.pk and existing.source_ref == str(reward.pk)
            )
        else:
            matches = existing is not None and existing.source_ref == "" and existing.amount == -data["points"]
        if _reused(existing, matches):  # a replay: the first result, whatever changed since
            assert existing is not None
            return self._entry_response({"entry": existing, "redemption": getattr(existing, "redemption", None)}, True)
        try:
            if reward is not None:
                redemption: Redemption | None = services.reward_redeem(
                    account=account, reward=reward, key=key, actor=request.user
                )
                entry_id = redemption.entry_id if redemption else None
            else:
                redemption = None
                entry_id = services.points_redeem(
                    account=account, points=data["points"], key=key, reason=data.get("reason", ""), actor=request.user
                ).pk
        except DjangoValidationError as exc:
            raise _service_errors(
                exc, {"amount": "points" if reward is None else "reward_id", "reward": "reward_id"}
            ) from exc
        entry = entry_queryset().get(pk=entry_id)
        return self._entry_response({"entry": entry, "redemption": getattr(entry, "redemption", None)}, False)

    @extend_schema(
        summary="Use cashback on an order",
        description=(
            "Records cashback (R$) used on one of your orders (order_ref: your order number). Never overdraws: "
            "not enough cashback is a 400 and nothing is booked.\n\nThe Idempotency-Key header is required: "
            "the same key again answers 200 with the same entry, and nothing is booked twice."
        ),
        parameters=[CUSTOMER_ID_PARAM, IDEMPOTENCY_PARAM],
        request=s.CashbackUseSerializer,
        responses={
            201: OpenApiResponse(s.EntrySerializer, description="Booked."),
            200: OpenApiResponse(s.EntrySerializer, description="A replay: the first result of this key."),
            **write_errors(detail=True, example={"amount": ["Not enough balance: 9.99 available."]}),
        },
        examples=[
            OpenApiExample(
                "Cashback on an order", value={"amount": "15.00", "order_ref": "PED-1002"}, request_only=True
            ),
            OpenApiExample("Used", value=CASHBACK_ENTRY_EXAMPLE, response_only=True, status_codes=["200", "201"]),
        ],
    )
    @action(detail=True, methods=["post"])
    def cashback(self, request: Request, customer_id: str | None = None) -> Response:
        account = self.account()
        key = idempotency_key(request, account, required=True)
        data = self.parse(s.CashbackUseSerializer, data=request.data)
        order_ref = data["order_ref"].strip()
        existing = entry_queryset().filter(idempotency_key=f"cashback:{key}").first()
        if _reused(
            existing, existing is not None and existing.amount == -data["amount"] and existing.source_ref == order_ref
        ):
            assert existing is not None
            return self._entry_response(existing, True)
        try:
            entry = services.cashback_use(
                account=account, amount=data["amount"], order_ref=order_ref, key=key, actor=request.user
            )
        except DjangoValidationError as exc:
            raise _service_errors(exc, {}) from exc
        return self._entry_response(entry_queryset().get(pk=entry.pk), False)

    @extend_schema(
        summary="Adjust a balance by hand (managers)",
        description=(
            "Adds (amount above zero) or takes away (below zero) points or cashback, with the reason kept in "
            "the ledger. A balance never goes below zero this way. An optional Idempotency-Key header makes a "
            "retry safe (200 with the same entry)."
        ),
        parameters=[
            CUSTOMER_ID_PARAM,
            OpenApiParameter(
                IDEMPOTENCY_HEADER,
                OpenApiTypes.STR,
                location=OpenApiParameter.HEADER,
                required=False,
                description="Optional: the same key again returns the first entry and books nothing twice.",
            ),
        ],
        request=s.AdjustSerializer,
        responses={
            201: OpenApiResponse(s.EntrySerializer, description="Booked."),
            200: OpenApiResponse(s.EntrySerializer, description="A replay: the first result of this key."),
            **write_errors(detail=True, example={"reason": ["Say why the balance changes."]}),
        },
        examples=[
            OpenApiExample(
                "Compensation",
                value={"amount": "150", "currency": "points", "reason": "Compensação pelo atraso na entrega"},
                request_only=True,
            ),
            OpenApiExample("Adjusted", value=ADJUST_ENTRY_EXAMPLE, response_only=True, status_codes=["200", "201"]),
        ],
    )
    @action(detail=True, methods=["post"])
    def adjust(self, request: Request, customer_id: str | None = None) -> Response:
        account = self.account()
        key = idempotency_key(request, account, required=False)
        data = self.parse(s.AdjustSerializer, data=request.data)
        existing = entry_queryset().filter(idempotency_key=f"adjust:{key}").first() if key else None
        if _reused(
            existing,
            existing is not None and existing.amount == data["amount"] and existing.currency == data["currency"],
        ):
            assert existing is not None
            return self._entry_response(existing, True)
        try:
            entry = services.adjust(
                actor=request.user,
                account=account,
                amount=data["amount"],
                reason=data["reason"],
                currency=data["currency"],
                key=key,
            )
        except DjangoValidationError as exc:
            raise _service_errors(exc, {}) from exc
        return self._entry_response(entry_queryset().get(pk=entry.pk), False)


# --- referrals ---------------------------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(
        summary="List referrals",
        responses={200: s.ReferralSerializer(many=True), **read_errors()},
        examples=[OpenApiExample("Referral", value=REFERRAL_EXAMPLE, response_only=True)],
    ),
    retrieve=extend_schema(
        summary="Get a referral",
        responses={200: s.ReferralSerializer, **read_errors(detail=True)},
        examples=[OpenApiExample("Referral", value=CONVERTED_EXAMPLE, response_only=True)],
    ),
)
class ReferralViewSet(CRMViewSet):
    """Customers referring people by e-mail; a referral that becomes a customer rewards both sides once."""

    serializer_class = s.ReferralSerializer
    permission_classes = [IsAuthenticated, HasCRMRole]
    filterset_class = api_filters.ReferralFilter
    ordering_fields = ["id", "created_at", "converted_at"]
    lookup_value_regex = r"\d+"
    http_method_names = ["get", "post", "head", "options"]

    def get_queryset(self) -> QuerySet[Referral]:
        return Referral.objects.select_related("referrer__customer", "referred")

    @extend_schema(
        summary="Record a referral",
        description=(
            "A customer (referrer_customer_id, or your id in referrer_external_id) refers a person by e-mail. "
            "Idempotent per referrer and e-mail: the same person again answers 200 with the referral already "
            "recorded. When the person becomes a customer and buys (same e-mail), the referral converts by "
            "itself; convert/ does it explicitly."
        ),
        request=s.ReferralCreateSerializer,
        responses={
            201: OpenApiResponse(s.ReferralSerializer, description="Recorded."),
            200: OpenApiResponse(s.ReferralSerializer, description="This referrer had already referred this e-mail."),
            **write_errors(example={"email": ["A customer cannot refer themselves."]}),
        },
        examples=[
            OpenApiExample(
                "By your id",
                value={"referrer_external_id": "shop-1001", "email": "joana@example.com.br", "name": "Joana Alves"},
                request_only=True,
            ),
            OpenApiExample(
                "By customer id", value={"referrer_customer_id": 42, "email": "joana@example.com.br"}, request_only=True
            ),
            OpenApiExample("Referral", value=REFERRAL_EXAMPLE, response_only=True, status_codes=["200", "201"]),
        ],
    )
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        data = self.parse(s.ReferralCreateSerializer, data=request.data)
        referral, created = services.referral_create(
            referrer=data["referrer"], email=data["email"], name=data.get("name", "")
        )
        return self.render(referral, status.HTTP_201_CREATED if created else status.HTTP_200_OK)

    @extend_schema(
        summary="Convert a referral",
        description=(
            "The person referred became this customer (customer_id, or your id in customer_external_id): the "
            "referral is converted, both sides earn the programme's referral points once, and the referrer "
            "counts as an evangelization event in the funnel. Safe to replay: converting again changes nothing "
            "and answers the same referral."
        ),
        request=s.ReferralConvertSerializer,
        responses={
            200: s.ReferralSerializer,
            **write_errors(detail=True, example={"customer_id": ["A customer cannot refer themselves."]}),
        },
        examples=[
            OpenApiExample("By your id", value={"customer_external_id": "shop-1077"}, request_only=True),
            OpenApiExample("Converted", value=CONVERTED_EXAMPLE, response_only=True),
        ],
    )
    @action(detail=True, methods=["post"])
    def convert(self, request: Request, pk: str | None = None) -> Response:
        referral = self.get_object()
        data = self.parse(s.ReferralConvertSerializer, data=request.data)
        customer: Customer = data["customer"]
        if referral.status == Referral.Status.CONVERTED and referral.referred_id not in (None, customer.pk):
            raise ValidationError({"customer_id": [_("This referral was already converted by another customer.")]})
        try:
            converted = services.referral_convert(referral=referral, customer=customer)
        except DjangoValidationError as exc:
            raise _service_errors(exc, {"customer": "customer_id"}) from exc
        return self.render(converted, status.HTTP_200_OK)


# --- rewards -----------------------------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(
        summary="List the rewards catalogue",
        description="Active rewards, cheapest first; redeem one with accounts/{customer_id}/redeem/.",
        responses={200: s.RewardSerializer(many=True), **read_errors()},
        examples=[OpenApiExample("Reward", value=REWARD_EXAMPLE, response_only=True)],
    ),
    retrieve=extend_schema(
        summary="Get a reward",
        responses={200: s.RewardSerializer, **read_errors(detail=True)},
        examples=[OpenApiExample("Reward", value=REWARD_EXAMPLE, response_only=True)],
    ),
)
class RewardViewSet(CRMViewSet):
    serializer_class = s.RewardSerializer
    permission_classes = [IsAuthenticated, HasCRMRole]
    pagination_class = RewardCursorPagination
    filterset_fields = ["kind"]
    search_fields = ["name"]
    ordering_fields = ["id", "cost_points", "name"]
    lookup_value_regex = r"\d+"

    def get_queryset(self) -> QuerySet[Reward]:
        return Reward.objects.filter(is_active=True)


# --- liability ---------------------------------------------------------------------------------


class LiabilityView(APIView):
    """What the programme owes: outstanding points (and their value) and cashback, in R$."""

    permission_classes = [IsAuthenticated, HasCRMRole, IsManager]

    @extend_schema(
        summary="Loyalty liability (managers)",
        description=(
            "Outstanding points across all accounts and their value in R$ (the programme's value of one "
            "point), outstanding cashback in R$, and the total owed."
        ),
        responses={200: s.LiabilitySerializer, **read_errors()},
        examples=[OpenApiExample("Liability", value=LIABILITY_EXAMPLE, response_only=True)],
    )
    def get(self, request: Request) -> Response:
        return Response(s.LiabilitySerializer(services.liability()).data)
