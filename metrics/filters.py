"""The filter every KPI takes: a period of local days (presets or custom), and the slice of the book
(segment, owner, customer kind). ``previous()`` is the comparison period of the same length."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from typing import Any

from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

PRESETS = {
    "today": _("Today"),
    "7d": _("Last 7 days"),
    "30d": _("Last 30 days"),
    "90d": _("Last 90 days"),
    "month": _("This month"),
    "last_month": _("Last month"),
    "quarter": _("This quarter"),
    "12m": _("Last 12 months"),
    "year": _("This year"),
    "custom": _("Custom"),
}
DEFAULT_PRESET = "30d"
MAX_DAYS = 366 * 5


def today() -> date:
    return timezone.localdate()


def _month_start(day: date) -> date:
    return day.replace(day=1)


def _add_months(day: date, months: int) -> date:
    month0 = day.month - 1 + months
    return date(day.year + month0 // 12, month0 % 12 + 1, 1)


def preset_range(preset: str, *, on: date | None = None) -> tuple[date, date]:
    """(first day, last day), both inclusive, of a preset period ending today (or ``on``)."""
    end = on or today()
    if preset == "today":
        return end, end
    if preset in ("7d", "30d", "90d"):
        return end - timedelta(days=int(preset[:-1]) - 1), end
    if preset == "month":
        return _month_start(end), end
    if preset == "last_month":
        first = _add_months(_month_start(end), -1)
        return first, _month_start(end) - timedelta(days=1)
    if preset == "quarter":
        return date(end.year, 3 * ((end.month - 1) // 3) + 1, 1), end
    if preset == "12m":
        return _add_months(_month_start(end), -11), end
    if preset == "year":
        return date(end.year, 1, 1), end
    raise ValueError(preset)


@dataclass(frozen=True)
class KpiFilter:
    """A period [start, end] of local days (America/Sao_Paulo), both inclusive, and an optional slice."""

    start: date
    end: date
    segment_id: int | None = None
    owner_id: int | None = None
    kind: str | None = None  # customers.Customer.Kind value
    preset: str = "custom"

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    @property
    def start_dt(self) -> datetime:
        """Aware datetime of the period's first instant."""
        return timezone.make_aware(datetime.combine(self.start, time.min))

    @property
    def end_dt(self) -> datetime:
        """Aware datetime just after the period (exclusive bound)."""
        return timezone.make_aware(datetime.combine(self.end + timedelta(days=1), time.min))

    def previous(self) -> KpiFilter:
        """The comparison period: the same number of days just before; a whole-month preset
        compares with the previous months of the same count."""
        if self.start.day == 1 and (self.end + timedelta(days=1)).day == 1:
            months = (self.end.year - self.start.year) * 12 + self.end.month - self.start.month + 1
            start = _add_months(self.start, -months)
            return replace(self, start=start, end=self.start - timedelta(days=1), preset="custom")
        return replace(self, start=self.start - timedelta(days=self.days), end=self.start - timedelta(days=1))

    def customer_q(self, prefix: str = "customer__") -> Q:
        """Q for the slice, on a model reaching the customer through ``prefix`` ("" for Customer)."""
        q = Q()
        if self.segment_id:
            q &= Q(**{f"{prefix}segment_id": self.segment_id})
        if self.owner_id:
            q &= Q(**{f"{prefix}owner_id": self.owner_id})
        if self.kind:
            q &= Q(**{f"{prefix}kind": self.kind})
        return q

    def customer_sql(self, alias: str = "c") -> tuple[str, list[Any]]:
        """The slice as SQL on the customers table aliased ``alias``: (" AND …", params)."""
        sql, params = "", []
        for column, value in (("segment_id", self.segment_id), ("owner_id", self.owner_id), ("kind", self.kind)):
            if value:
                sql += f" AND {alias}.{column} = %s"
                params.append(value)
        return sql, params

    def months(self) -> list[date]:
        """First day of each calendar month the period touches."""
        out, month = [], _month_start(self.start)
        while month <= self.end:
            out.append(month)
            month = _add_months(month, 1)
        return out

    def as_params(self) -> dict[str, str]:
        """Query-string parameters that rebuild this filter (links, CSV downloads)."""
        params = {"period": self.preset}
        if self.preset == "custom":
            params.update(start=self.start.isoformat(), end=self.end.isoformat())
        for name in ("segment_id", "owner_id", "kind"):
            value = getattr(self, name)
            if value:
                params[name.removesuffix("_id")] = str(value)
        return params


class FilterError(ValueError):
    """A bad filter parameter; ``errors`` maps parameter → message (shown on the page, 400 in the API)."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


def _int(value: str | None, name: str, errors: dict[str, str]) -> int | None:
    if value in (None, ""):
        return None
    try:
        number = int(value)
    except (TypeError, ValueError):
        errors[name] = str(_("Must be a whole number."))
        return None
    if number <= 0:
        errors[name] = str(_("Must be a positive number."))
        return None
    return number


def _date(value: str | None, name: str, errors: dict[str, str]) -> date | None:
    if not value:
        errors[name] = str(_("Required for a custom period (YYYY-MM-DD)."))
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        errors[name] = str(_("Not a date; use YYYY-MM-DD."))
        return None


def filter_from_params(params: Any, *, owner_id: int | None = None) -> KpiFilter:
    """Build a KpiFilter from query parameters ``period`` (a preset or "custom" with ``start`` and
    ``end``), ``segment``, ``owner`` and ``kind``. ``owner_id`` forces the owner (an agent's own
    book). Raises FilterError with a message per bad parameter."""
    from customers.models import Customer

    errors: dict[str, str] = {}
    preset = params.get("period") or ("custom" if params.get("start") or params.get("end") else DEFAULT_PRESET)
    start = end = None
    if preset not in PRESETS:
        errors["period"] = str(_("Unknown period; use one of: %(names)s.") % {"names": ", ".join(PRESETS)})
    elif preset == "custom":
        start, end = _date(params.get("start"), "start", errors), _date(params.get("end"), "end", errors)
        if start and end:
            if end < start:
                errors["end"] = str(_("The end is before the start."))
            elif (end - start).days >= MAX_DAYS:
                errors["end"] = str(_("A period can be at most five years long."))
    else:
        start, end = preset_range(preset)
    segment_id = _int(params.get("segment"), "segment", errors)
    wanted_owner = _int(params.get("owner"), "owner", errors)
    kind = params.get("kind") or None
    if kind and kind not in Customer.Kind.values:
        errors["kind"] = str(
            _("Unknown customer kind; use one of: %(names)s.") % {"names": ", ".join(Customer.Kind.values)}
        )
    if errors:
        raise FilterError(errors)
    assert start is not None and end is not None
    return KpiFilter(
        start=start,
        end=end,
        segment_id=segment_id,
        owner_id=owner_id or wanted_owner,
        kind=kind,
        preset=preset,
    )
