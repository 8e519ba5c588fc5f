import os

from celery import Celery
from celery.schedules import crontab

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
    "messaging-deliver-pending": {"task": "messaging.tasks.deliver_pending", "schedule": 60.0},
    "funnel-run-due-steps": {"task": "funnel.tasks.run_due_steps", "schedule": 60.0},
    "funnel-evaluate-time-rules": {"task": "funnel.tasks.evaluate_time_rules", "schedule": crontab(minute=7)},
    "funnel-overdue-digest": {"task": "funnel.tasks.send_overdue_digest", "schedule": crontab(hour=8, minute=0)},
    "funnel-start-due-campaigns": {"task": "funnel.tasks.start_due_campaigns", "schedule": 60.0},
    "funnel-record-initial-history": {"task": "funnel.tasks.record_initial_history", "schedule": crontab(minute=37)},
    "loyalty-expire-points": {"task": "loyalty.tasks.expire_points", "schedule": crontab(hour=3, minute=15)},
    "loyalty-birthday-points": {"task": "loyalty.tasks.birthday_points", "schedule": crontab(hour=8, minute=5)},
    "support-check-sla": {"task": "support.tasks.check_sla", "schedule": 60.0},
    "surveys-run-due-follow-ups": {"task": "surveys.tasks.run_due_follow_ups", "schedule": 60.0},
    "surveys-send-due": {"task": "surveys.tasks.send_due", "schedule": 60.0},
    "surveys-send-reminders": {"task": "surveys.tasks.send_reminders", "schedule": crontab(minute="*/10")},
    "surveys-run-pending-waves": {"task": "surveys.tasks.run_pending_waves", "schedule": 60.0},
    "surveys-start-recurring-waves": {
        "task": "surveys.tasks.start_recurring_waves",
        "schedule": crontab(hour=9, minute=0),
    },
    # Roll up yesterday and re-roll recent days (late answers, opens) — resumable and idempotent.
    "metrics-rollup-recent-days": {"task": "metrics.tasks.rollup_recent", "schedule": crontab(hour=2, minute=10)},
    # Health score: the whole book nightly (events recompute single customers in between).
    "metrics-health-recompute": {
        "task": "metrics.health_tasks.health_recompute_all",
        "schedule": crontab(hour=4, minute=20),
    },
}
