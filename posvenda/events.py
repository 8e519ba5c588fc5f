"""Domain events, dispatched by one explicit function (no Django signals).

Apps register handlers with ``subscribe("order_recorded", handler)`` in their AppConfig.ready();
services call ``emit(...)`` after their write. Handlers run after the transaction commits, so a
rolled-back write never triggers follow-up work.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from django.db import transaction

log = logging.getLogger(__name__)

CUSTOMER_CREATED = "customer_created"
CUSTOMER_UPDATED = "customer_updated"
ORDER_RECORDED = "order_recorded"
ORDER_CANCELLED = "order_cancelled"  # an order's status became cancelled: order_id, customer_id
ORDER_REFUNDED = "order_refunded"  # an order's status became refunded (a returned product): order_id, customer_id
CONTRACT_CHANGED = "contract_changed"
INTERACTION_ADDED = "interaction_added"
CUSTOMERS_IMPORTED = "customers_imported"  # one per import chunk: customer_ids, import_job_id
# One per orders import chunk: order_ids (written), reversed_order_ids (now refunded/cancelled),
# import_job_id. Not order_recorded per row: history imports must not trigger per-order surveys.
ORDERS_IMPORTED = "orders_imported"
PLAN_UPGRADED = "plan_upgraded"  # customer or contract MRR went up: customer_id, old_mrr, new_mrr
STAGE_CHANGED = "stage_changed"  # customer_id, stage_change_id, from_stage, to_stage
TICKET_CREATED = "ticket_created"  # ticket_id, customer_id
TICKET_RESOLVED = "ticket_resolved"  # ticket_id, customer_id, cycle (times reopened before this resolution)
LOYALTY_POINTS_EARNED = "loyalty_points_earned"  # entry_id, customer_id, amount, source
REFERRAL_CONVERTED = "referral_converted"  # referral_id, referrer_id, customer_id
SURVEY_ANSWERED = "survey_answered"  # response_id, survey_id, customer_id, kind, score, category, first

Handler = Callable[..., None]
_handlers: dict[str, list[Handler]] = defaultdict(list)


def subscribe(event: str, handler: Handler) -> None:
    if handler not in _handlers[event]:
        _handlers[event].append(handler)


def unsubscribe(event: str, handler: Handler) -> None:
    if handler in _handlers[event]:
        _handlers[event].remove(handler)


def emit(event: str, **payload: Any) -> None:
    for handler in list(_handlers.get(event, ())):
        transaction.on_commit(lambda h=handler: h(event=event, **payload))
