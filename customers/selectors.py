"""Reads for pages, API and exports. Query counts do not grow with the number of rows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import Count, F, Prefetch, Q, QuerySet, Sum
from django.db.models.functions import Lower

from .models import Consent, Contact, Contract, Customer, Interaction, Order, Tag
from .validators import digits

SORTS = {
    "name": (Lower("name").asc(), "id"),
    "-name": (Lower("name").desc(), "-id"),
    "created": ("created_at", "id"),
    "-created": ("-created_at", "-id"),
    "mrr": ("mrr", "id"),
    "-mrr": ("-mrr", "-id"),
    "owner": ("owner__username", "id"),
    "-owner": ("-owner__username", "-id"),
    "stage": ("stage", "id"),
    "-stage": ("-stage", "-id"),
    # The health score (metrics app) through the reverse one-to-one; unscored customers last.
    "health": (F("health__score").asc(nulls_last=True), "id"),
    "-health": (F("health__score").desc(nulls_last=True), "-id"),
}


def customer_search_q(term: str) -> Q:
    term = (term or "").strip()
    if not term:
        return Q()
    q = Q(name__icontains=term) | Q(email__icontains=term.lower()) | Q(external_id=term)
    num = digits(term)
    if len(num) >= 3:
        q |= Q(document__startswith=num)
    return q


def customer_list(
    *,
    search: str = "",
    owner: Any = None,
    segment: Any = None,
    kind: str = "",
    stage: str = "",
    tag: str = "",
    sort: str = "name",
) -> QuerySet[Customer]:
    # "health" is the metrics app's HealthScore (reverse one-to-one): the score badge costs no query;
    # its measures (a JSON list) are only for the 360 page.
    qs = (
        Customer.objects.select_related("owner", "segment", "health")
        .defer("health__components")
        .prefetch_related(Prefetch("tags", queryset=Tag.objects.only("id", "name")))
    )
    if search:
        qs = qs.filter(customer_search_q(search))
    if owner == "none":
        qs = qs.filter(owner__isnull=True)
    elif owner:
        qs = qs.filter(owner_id=owner)
    if segment:
        qs = qs.filter(segment_id=segment)
    if kind:
        qs = qs.filter(kind=kind)
    if stage:
        qs = qs.filter(stage=stage)
    if tag:
        qs = qs.filter(tags__name=tag)
    return qs.order_by(*SORTS.get(sort, SORTS["name"]))


def customer_tag_names(*, customer_ids: list[int]) -> dict[int, list[str]]:
    """Tag names per customer in one query (no model instances: the API list's hot path)."""
    names: dict[int, list[str]] = {}
    through = Customer.tags.through.objects.filter(customer_id__in=customer_ids)
    for customer_id, name in through.values_list("customer_id", "tag__name"):
        names.setdefault(customer_id, []).append(name)
    return names


@dataclass(frozen=True)
class TimelineEntry:
    """One line of the 360 timeline: an interaction, an outbound message, a stage change, a ticket
    event or a survey answer."""

    kind: str  # "interaction", "message", "stage_change", "ticket_event" or "survey_response" (the partial)
    at: datetime
    item: Any


@dataclass
class Customer360:
    customer: Customer
    timeline: list[TimelineEntry]
    timeline_truncated: bool
    orders: list[Order]
    contracts: list[Contract]
    contacts: list[Contact]
    consents: list[Consent]
    consent_status: list[Consent]
    order_total: Any
    order_count: int


def customer_get(*, pk: int) -> Customer:
    return Customer.objects.select_related("owner", "segment").get(pk=pk)


def _merged_timeline(*, customer_id: int, limit: int) -> tuple[list[TimelineEntry], bool]:
    """Interactions, outbound messages, stage changes, ticket events and survey answers, newest
    first: one query per source.

    Each source is cut at ``limit + 1`` before merging, so the newest ``limit`` entries overall are
    always complete; ``truncated`` says whether older ones exist.
    """
    # Imported here: funnel and messaging build on customers, not the other way round.
    from funnel.selectors import stage_history
    from messaging.selectors import messages_for_customer
    from support.selectors import ticket_events_for_customer
    from surveys.models import Response

    interactions = list(
        Interaction.objects.filter(customer_id=customer_id)
        .select_related("author")
        .order_by("-happened_at", "-id")[: limit + 1]
    )
    messages = messages_for_customer(customer_id, limit=limit + 1)
    changes = stage_history(customer_id=customer_id, limit=limit + 1)
    entries = [TimelineEntry("interaction", i.happened_at, i) for i in interactions]
    # A message sits where it was written (the selector's order): its status tells how far it got.
    entries += [TimelineEntry("message", m.created_at, m) for m in messages]
    entries += [TimelineEntry("stage_change", c.changed_at, c) for c in changes]
    entries += [
        TimelineEntry("ticket_event", e.at, e)
        for e in ticket_events_for_customer(customer_id=customer_id, limit=limit + 1)
    ]
    entries += [
        TimelineEntry("survey_response", r.answered_at, r)
        for r in Response.objects.filter(customer_id=customer_id)
        .select_related("survey")
        .order_by("-answered_at", "-id")[: limit + 1]
    ]
    entries.sort(key=lambda e: (e.at, e.item.pk), reverse=True)
    return entries[:limit], len(entries) > limit


def customer_360(*, pk: int, timeline_limit: int = 50) -> Customer360:
    customer = Customer.objects.select_related("owner", "segment", "health").prefetch_related("tags").get(pk=pk)
    timeline, timeline_truncated = _merged_timeline(customer_id=customer.pk, limit=timeline_limit)
    orders = list(customer.orders.all()[:50])
    contracts = list(customer.contracts.all())
    contacts = list(customer.contacts.all())
    consents = list(customer.consents.select_related("recorded_by"))
    current: dict[tuple[str, str], Consent] = {}
    for consent in consents:  # newest first: the first seen per (channel, purpose) is in force
        current.setdefault((consent.channel, consent.purpose), consent)

    agg = customer.orders.filter(status=Order.Status.PAID).aggregate(total=Sum("amount"), count=Count("id"))
    return Customer360(
        customer=customer,
        timeline=timeline,
        timeline_truncated=timeline_truncated,
        orders=orders,
        contracts=contracts,
        contacts=contacts,
        consents=consents,
        consent_status=sorted(current.values(), key=lambda c: (c.channel, c.purpose)),
        order_total=agg["total"] or 0,
        order_count=agg["count"] or 0,
    )
