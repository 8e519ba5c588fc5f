"""Thin Celery tasks: take ids, call a service. Both are safe to run twice."""

from __future__ import annotations

from celery import shared_task

from . import services


@shared_task(name="messaging.tasks.deliver", ignore_result=True)
def deliver(message_id: int) -> None:
    services.message_deliver(message_id=message_id)


@shared_task(name="messaging.tasks.deliver_pending", ignore_result=True)
def deliver_pending() -> int:
    """Beat, every minute: hand queued messages left in the outbox to the workers again."""
    ids = services.messages_due_for_delivery()
    for message_id in ids:
        deliver.delay(message_id)
    return len(ids)
