"""The health score in other apps' pages, without those apps importing metrics (DESIGN.md):

- ``{% load health_tags %}{% customer_health_panel customer user %}`` — the 360 panel (score, band,
  measures, what pulled it down, the 90-day trend, the owner's rating form);
- ``{% include "metrics/_health_badge.html" with health=c.health %}`` — the badge of lists and
  cards (the caller ``select_related("health")`` so it costs no query);
- ``{{ component|health_detail }}`` / ``{{ component|health_label }}`` — one measure in words.
"""

from __future__ import annotations

from typing import Any

from django import template
from django.core.exceptions import ObjectDoesNotExist
from django.utils.translation import gettext as _

from metrics import health
from metrics.models import HealthScore
from posvenda import roles

register = template.Library()

SPARK_WIDTH = 270
SPARK_HEIGHT = 64
SPARK_PAD = 4


@register.filter
def health_detail(component: dict[str, Any]) -> str:
    return health.component_text(component)


@register.filter
def health_label(component: dict[str, Any] | str) -> str:
    name = component.get("measure") if isinstance(component, dict) else component
    return str(health.MEASURE_LABELS.get(name or "", name or ""))


def _y(score: float) -> float:
    return round(SPARK_PAD + (100 - score) * (SPARK_HEIGHT - 2 * SPARK_PAD) / 100, 1)


def sparkline(points: list[tuple[Any, int]], *, days: int, red_below: int, green_from: int) -> dict[str, Any]:
    """SVG coordinates for the trend: a polyline over ``days`` days (x by day), band limits as
    guide lines. Pure SVG attributes, no inline style or script (the CSP forbids them)."""
    if not points:
        return {}
    first_day = points[-1][0].toordinal() - (days - 1)
    step = (SPARK_WIDTH - 2 * SPARK_PAD) / max(days - 1, 1)
    coords = [(round(SPARK_PAD + (day.toordinal() - first_day) * step, 1), _y(score)) for day, score in points]
    if len(coords) == 1:  # a single day still draws a visible dash
        x, y = coords[0]
        coords = [(max(SPARK_PAD, x - 6), y), (x, y)]
    scores = [score for _day, score in points]
    return {
        "width": SPARK_WIDTH,
        "height": SPARK_HEIGHT,
        "polyline": " ".join(f"{x},{y}" for x, y in coords),
        "last_x": coords[-1][0],
        "last_y": coords[-1][1],
        "red_y": _y(red_below),
        "green_y": _y(green_from),
        "first": scores[0],
        "last": scores[-1],
        "low": min(scores),
        "high": max(scores),
        "since": points[0][0],
    }


@register.inclusion_tag("metrics/_health_panel.html")
def customer_health_panel(customer: Any, user: Any) -> dict[str, Any]:
    """The 360 panel. Costs two queries when the customer has a score (settings, trend), one when
    not (settings), on top of ``customer.health`` (select_related by the 360 selector)."""
    try:
        score: HealthScore | None = customer.health
    except ObjectDoesNotExist:
        score = None
    config = health.health_config_get()
    trend = health.health_trend(customer_id=customer.pk) if score is not None else []
    components = score.components if score is not None else []
    return {
        "customer": customer,
        "health": score,
        "config": config,
        "components": components,
        "down": health.pulled_down(components),
        "spark": sparkline(trend, days=health.TREND_DAYS, red_below=config.red_below, green_from=config.green_from),
        "trend_days": health.TREND_DAYS,
        "can_rate": roles.can_edit_customer(user, customer),
        "is_manager": roles.is_manager(user),
        "ratings": [(n, _rating_label(n)) for n in range(1, 6)],
    }


def _rating_label(n: int) -> str:
    return {
        1: _("1 — very unhappy"),
        2: _("2 — unhappy"),
        3: _("3 — neutral"),
        4: _("4 — happy"),
        5: _("5 — very happy"),
    }[n]
