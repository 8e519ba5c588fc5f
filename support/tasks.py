"""Thin Celery tasks for the support beat entries (posvenda/celery.py). Each is safe to run twice."""

from __future__ import annotations

from celery import shared_task

from . import services


@shared_task
def check_sla() -> int:
    """Every minute: warn assignees before a breach and escalate breaches to managers, once each."""
    return services.sla_check_due()
