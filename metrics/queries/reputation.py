"""Reputation (docs/metrics.md "Reputation"): reviews recorded in the period per source (Google,
Reclame Aqui, store pages…) with their average rating on the 0–5 scale, and overall.

Computed live from the reviews (a few thousand rows a year, indexed by ``reviewed_at``), in one
query. The comparison with ``f.previous()`` is the caller's: ``reputation(f.previous())``.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.db.models import Count, Q, Sum
from django.utils.translation import gettext as _

from ..filters import KpiFilter
from ..models import Review

CENT = Decimal("0.01")


def _is_sliced(f: KpiFilter) -> bool:
    return bool(f.segment_id or f.owner_id or f.kind)


@dataclass(frozen=True)
class SourceRating:
    """Reviews of one source (``source`` "" = all sources) in the period."""

    source: str
    count: int
    rating_sum: Decimal

    @property
    def label(self) -> str:
        return str(Review.Source(self.source).label) if self.source else _("All sources")

    @property
    def average(self) -> Decimal | None:
        """Sum of ratings ÷ number of reviews, two decimals (halves up); None without reviews."""
        if not self.count:
            return None
        return (self.rating_sum / self.count).quantize(CENT, rounding=ROUND_HALF_UP)

    def as_dict(self) -> dict[str, Any]:
        average = self.average
        return {
            "source": self.source,
            "label": self.label,
            "count": self.count,
            "average": None if average is None else str(average),
        }


@dataclass(frozen=True)
class Reputation:
    """Every source (in the order of Review.Source, zero counts included so the shape never
    changes), the overall figure, and — under a segment/owner/kind slice — how many reviews of
    the period were left out because they are linked to no customer."""

    sources: tuple[SourceRating, ...]
    overall: SourceRating
    unlinked_excluded: int | None

    def source(self, source: str) -> SourceRating:
        return next(s for s in self.sources if s.source == source)

    def as_dict(self) -> dict[str, Any]:
        return {
            "sources": [s.as_dict() for s in self.sources],
            "overall": self.overall.as_dict(),
            "unlinked_excluded": self.unlinked_excluded,
        }


def reputation(f: KpiFilter) -> Reputation:
    """Reviews with ``reviewed_at`` in [f.start_dt, f.end_dt) per source: count and average rating.

    Without a slice every review counts, linked to a customer or not. With a slice (segment,
    owner, kind) only reviews linked to a customer in the slice count: an unlinked review belongs
    to no segment or owner; those left out are counted in ``unlinked_excluded``. One query."""
    in_slice = f.customer_q()
    sliced = _is_sliced(f)
    rows = (
        Review.objects.filter(reviewed_at__gte=f.start_dt, reviewed_at__lt=f.end_dt)
        .filter(in_slice | Q(customer__isnull=True) if sliced else Q())
        .values("source")
        .annotate(
            n=Count("id", filter=in_slice if sliced else None),
            total=Sum("rating", filter=in_slice if sliced else None),
            unlinked=Count("id", filter=Q(customer__isnull=True)),
        )
        .order_by()
    )
    found = {row["source"]: row for row in rows}
    sources = tuple(
        SourceRating(
            source=value,
            count=found[value]["n"] if value in found else 0,
            rating_sum=Decimal(found[value]["total"] or 0) if value in found else Decimal(0),
        )
        for value in Review.Source.values
    )
    overall = SourceRating(
        source="", count=sum(s.count for s in sources), rating_sum=sum((s.rating_sum for s in sources), Decimal(0))
    )
    unlinked = sum(row["unlinked"] for row in found.values()) if sliced else None
    return Reputation(sources=sources, overall=overall, unlinked_excluded=unlinked)
