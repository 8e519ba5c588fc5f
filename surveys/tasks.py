"""Thin Celery tasks for the surveys beat entries (posvenda/celery.py). Each is safe to run twice."""

from __future__ import annotations

from celery import shared_task

from . import services


@shared_task
def send_due() -> int:
    """Every minute: send the scheduled invitations that are due (after-order triggers), once each."""
    return services.invitations_send_due()


@shared_task
def follow_up(response_id: int) -> bool:
    """Right after a public answer: close the loop, move the funnel, emit survey_answered (once)."""
    return services.response_follow_up(response_id=response_id)


@shared_task
def run_due_follow_ups() -> int:
    """Every minute: follow-ups whose hand-off was lost (broker down, worker killed)."""
    return services.follow_ups_run_due()


@shared_task
def send_reminders() -> int:
    """Every 10 minutes: the one reminder to those who have not answered after N days."""
    return services.invitations_remind_due()


@shared_task
def run_wave(wave_id: int) -> int:
    """Invite every customer of a wave (segment, list or recurring); keyed per customer."""
    return services.wave_run(wave_id=wave_id)


@shared_task
def run_pending_waves() -> int:
    """Every minute: start waves whose hand-off was lost and resume those a killed worker left."""
    return services.waves_run_pending()


@shared_task
def start_recurring_waves() -> int:
    """Daily: the next wave of each recurring survey that is due."""
    return services.recurring_waves_start()
