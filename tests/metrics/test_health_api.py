"""Health-score API: the score list (cursor pages, filters, constant queries), one score with its
trend, the owner's rating, and the settings (managers only)."""

import pytest
from django.urls import reverse

from metrics import health
from metrics.models import HealthConfig, HealthScore
from tests.factories import CustomerFactory
from tests.metrics.test_health_compute import answer, red_customer

pytestmark = pytest.mark.django_db

LIST = "/api/v1/health-scores/"
SETTINGS = "/api/v1/health-settings/"
VALID = {
    "weight_survey": 30,
    "weight_tickets": 20,
    "weight_purchases": 20,
    "weight_engagement": 10,
    "weight_manual": 20,
    "red_below": 35,
    "green_from": 75,
}


def scored(owner, nps: int):
    customer = CustomerFactory(owner=owner)
    answer(customer, "nps", nps, days_ago=1)
    health.health_recompute_customer(customer_id=customer.pk)
    return customer


def test_list_filters_by_band_and_explains_each_score(api_client, agent):
    red = red_customer(agent)
    scored(agent, 10)
    health.health_recompute_all()
    api_client.force_authenticate(agent)
    response = api_client.get(LIST, {"band": "red"}, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 200
    (row,) = response.json()["results"]
    assert (row["customer"], row["score"], row["band"], row["band_label"]) == (red.pk, 0, "red", "At risk")
    assert row["owner"] == agent.pk and row["customer_name"] == "Cliente em Risco"
    assert row["pulled_down"] == ["survey", "tickets"]
    tickets = next(c for c in row["components"] if c["measure"] == "tickets")
    assert tickets["score"] == 0 and tickets["explanation"] == "3 open, 3 past the SLA"
    assert row["red_since"] is not None


def test_list_pages_with_a_cursor(api_client, agent):
    customers = [scored(agent, n) for n in range(5)]
    api_client.force_authenticate(agent)
    first = api_client.get(LIST, {"page_size": 3}).json()
    second = api_client.get(first["next"]).json()
    ids = [r["customer"] for r in first["results"] + second["results"]]
    assert ids == [c.pk for c in customers] and second["next"] is None


@pytest.mark.parametrize("rows", [1, 25])
def test_list_query_count_does_not_grow(api_client, agent, django_assert_num_queries, rows):
    for n in range(rows):
        scored(agent, n % 11)
    api_client.force_authenticate(agent)
    with django_assert_num_queries(2):  # the user's groups, the page
        response = api_client.get(LIST, {"owner": "mine"})
    assert len(response.json()["results"]) == rows


def test_bad_filters_are_400_per_parameter(api_client, agent):
    api_client.force_authenticate(agent)
    response = api_client.get(LIST, {"band": "purple", "max_score": "x"})
    assert response.status_code == 400
    assert set(response.json()["errors"]) == {"band", "max_score"}


def test_detail_has_the_trend(api_client, agent):
    customer = scored(agent, 9)
    api_client.force_authenticate(agent)
    body = api_client.get(f"{LIST}{customer.pk}/").json()
    assert body["score"] == 100 and len(body["trend"]) == 1 and body["trend"][0]["score"] == 100
    assert api_client.get(f"{LIST}999999/").status_code == 404


def test_owner_sets_the_rating(api_client, agent, own_customer):
    api_client.force_authenticate(agent)
    url = reverse("health-score-manual-rating", args=[own_customer.pk])
    response = api_client.put(url, {"rating": 1}, format="json")
    # rating 1 → 0, no ticket → 100: (15 × 0 + 20 × 100) ÷ 35 = 57.1 → 57
    assert response.status_code == 200
    assert (response.json()["score"], response.json()["manual_rating"]) == (57, 1)
    assert api_client.put(url, {"rating": 6}, format="json").status_code == 400
    cleared = api_client.put(url, {"rating": None}, format="json")
    assert cleared.status_code == 200 and cleared.json()["score"] is None


def test_another_agent_cannot_set_the_rating(api_client, agent, others_customer):
    api_client.force_authenticate(agent)
    response = api_client.put(
        reverse("health-score-manual-rating", args=[others_customer.pk]), {"rating": 5}, format="json"
    )
    assert response.status_code == 403
    assert not HealthScore.objects.exists()


def test_manager_reads_and_changes_the_settings(api_client, manager):
    api_client.force_authenticate(manager)
    assert api_client.get(SETTINGS).json()["weight_survey"] == 25  # the defaults
    response = api_client.put(SETTINGS, VALID, format="json")
    assert response.status_code == 200 and response.json()["red_below"] == 35
    assert HealthConfig.objects.get().weight_manual == 20


def test_settings_errors_are_per_field(api_client, manager):
    api_client.force_authenticate(manager)
    response = api_client.put(SETTINGS, {**VALID, "red_below": 90, "weight_engagement": -1}, format="json")
    assert response.status_code == 400
    assert set(response.json()["errors"]) == {"weight_engagement"}
    response = api_client.put(SETTINGS, {**VALID, "red_below": 90}, format="json", HTTP_ACCEPT_LANGUAGE="en")
    assert response.json()["errors"] == {
        "green_from": ["Green must start above the red limit (90): red is below it, green from here."]
    }
    assert not HealthConfig.objects.exists()


def test_agents_are_refused_the_settings(api_client, agent):
    api_client.force_authenticate(agent)
    assert api_client.get(SETTINGS).status_code == 403
    assert api_client.put(SETTINGS, VALID, format="json").status_code == 403
    assert not HealthConfig.objects.exists()


def test_schema_documents_the_endpoints(api_client, agent):
    api_client.force_authenticate(agent)
    paths = api_client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()["paths"]
    assert {"get"} <= set(paths["/api/v1/health-scores/"])
    assert "put" in paths["/api/v1/health-scores/{customer_id}/manual-rating/"]
    assert {"get", "put"} <= set(paths["/api/v1/health-settings/"])
