"""manage.py import_csv customers clientes.csv [--owner ana] [--errors-csv erros.csv]"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db.models import Q

from customers import importer
from customers.models import ImportJob


class Command(BaseCommand):
    help = "Import customers, contacts, orders or contracts from a CSV file (see docs/import.md)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("kind", choices=ImportJob.Kind.values)
        parser.add_argument("path", type=Path)
        parser.add_argument("--owner", help="username or e-mail of the CS user who owns new customers without owner")
        parser.add_argument("--errors-csv", type=Path, help="write the error report (line, column, reason) here")
        parser.add_argument("--chunk-size", type=int, default=importer.CHUNK_SIZE)
        parser.add_argument("--max-errors", type=int, default=50, help="errors printed at the end (default 50)")

    def handle(self, *args: Any, **options: Any) -> None:
        path: Path = options["path"]
        if not path.is_file():
            raise CommandError(f"File not found: {path}")
        owner = None
        if options["owner"]:
            key = options["owner"].strip()
            owner = get_user_model().objects.filter(Q(username=key) | Q(email__iexact=key)).first()
            if owner is None:
                raise CommandError(f"Unknown owner: {key}")
        bar = _ProgressBar(self.stderr)
        job = importer.import_path(
            path, options["kind"], default_owner=owner, progress=bar.update, chunk_size=options["chunk_size"]
        )
        bar.finish()
        if job.status == ImportJob.Status.FAILED:
            raise CommandError(f"Import #{job.pk} failed: {job.message}")
        elapsed = bar.elapsed
        rate = job.processed_rows / elapsed if elapsed else 0
        self.stdout.write(
            f"Import #{job.pk} ({job.get_kind_display()}, {path.name}): {job.processed_rows} rows in {elapsed:.1f}s "
            f"({rate:,.0f} rows/s)"
        )
        self.stdout.write(
            f"created {job.created_count}, updated {job.updated_count}, unchanged {job.unchanged_count}, "
            f"errors {job.error_count}"
        )
        if job.message:
            self.stdout.write(job.message)
        limit = options["max_errors"]
        for error in job.errors[:limit]:
            self.stdout.write(
                str(importer.RowError(error["line"], error.get("column", ""), error["reason"])), self.style.ERROR
            )
        if job.error_count > limit:
            self.stdout.write(f"... and {job.error_count - limit} more errors", self.style.WARNING)
        if options["errors_csv"]:
            with options["errors_csv"].open("w", encoding="utf-8", newline="") as out:
                importer.write_errors_csv(job, out)
            self.stdout.write(f"Error report written to {options['errors_csv']}")


class _ProgressBar:
    """rows done/total, %, rows/s on one terminal line (a line per update when not a terminal)."""

    width = 30

    def __init__(self, out: Any) -> None:
        self.out = out
        self.started = time.monotonic()
        self.tty = getattr(getattr(out, "_out", sys.stderr), "isatty", lambda: False)()
        self.drawn = False

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def update(self, done: int, total: int) -> None:
        pct = int(done * 100 / total) if total else 100
        filled = int(self.width * pct / 100)
        rate = done / self.elapsed if self.elapsed > 0 else 0
        line = f"[{'#' * filled}{'.' * (self.width - filled)}] {done:,}/{total:,} {pct:3d}% {rate:,.0f} rows/s"
        if self.tty:
            self.out.write("\r" + line, ending="")
            self.out.flush()
        else:
            self.out.write(line)
        self.drawn = True

    def finish(self) -> None:
        if self.drawn and self.tty:
            self.out.write("")
