from typing import Any

from django.core.management.base import BaseCommand

from funnel import services


class Command(BaseCommand):
    help = (
        "Record the current stage as the start of the funnel history of every customer that has none "
        "(demo data, customers from before the funnel). Schedules no playbook. Safe to run again."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        count = services.stage_history_record_initial()
        self.stdout.write(f"stage history started for {count} customers")
