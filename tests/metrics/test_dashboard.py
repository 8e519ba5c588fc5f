"""The dashboard page (/metrics/) and its CSV downloads, over the real selectors on hand-built rows.

The book: in March 2026 the agent's customer answered NPS 10 and 9, the other agent's customer 3;
in February (the previous period of the whole month of March) the agent's customer answered 10.
Whole book: (2 promoters − 1 detractor) ÷ 3 = 33.3; February: 100.0; change −66.7.
The agent's own book: 2 promoters of 2 = 100.0 in both months, change 0."""

import csv
import io
import re
from datetime import date

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import translation

from metrics.models import HealthBand, HealthScore
from metrics.views import _csv_response
from posvenda.lists import csv_safe
from surveys.models import Kind
from tests.factories import CustomerFactory, OrderFactory, SegmentFactory, UserFactory
from tests.metrics.test_activity_rollups import answer, at

pytestmark = pytest.mark.django_db

MARCH = {"period": "custom", "start": "2026-03-01", "end": "2026-03-31"}
URL = "/metrics/"


def build_book(agent, other_agent):
    mine = CustomerFactory(owner=agent, name="Maria da Silva")
    theirs = CustomerFactory(owner=other_agent, name="João Pereira")
    answer(mine, Kind.NPS, 10, at(date(2026, 3, 10), 9))
    answer(mine, Kind.NPS, 9, at(date(2026, 3, 10), 10))
    answer(theirs, Kind.NPS, 3, at(date(2026, 3, 11), 15))
    answer(mine, Kind.NPS, 10, at(date(2026, 2, 12), 9))
    return mine, theirs


@pytest.fixture
def book(agent, other_agent):
    return build_book(agent, other_agent)


def card_html(html: str, key: str) -> str:
    match = re.search(rf'<div class="card dash-card" id="kpi-{key}".*?</div>', html, re.S)
    assert match, f"no card {key}"
    return match.group(0)


def text(fragment: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", fragment)).strip()


def read_csv(response) -> list[list[str]]:
    body = b"".join(response.streaming_content) if response.streaming else response.content
    return list(csv.reader(io.StringIO(body.decode("utf-8").lstrip("\ufeff"))))


def test_manager_sees_the_nps_card_with_its_change_in_pt_br(client, manager, book):
    # given the hand-built book; when a manager opens March in the default language (pt-BR)
    client.force_login(manager)
    response = client.get(URL, MARCH)
    # then the NPS card reads 33,3 (decimal comma), February's 100,0 and the fall of 66,7 in red
    assert response.status_code == 200
    nps = card_html(response.content.decode(), "nps")
    assert '<span class="kpi-value">33,3</span>' in nps
    assert "▼" in nps and "−66,7" in nps and "100,0" in nps
    assert "dash-change-bad" in nps
    assert "2 " in text(nps) and "1 " in text(nps)  # the detail: 2 promoters · 0 passives · 1 detractor


def test_english_page_writes_a_decimal_point(client, manager, book):
    client.cookies["django_language"] = "en"
    client.force_login(manager)
    html = client.get(URL, MARCH).content.decode()
    nps = text(card_html(html, "nps"))
    assert "33.3" in nps and "−66.7" in nps and "previous: 100.0" in nps
    assert "2 promoters · 0 passives · 1 detractor" in nps
    assert "From 03/01/2026 to 03/31/2026, compared with 02/01/2026 to 02/28/2026" in text(html)


def test_a_figure_without_data_reads_a_dash_never_zero(client, manager, book):
    # no CSAT answer in March nor February
    client.force_login(manager)
    csat = text(card_html(client.get(URL, MARCH).content.decode(), "csat"))
    assert csat.startswith("CSAT — —")
    assert "0,0" not in csat


def test_agent_sees_only_their_own_book_whatever_owner_the_link_names(client, agent, other_agent, book):
    # given the agent's link names the other agent's book
    client.force_login(agent)
    response = client.get(URL, {**MARCH, "owner": other_agent.pk})
    html = response.content.decode()
    # then the figures are the agent's own: 2 promoters of 2 → 100,0, unchanged since February
    nps = card_html(html, "nps")
    assert '<span class="kpi-value">100,0</span>' in nps and "dash-change-flat" in nps
    assert 'id="dash-scope"' in html and 'name="owner"' not in html
    assert response.context["board"].filter.owner_id == agent.pk


def test_manager_slices_the_book_by_owner(client, manager, other_agent, book):
    # the other agent's book: one detractor → −100,0; no answer in February → no change
    client.force_login(manager)
    html = client.get(URL, {**MARCH, "owner": other_agent.pk}).content.decode()
    nps = text(card_html(html, "nps"))
    assert nps.startswith("NPS −100,0 —")
    assert f'<option value="{other_agent.pk}" selected>' in html
    assert 'id="dash-scope"' not in html


def test_a_bad_filter_shows_each_error_by_its_field_and_no_figures(client, manager, book):
    client.cookies["django_language"] = "en"
    client.force_login(manager)
    response = client.get(URL, {"period": "custom", "start": "2026-03-31", "end": "2026-03-01", "kind": "robot"})
    html = response.content.decode()
    assert response.status_code == 200
    assert response.context["board"] is None
    end_errors = re.search(r'<ul class="errorlist" id="id_end-errors">(.*?)</ul>', html, re.S).group(1)
    assert "The end is before the start." in end_errors
    kind_errors = re.search(r'<ul class="errorlist" id="id_kind-errors">(.*?)</ul>', html, re.S).group(1)
    assert "Unknown customer kind" in kind_errors
    assert 'id="kpi-nps"' not in html
    # what was typed stays in the form
    assert 'value="2026-03-31"' in html


def test_a_preset_shows_its_dates_in_the_form(client, manager, book):
    client.force_login(manager)
    form = client.get(URL, {"period": "7d"}).context["form"]
    f = form.kpi_filter
    assert (f.end - f.start).days == 6
    assert form["start"].value() == f.start.isoformat() and form["period"].value() == "7d"


def test_each_chart_has_its_canvas_json_text_alternative_and_csv_link(client, manager, book):
    client.cookies["django_language"] = "en"
    client.force_login(manager)
    html = client.get(URL, MARCH).content.decode()
    query = "period=custom&amp;start=2026-03-01&amp;end=2026-03-31"
    for key in ("nps_trend", "nps_distribution"):
        assert f'<canvas id="chart-{key}" role="img" aria-label="' in html
        assert f'href="/metrics/charts/{key}.csv?{query}"' in html
    assert f'href="/metrics/charts/cohorts.csv?{query}"' in html
    # the text alternative of the distribution: score 10 had one answer
    assert re.search(r'<th scope="row">10</th><td class="num">1</td>', html)
    # the charts' data travel as JSON, the answers of scores 3, 9 and 10
    data = re.search(r'<script id="dash-charts" type="application/json">(.*?)</script>', html, re.S).group(1)
    assert '"key": "nps_distribution"' in data
    assert '"data": [0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 1.0]' in data


def test_a_chart_without_data_says_so_instead_of_drawing_zeros(client, manager, book):
    # no health score computed for anyone: every band counts 0
    client.force_login(manager)
    html = client.get(URL, MARCH).content.decode()
    section = re.search(
        r'<section class="card dash-chart"[^>]*id="chart-health_distribution-section">.*?</section>', html, re.S
    )
    assert "dash-empty" in section.group(0) and "<canvas" not in section.group(0)


def test_the_page_has_no_inline_script_for_a_strict_csp(client, manager, book):
    client.force_login(manager)
    html = client.get(URL, MARCH).content.decode()
    inline = [
        tag for tag in re.findall(r"<script\b[^>]*>", html) if "src=" not in tag and "application/json" not in tag
    ]
    assert inline == []
    dashboard_part = html[html.index('<div class="page-head">') :]
    assert not re.search(r"\son[a-z]+=", dashboard_part)
    assert "/static/vendor/chartjs/chart.umd.js" in html and "/static/js/dashboard.js" in html


def test_at_risk_customers_link_to_their_360_page(client, manager, book):
    mine, _theirs = book
    HealthScore.objects.create(
        customer=mine,
        score=22,
        band=HealthBand.RED,
        # as metrics.health writes them: the tickets measure pulled the score down most
        components=[
            {"measure": "survey", "score": 90, "weight": 25, "lost": 2.5, "down": False, "detail": {}},
            {"measure": "tickets", "score": 5, "weight": 20, "lost": 19.0, "down": True, "detail": {}},
            # a measure without data (score None) is left out, not compared (it once crashed the page)
            {"measure": "engagement", "score": None, "weight": 15, "lost": 0.0, "down": False, "detail": {}},
        ],
    )
    client.cookies["django_language"] = "en"
    client.force_login(manager)
    html = client.get(URL, MARCH).content.decode()
    at_risk = re.search(r'<section class="card dash-at-risk".*?</section>', html, re.S).group(0)
    assert f'<a href="{reverse("customers:detail", args=[mine.pk])}">Maria da Silva</a>' in at_risk
    assert "dash-band-red" in at_risk and ">22<" in at_risk
    assert "Open and breached tickets" in at_risk


def test_chart_csv_has_a_row_per_label_and_a_column_per_series(client, manager, book):
    client.cookies["django_language"] = "en"
    client.force_login(manager)
    response = client.get(reverse("metrics:chart_csv", args=["nps_distribution"]), MARCH)
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert 'filename="nps_distribution-20260301-20260331.csv"' in response["Content-Disposition"]
    rows = read_csv(response)
    # answers 10, 9 and 3
    assert rows[0] == ["Score", "Answers"]
    assert rows[1:] == [[str(n), "1" if n in (3, 9, 10) else "0"] for n in range(11)]


def test_trend_csv_leaves_a_day_without_answers_empty(client, manager, book):
    client.cookies["django_language"] = "en"
    client.force_login(manager)
    rows = read_csv(client.get(reverse("metrics:chart_csv", args=["nps_trend"]), MARCH))
    assert rows[0] == ["Period", "NPS", "NPS answers"]
    assert len(rows) == 1 + 31  # one row per day of March
    by_day = {row[0]: row[1:] for row in rows[1:]}
    # 10 March: 10 and 9 → 100; 11 March: 3 → −100; 12 March: no answer → empty NPS, 0 answers
    assert by_day["03/10/2026"] == ["100", "2"]
    assert by_day["03/11/2026"] == ["-100", "1"]
    assert by_day["03/12/2026"] == ["", "0"]


def test_agent_csv_counts_only_their_book(client, agent, other_agent, book):
    client.force_login(agent)
    rows = read_csv(
        client.get(reverse("metrics:chart_csv", args=["nps_distribution"]), {**MARCH, "owner": other_agent.pk})
    )
    # the agent's 10 and 9 only; the other agent's 3 is not theirs
    assert [row[1] for row in rows[1:]] == ["0", "0", "0", "0", "0", "0", "0", "0", "0", "1", "1"]


def test_cohort_csv_has_the_heat_map_rows(client, manager, agent, other_agent):
    # cohort January 2025: mine bought in January and February, theirs in January only
    mine = CustomerFactory(owner=agent)
    theirs = CustomerFactory(owner=other_agent)
    OrderFactory(customer=mine, purchased_at=at(date(2025, 1, 10), 10))
    OrderFactory(customer=mine, purchased_at=at(date(2025, 2, 5), 10))
    OrderFactory(customer=theirs, purchased_at=at(date(2025, 1, 20), 10))
    client.cookies["django_language"] = "en"
    client.force_login(manager)
    rows = read_csv(
        client.get(
            reverse("metrics:chart_csv", args=["cohorts"]),
            {"period": "custom", "start": "2025-01-01", "end": "2025-01-31"},
        )
    )
    # 2 customers; M0 both (100 %), M1 one (50 %), none after
    assert rows[0] == ["Cohort", "Customers", *(f"M{n}" for n in range(13))]
    assert rows[1] == ["2025-01", "2", "100", "50", *(["0"] * 11)]


def test_cohort_heat_map_cells_are_shaded_by_tenths(client, manager, agent, other_agent):
    mine = CustomerFactory(owner=agent)
    theirs = CustomerFactory(owner=other_agent)
    OrderFactory(customer=mine, purchased_at=at(date(2025, 1, 10), 10))
    OrderFactory(customer=mine, purchased_at=at(date(2025, 2, 5), 10))
    OrderFactory(customer=theirs, purchased_at=at(date(2025, 1, 20), 10))
    client.force_login(manager)
    html = client.get(URL, {"period": "custom", "start": "2025-01-01", "end": "2025-01-31"}).content.decode()
    # whole percents in the cells (the CSV has the exact figures), so a year of columns fits a tablet
    assert '<td class="num heat-10">100%</td><td class="num heat-5">50%</td><td class="num heat-0">0%</td>' in html


def test_csv_text_cells_cannot_run_as_formulas():
    response = _csv_response("x.csv", ["=label"], [["=HYPERLINK(1)", 1.5, None, 2.0]])
    rows = read_csv(response)
    assert rows == [["'=label"], ["'=HYPERLINK(1)", "1.5", "", "2"]]
    assert csv_safe("=x") == "'=x"


def test_unknown_chart_and_bad_filter_in_csv(client, manager):
    client.force_login(manager)
    assert client.get(reverse("metrics:chart_csv", args=["nope"])).status_code == 404
    bad = client.get(reverse("metrics:chart_csv", args=["nps_trend"]), {"period": "forever"})
    assert bad.status_code == 400 and bad.content.decode().startswith("period:")


def test_only_cs_roles_see_the_dashboard(client, no_role_user):
    assert client.get(URL).status_code == 302  # to the login page
    client.force_login(no_role_user)
    assert client.get(URL).status_code == 403
    assert client.get(reverse("metrics:chart_csv", args=["nps_trend"])).status_code == 403


def test_every_cs_role_has_the_dashboard_in_the_nav(client, agent):
    client.force_login(agent)
    html = client.get(reverse("customers:list")).content.decode()
    assert 'href="/metrics/"' in html


def _grow(agent, other_agent, n: int) -> None:
    """More of everything the page reads: customers of more owners and segments, answers, orders,
    at-risk scores (each with an owner and a segment)."""
    for i in range(n):
        owner = UserFactory(role="cs_agent") if i % 3 == 0 else (agent if i % 2 else other_agent)
        customer = CustomerFactory(owner=owner, segment=SegmentFactory(name=f"S{i % 4}"))
        answer(customer, Kind.NPS, i % 11, at(date(2026, 3, 1 + i % 28), 12))
        OrderFactory(customer=customer, purchased_at=at(date(2026, 3, 1 + i % 28), 12))
        HealthScore.objects.create(customer=customer, score=10 + i, band=HealthBand.RED, components=[])


def test_the_page_costs_the_same_queries_for_a_small_and_a_larger_book(
    client, manager, agent, other_agent, book, django_assert_num_queries
):
    client.force_login(manager)
    _grow(agent, other_agent, 2)
    client.get(URL, MARCH)  # warm the per-process caches (content types, translations)
    with CaptureQueriesContext(connection) as small:
        assert client.get(URL, MARCH).status_code == 200
    _grow(agent, other_agent, 15)
    with django_assert_num_queries(len(small.captured_queries)):
        response = client.get(URL, MARCH)
    assert len(response.context["board"].at_risk) == 10


def test_formatting_per_unit_and_language():
    from metrics.templatetags.dashboard_tags import heat, kpi_change, kpi_value

    with translation.override("pt-br"):
        assert kpi_value(33.333, "score") == "33,3"
        assert kpi_value(12.5, "pct") == "12,5%"
        assert kpi_value(1234, "count") == "1.234"
        assert kpi_value("91706.01", "brl") == "R$ 91.706,01"
        assert kpi_value(9000, "seconds") == "2 h 30 min"
        assert kpi_value(5.25, "mean") == "5,25"
        assert kpi_value(None, "pct") == "—"
        assert kpi_change(-2.5, "pct") == "−2,5 p.p."
        assert kpi_change(0, "count") == "0"
    with translation.override("en"):
        assert kpi_value(33.333, "score") == "33.3"
        assert kpi_value(1234, "count") == "1,234"
        assert kpi_change(3600, "seconds") == "+1 h"
    # tenths, half up; a share beyond 100 % (never expected) is the darkest
    assert [heat(v) for v in (None, 0, 4, 5, 45, 55, 100, 120)] == [
        "heat-none",
        "heat-0",
        "heat-0",
        "heat-1",
        "heat-5",
        "heat-6",
        "heat-10",
        "heat-10",
    ]
