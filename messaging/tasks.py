"""Thin Celery tasks: take ids, call a service. All are safe to run twice."""

from __future__ import annotations

from celery import shared_task

from . import services


@shared_task(name="messaging.tasks.deliver", ignore_result=True)
def deliver(message_id: int) -> None:
    services.message_deliver(message_id=message_id)


@shared_task(name="messaging.tasks.deliver_batch", ignore_result=True)
def deliver_batch(message_ids: list[int]) -> int:
    """Send a batch of queued messages over one connection (campaigns and the outbox beat)."""
    return services.message_deliver_batch(message_ids=message_ids)


@shared_task(name="messaging.tasks.deliver_pending", ignore_result=True)
def deliver_pending() -> int:
    """Beat, every minute: hand queued messages left in the outbox to the workers again, in batches."""
    ids = services.messages_due_for_delivery()
    for batch in services.message_batches(ids):
        deliver_batch.delay(batch)
    return len(ids)
