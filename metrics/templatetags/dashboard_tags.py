"""How the dashboard writes a KPI figure, its change and a heat-map cell, per unit and per page
language (pt-BR "33,3" / English "33.3"). No figure is "0" when it is missing: None reads "—"."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import template
from django.utils import formats
from django.utils.translation import gettext as _

from customers.templatetags.customers_tags import brl
from support.templatetags.support_tags import duration

register = template.Library()

MISSING = "—"
# Decimals shown per unit; None: whole numbers (counts).
DECIMALS = {"hours": 1, "days": 1, "pct": 1, "score": 1, "stars": 1, "mean": 2, "count": None}
HEAT_BUCKETS = 10


def _number(value: Any, decimals: int | None) -> str:
    number = Decimal(str(value))
    if decimals is None:
        decimals = 0 if number == number.to_integral_value() else 1
    text = formats.number_format(abs(number), decimal_pos=decimals, use_l10n=True, force_grouping=True)
    # A true minus sign, as the change line writes it ("−100,0", not a hyphen).
    return f"−{text}" if number < 0 and text.strip("0,.") else text


@register.filter
def kpi_value(value: Any, unit: str = "") -> str:
    """A figure in its unit: 33,3% · 33,3 · 2 h 30 min · 1.234 · R$ 1.234,56 · 4,3 ★ · 5,25."""
    if value is None or value == "":
        return MISSING
    if unit == "seconds":
        return duration(float(value))
    if unit == "brl":
        return brl(value)
    text = _number(value, DECIMALS.get(unit, 1))
    if unit == "pct":
        return f"{text}%"
    if unit == "stars":
        return f"{text} ★"
    if unit == "hours":
        return f"{text} h"
    if unit == "days":
        return f"{text} d"
    return text


@register.filter
def kpi_change(value: Any, unit: str = "") -> str:
    """A period-over-period change with its sign; percentages change by percentage points."""
    if value is None or value == "":
        return MISSING
    number = Decimal(str(value))
    sign = "+" if number > 0 else ("−" if number < 0 else "")
    magnitude = abs(number)
    if unit == "seconds":
        text = duration(float(magnitude)) if magnitude else "0"
    elif unit == "brl":
        text = brl(magnitude)
    else:
        text = _number(magnitude, DECIMALS.get(unit, 1))
        if unit == "pct":
            text = _("%(number)s p.p.") % {"number": text}
    return f"{sign}{text}"


@register.filter
def change_tone(card: Any) -> str:
    """CSS suffix for a change: good or bad when the card says which direction is better, else flat."""
    change = getattr(card, "change", None)
    if change is None:
        return "none"
    if not change or not card.better:
        return "flat"
    up_is_good = card.better == "up"
    return "good" if (change > 0) == up_is_good else "bad"


@register.filter
def change_arrow(change: Any) -> str:
    if change is None:
        return ""
    return "▲" if change > 0 else ("▼" if change < 0 else "=")


@register.filter
def heat(value: Any) -> str:
    """CSS class of a cohort cell: heat-0 … heat-10 by tenths of 100 %; heat-none when empty."""
    if value is None:
        return "heat-none"
    share = max(0.0, min(100.0, float(value)))
    return f"heat-{int(share / 100 * HEAT_BUCKETS + 0.5)}"  # half up: 55 % is a 6, 45 % a 5


@register.filter
def measure_label(value: str) -> str:
    """A health measure's name ("tickets" → "Open and breached tickets"); other text as it is."""
    from metrics.health import MEASURE_LABELS

    return str(MEASURE_LABELS.get(value, value))
