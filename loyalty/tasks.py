"""Thin Celery tasks for the loyalty beat entries (posvenda/celery.py). Each is safe to run twice."""

from __future__ import annotations

from celery import shared_task

from . import services


@shared_task
def expire_points() -> int:
    """Daily: expire unspent points past their date (keyed per account and day)."""
    return services.expire_all()


@shared_task
def birthday_points() -> int:
    """Daily: birthday points, once per account and year."""
    return services.birthday_bonuses()


@shared_task
def reward_imported_orders(order_ids: list[int], reversed_order_ids: list[int]) -> int:
    """After an orders import chunk: points for the orders, reversals for the refunded/cancelled
    ones. Every entry is keyed per order, so running it twice books nothing twice."""
    booked = 0
    for order_id in order_ids:
        booked += len(services.order_reward(order_id=order_id))
    for order_id in reversed_order_ids:
        booked += len(services.order_reverse(order_id=order_id))
    return booked
