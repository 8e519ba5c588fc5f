"""CS pages of the loyalty programme: settings (rules and tiers), rewards catalogue, liability
report, referrals (KPIs, filter, CSV) and the manual adjustment of a customer's balance.

Every CRM role may read settings, rewards and referrals; writes, the liability report and
adjustments are for CS managers. Thin: parse input, call services, render."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from datetime import datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import Count, DecimalField, Q, QuerySet, Sum, Value
from django.db.models.functions import Coalesce
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.crypto import get_random_string
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods

from customers.forms import apply_service_errors
from customers.models import Customer
from posvenda import roles
from posvenda.lists import Echo, csv_datetime, csv_safe, sort_links
from posvenda.web import crm_role_required, int_param

from . import links, services
from .forms import AdjustmentForm, ProgrammeForm, ReferralFilterForm, RewardForm, TierForm
from .models import Account, Currency, Entry, Referral, Reward, Tier
from .templatetags.loyalty_tags import account_balances

PAGE_SIZE = 50
CENT = Decimal("0.01")
TOP_BALANCES = 20
ZERO = Value(Decimal("0"), output_field=DecimalField(max_digits=14, decimal_places=2))
REFERRAL_SORTS: dict[str, tuple[str, ...]] = {
    "created": ("created_at", "id"),
    "referrer": ("referrer__customer__name", "id"),
    "email": ("email", "id"),
    "status": ("status", "id"),
    "converted": ("converted_at", "id"),
}
REFERRAL_COLUMNS = (
    ("created", gettext_lazy("Sent")),
    ("referrer", gettext_lazy("Referred by")),
    ("email", gettext_lazy("Person referred")),
    ("status", gettext_lazy("Status")),
    ("converted", gettext_lazy("Converted")),
)
REFERRAL_EXPORT_COLUMNS = (
    "id",
    "created_at",
    "referrer_id",
    "referrer",
    "referral_code",
    "name",
    "email",
    "status",
    "converted_at",
    "customer_id",
    "customer",
)


def _require_manager(request: HttpRequest) -> None:
    roles.require_manager(request.user, _("Only a CS manager can do this."))


# --- programme settings -------------------------------------------------------------------------


def _settings_context(request: HttpRequest, **forms: Any) -> dict[str, Any]:
    prog = services.programme()
    edit_id = int_param(request.GET.get("tier"))
    editing = Tier.objects.filter(pk=edit_id).first() if edit_id else None
    tier_form = forms.get("tier_form") or TierForm(instance=editing)
    return {
        "programme": prog,
        "form": forms.get("form") or ProgrammeForm(instance=prog),
        "tiers": list(Tier.objects.order_by("min_points")),
        "tier_form": tier_form,
        "editing_tier": tier_form.instance if tier_form.instance.pk else None,
        "can_edit": roles.is_manager(request.user),
    }


@crm_role_required
@require_http_methods(["GET", "POST"])
def programme_settings(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        return render(request, "loyalty/settings.html", _settings_context(request))
    _require_manager(request)
    action = request.POST.get("action")
    if action == "programme":
        form = ProgrammeForm(request.POST, instance=services.programme())
        if form.is_valid():
            try:
                services.programme_save(actor=request.user, **form.cleaned_data)
            except ValidationError as exc:
                apply_service_errors(form, exc)
            else:
                messages.success(request, _("Programme saved. The new rules apply to what is earned from now on."))
                return redirect("loyalty:settings")
        return render(request, "loyalty/settings.html", _settings_context(request, form=form))
    if action == "tier":
        tier_id = int_param(request.POST.get("tier_id"))
        stored = Tier.objects.filter(pk=tier_id).first() if tier_id else None
        tier_form = TierForm(request.POST, instance=Tier.objects.filter(pk=tier_id).first() if tier_id else None)
        if tier_form.is_valid():
            try:
                services.tier_save(actor=request.user, tier=stored, **tier_form.cleaned_data)
            except ValidationError as exc:
                apply_service_errors(tier_form, exc)
            else:
                messages.success(request, _("Tier saved."))
                return redirect(reverse("loyalty:settings") + "#tiers")
        return render(request, "loyalty/settings.html", _settings_context(request, tier_form=tier_form))
    if action == "tier_delete":
        tier = Tier.objects.filter(pk=int_param(request.POST.get("tier_id"))).first()
        if tier is not None:
            services.tier_delete(actor=request.user, tier=tier)
            messages.success(request, _("Tier “%(name)s” removed.") % {"name": tier.name})
        return redirect(reverse("loyalty:settings") + "#tiers")
    return redirect("loyalty:settings")


# --- rewards catalogue --------------------------------------------------------------------------


def _rewards_context(request: HttpRequest, form: RewardForm | None = None) -> dict[str, Any]:
    edit_id = int_param(request.GET.get("edit"))
    editing = Reward.objects.filter(pk=edit_id).first() if edit_id else None
    form = form or RewardForm(instance=editing)
    rewards = Reward.objects.annotate(redeemed=Count("redemptions")).order_by("-is_active", "cost_points", "name")
    return {
        "rewards": rewards,
        "form": form,
        "editing": form.instance if form.instance.pk else None,
        "can_edit": roles.is_manager(request.user),
    }


@crm_role_required
@require_http_methods(["GET", "POST"])
def rewards(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        return render(request, "loyalty/rewards.html", _rewards_context(request))
    _require_manager(request)
    reward_id = int_param(request.POST.get("reward_id"))
    stored = get_object_or_404(Reward, pk=reward_id) if reward_id else None
    if request.POST.get("action") in ("deactivate", "activate") and stored is not None:
        active = request.POST["action"] == "activate"
        services.reward_set_active(actor=request.user, reward=stored, active=active)
        messages.success(
            request,
            (_("“%(name)s” is back in the catalogue.") if active else _("“%(name)s” was removed from the catalogue."))
            % {"name": stored.name},
        )
        return redirect("loyalty:rewards")
    form = RewardForm(request.POST, instance=Reward.objects.filter(pk=reward_id).first() if reward_id else None)
    if form.is_valid():
        try:
            services.reward_save(actor=request.user, reward=stored, **form.cleaned_data)
        except ValidationError as exc:
            apply_service_errors(form, exc)
        else:
            messages.success(request, _("Reward saved."))
            return redirect("loyalty:rewards")
    return render(request, "loyalty/rewards.html", _rewards_context(request, form))


# --- liability ----------------------------------------------------------------------------------


def accounts_with_balances(now: datetime | None = None) -> QuerySet[Account]:
    """Accounts with their points and cashback balances and the points that set their tier (earned,
    less reversals, in the last 12 months — services.tier_status's rule), in one query."""
    now = now or timezone.now()
    pts = Q(entries__currency=Currency.POINTS)
    return Account.objects.annotate(
        points=Coalesce(Sum("entries__amount", filter=pts), ZERO),
        cashback=Coalesce(Sum("entries__amount", filter=Q(entries__currency=Currency.CASHBACK)), ZERO),
        points_12m=Coalesce(
            Sum(
                "entries__amount",
                filter=pts
                & Q(entries__kind__in=[Entry.Kind.EARN, Entry.Kind.REVERSE])
                & Q(entries__created_at__gt=now - timedelta(days=365)),
            ),
            ZERO,
        ),
    )


def _tier_for(earned: Decimal, ordered: list[Tier]) -> Tier | None:
    current = None
    for tier in ordered:
        if max(Decimal("0"), earned) >= tier.min_points:
            current = tier
    return current


def liability_by_tier(tiers: list[Tier], now: datetime | None = None) -> list[dict[str, Any]]:
    """Outstanding points and cashback per tier (plus "no tier" when the lowest starts above 0)."""
    prog = services.programme()
    ordered = sorted(tiers, key=lambda t: t.min_points)
    buckets: dict[int | None, dict[str, Any]] = {
        t.pk: {"tier": t, "accounts": 0, "points": Decimal("0"), "cashback": Decimal("0")} for t in ordered
    }
    buckets[None] = {"tier": None, "accounts": 0, "points": Decimal("0"), "cashback": Decimal("0")}
    rows = (
        accounts_with_balances(now)
        .filter(Q(points__gt=0) | Q(cashback__gt=0) | Q(points__lt=0) | Q(cashback__lt=0))
        .values_list("points", "cashback", "points_12m")
    )
    for points, cashback, earned in rows.iterator(chunk_size=2000):
        tier = _tier_for(earned, ordered)
        bucket = buckets[tier.pk if tier else None]
        bucket["accounts"] += 1
        bucket["points"] += points
        bucket["cashback"] += cashback
    result = [b for b in buckets.values() if b["tier"] is not None or b["accounts"]]
    for b in result:
        b["points_value"] = (b["points"] * prog.point_value).quantize(CENT, rounding=ROUND_HALF_UP)
        b["total"] = b["points_value"] + b["cashback"]
    return result


@crm_role_required
@require_GET
def liability(request: HttpRequest) -> HttpResponse:
    _require_manager(request)
    prog = services.programme()
    tiers = list(Tier.objects.order_by("min_points"))
    if request.GET.get("export") == "csv":
        response = StreamingHttpResponse(_liability_rows(prog, tiers), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="loyalty-liability-{timezone.localdate():%Y%m%d}.csv"'
        return response
    top = list(
        accounts_with_balances()
        .filter(points__gt=0)
        .select_related("customer")
        .order_by("-points", "id")[:TOP_BALANCES]
    )
    top_cashback = list(
        accounts_with_balances()
        .filter(cashback__gt=0)
        .select_related("customer")
        .order_by("-cashback", "id")[:TOP_BALANCES]
    )
    for account in top:
        account.points_value = (account.points * prog.point_value).quantize(CENT, rounding=ROUND_HALF_UP)
    return render(
        request,
        "loyalty/liability.html",
        {
            "programme": prog,
            "totals": services.liability(),
            "by_tier": liability_by_tier(tiers),
            "top": top,
            "top_cashback": top_cashback,
        },
    )


LIABILITY_EXPORT_COLUMNS = (
    "customer_id",
    "customer",
    "referral_code",
    "tier",
    "points_12m",
    "points",
    "points_value",
    "cashback",
    "total",
)


def _liability_rows(prog: Any, tiers: list[Tier]) -> Iterator[str]:
    """Every account holding a balance (largest liability first): what finance reconciles."""
    writer = csv.writer(Echo())
    yield "\ufeff"
    yield writer.writerow(LIABILITY_EXPORT_COLUMNS)
    rows = (
        accounts_with_balances()
        .filter(Q(points__gt=0) | Q(cashback__gt=0) | Q(points__lt=0) | Q(cashback__lt=0))
        .values_list("customer_id", "customer__name", "referral_code", "points_12m", "points", "cashback")
        .order_by("-points", "-cashback", "customer_id")
    )
    for customer_id, name, code, earned, points, cashback in rows.iterator(chunk_size=2000):
        tier = _tier_for(earned, tiers)
        earned, points, cashback = (Decimal(v).quantize(CENT) for v in (earned, points, cashback))
        value = (points * prog.point_value).quantize(CENT, rounding=ROUND_HALF_UP)
        row = [customer_id, name, code, tier.name if tier else "", earned, points, value, cashback, value + cashback]
        yield writer.writerow([csv_safe(str(v)) for v in row])


# --- referrals ----------------------------------------------------------------------------------


def _referrals(request: HttpRequest) -> tuple[ReferralFilterForm, dict[str, Any], str, QuerySet[Referral]]:
    form = ReferralFilterForm(request.GET)
    filters = form.filters()
    qs = Referral.objects.select_related("referrer__customer", "referred")
    if filters["q"]:
        q = filters["q"]
        qs = qs.filter(
            Q(email__icontains=q)
            | Q(name__icontains=q)
            | Q(referrer__customer__name__icontains=q)
            | Q(referrer__referral_code__iexact=q)
        )
    if filters["status"]:
        qs = qs.filter(status=filters["status"])
    tz = timezone.get_current_timezone()
    if filters["start"]:
        qs = qs.filter(created_at__gte=datetime.combine(filters["start"], time.min, tzinfo=tz))
    if filters["end"]:
        qs = qs.filter(created_at__lt=datetime.combine(filters["end"] + timedelta(days=1), time.min, tzinfo=tz))
    sort = request.GET.get("sort", "-created")
    if sort.lstrip("-") not in REFERRAL_SORTS:
        sort = "-created"
    fields = REFERRAL_SORTS[sort.lstrip("-")]
    qs = qs.order_by(*[f"-{f}" if sort.startswith("-") else f for f in fields])
    return form, filters, sort, qs


def referral_kpis(qs: QuerySet[Referral]) -> dict[str, Any]:
    """Referrals sent, converted and the conversion rate (converted ÷ sent, in %) of a filtered list."""
    counts = qs.order_by().aggregate(
        sent=Count("id"), converted=Count("id", filter=Q(status=Referral.Status.CONVERTED))
    )
    rate = (Decimal(counts["converted"]) * 100 / counts["sent"]).quantize(Decimal("0.1")) if counts["sent"] else None
    return {**counts, "rate": rate}


@crm_role_required
@require_GET
def referrals(request: HttpRequest) -> HttpResponse:
    form, filters, sort, qs = _referrals(request)
    if request.GET.get("export") == "csv":
        return _referrals_export(qs)
    page = Paginator(qs, PAGE_SIZE).get_page(request.GET.get("page"))
    export_params = request.GET.copy()
    export_params.pop("page", None)
    export_params["export"] = "csv"
    return render(
        request,
        "loyalty/referrals.html",
        {
            "form": form,
            "filtered": any(filters.values()),
            "kpis": referral_kpis(qs),
            "page": page,
            "referrals": page.object_list,
            "page_range": page.paginator.get_elided_page_range(page.number),
            "sort": sort,
            "sort_links": sort_links(request, sort, REFERRAL_COLUMNS),
            "export_query": export_params.urlencode(),
        },
    )


def _referral_rows(qs: QuerySet[Referral]) -> Iterator[str]:
    writer = csv.writer(Echo())
    yield "\ufeff"  # BOM: Excel then reads the file as UTF-8
    yield writer.writerow(REFERRAL_EXPORT_COLUMNS)
    for r in qs.iterator(chunk_size=1000):
        row = [
            r.pk,
            csv_datetime(r.created_at),
            r.referrer.customer_id,
            r.referrer.customer.name,
            r.referrer.referral_code,
            r.name,
            r.email,
            r.status,
            csv_datetime(r.converted_at),
            r.referred_id or "",
            r.referred.name if r.referred else "",
        ]
        yield writer.writerow([csv_safe(str(v)) for v in row])


def _referrals_export(qs: QuerySet[Referral]) -> StreamingHttpResponse:
    response = StreamingHttpResponse(_referral_rows(qs), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="referrals-{timezone.localdate():%Y%m%d}.csv"'
    return response


# --- manual adjustment --------------------------------------------------------------------------


@crm_role_required
@require_http_methods(["GET", "POST"])
def adjust(request: HttpRequest, customer_id: int) -> HttpResponse:
    _require_manager(request)
    customer = get_object_or_404(Customer, pk=customer_id)
    account = services.account_for(customer)
    if request.method == "POST":
        form = AdjustmentForm(request.POST)
        if form.is_valid():
            data = form.cleaned_data
            try:
                entry = services.adjust(
                    actor=request.user,
                    account=account,
                    amount=data["amount"],
                    reason=data["reason"],
                    currency=data["currency"],
                    key=f"page:{account.pk}:{data['nonce']}",
                )
            except ValidationError as exc:
                apply_service_errors(form, exc)
            else:
                return redirect(reverse("loyalty:adjust", args=[customer.pk]) + f"?done={entry.pk}")
    else:
        form = AdjustmentForm(initial={"nonce": get_random_string(32)})
    done_id = int_param(request.GET.get("done"))
    done = Entry.objects.filter(pk=done_id, account=account).first() if done_id else None
    return render(
        request,
        "loyalty/adjust.html",
        {
            "customer": customer,
            "account": account,
            "form": form,
            "done": done,
            "balances": account_balances(account),
            "entries": list(
                Entry.objects.filter(account=account).select_related("created_by").order_by("-created_at", "-id")[:10]
            ),
            "page_url": links.account_url(customer.pk, account.referral_code),
        },
    )
