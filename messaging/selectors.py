"""Reads for the messaging pages, the customer 360 timeline and the services' checks."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db.models import Q, QuerySet
from django.db.models.functions import Lower

from customers.models import Consent, Customer
from customers.selectors import customer_search_q
from posvenda import roles

from .models import Channel, Message, MessageEvent, Suppression

# Messaging channel -> Consent ledger channel. Instagram has no consent channel in the ledger,
# so nothing but service messages can ever go out on it.
CONSENT_CHANNELS: dict[str, str] = {Channel.EMAIL: Consent.Channel.EMAIL, Channel.WHATSAPP: Consent.Channel.WHATSAPP}
PREFERENCE_CHANNELS = (Consent.Channel.EMAIL, Consent.Channel.WHATSAPP)
PREFERENCE_PURPOSES = (Consent.Purpose.SURVEYS, Consent.Purpose.MARKETING)

# ``?sort=`` values of the messages list -> ORDER BY; a unique tiebreaker keeps pages stable.
MESSAGE_SORTS: dict[str, tuple[Any, ...]] = {
    "created": ("created_at", "id"),
    "-created": ("-created_at", "-id"),
    "customer": (Lower("customer__name").asc(), "id"),
    "-customer": (Lower("customer__name").desc(), "-id"),
    "status": ("status", "-created_at", "-id"),
    "-status": ("-status", "-created_at", "-id"),
    "channel": ("channel", "-created_at", "-id"),
    "-channel": ("-channel", "-created_at", "-id"),
}
MESSAGE_DEFAULT_SORT = "-created"


def message_list(
    *,
    status: str = "",
    channel: str = "",
    purpose: str = "",
    customer_id: int | None = None,
    search: str = "",
    sort: str = MESSAGE_DEFAULT_SORT,
) -> QuerySet[Message]:
    """The filtered messages, sorted by ``sort`` (a MESSAGE_SORTS key; anything else: newest first)."""
    qs = Message.objects.select_related("customer", "template").defer("body")
    if status:
        qs = qs.filter(status=status)
    if channel:
        qs = qs.filter(channel=channel)
    if purpose:
        qs = qs.filter(purpose=purpose)
    if customer_id:
        qs = qs.filter(customer_id=customer_id)
    search = (search or "").strip()
    if search:
        qs = qs.filter(
            Q(customer__name__icontains=search) | Q(to_address__icontains=search.lower()) | Q(subject__icontains=search)
        )
    return qs.order_by(*MESSAGE_SORTS.get(sort, MESSAGE_SORTS[MESSAGE_DEFAULT_SORT]))


def message_get(*, pk: int) -> Message:
    return Message.objects.select_related("customer", "customer__owner", "template", "created_by", "approved_by").get(
        pk=pk
    )


def message_events(*, message_id: int) -> list[MessageEvent]:
    return list(MessageEvent.objects.filter(message_id=message_id).order_by("at", "id"))


def messages_for_customer(customer_id: int, limit: int = 20) -> list[Message]:
    """The customer's latest messages, newest first (for the 360 timeline)."""
    return list(
        Message.objects.filter(customer_id=customer_id)
        .select_related("template")
        .order_by("-created_at", "-id")[:limit]
    )


def approval_queue(*, user: Any) -> QuerySet[Message]:
    """Drafts awaiting a human: the customers the user owns, or every draft for managers."""
    qs = (
        Message.objects.filter(status=Message.Status.DRAFT)
        .select_related("customer", "customer__owner", "template")
        .order_by("created_at", "id")
    )
    if roles.is_manager(user):
        return qs
    return qs.filter(customer__owner_id=user.pk)


def consent_in_force(*, customer_id: int, channel: str, purpose: str) -> bool:
    """Latest record for channel+purpose wins; no record means no consent."""
    consent_channel = CONSENT_CHANNELS.get(channel, channel)
    latest = (
        Consent.objects.filter(customer_id=customer_id, channel=consent_channel, purpose=purpose)
        .order_by("-recorded_at", "-id")
        .values_list("granted", flat=True)
        .first()
    )
    return bool(latest)


def consent_states(*, customer_id: int) -> dict[tuple[str, str], bool | None]:
    """Consent in force per (channel, purpose): True, False (refused) or None (never recorded)."""
    states: dict[tuple[str, str], bool | None] = {}
    rows = Consent.objects.filter(customer_id=customer_id).order_by("-recorded_at", "-id")
    for channel, purpose, granted in rows.values_list("channel", "purpose", "granted"):
        states.setdefault((channel, purpose), granted)
    return states


def is_suppressed(*, address: str) -> bool:
    return bool(address) and Suppression.objects.filter(address=address.strip().lower()).exists()


def suppressed_addresses(*, addresses: Iterable[str]) -> set[str]:
    """The suppressed ones among ``addresses`` (normalised to lower case), in one query."""
    wanted = {a.strip().lower() for a in addresses if a}
    if not wanted:
        return set()
    return set(Suppression.objects.filter(address__in=wanted).values_list("address", flat=True))


def consents_in_force(*, keys: Iterable[tuple[int, str, str]]) -> set[tuple[int, str, str]]:
    """The (customer_id, messaging channel, purpose) keys with consent in force, in one query.

    Same rule as ``consent_in_force``: the latest record per customer + channel + purpose wins.
    """
    keys = set(keys)
    if not keys:
        return set()
    latest: dict[tuple[int, str, str], bool] = {}
    rows = (
        Consent.objects.filter(
            customer_id__in={k[0] for k in keys},
            channel__in={CONSENT_CHANNELS.get(k[1], k[1]) for k in keys},
            purpose__in={k[2] for k in keys},
        )
        .order_by("customer_id", "channel", "purpose", "-recorded_at", "-id")
        .values_list("customer_id", "channel", "purpose", "granted")
    )
    for customer_id, channel, purpose, granted in rows:
        latest.setdefault((customer_id, channel, purpose), granted)
    return {k for k in keys if latest.get((k[0], CONSENT_CHANNELS.get(k[1], k[1]), k[2]))}


def customer_for_preview(*, term: str) -> Customer | None:
    """The customer a template preview is rendered for: "#42" (id) or the first search match."""
    term = term.strip()
    if term.startswith("#") and term[1:].isdigit():
        return Customer.objects.select_related("owner").filter(pk=int(term[1:])).first()
    return Customer.objects.select_related("owner").filter(customer_search_q(term)).order_by("name", "id").first()
