"""The dashboard's data: KPI cards with the previous period, charts and the cohort heat map, in a
fixed number of queries whatever the size of the book. Pages, CSV downloads and the API all read
from here; every figure comes from one KPI function in metrics/queries/ (docs/metrics.md)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from django.db.models import Count
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from surveys.models import SCALES, Kind

from . import rollups
from .cache import cached
from .filters import KpiFilter
from .health import pulled_down
from .models import HealthBand, HealthScore
from .queries import activity
from .queries.activity import Counts, Kpi

# Trends are drawn per day for periods up to this many days, per month beyond.
DAILY_TREND_MAX_DAYS = 62
AT_RISK_LIMIT = 10


@dataclass(frozen=True)
class Card:
    key: str
    label: str
    value: Decimal | None
    previous: Decimal | None
    change: Decimal | None
    unit: str  # pct, score, seconds, count, brl, stars, mean
    better: str  # up, down, "" (neither)
    detail: str
    group: str


@dataclass(frozen=True)
class Series:
    key: str
    label: str
    data: list[float | None]
    unit: str = ""  # when a chart mixes units (e.g. hours and %); else the chart's unit


@dataclass(frozen=True)
class Chart:
    key: str
    title: str
    kind: str  # line, bar, stacked
    unit: str
    labels: list[str]
    series: list[Series]


@dataclass(frozen=True)
class CohortRow:
    cohort: str
    size: int
    cells: list[float | None]


@dataclass(frozen=True)
class Cohorts:
    basis: str
    months: list[str]
    rows: list[CohortRow]


@dataclass
class Dashboard:
    filter: KpiFilter
    previous: KpiFilter
    cards: list[Card] = field(default_factory=list)
    charts: list[Chart] = field(default_factory=list)
    cohorts: Cohorts | None = None
    at_risk: list[dict[str, Any]] = field(default_factory=list)


def _f(value: Any) -> float | None:
    return None if value is None else float(value)


# --- KPI registry -------------------------------------------------------------------------------
# key → (label, unit, better, group, compute). ``compute(ctx)`` returns a Kpi; ``ctx`` carries the
# period's summed counters so that every additive KPI costs no query of its own.


@dataclass
class _Ctx:
    f: KpiFilter
    given_counts: Counts | None = None
    _cache: dict[str, Any] = field(default_factory=dict)

    @property
    def counts(self) -> Counts:
        """The period's summed counters, read on first use: a KPI computed from the source tables
        alone (churn, retention, repurchase, liability…) costs no roll-up query."""
        if self.given_counts is None:
            self.given_counts = rollups.counts(self.f)
        return self.given_counts

    def once(self, name: str, fn: Callable[[], Any]) -> Any:
        """A live (non-additive) KPI's result, computed once per request and kept in the short-lived
        metrics cache (metrics/cache.py) for the same period and slice."""
        if name not in self._cache:
            self._cache[name] = cached(name, self.f, fn)
        return self._cache[name]


def _customer_kpi(name: str, attr: str) -> Callable[[_Ctx], Kpi]:
    """A live customer KPI (metrics/queries/customers.py) as a Kpi: ``attr`` is its headline."""

    def compute(ctx: _Ctx) -> Kpi:
        from .queries import customers

        result = ctx.once(name, lambda: getattr(customers, name)(ctx.f))
        data = result.as_dict()
        value = getattr(result, attr)
        return Kpi(None if value is None else Decimal(str(value)), {k: v for k, v in data.items() if k != attr})

    return compute


def _medians(ctx: _Ctx) -> dict[str, Decimal | None]:
    from .queries.support import ticket_medians

    return ctx.once("medians", lambda: ticket_medians(ctx.f))


def _tmr(ctx: _Ctx) -> Kpi:
    kpi = activity.tmr(ctx.counts)
    return Kpi(kpi.value, {**kpi.parts, "median_seconds": _medians(ctx)["resolution_median"]})


def _first_response(ctx: _Ctx) -> Kpi:
    kpi = activity.first_response(ctx.counts)
    return Kpi(kpi.value, {**kpi.parts, "median_seconds": _medians(ctx)["first_response_median"]})


def _reputation(ctx: _Ctx) -> Kpi:
    from .queries.reputation import reputation

    result = ctx.once("reputation", lambda: reputation(ctx.f))
    data = result.as_dict()
    overall = data.get("overall") or {}
    average = overall.get("average")
    return Kpi(None if average is None else Decimal(str(average)), {"reviews": overall.get("count", 0), **data})


def _liability(ctx: _Ctx) -> Kpi:
    from loyalty.services import liability

    sliced = ctx.f.customer_q("") if (ctx.f.owner_id or ctx.f.segment_id or ctx.f.kind) else None
    data = ctx.once("liability", lambda: liability(customers=sliced))
    return Kpi(data["total"], {k: v for k, v in data.items() if k != "total"})


def _registry() -> dict[str, tuple[Any, str, str, str, Callable[[_Ctx], Kpi]]]:
    c = lambda fn: lambda ctx: fn(ctx.counts)  # noqa: E731 - a formula over counters
    email = lambda key: lambda ctx: activity.email_rates(ctx.counts)[key]  # noqa: E731
    order = lambda key: lambda ctx: activity.orders(ctx.counts)[key]  # noqa: E731
    return {
        # label, unit, better, group, compute
        "logo_churn": (gettext_lazy("Logo churn"), "pct", "down", "customers", _customer_kpi("logo_churn", "rate")),
        "grr": (
            gettext_lazy("Gross revenue retention"),
            "pct",
            "up",
            "customers",
            _customer_kpi("revenue_churn", "grr"),
        ),
        "nrr": (gettext_lazy("Net revenue retention"), "pct", "up", "customers", _customer_kpi("revenue_churn", "nrr")),
        "repurchase": (gettext_lazy("Repurchase rate"), "pct", "up", "customers", _customer_kpi("repurchase", "rate")),
        "repeat_customers": (
            gettext_lazy("Repeat customers"),
            "pct",
            "up",
            "customers",
            _customer_kpi("repeat_customer_rate", "rate"),
        ),
        "orders": (gettext_lazy("Paid orders"), "count", "up", "customers", order("orders")),
        "revenue": (gettext_lazy("Revenue"), "brl", "up", "customers", order("revenue")),
        "nps": (gettext_lazy("NPS"), "score", "up", "surveys", c(activity.nps)),
        "csat": (gettext_lazy("CSAT"), "pct", "up", "surveys", c(activity.csat)),
        "ces": (gettext_lazy("CES"), "mean", "up", "surveys", c(activity.ces)),
        "response_rate": (gettext_lazy("Survey response rate"), "pct", "up", "surveys", c(activity.response_rate)),
        "tmr": (gettext_lazy("TMR (mean resolution time)"), "seconds", "down", "support", _tmr),
        "first_response": (gettext_lazy("First response time"), "seconds", "down", "support", _first_response),
        "sla_met": (gettext_lazy("SLA met"), "pct", "up", "support", c(activity.sla_met)),
        "tickets_opened": (gettext_lazy("Tickets opened"), "count", "", "support", c(activity.tickets_opened)),
        "email_delivery": (gettext_lazy("E-mail delivery rate"), "pct", "up", "email", email("email_delivery")),
        "email_open": (gettext_lazy("E-mail open rate"), "pct", "up", "email", email("email_open")),
        "email_click": (gettext_lazy("E-mail click rate"), "pct", "up", "email", email("email_click")),
        "email_bounce": (gettext_lazy("Bounce rate"), "pct", "down", "email", email("email_bounce")),
        "email_unsubscribe": (gettext_lazy("Unsubscribe rate"), "pct", "down", "email", email("email_unsubscribe")),
        "promoters": (
            gettext_lazy("Promoter answers"),
            "count",
            "up",
            "evangelization",
            lambda ctx: Kpi(Decimal(activity.nps(ctx.counts).parts["promoters"]), {}),
        ),
        "referrals": (gettext_lazy("Referrals converted"), "count", "up", "evangelization", c(activity.referrals)),
        "loyalty_liability": (gettext_lazy("Loyalty liability"), "brl", "", "evangelization", _liability),
        "reputation": (gettext_lazy("Average review rating"), "stars", "up", "reputation", _reputation),
    }


REGISTRY = _registry()
KPI_KEYS = list(REGISTRY)


def kpi_keys() -> list[str]:
    return KPI_KEYS


# KPIs that have no period (a balance today): no comparison with the previous period.
POINT_IN_TIME = {"loyalty_liability"}


def _detail(key: str, kpi: Kpi) -> str:
    # counters are Decimals summed from the roll-ups: show them as whole numbers
    p = {k: int(v) if isinstance(v, Decimal) and v == v.to_integral_value() else v for k, v in kpi.parts.items()}
    if key == "nps":
        return " · ".join(
            (
                ngettext("%(n)s promoter", "%(n)s promoters", p["promoters"]) % {"n": p["promoters"]},
                ngettext("%(n)s passive", "%(n)s passives", p["passives"]) % {"n": p["passives"]},
                ngettext("%(n)s detractor", "%(n)s detractors", p["detractors"]) % {"n": p["detractors"]},
            )
        )
    if key in ("csat", "ces"):
        return ngettext("%(n)s answer", "%(n)s answers", p["answers"]) % {"n": p["answers"]}
    if key == "response_rate":
        sent = p["sent"]
        return ngettext("%(a)s of %(s)s invitation", "%(a)s of %(s)s invitations", sent) % {
            "a": p["answered"],
            "s": sent,
        }
    if key == "sla_met":
        total = p["with_policy"]
        return ngettext("%(m)s of %(t)s ticket with an SLA", "%(m)s of %(t)s tickets with an SLA", total) % {
            "m": p["met"],
            "t": total,
        }
    if key == "referrals":
        sent = p["sent"]
        return ngettext("%(s)s referral sent", "%(s)s referrals sent", sent) % {"s": sent}
    if key == "reputation":
        return ngettext("%(n)s review", "%(n)s reviews", p["reviews"]) % {"n": p["reviews"]}
    return ""


def _compute(keys: list[str], f: KpiFilter, counts: Counts | None = None) -> dict[str, Kpi]:
    ctx = _Ctx(f=f, given_counts=counts)
    return {key: REGISTRY[key][4](ctx) for key in keys}


def cards(f: KpiFilter, *, counts: Counts | None = None, previous_counts: Counts | None = None) -> list[Card]:
    keys = kpi_keys()
    now = _compute(keys, f, counts)
    before = _compute([k for k in keys if k not in POINT_IN_TIME], f.previous(), previous_counts)
    out = []
    for key in keys:
        label, unit, better, group, _fn = REGISTRY[key]
        value = now[key].value
        previous = before[key].value if key in before else None
        change = value - previous if value is not None and previous is not None else None
        out.append(Card(key, str(label), value, previous, change, unit, better, _detail(key, now[key]), group))
    return out


def kpi(f: KpiFilter, key: str) -> dict[str, Any]:
    """One KPI's full figures for the period and the previous one (KeyError: unknown key)."""
    keys = kpi_keys()
    if key not in keys:
        raise KeyError(key)
    result = _compute([key], f)[key].as_dict()
    if key not in POINT_IN_TIME:
        result["previous"] = _compute([key], f.previous())[key].as_dict()
    label, unit, better, group, _fn = REGISTRY[key]
    return {"key": key, "label": str(label), "unit": unit, "better": better, "group": group, **result}


# --- charts --------------------------------------------------------------------------------------


def _trend_buckets(f: KpiFilter, per_day: dict[date, Counts]) -> tuple[list[str], list[Counts]]:
    by = "day" if f.days <= DAILY_TREND_MAX_DAYS else "month"
    buckets = rollups.bucketed(per_day, by)
    if by == "day":
        keys = [f.start + timedelta(days=n) for n in range(f.days)]
        labels = [date_format(d, "SHORT_DATE_FORMAT") for d in keys]
    else:
        keys = f.months()
        labels = [date_format(d, "YEAR_MONTH_FORMAT") for d in keys]
    return labels, [buckets.get(k, Counts()) for k in keys]


def _chart_nps_trend(f: KpiFilter, per_day: dict[date, Counts]) -> Chart:
    labels, buckets = _trend_buckets(f, per_day)
    return Chart(
        "nps_trend",
        _("NPS trend"),
        "line",
        "score",
        labels,
        [
            Series("nps", _("NPS"), [_f(activity.nps(b).value) for b in buckets], "score"),
            Series("answers", _("NPS answers"), [float(activity.nps(b).parts["answers"]) for b in buckets], "count"),
        ],
    )


def _chart_nps_distribution(f: KpiFilter, counts: Counts) -> Chart:
    low, high = SCALES[Kind.NPS]
    scores = counts.scores(Kind.NPS)
    return Chart(
        "nps_distribution",
        _("NPS answers by score"),
        "bar",
        "count",
        [str(s) for s in range(low, high + 1)],
        [Series("answers", _("Answers"), [float(scores[s]) for s in range(low, high + 1)])],
    )


def _chart_tmr_sla(f: KpiFilter, per_day: dict[date, Counts]) -> Chart:
    labels, buckets = _trend_buckets(f, per_day)
    hours = [None if activity.tmr(b).value is None else round(float(activity.tmr(b).value) / 3600, 2) for b in buckets]
    return Chart(
        "tmr_sla_trend",
        _("TMR (hours) and SLA met (%)"),
        "line",
        "mixed",
        labels,
        [
            Series("tmr_hours", _("TMR (hours)"), hours, "hours"),
            Series("sla_met", _("SLA met (%)"), [_f(activity.sla_met(b).value) for b in buckets], "pct"),
        ],
    )


def _chart_email(f: KpiFilter, per_day: dict[date, Counts]) -> Chart:
    labels, buckets = _trend_buckets(f, per_day)
    rates = [activity.email_rates(b) for b in buckets]
    return Chart(
        "email_trend",
        _("E-mail open and click rates"),
        "line",
        "pct",
        labels,
        [
            Series("open", _("Open rate (%)"), [_f(r["email_open"].value) for r in rates]),
            Series("click", _("Click rate (%)"), [_f(r["email_click"].value) for r in rates]),
        ],
    )


def _funnel(f: KpiFilter) -> list[dict[str, Any]]:
    from .queries.funnel import funnel

    # the result object is cached (its labels are translated when read, in the page's language)
    return cached("funnel", f, lambda: funnel(f)).as_dict()["stages"]


def _chart_funnel(rows: list[dict[str, Any]]) -> Chart:
    return Chart(
        "funnel",
        _("Customers per stage and conversion"),
        "bar",
        "count",
        [row["label"] for row in rows],
        [
            Series("customers", _("Customers"), [_f(row["customers"]) for row in rows], "count"),
            Series(
                "conversion",
                _("Conversion to the next stage (%)"),
                [_f(row.get("conversion")) for row in rows],
                "pct",
            ),
        ],
    )


def _chart_funnel_time(rows: list[dict[str, Any]]) -> Chart:
    """Median days in each stage, of the stays that ended in the period (docs "Funnel")."""
    return Chart(
        "funnel_time",
        _("Median days in each stage"),
        "bar",
        "days",
        [row["label"] for row in rows],
        [Series("median_days", _("Median days"), [_f(row.get("median_days")) for row in rows], "days")],
    )


def _chart_churn_repurchase(f: KpiFilter) -> Chart:
    from .queries import customers

    churn = cached("churn_trend", f, lambda: customers.churn_trend(f))
    repurchase = cached("repurchase_trend", f, lambda: customers.repurchase_trend(f))
    return Chart(
        "churn_repurchase_trend",
        _("Churn and repurchase per month (%)"),
        "line",
        "pct",
        [date_format(m, "YEAR_MONTH_FORMAT") for m in f.months()],
        [
            Series("churn", _("Logo churn (%)"), [_f(p.churn.rate) for p in churn.points]),
            Series("repurchase", _("Repurchase rate (%)"), [_f(p.repurchase.rate) for p in repurchase.points]),
        ],
    )


def _health_scores(f: KpiFilter):  # noqa: ANN202 - QuerySet[HealthScore]
    return HealthScore.objects.filter(f.customer_q())


def _chart_health(f: KpiFilter) -> Chart:
    counts = cached(
        "health_bands",
        f,
        lambda: dict(_health_scores(f).order_by().values_list("band").annotate(n=Count("pk")).values_list("band", "n")),
    )
    bands = [HealthBand.RED, HealthBand.YELLOW, HealthBand.GREEN]
    return Chart(
        "health_distribution",
        _("Customers by health"),
        "bar",
        "count",
        [str(b.label) for b in bands],
        [Series("customers", _("Customers"), [float(counts.get(b.value, 0)) for b in bands])],
    )


def at_risk(f: KpiFilter, *, limit: int = AT_RISK_LIMIT) -> list[dict[str, Any]]:
    """The lowest health scores in the red band, with the measure that pulled each down most."""
    return cached(f"at_risk:{limit}", f, lambda: _at_risk(f, limit))


def _at_risk(f: KpiFilter, limit: int) -> list[dict[str, Any]]:
    rows = (
        _health_scores(f)
        .filter(band=HealthBand.RED)
        .select_related("customer__owner")
        .order_by("score", "customer_id")[:limit]
    )
    out = []
    for row in rows:
        down = pulled_down(row.components or [])
        owner = row.customer.owner
        out.append(
            {
                "id": row.customer_id,
                "name": row.customer.name,
                "owner": (owner.get_full_name() or owner.username) if owner else "",
                "score": row.score,
                "band": row.band,
                "reason": down[0]["measure"] if down else "",
            }
        )
    return out


def cohorts(f: KpiFilter, *, basis: str = "purchase") -> Cohorts:
    from .queries.customers import cohort_retention

    data = cached(f"cohorts:{basis}", f, lambda: cohort_retention(f, basis=basis)).as_dict()
    rows = [CohortRow(r["cohort"], r["size"], [_f(c) for c in r["cells"]]) for r in data["cohorts"]]
    width = max((len(r.cells) for r in rows), default=0)
    return Cohorts(basis, [f"M{n}" for n in range(width)], rows)


CHART_KEYS = [
    "nps_trend",
    "nps_distribution",
    "funnel",
    "funnel_time",
    "churn_repurchase_trend",
    "tmr_sla_trend",
    "health_distribution",
    "email_trend",
]


def _charts(f: KpiFilter, per_day: dict[date, Counts], counts: Counts, keys: list[str]) -> list[Chart]:
    funnel_rows: list[list[dict[str, Any]]] = []  # the funnel KPI once for its two charts

    def stages() -> list[dict[str, Any]]:
        if not funnel_rows:
            funnel_rows.append(_funnel(f))
        return funnel_rows[0]

    builders: dict[str, Callable[[], Chart]] = {
        "nps_trend": lambda: _chart_nps_trend(f, per_day),
        "nps_distribution": lambda: _chart_nps_distribution(f, counts),
        "funnel": lambda: _chart_funnel(stages()),
        "funnel_time": lambda: _chart_funnel_time(stages()),
        "churn_repurchase_trend": lambda: _chart_churn_repurchase(f),
        "tmr_sla_trend": lambda: _chart_tmr_sla(f, per_day),
        "health_distribution": lambda: _chart_health(f),
        "email_trend": lambda: _chart_email(f, per_day),
    }
    return [builders[key]() for key in keys]


def _sum(per_day: dict[date, Counts]) -> Counts:
    total = Counts()
    for day_counts in per_day.values():
        for key, value in day_counts.items():
            total[key] += value
    return total


def chart(f: KpiFilter, key: str) -> Chart:
    if key not in CHART_KEYS:
        raise KeyError(key)
    per_day = rollups.daily_counts(f)
    return _charts(f, per_day, _sum(per_day), [key])[0]


def dashboard(f: KpiFilter) -> Dashboard:
    """Everything on the dashboard page for the period and slice ``f``."""
    per_day = rollups.daily_counts(f)
    counts = _sum(per_day)
    board = Dashboard(filter=f, previous=f.previous())
    board.cards = cards(f, counts=counts)
    board.charts = _charts(f, per_day, counts, CHART_KEYS)
    board.cohorts = cohorts(f)
    board.at_risk = at_risk(f)
    return board
