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
