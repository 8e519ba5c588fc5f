"""Thin Celery tasks for the funnel beat entries (posvenda/celery.py). Each is safe to run twice."""

from __future__ import annotations

from celery import shared_task

from . import services


@shared_task
def run_due_steps() -> int:
    """Every minute: perform the playbook steps that are due, each exactly once."""
    return services.steps_run_due()


@shared_task
def evaluate_time_rules() -> int:
    """Hourly: apply the time-based transition rules (days in adoption, no purchase for N days)."""
    return services.rules_evaluate()


@shared_task
def send_overdue_digest() -> int:
    """Daily: e-mail each owner their overdue tasks, once per day."""
    return services.overdue_digest_send()


@shared_task
def start_due_campaigns() -> int:
    """Every minute: start the scheduled campaigns that are due, each once; re-hand lost batches."""
    from . import campaigns

    return campaigns.campaigns_start_due()


@shared_task(ignore_result=True)
def campaign_send_batch(batch_id: int) -> bool:
    """Queue one batch of a campaign's messages (idempotent: claimed once, keyed per customer)."""
    from . import campaigns

    return campaigns.campaign_batch_run(batch_id=batch_id)


@shared_task
def record_initial_history(customer_ids: list[int] | None = None) -> int:
    """After an import chunk (its customer ids), and hourly for everyone as a safety net: start the
    funnel history of customers that have none. Safe to run twice (it skips customers with history)."""
    return services.stage_history_record_initial(customer_ids=customer_ids)
