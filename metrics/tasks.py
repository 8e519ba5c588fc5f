"""Celery tasks of the metrics app (thin: they call services). Health-score tasks live in
health_tasks.py and are registered by importing it here (Celery autodiscovers tasks.py)."""

from __future__ import annotations

from celery import shared_task

from . import (
    health_tasks,  # noqa: F401
    rollups,
)


@shared_task(name="metrics.tasks.rollup_recent")
def rollup_recent() -> int:
    """Nightly: roll up the days not rolled up yet and re-roll the recent ones. Safe to run twice
    (each day is replaced in one transaction under a row lock); returns the number of days."""
    return len(rollups.rollup_recent())
