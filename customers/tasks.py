"""Celery tasks of the customers app: thin wrappers around the import service."""

from __future__ import annotations

from celery import shared_task

from . import importer


@shared_task(name="customers.tasks.import_run")
def import_run(job_id: int) -> str:
    """Run one import. Safe to run twice: only the run that claims the pending job does the work."""
    job = importer.import_job_claim(job_id=job_id)
    if job is None:
        return "skipped"
    job = importer.import_file(job=job)
    return job.status


@shared_task(name="customers.tasks.fail_stale_imports")
def fail_stale_imports() -> int:
    """Beat: imports whose worker died (pending/running, untouched for 30 min) become failed."""
    return importer.import_jobs_fail_stale()
