"""Reads for pages, API and exports. Query counts do not grow with the number of rows."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import Count, Prefetch, Q, QuerySet, Sum
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
    qs = Customer.objects.select_related("owner", "segment").prefetch_related(
        Prefetch("tags", queryset=Tag.objects.only("id", "name"))
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


@dataclass
class Customer360:
    customer: Customer
    timeline: list[Interaction]
    orders: list[Order]
    contracts: list[Contract]
    contacts: list[Contact]
    consents: list[Consent]
    consent_status: list[Consent]
    order_total: Any
    order_count: int


def customer_get(*, pk: int) -> Customer:
    return Customer.objects.select_related("owner", "segment").get(pk=pk)


def customer_360(*, pk: int, timeline_limit: int = 50) -> Customer360:
    customer = Customer.objects.select_related("owner", "segment").prefetch_related("tags").get(pk=pk)
    timeline = list(customer.interactions.select_related("author")[:timeline_limit])
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
        orders=orders,
        contracts=contracts,
        contacts=contacts,
        consents=consents,
        consent_status=sorted(current.values(), key=lambda c: (c.channel, c.purpose)),
        order_total=agg["total"] or 0,
        order_count=agg["count"] or 0,
    )
