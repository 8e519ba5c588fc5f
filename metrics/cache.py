"""A short-lived cache of the KPIs that cannot be summed from the daily roll-ups (churn, revenue
retention, repurchase, cohorts, the funnel, ticket medians, health, reputation, liability).

Each is a query over the whole book that takes from milliseconds on a small book to a second or
more on a million customers; the dashboard, its CSV downloads and the API compute each one at most
once per ``METRICS_CACHE_SECONDS`` (default 600) for the same period and slice. Counters (NPS,
CSAT, TMR means, e-mail, orders…) are never cached: they are summed from the roll-ups plus today's
live rows on every request. A cache that cannot be reached (Redis down) is skipped, not fatal.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

from django.conf import settings
from django.core.cache import cache

from .filters import KpiFilter

T = TypeVar("T")
log = logging.getLogger(__name__)
VERSION = 1  # bump when a cached result's shape changes


def key_for(name: str, f: KpiFilter) -> str:
    return f"metrics:{VERSION}:{name}:{f.start}:{f.end}:{f.segment_id or ''}:{f.owner_id or ''}:{f.kind or ''}"


def cached(name: str, f: KpiFilter, compute: Callable[[], T]) -> T:
    """``compute()``'s result for ``name`` over ``f``, from the cache when it holds a fresh one."""
    seconds = settings.METRICS_CACHE_SECONDS
    if seconds <= 0:
        return compute()
    key = key_for(name, f)
    try:
        hit = cache.get(key)
    except Exception:  # noqa: BLE001 - a cache outage must not break the dashboard
        log.warning("metrics cache unavailable; computing %s", name, exc_info=True)
        return compute()
    if hit is not None:
        return hit
    value = compute()
    try:
        cache.set(key, value, seconds)
    except Exception:  # noqa: BLE001
        log.warning("metrics cache unavailable; %s not stored", name, exc_info=True)
    return value
