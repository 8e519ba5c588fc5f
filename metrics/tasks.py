"""Celery tasks of the metrics app (thin: they call services). Health-score tasks live in
health_tasks.py and are registered by importing it here (Celery autodiscovers tasks.py)."""

from __future__ import annotations

from . import health_tasks  # noqa: F401
