"""Health score: each measure's formula and the weighted average (docs/metrics.md, "Health score"),
on figures computed by hand. Pure functions: no database except where the settings row is read."""

import pytest

from metrics import health
from metrics.models import HealthConfig


def config(**weights) -> HealthConfig:
    """The default settings (25/20/25/15/15, red below 40, green from 70), with overrides; unsaved."""
    return HealthConfig(**weights)


# --- each measure ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "score", "expected"),
    [
        ("nps", 10, 100),
        ("nps", 9, 100),  # promoter
        ("nps", 8, 75),  # passive
        ("nps", 7, 60),
        ("nps", 6, 30),  # detractor: 6 × 5
        ("nps", 3, 15),
        ("nps", 0, 0),
        ("csat", 5, 100),
        ("csat", 4, 75),
        ("csat", 3, 50),
        ("csat", 1, 0),
        ("nps", None, None),  # no answer: no data
    ],
)
def test_latest_answer_scores(kind, score, expected):
    assert health.survey_measure(kind, score) == expected


@pytest.mark.parametrize(
    ("open_count", "breached", "expected"),
    [
        (0, 0, 100),
        (1, 0, 85),  # 100 − 15
        (2, 1, 45),  # 100 − 2 × 15 − 25
        (3, 3, 0),  # 100 − 45 − 75 = −20 → floored at 0
    ],
)
def test_tickets_score_drops_per_open_and_per_breached_ticket(open_count, breached, expected):
    assert health.tickets_measure(open_count, breached) == expected


@pytest.mark.parametrize(
    ("days", "expected"),
    [
        (0, 100),
        (90, 100),
        (200, 60),  # 100 × (365 − 200) ÷ 275 = 60
        (300, 24),  # 100 × 65 ÷ 275 = 23.6 → 24
        (365, 0),
        (900, 0),
    ],
)
def test_purchase_recency_is_linear_between_90_and_365_days(days, expected):
    assert health.recency_measure(days) == expected


@pytest.mark.parametrize(("orders", "expected"), [(0, 0), (1, 50), (2, 75), (3, 100), (12, 100)])
def test_purchase_frequency_counts_paid_orders_in_12_months(orders, expected):
    assert health.frequency_measure(orders) == expected


@pytest.mark.parametrize(
    ("active", "renewing", "expected"),
    [(0, 0, 0), (1, 0, 50), (1, 1, 100), (2, 1, 100)],
)
def test_contract_status(active, renewing, expected):
    assert health.contract_measure(active, renewing) == expected


@pytest.mark.parametrize(
    ("sent", "engaged", "complained", "expected"),
    [
        (0, 0, 0, None),  # nothing sent: no data
        (4, 1, 0, 50),  # 1 of 4 opened = 25 % × 2
        (4, 2, 0, 100),  # half opened: full marks
        (3, 1, 0, 67),  # 33.3 % × 2 = 66.7 → 67
        (10, 0, 0, 0),
        (4, 4, 1, 0),  # a spam complaint
    ],
)
def test_email_engagement(sent, engaged, complained, expected):
    assert health.engagement_measure(sent, engaged, complained) == expected


@pytest.mark.parametrize(("rating", "expected"), [(None, None), (1, 0), (2, 25), (3, 50), (4, 75), (5, 100)])
def test_owner_rating(rating, expected):
    assert health.manual_measure(rating) == expected


# --- bands and the weighted average ---------------------------------------------------------------


@pytest.mark.parametrize(("score", "band"), [(0, "red"), (39, "red"), (40, "yellow"), (69, "yellow"), (70, "green")])
def test_bands_with_the_default_limits(score, band):
    assert health.band_for(score, config()) == band


def test_bands_follow_the_managers_limits():
    custom = config(red_below=50, green_from=80)
    assert [health.band_for(s, custom) for s in (49, 50, 79, 80)] == ["red", "yellow", "yellow", "green"]


def test_worked_example_weighted_average_and_what_pulled_it_down():
    # given the docs' worked example, default weights 25/20/25/15/15:
    # NPS 6 → 30; 2 open tickets, 1 breached → 45; last order 200 days ago and 2 in 12 months →
    # (60 + 75) ÷ 2 = 67.5 → 68; 1 of 4 e-mails opened → 50; owner's rating 4 → 75.
    measures = {
        "survey": (30, {}),
        "tickets": (45, {}),
        "purchases": (68, {}),
        "engagement": (50, {}),
        "manual": (75, {}),
    }
    # when
    result = health.combine(measures, config())
    # then (25×30 + 20×45 + 25×68 + 15×50 + 15×75) ÷ 100 = 5225 ÷ 100 = 52.25 → 52, yellow
    assert (result.score, result.band) == (52, "yellow")
    lost = {c["measure"]: c["lost"] for c in result.components}
    # each measure's cost: weight share × (100 − measure): 17.5 + 11 + 8 + 7.5 + 3.75 = 47.75 = 100 − 52.25
    assert lost == {"survey": 17.5, "tickets": 11.0, "purchases": 8.0, "engagement": 7.5, "manual": 3.8}
    # the owner's 75 is green on its own: it costs points but did not pull the score down
    assert [c["measure"] for c in health.pulled_down(result.components)] == [
        "survey",
        "tickets",
        "purchases",
        "engagement",
    ]


def test_measures_without_data_are_left_out_and_the_others_weights_scale_up():
    # given NPS 3 → 15 and one open ticket → 85; no purchases, e-mails or rating
    measures = {"survey": (15, {}), "tickets": (85, {}), "purchases": (None, {}), "engagement": (None, {})}
    # when
    result = health.combine(measures, config())
    # then (25 × 15 + 20 × 85) ÷ 45 = 2075 ÷ 45 = 46.1 → 46; shares 25/45 = 55.6 %, 20/45 = 44.4 %
    assert (result.score, result.band) == (46, "yellow")
    shares = {c["measure"]: c["share"] for c in result.components}
    assert shares == {"survey": 55.6, "tickets": 44.4, "purchases": 0.0, "engagement": 0.0, "manual": 0.0}


def test_a_zero_weight_leaves_a_measure_out():
    # given tickets weighted 0: only NPS 10 (100) and the contract (0) count, 25 each
    measures = {"survey": (100, {}), "tickets": (0, {}), "purchases": (0, {})}
    result = health.combine(measures, config(weight_tickets=0))
    # then (25 × 100 + 25 × 0) ÷ 50 = 50
    assert result.score == 50


def test_half_points_round_up():
    # given two measures of equal weight at 40 and 41: 40.5 → 41 (half up, not to even)
    measures = {"survey": (40, {}), "purchases": (41, {})}
    assert health.combine(measures, config()).score == 41


def test_no_open_tickets_alone_is_not_a_score():
    # given a customer we know nothing about except that no ticket is open
    assert health.combine({"tickets": (100, {})}, config()) is None


def test_settings_errors_are_per_field():
    values = {
        "weight_survey": 0,
        "weight_tickets": 0,
        "weight_purchases": 0,
        "weight_engagement": 0,
        "weight_manual": 0,
        "red_below": 70,
        "green_from": 60,
    }
    errors = health.health_config_errors(values)
    assert set(errors) == {"weight_survey", "green_from"}
    assert health.health_config_errors({**values, "weight_tickets": 101, "red_below": 0}).keys() >= {
        "weight_tickets",
        "red_below",
    }
