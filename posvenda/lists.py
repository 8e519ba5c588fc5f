"""Helpers shared by the list pages: sort links and streaming CSV exports (see DESIGN.md)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.http import HttpRequest


class Echo:
    """A file-like object for ``csv.writer`` that hands each written row back, for streaming."""

    def write(self, value: str) -> str:
        return value


_FORMULA_PREFIXES = ("=", "@", "\t", "\r")


def csv_safe(value: str) -> str:
    """Keep spreadsheet apps from running a cell as a formula (phones like +5511... stay as they are)."""
    if value.startswith(_FORMULA_PREFIXES) or (value[:1] in ("+", "-") and not value[1:].replace(".", "").isdigit()):
        return "'" + value
    return value


def sort_links(request: HttpRequest, current: str, columns: Iterable[tuple[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per column key: the URL that sorts by it (toggling asc/desc), keeping the filters, dropping the page."""
    links = {}
    for key, label in columns:
        active = current.lstrip("-") == key
        descending = current.startswith("-")
        params = request.GET.copy()
        params["sort"] = f"-{key}" if active and not descending else key
        params.pop("page", None)
        links[key] = {
            "key": key,
            "label": label,
            "url": f"?{params.urlencode()}",
            "active": active,
            "direction": ("desc" if descending else "asc") if active else "",
        }
    return links


def csv_datetime(value: Any) -> str:
    """A datetime for a CSV cell: local time, ISO 8601 to the second; "" for None."""
    from django.utils import timezone

    return timezone.localtime(value).isoformat(timespec="seconds") if value else ""
