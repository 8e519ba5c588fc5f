import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "posvenda.settings")

app = Celery("posvenda")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# Every periodic task lives here (DESIGN.md: all beat schedules in one place). Work due later
# is a database row with a due time that one of these beat tasks picks up, never a long ETA.
app.conf.beat_schedule = {
    "customers-fail-stale-imports": {
        "task": "customers.tasks.fail_stale_imports",
        "schedule": 300.0,
    },
}
