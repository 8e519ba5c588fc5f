"""Domain-event handlers of the loyalty app (after commit). Failures are logged, never raised:
the order or answer already committed, and the entry keys make a later replay safe."""

from __future__ import annotations

import logging
from typing import Any

from . import services

log = logging.getLogger(__name__)


def on_order_recorded(*, event: str, order_id: int, **_: Any) -> None:
    try:
        services.order_reward(order_id=order_id)
    except Exception:
        log.exception("loyalty: rewarding order %s failed", order_id)


def on_order_reversed(*, event: str, order_id: int, **_: Any) -> None:
    try:
        services.order_reverse(order_id=order_id)
    except Exception:
        log.exception("loyalty: reversing order %s failed", order_id)


def on_survey_answered(*, event: str, response_id: int, customer_id: int, first: bool = True, **_: Any) -> None:
    if not first:
        return
    try:
        services.survey_bonus(response_id=response_id, customer_id=customer_id)
    except Exception:
        log.exception("loyalty: survey bonus for response %s failed", response_id)


def on_orders_imported(*, event: str, order_ids: list[int], reversed_order_ids: list[int], **_: Any) -> None:
    # A worker books them, so a 100,000-row orders import is not slowed down; if the broker is
    # down, re-importing the file (or replaying the event) books the missing ones, never twice.
    from . import tasks

    try:
        tasks.reward_imported_orders.delay(order_ids, reversed_order_ids)
    except Exception:
        log.exception("loyalty: could not queue the rewards of %s imported orders", len(order_ids))
