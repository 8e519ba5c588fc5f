"""Display helpers of the loyalty pages (points with the locale's grouping, signed amounts) and the
customer's loyalty panel for the 360 page: ``{% customer_loyalty_panel customer user %}``."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from django import template
from django.db.models import Q, Sum
from django.utils import formats

from loyalty import links, services
from loyalty.models import Currency, Entry
from posvenda import roles

register = template.Library()

PANEL_ENTRIES = 5


@register.filter
def points(value: Any) -> str:
    """1234 → "1.234" (pt-BR) / "1,234" (en); decimals only when there are any (an adjustment of 10.5)."""
    if value is None or value == "":
        return ""
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return str(value)
    places = 0 if number == number.to_integral_value() else 2
    return formats.number_format(number, decimal_pos=places, use_l10n=True, force_grouping=True)


@register.filter
def signed(value: Any) -> str:
    """ "+" in front of a credit, so a history reads +120 / −50 at a glance."""
    try:
        return "+" if Decimal(str(value)) > 0 else ""
    except (InvalidOperation, ValueError):
        return ""


@register.filter
def percent_of(value: Any, total: Any) -> int:
    """How far ``value`` is toward ``total``, 0–100 (the tier progress bar)."""
    try:
        value, total = Decimal(str(value)), Decimal(str(total))
    except (InvalidOperation, ValueError):
        return 0
    if total <= 0:
        return 100
    return int(max(Decimal(0), min(Decimal(100), value * 100 / total)))


def account_balances(account: Any) -> dict[str, Decimal]:
    """Points and cashback of an account in one query."""
    totals = Entry.objects.filter(account=account).aggregate(
        points=Sum("amount", filter=Q(currency=Currency.POINTS)),
        cashback=Sum("amount", filter=Q(currency=Currency.CASHBACK)),
    )
    return {k: (v or Decimal("0")) for k, v in totals.items()}


@register.inclusion_tag("loyalty/_customer_panel.html")
def customer_loyalty_panel(customer: Any, user: Any) -> dict[str, Any]:
    """Balance, tier, last entries and the customer's links. The account is created on first use
    (it holds the referral code the links need)."""
    account = services.account_for(customer)
    return {
        "customer": customer,
        "account": account,
        "balances": account_balances(account),
        "status": services.tier_status(account=account),
        "entries": list(Entry.objects.filter(account=account).order_by("-created_at", "-id")[:PANEL_ENTRIES]),
        "page_url": links.account_url(customer.pk, account.referral_code),
        "referral_url": links.referral_url(account.referral_code),
        "can_adjust": roles.is_manager(user),
    }
