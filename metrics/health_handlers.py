"""Domain events that change a customer's health (posvenda/events.py) → a recompute in a worker.

Handlers run after the write committed; the task is queued through ``transaction.on_commit`` too,
so a handler called inside a later transaction never queues work for a write that rolls back.
A broker outage is logged, never raised: the nightly run recomputes everyone anyway."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from django.db import transaction

log = logging.getLogger(__name__)


def _queue(send: Callable[[], Any], what: str) -> None:
    def run() -> None:
        try:
            send()
        except Exception:
            log.exception("health: could not queue the recompute of %s", what)

    transaction.on_commit(run)


def on_customer_event(*, event: str, customer_id: int | None = None, **_: Any) -> None:
    if not customer_id:
        return
    from . import health_tasks

    _queue(lambda: health_tasks.health_recompute_customer.delay(customer_id), f"customer {customer_id}")


def on_customers_imported(*, event: str, customer_ids: list[int] | None = None, **_: Any) -> None:
    if not customer_ids:
        return
    from . import health_tasks

    ids = list(customer_ids)
    _queue(lambda: health_tasks.health_recompute_customers.delay(ids), f"{len(ids)} imported customers")


def on_orders_imported(
    *, event: str, order_ids: list[int] | None = None, reversed_order_ids: list[int] | None = None, **_: Any
) -> None:
    ids = sorted(set(order_ids or []) | set(reversed_order_ids or []))
    if not ids:
        return
    from . import health_tasks

    _queue(lambda: health_tasks.health_recompute_orders.delay(ids), f"customers of {len(ids)} imported orders")
