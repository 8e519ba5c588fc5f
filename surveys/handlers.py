"""Domain-event handlers of the surveys app; they run after the emitting transaction commits.
A failure is logged, never raised: the order or stage change already committed."""

from __future__ import annotations

import logging
from typing import Any

from customers.models import Customer

from . import services

log = logging.getLogger(__name__)


def on_order_recorded(*, event: str, order_id: int, customer_id: int, **_: Any) -> None:
    try:
        services.order_trigger(order_id=order_id)
    except Exception:
        log.exception("after-order survey trigger failed for order %s", order_id)


def on_stage_changed(*, event: str, customer_id: int, stage_change_id: int, to_stage: str, **_: Any) -> None:
    if to_stage != Customer.Stage.CHURNED:
        return
    try:
        services.churn_trigger(customer_id=customer_id, stage_change_id=stage_change_id)
    except Exception:
        log.exception("on-churn survey trigger failed for customer %s", customer_id)


def on_order_refunded(*, event: str, order_id: int, customer_id: int, **_: Any) -> None:
    try:
        services.return_trigger(order_id=order_id)
    except Exception:
        log.exception("on-return survey trigger failed for order %s", order_id)


def on_ticket_resolved(*, event: str, ticket_id: int, cycle: int = 0, **_: Any) -> None:
    try:
        services.ticket_trigger(ticket_id=ticket_id, cycle=cycle)
    except Exception:
        log.exception("after-ticket survey trigger failed for ticket %s", ticket_id)
