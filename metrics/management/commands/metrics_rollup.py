"""Roll up the metrics counters: every day not rolled up yet plus the refresh window (what the
nightly beat does), or a given range again (after correcting history)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from metrics import rollups


class Command(BaseCommand):
    help = "Roll up the daily metrics counters (resumable and idempotent)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--from", dest="first", type=date.fromisoformat, help="first day (YYYY-MM-DD)")
        parser.add_argument("--to", dest="last", type=date.fromisoformat, help="last day (YYYY-MM-DD)")
        parser.add_argument("--refresh-days", type=int, default=None, help="recent days to recompute again")

    def handle(self, *args: Any, **options: Any) -> None:
        first, last = options["first"], options["last"]
        if bool(first) != bool(last):
            raise CommandError("Give both --from and --to, or neither.")
        if first and last:
            if last < first:
                raise CommandError("--to is before --from.")
            days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
            for n, day in enumerate(days, start=1):
                rows = rollups.rollup_day(day)
                self.stdout.write(f"\r{n}/{len(days)} {day} ({rows} rows)", ending="")
            self.stdout.write("")
            return
        done = rollups.rollup_recent(refresh_days=options["refresh_days"])
        self.stdout.write(f"{len(done)} days rolled up" + (f" ({done[0]} … {done[-1]})" if done else ""))
