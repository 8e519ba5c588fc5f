"""Recompute every customer's health score now (what the nightly beat task does), with progress."""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from metrics import health


class Command(BaseCommand):
    help = "Recompute the health score of the whole book (idempotent; a crossing into red makes one task)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--batch-size", type=int, default=health.BATCH_SIZE, help="customers per batch")

    def handle(self, *args: Any, **options: Any) -> None:
        started = time.monotonic()
        tty = self.stdout.isatty()

        def progress(done: int, total: int, stats: health.RunStats) -> None:
            elapsed = max(time.monotonic() - started, 1e-6)
            percent = 100 * done // total if total else 100
            line = f"{done:,}/{total:,} customers ({percent}%) · {done / elapsed:,.0f}/s"
            # On a terminal the line is rewritten in place; in a log, one line per batch.
            self.stdout.write(f"\r{line}" if tty else line, ending="" if tty else "\n")

        stats = health.health_recompute_all(batch_size=max(1, options["batch_size"]), progress=progress)
        if tty and stats.customers:
            self.stdout.write("")
        elapsed = time.monotonic() - started
        self.stdout.write(
            f"{stats.customers:,} customers in {elapsed:.1f} s: {stats.scored:,} scored "
            f"(red {stats.bands['red']:,}, yellow {stats.bands['yellow']:,}, green {stats.bands['green']:,}), "
            f"{stats.written:,} changed; "
            f"{stats.snapshots:,} snapshots; {stats.entered_red:,} entered red ({stats.tasks:,} tasks), "
            f"{stats.left_red:,} left red."
        )
