"""Load the pt-BR default transition rules, playbooks and their message templates (idempotent)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from funnel.defaults import load_defaults


class Command(BaseCommand):
    help = "Create the default transition rules, playbooks and message templates that are missing."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--reset",
            action="store_true",
            help="Overwrite the default templates and playbooks (matched by slug) with the shipped versions.",
        )

    def handle(self, *args: Any, reset: bool = False, **options: Any) -> None:
        result = load_defaults(reset=reset)
        self.stdout.write(
            self.style.SUCCESS(
                f"rules created: {result.rules}, templates written: {result.templates}, "
                f"playbooks written: {result.playbooks} ({result.steps} steps)"
            )
        )
