"""Domain-event handlers of the metrics app (subscribed in apps.py)."""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from customers.models import Order

from . import rollups


def on_orders_imported(*, order_ids: list[int] = (), reversed_order_ids: list[int] = (), **_: Any) -> None:
    """Imported history lands in days already rolled up: forget those days' roll-ups so they are
    computed live until the next nightly run rolls them up again."""
    ids = list(order_ids) + list(reversed_order_ids)
    if not ids:
        return
    days = {timezone.localdate(at) for at in Order.objects.filter(pk__in=ids).values_list("purchased_at", flat=True)}
    rollups.invalidate(days)
