"""Shared by every KPI module: rounding of percentages and JSON-safe values."""

from __future__ import annotations

from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

ONE = Decimal("0.1")
TWO = Decimal("0.01")


def pct(part: Decimal | int, whole: Decimal | int) -> Decimal | None:
    """part ÷ whole × 100, one decimal, half up; None when the denominator is empty (never a fake 0)."""
    if not whole:
        return None
    return (Decimal(part) * 100 / Decimal(whole)).quantize(ONE, rounding=ROUND_HALF_UP)


def json_value(value: Any) -> Any:
    """JSON-safe: Decimals as numbers (whole counters as ints), dates as ISO strings."""
    if isinstance(value, Decimal):
        if value == value.to_integral_value() and value.as_tuple().exponent >= 0:
            return int(value)
        return float(value)
    if isinstance(value, date):
        return value.isoformat()
    return value
