"""Public loyalty pages: no login.

- The customer's own page, reached from a signed link (loyalty.links): the programme's rules in
  plain words, balance, tier, history, the rewards catalogue and the referral link. Redeeming is a
  CSRF-protected POST whose idempotency key comes from a random nonce rendered in each form, so a
  double click (or a resent form) redeems once and shows the same code.
- The referral landing page (``/loyalty/r/<code>/``): a friend leaves name and e-mail.

A GET never books anything. Every response is kept out of search engines and caches; a bad link
gets a friendly 404 that names nobody.
"""

from __future__ import annotations

import re
from typing import Any

from django.core import signing
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import translation
from django.utils.crypto import get_random_string
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from customers.models import Customer
from posvenda.public import private, render_public
from posvenda.web import int_param

from . import links, services
from .forms import ReferralForm
from .models import Account, Entry, Redemption, Reward, Tier
from .templatetags.loyalty_tags import account_balances

HISTORY_PAGE_SIZE = 20
NONCE = re.compile(r"^[A-Za-z0-9]{16,64}$")


def _render(request: HttpRequest, template: str, context: dict[str, Any], status: int = 200) -> HttpResponse:
    return render_public(request, f"loyalty/public/{template}", context, status)


def _bad_link(request: HttpRequest) -> HttpResponse:
    """A tampered or unknown link, in the visitor's language; it names no customer."""
    return _render(request, "bad_link.html", {}, status=404)


def _account_from_token(token: str) -> Account | None:
    try:
        customer_id, code = links.token_payload(token)
    except signing.BadSignature:
        return None
    return Account.objects.select_related("customer").filter(customer_id=customer_id, referral_code=code).first()


def _first_name(customer: Customer) -> str:
    """How the pages greet the customer: a person by first name, a company by its name."""
    name = (customer.name or "").strip()
    if customer.kind != Customer.Kind.PERSON:
        return name
    return name.split()[0] if name else ""


def _nonce() -> str:
    return get_random_string(32)


@require_http_methods(["GET", "POST"])
def account_page(request: HttpRequest, token: str) -> HttpResponse:
    account = _account_from_token(token)
    if account is None:
        return _bad_link(request)
    customer = account.customer
    with translation.override(customer.language or "pt-br"):
        error = ""
        if request.method == "POST":
            nonce = request.POST.get("nonce", "")
            reward = Reward.objects.filter(pk=int_param(request.POST.get("reward")), is_active=True).first()
            if reward is None:
                error = str(_("This reward is no longer available. Please choose another one."))
            elif not NONCE.match(nonce):
                error = str(_("Something went wrong with this form. Please try again."))
            else:
                try:
                    redemption = services.reward_redeem(
                        account=account, reward=reward, key=f"page:{account.pk}:{nonce}", actor=None
                    )
                except ValidationError:
                    error = str(
                        _("You do not have enough points for “%(reward)s” yet. Nothing was redeemed.")
                        % {"reward": reward.name}
                    )
                else:
                    url = reverse("loyalty:account", args=[token]) + f"?redeemed={redemption.pk}#redeemed"
                    return private(redirect(url))
        return _account_render(request, token, account, error=error)


def _account_render(request: HttpRequest, token: str, account: Account, *, error: str) -> HttpResponse:
    prog = services.programme()
    balances = account_balances(account)
    status = services.tier_status(account=account)
    tiers = list(Tier.objects.order_by("min_points"))
    rewards = list(Reward.objects.filter(is_active=True).order_by("cost_points", "name"))
    history = Paginator(
        Entry.objects.filter(account=account)
        .only("id", "kind", "currency", "amount", "reason", "source", "created_at", "expires_at")
        .order_by("-created_at", "-id"),
        HISTORY_PAGE_SIZE,
    ).get_page(request.GET.get("page"))
    redeemed_id = int_param(request.GET.get("redeemed"))
    redeemed = (
        Redemption.objects.select_related("reward").filter(pk=redeemed_id, account=account).first()
        if redeemed_id
        else None
    )
    points = balances["points"]
    for reward in rewards:
        reward.affordable = reward.cost_points <= points
        reward.missing = max(0, reward.cost_points - points)
        reward.nonce = _nonce()
    return _render(
        request,
        "account.html",
        {
            "token": token,
            "account": account,
            "customer": account.customer,
            "first_name": _first_name(account.customer),
            "programme": prog,
            "balances": balances,
            "points_value": (points * prog.point_value) if points > 0 else 0,
            "status": status,
            "tiers": tiers,
            "rewards": rewards,
            "history": history,
            "page_range": history.paginator.get_elided_page_range(history.number, on_each_side=1, on_ends=1),
            "redeemed": redeemed,
            "error": error,
            "referral_url": links.referral_url(account.referral_code),
        },
        status=200,
    )


def _referrer(code: str) -> Account | None:
    if not code or len(code) > 16:
        return None
    return Account.objects.select_related("customer").filter(referral_code=code.upper()).first()


@require_http_methods(["GET", "POST"])
def referral_landing(request: HttpRequest, code: str) -> HttpResponse:
    account = _referrer(code)
    if account is None:
        return _bad_link(request)
    form = ReferralForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.referral_create(
                referrer=account.customer, email=form.cleaned_data["email"], name=form.cleaned_data["name"]
            )
        except ValidationError as exc:
            for field, messages in exc.message_dict.items():
                form.add_error(field if field in form.fields else None, messages)
        else:
            return private(redirect(reverse("loyalty:referral_thanks", args=[account.referral_code])))
    return _render(
        request,
        "referral.html",
        {
            "code": account.referral_code,
            "first_name": _first_name(account.customer),
            "programme": services.programme(),
            "form": form,
        },
    )


@require_GET
def referral_thanks(request: HttpRequest, code: str) -> HttpResponse:
    account = _referrer(code)
    if account is None:
        return _bad_link(request)
    return _render(
        request,
        "referral_thanks.html",
        {"first_name": _first_name(account.customer), "programme": services.programme()},
    )


def csrf_failed(request: HttpRequest) -> HttpResponse:
    """A public loyalty form refused by the CSRF check (cookies blocked, page open too long):
    a friendly page back to the same link, nothing booked."""
    return _render(request, "csrf_failed.html", {"retry_url": request.path}, status=403)
