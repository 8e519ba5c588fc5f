"""Domain-event handlers: they run after the emitting transaction commits and call services.

A failure here is logged, never raised: the customer, order or contract write already committed,
and the hourly rule pass (or the next event) catches up.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from . import services, tasks

log = logging.getLogger(__name__)


def _safely(fn: Callable[..., Any], **kwargs: Any) -> None:
    try:
        fn(**kwargs)
    except Exception:
        log.exception("funnel handler %s failed for %s", fn.__name__, kwargs)


def on_customer_created(*, event: str, customer_id: int, **_: Any) -> None:
    _safely(services.stage_enter_initial, customer_id=customer_id)


def on_order_recorded(*, event: str, order_id: int, customer_id: int, **_: Any) -> None:
    _safely(services.rule_upsell_on_order, order_id=order_id)


def on_contract_changed(*, event: str, contract_id: int, customer_id: int, **_: Any) -> None:
    _safely(services.rule_contracts_cancelled, customer_id=customer_id)


def on_plan_upgraded(*, event: str, customer_id: int, old_mrr: Decimal, new_mrr: Decimal, **_: Any) -> None:
    _safely(services.rule_upsell_on_plan, customer_id=customer_id, old_mrr=old_mrr, new_mrr=new_mrr)


def on_customers_imported(*, event: str, customer_ids: list[int], **_: Any) -> None:
    # A worker records the history, so a 100,000-row import is not slowed by it; if the broker is
    # down the hourly beat entry (funnel-record-initial-history) catches up.
    _safely(tasks.record_initial_history.delay, customer_ids=customer_ids)
