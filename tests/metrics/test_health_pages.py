"""Health score in the pages: the settings page (managers edit, agents read), the owner's rating
form, the badge on the customer list and the funnel board, the 360 panel and the at-risk list —
what a user sees, and query counts that do not grow with the rows."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from metrics import health
from metrics.models import HealthConfig, HealthScore, HealthSnapshot
from tests.factories import CustomerFactory, SegmentFactory, UserFactory
from tests.metrics.test_health_compute import answer, red_customer, ticket

pytestmark = pytest.mark.django_db

SETTINGS = reverse("metrics:health_settings")
AT_RISK = reverse("metrics:health_list")
CUSTOMERS = reverse("customers:list")
BOARD = reverse("funnel:board")

VALID = {
    "weight_survey": "30",
    "weight_tickets": "20",
    "weight_purchases": "20",
    "weight_engagement": "10",
    "weight_manual": "20",
    "red_below": "35",
    "green_from": "75",
}


def english(client, user):
    client.force_login(user)
    client.cookies["django_language"] = "en"
    return client


def count_queries(client, url, **params):
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url, params)
    assert response.status_code == 200
    return len(ctx)


def scored(owner, nps: int, **fields):
    """A customer whose only measures are an NPS answer and no open ticket."""
    customer = CustomerFactory(owner=owner, **fields)
    answer(customer, "nps", nps, days_ago=1)
    health.health_recompute_customer(customer_id=customer.pk)
    return customer


# --- settings --------------------------------------------------------------------------------------


def test_manager_saves_weights_and_bands(client, manager):
    english(client, manager)
    response = client.post(SETTINGS, VALID)
    assert response.status_code == 302
    config = HealthConfig.objects.get()
    assert (config.weight_survey, config.weight_manual, config.red_below, config.green_from) == (30, 20, 35, 75)
    page = client.get(SETTINGS).content.decode()
    assert "Health score settings saved. Every score is being recomputed." in page
    assert 'value="35"' in page and "Save and recompute" in page


def test_settings_errors_are_shown_next_to_the_field(client, manager):
    english(client, manager)
    response = client.post(SETTINGS, {**VALID, "red_below": "80", "weight_tickets": "150"})
    html = response.content.decode()
    assert response.status_code == 200
    assert "Please fix the fields marked below." in html
    assert 'id="id_green_from_error"' in html and "Green must start above the red limit (80)" in html
    assert 'id="id_weight_tickets_error"' in html and "Ensure this value is less than or equal to 100." in html
    assert not HealthConfig.objects.exists()


def test_all_weights_zero_is_refused(client, manager):
    english(client, manager)
    zeros = {k: ("0" if k.startswith("weight") else v) for k, v in VALID.items()}
    html = client.post(SETTINGS, zeros).content.decode()
    assert "Give at least one measure a weight above 0." in html
    assert not HealthConfig.objects.exists()


def test_agent_reads_the_settings_but_cannot_save_them(client, agent):
    english(client, agent)
    html = client.get(SETTINGS).content.decode()
    assert "Only a CS manager can change these settings." in html
    assert "Save and recompute" not in html
    assert 'name="weight_survey" value="25"' in html and "disabled" in html
    # and the formula is explained
    assert "NPS 9–10 → 100, 8 → 75, 7 → 60, 0–6 → score × 5" in html
    assert client.post(SETTINGS, VALID).status_code == 403
    assert not HealthConfig.objects.exists()


def test_users_without_a_role_are_refused(client, no_role_user):
    client.force_login(no_role_user)
    assert client.get(SETTINGS).status_code == 403
    assert client.get(AT_RISK).status_code == 403


# --- the owner's rating -------------------------------------------------------------------------------


def test_owner_rates_from_the_360_page(client, agent, own_customer):
    english(client, agent)
    url = reverse("metrics:health_rating", args=[own_customer.pk])
    response = client.post(url, {"rating": "2"})
    assert response.status_code == 302 and response["Location"].endswith(f"/customers/{own_customer.pk}/#health")
    # rating 2 → 25, no ticket → 100: (15 × 25 + 20 × 100) ÷ 35 = 67.9 → 68
    score = HealthScore.objects.get(customer=own_customer)
    assert (score.score, score.manual_rating) == (68, 2)
    html = client.get(reverse("customers:detail", args=[own_customer.pk])).content.decode()
    assert '<option value="2" selected>2 — unhappy</option>' in html
    assert "Rated 2 of 5 by the owner" in html


def test_rating_with_htmx_swaps_the_panel(client, agent, own_customer):
    english(client, agent)
    url = reverse("metrics:health_rating", args=[own_customer.pk])
    response = client.post(url, {"rating": "5"}, HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert response.status_code == 200
    assert html.lstrip().startswith('<section class="card health-panel" id="health"')
    assert 'id="health-score">100<' in html


def test_another_agent_cannot_rate(client, agent, others_customer):
    english(client, agent)
    response = client.post(reverse("metrics:health_rating", args=[others_customer.pk]), {"rating": "1"})
    assert response.status_code == 403
    assert not HealthScore.objects.exists()
    # and the panel offers no form
    html = client.get(reverse("customers:detail", args=[others_customer.pk])).content.decode()
    assert "Save rating" not in html


def test_rating_an_unknown_customer_is_404(client, manager):
    client.force_login(manager)
    assert client.post(reverse("metrics:health_rating", args=[999999]), {"rating": "3"}).status_code == 404


# --- the 360 panel ------------------------------------------------------------------------------------


def test_360_panel_shows_score_band_measures_and_what_pulled_it_down(client, agent):
    # given NPS 3 (→ 15) and two open tickets, one breached (→ 45): (25 × 15 + 20 × 45) ÷ 45 = 28.3 → 28, red
    customer = CustomerFactory(owner=agent, name="Loja da Esquina")
    answer(customer, "nps", 3, days_ago=2)
    ticket(customer)
    ticket(customer, breached=True)
    health.health_recompute_customer(customer_id=customer.pk)
    english(client, agent)
    # when
    html = client.get(reverse("customers:detail", args=[customer.pk])).content.decode()
    # then
    assert 'id="health-score">28<' in html and 'id="health-band">At risk<' in html
    # lost points: survey 25/45 × 85 = 47.2, tickets 20/45 × 55 = 24.4
    assert 'Pulled down by:</strong> Latest NPS/CSAT <span class="lost">(−47.2)</span>, Open and breached' in html
    assert "2 open, 1 past the SLA" in html
    assert "No data — left out of the score." in html  # purchases, e-mails, rating
    assert "At risk since" in html
    assert "<svg" in html and 'class="line"' in html  # the trend
    assert "28 At risk" in html.replace('<span class="band-word">', " ").replace("</span>", "")  # header badge


def test_360_panel_of_an_unscored_customer_says_so(client, agent, own_customer):
    english(client, agent)
    html = client.get(reverse("customers:detail", args=[own_customer.pk])).content.decode()
    assert "Not scored yet: the score needs a survey answer" in html
    assert "Save rating" in html  # the owner can give it a first measure


def test_360_trend_costs_the_same_queries_for_1_or_90_days(client, agent):
    one = scored(agent, 9)
    many = scored(agent, 9)
    today = timezone.localdate()
    HealthSnapshot.objects.filter(customer=many).delete()
    HealthSnapshot.objects.bulk_create(
        HealthSnapshot(customer=many, day=today - timedelta(days=n), score=50 + n % 40, band="yellow")
        for n in range(120)
    )
    client.force_login(agent)
    expected = count_queries(client, reverse("customers:detail", args=[one.pk]))
    assert count_queries(client, reverse("customers:detail", args=[many.pk])) == expected


# --- the customer list and the board -----------------------------------------------------------------------


def test_customer_list_shows_a_badge_and_sorts_by_health(client, agent):
    low = scored(agent, 0, name="Baixo")  # NPS 0 → 0; (0 + 2000) ÷ 45 = 44, yellow
    high = scored(agent, 10, name="Alto")  # 100
    CustomerFactory(owner=agent, name="Sem nota")
    english(client, agent)
    response = client.get(CUSTOMERS, {"sort": "health"})
    names = [c.name for c in response.context["customers"]]
    assert names == ["Baixo", "Alto", "Sem nota"]  # lowest first, unscored last
    html = response.content.decode()
    assert 'class="health-badge health-yellow" title="Health score 44: Attention">44' in html
    assert 'class="health-badge health-green" title="Health score 100: Healthy">100' in html
    assert 'title="Not scored yet">—' in html
    descending = [c.name for c in client.get(CUSTOMERS, {"sort": "-health"}).context["customers"]]
    assert descending == ["Alto", "Baixo", "Sem nota"]
    assert low.pk and high.pk


def test_customer_list_costs_the_same_queries_with_1_or_30_scored_customers(client, agent):
    scored(agent, 9)
    client.force_login(agent)
    one = count_queries(client, CUSTOMERS, sort="health")
    for i in range(29):
        scored(agent if i % 2 else None, i % 11, segment=SegmentFactory(name=f"S{i % 3}"))
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(CUSTOMERS, {"sort": "health"})
    assert len(ctx) == one
    assert len(response.context["customers"]) == 30


def test_board_cards_show_the_badge_at_a_constant_query_count(client, agent):
    red_customer(agent)
    health.health_recompute_all()
    client.force_login(agent)
    one = count_queries(client, BOARD)
    for i in range(20):
        scored(agent if i % 2 else UserFactory(), i % 11)
    with CaptureQueriesContext(connection) as ctx:
        html = client.get(BOARD).content.decode()
    assert len(ctx) == one
    assert 'class="health-badge health-red"' in html and html.count('class="health-badge') == 21


# --- the at-risk list -----------------------------------------------------------------------------------------


def test_at_risk_list_filters_by_band_and_owner(client, agent, other_agent):
    mine = red_customer(agent)
    theirs = red_customer(other_agent)
    scored(agent, 10, name="Feliz")
    health.health_recompute_all()
    english(client, agent)
    response = client.get(AT_RISK, {"band": "red", "owner": "mine"})
    assert [s.customer_id for s in response.context["scores"]] == [mine.pk]
    html = response.content.decode()
    assert "At risk · 1" in html and "Open and breached tickets" in html
    everyone = client.get(AT_RISK).context["scores"]
    assert [s.customer_id for s in everyone][:2] == sorted([mine.pk, theirs.pk])  # the lowest (0) first
    assert len(everyone) == 3


def test_at_risk_list_costs_the_same_queries_for_1_or_many(client, agent):
    red_customer(agent)
    health.health_recompute_all()
    client.force_login(agent)
    one = count_queries(client, AT_RISK)
    for i in range(25):
        scored(agent if i % 2 else None, i % 11)
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(AT_RISK)
    assert len(ctx) == one
    assert len(response.context["scores"]) == 26


def test_at_risk_csv_export(client, agent):
    customer = red_customer(agent)
    health.health_recompute_all()
    client.force_login(agent)
    response = client.get(reverse("metrics:health_export"), {"band": "red"})
    lines = b"".join(response.streaming_content).decode().splitlines()
    assert lines[0] == "customer_id,external_id,customer,owner,score,band,pulled_down,computed_at"
    assert lines[1].startswith(f"{customer.pk},{customer.external_id},Cliente em Risco,agente,0,red,survey tickets,")
    assert len(lines) == 2
