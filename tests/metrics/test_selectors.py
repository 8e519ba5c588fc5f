"""The dashboard's data layer (metrics/selectors.py) on the hand-built book of test_activity_rollups."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import translation

from metrics import rollups, selectors
from metrics.filters import KpiFilter
from surveys.models import Kind
from tests.factories import CustomerFactory
from tests.metrics.test_activity_rollups import D1, D2, PERIOD, answer, at, book  # noqa: F401 - fixture

pytestmark = pytest.mark.django_db


def card(board, key):
    return next(c for c in board.cards if c.key == key)


def test_cards_show_the_period_and_the_previous_one(book):  # noqa: F811
    mine, _theirs = book
    # previous period of [D1, D2] is [D1 − 2, D1 − 1]: one promoter answer there → NPS 100
    answer(mine, Kind.NPS, 10, at(D1 - timedelta(days=2), 12))
    board = selectors.dashboard(PERIOD)
    nps = card(board, "nps")
    assert (nps.value, nps.previous, nps.change) == (Decimal("25.0"), Decimal("100.0"), Decimal("-75.0"))
    assert nps.better == "up" and nps.group == "surveys"
    # counters summed as Decimals read as whole numbers ("10 of 11", not "10.00 of 11")
    with translation.override("en"):
        details = {c.key: c.detail for c in selectors.dashboard(PERIOD).cards}
    assert details["nps"] == "2 promoters · 1 passive · 1 detractor"
    assert details["response_rate"] == "10 of 11 invitations"
    assert details["sla_met"] == "1 of 2 tickets with an SLA"
    revenue = card(board, "revenue")
    assert (revenue.value, revenue.previous, revenue.change) == (Decimal("150.50"), Decimal(0), Decimal("150.50"))
    # a KPI with no data in either period is None, never 0
    csat_before = card(board, "csat").previous
    assert csat_before is None
    # the liability is a balance today: no comparison
    assert card(board, "loyalty_liability").previous is None


def test_charts_carry_the_hand_computed_series(book):  # noqa: F811
    board = selectors.dashboard(PERIOD)
    charts = {c.key: c for c in board.charts}
    assert set(charts) == set(selectors.CHART_KEYS)
    distribution = charts["nps_distribution"]
    assert distribution.labels == [str(n) for n in range(11)]
    # answers 10, 9, 8, 3
    assert distribution.series[0].data == [0, 0, 0, 1, 0, 0, 0, 0, 1, 1, 1]
    trend = charts["nps_trend"]  # drawn per day: D1 10 and 9 → 100; D2 8 (passive) and 3 → (0 − 1) ÷ 2 = −50
    assert trend.series[0].data == [100.0, -50.0]
    tmr = charts["tmr_sla_trend"]  # D1: 1 h, SLA met 1 of 1; D2: 2 h and 10 h → 6 h, SLA 0 of 1
    assert tmr.series[0].data == [1.0, 6.0] and tmr.series[1].data == [100.0, 0.0]


def test_a_long_period_is_drawn_per_month(book):  # noqa: F811
    year = KpiFilter(start=D1.replace(month=1, day=1), end=D1.replace(month=12, day=31))
    chart = selectors.chart(year, "nps_trend")
    assert len(chart.labels) == 12
    # March holds the four answers of the period plus the 0 of 12 March: (2 − 2) ÷ 5 = 0;
    # other months have none (None, not 0)
    assert chart.series[0].data[2] == 0.0 and chart.series[0].data[0] is None


def test_kpi_gives_full_figures_with_the_previous_period(book):  # noqa: F811
    data = selectors.kpi(PERIOD, "nps")
    assert data["value"] == 25.0 and data["promoters"] == 2 and data["detractors"] == 1
    assert data["previous"]["value"] is None
    with pytest.raises(KeyError):
        selectors.kpi(PERIOD, "nope")
    with pytest.raises(KeyError):
        selectors.chart(PERIOD, "nope")


def test_dashboard_costs_the_same_queries_for_a_small_and_a_larger_book(book, agent):  # noqa: F811
    rollups.rollup_day(D1)  # one day rolled up, one live — both paths exercised
    # a first call may create the loyalty programme's settings row (a flushed database has none)
    selectors.dashboard(PERIOD)
    with CaptureQueriesContext(connection) as small:
        selectors.dashboard(PERIOD)
    for n in range(12):
        customer = CustomerFactory(owner=agent)
        answer(customer, Kind.NPS, n % 11, at(D2, 10))
    with CaptureQueriesContext(connection) as large:
        selectors.dashboard(PERIOD)
    assert len(large.captured_queries) == len(small.captured_queries)


def test_loyalty_liability_follows_the_slice(book, agent):  # noqa: F811
    mine, theirs = book
    from loyalty import services as loyalty

    # 100 points for the agent's customer, 40 for the other agent's; a point is worth R$ 0.05 by default
    for customer, points, key in ((mine, 100, "a"), (theirs, 40, "b")):
        loyalty.adjust(actor=None, account=loyalty.account_for(customer), amount=Decimal(points), reason="t", key=key)
    value = loyalty.programme().point_value
    whole = selectors.kpi(PERIOD, "loyalty_liability")
    own = selectors.kpi(KpiFilter(start=D1, end=D2, owner_id=agent.pk), "loyalty_liability")
    assert Decimal(str(whole["points"])) == 140 and Decimal(str(own["points"])) == 100
    assert Decimal(str(own["value"])) == (100 * value).quantize(Decimal("0.01"))


def test_funnel_time_chart_shows_the_median_days_of_the_stays_that_ended(agent):
    from funnel.models import StageChange

    # two customers entered adoption on D1 at 00:00; one moved on after 1.5 days, the other after 3.5
    for hours in (36, 84):
        customer = CustomerFactory(owner=agent)
        StageChange.objects.create(customer=customer, from_stage="", to_stage="adoption", changed_at=at(D1, 0))
        StageChange.objects.create(
            customer=customer,
            from_stage="adoption",
            to_stage="retention",
            changed_at=at(D1, 0) + timedelta(hours=hours),
        )
    week = KpiFilter(start=D1, end=D1 + timedelta(days=6))
    chart = selectors.chart(week, "funnel_time")
    adoption = chart.series[0].data[0]
    # median of 1.5 and 3.5 days = 2.5; no stay in the other stages ended → None
    assert adoption == 2.5 and chart.series[0].data[1] is None and chart.unit == "days"


@pytest.fixture
def kpi_cache(settings):
    from django.core.cache import cache

    settings.METRICS_CACHE_SECONDS = 600
    cache.clear()
    yield
    cache.clear()


def test_live_kpis_are_cached_for_the_period_but_counters_are_not(book, kpi_cache):  # noqa: F811
    mine, _theirs = book
    with CaptureQueriesContext(connection) as first:
        board = selectors.dashboard(PERIOD)
    repurchase_before = card(board, "repurchase").value
    with CaptureQueriesContext(connection) as second:
        selectors.dashboard(PERIOD)
    # the second view reads churn, repurchase, cohorts, funnel, medians and health from the cache
    assert len(second.captured_queries) < len(first.captured_queries) - 10
    # a new order: revenue (a counter) moves at once; the repurchase rate waits for the cache to expire
    from tests.factories import OrderFactory

    OrderFactory(customer=mine, amount=Decimal("10.00"), purchased_at=at(D2, 20))
    board = selectors.dashboard(PERIOD)
    assert card(board, "revenue").value == Decimal("160.50")
    assert card(board, "repurchase").value == repurchase_before


def test_cached_results_are_read_in_the_language_of_each_request(book, kpi_cache):  # noqa: F811
    with translation.override("en"):
        english = selectors.chart(PERIOD, "funnel").labels
    with translation.override("pt-br"):
        portuguese = selectors.chart(PERIOD, "funnel").labels
    assert english[0] == "Adoption" and portuguese[0] == "Adoção"


def test_an_unreachable_cache_is_skipped(book, settings, caplog):  # noqa: F811
    settings.METRICS_CACHE_SECONDS = 600
    # a real Redis client against a port where nothing listens
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": "redis://127.0.0.1:1/0"}
    }
    from django.core.cache import caches

    caches._settings = None  # noqa: SLF001 - rebuild the cache handler from the overridden settings
    try:
        assert card(selectors.dashboard(PERIOD), "nps").value == Decimal("25.0")
        assert "metrics cache unavailable" in caplog.text
    finally:
        caches._settings = None  # noqa: SLF001


def test_a_live_kpi_costs_no_roll_up_query(book):  # noqa: F811
    with CaptureQueriesContext(connection) as queries:
        selectors.kpi(PERIOD, "repurchase")
    assert not [q for q in queries.captured_queries if "metrics_rollupday" in q["sql"]]
    with CaptureQueriesContext(connection) as queries:
        selectors.kpi(PERIOD, "nps")
    assert [q for q in queries.captured_queries if "metrics_rollupday" in q["sql"]]
