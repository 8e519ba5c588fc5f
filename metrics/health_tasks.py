"""Health-score tasks (see metrics/health.py). Thin: take ids, call the service. Each is safe to run
twice: a recompute stores the same figures, and a crossing into red is claimed once."""

from __future__ import annotations

import logging

from celery import shared_task
from django.core.cache import cache

from . import health

log = logging.getLogger(__name__)

# Two whole-book runs at once would both be correct, but double the load: the second one skips.
ALL_LOCK = "metrics:health_recompute_all"
ALL_LOCK_SECONDS = 3 * 3600


@shared_task(name="metrics.health_tasks.health_recompute_all")
def health_recompute_all() -> int:
    """Nightly (beat) and after a settings change: every customer's score. Returns customers seen."""
    if not cache.add(ALL_LOCK, "1", ALL_LOCK_SECONDS):
        log.info("health: a whole-book recompute is already running; skipped")
        return 0
    try:
        return health.health_recompute_all().customers
    finally:
        cache.delete(ALL_LOCK)


@shared_task(name="metrics.health_tasks.health_recompute_customer")
def health_recompute_customer(customer_id: int) -> int | None:
    """After an event about one customer (an answer, a ticket, an order, a contract change)."""
    score = health.health_recompute_customer(customer_id=customer_id)
    return score.score if score else None


@shared_task(name="metrics.health_tasks.health_recompute_customers")
def health_recompute_customers(customer_ids: list[int]) -> int:
    """After an import chunk: its customers, in batches."""
    return health.health_recompute_customers(customer_ids=customer_ids).scored


@shared_task(name="metrics.health_tasks.health_recompute_orders")
def health_recompute_orders(order_ids: list[int]) -> int:
    """After an orders import chunk: the customers of those orders."""
    from customers.models import Order

    customer_ids = set(Order.objects.filter(pk__in=order_ids).values_list("customer_id", flat=True))
    return health.health_recompute_customers(customer_ids=customer_ids).scored
