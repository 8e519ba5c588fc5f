"""Thin Celery tasks for the loyalty beat entries (posvenda/celery.py). Each is safe to run twice."""

from __future__ import annotations

from celery import shared_task

from . import services


@shared_task
def expire_points() -> int:
    """Daily: expire unspent points past their date (keyed per account and day)."""
    return services.expire_all()


@shared_task
def birthday_points() -> int:
    """Daily: birthday points, once per account and year."""
    return services.birthday_bonuses()
