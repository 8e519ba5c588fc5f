"""KPIs over the API (/api/v1/metrics/…), over the real selectors on the hand-built book of
test_dashboard: March 2026, whole book NPS (2 − 1) ÷ 3 = 33.3, February 100.0 (change −66.7);
the agent's own book 100.0 in both months."""

from datetime import date

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.authtoken.models import Token

from metrics import selectors
from surveys.models import Kind
from tests.factories import CustomerFactory, OrderFactory
from tests.metrics.test_activity_rollups import answer, at
from tests.metrics.test_dashboard import MARCH, build_book

pytestmark = pytest.mark.django_db


@pytest.fixture
def book(agent, other_agent):
    return build_book(agent, other_agent)


BASE = "/api/v1/metrics/"


def cards(data: dict) -> dict[str, dict]:
    return {card["key"]: card for card in data["cards"]}


def test_all_kpis_for_the_filter_with_the_previous_period(api_client, manager, book):
    api_client.force_authenticate(manager)
    response = api_client.get(BASE, MARCH)
    assert response.status_code == 200
    data = response.json()
    assert data["filter"] == {
        "period": "custom",
        "start": "2026-03-01",
        "end": "2026-03-31",
        "days": 31,
        "segment": None,
        "owner": None,
        "kind": None,
    }
    assert data["previous"] == {"start": "2026-02-01", "end": "2026-02-28"}
    nps = cards(data)["nps"]
    assert (nps["value"], nps["previous"], nps["change"]) == (33.3, 100.0, -66.7)
    assert (nps["unit"], nps["better"], nps["group"]) == ("score", "up", "surveys")
    # no CSAT answer in either month: null, never 0
    assert cards(data)["csat"]["value"] is None and cards(data)["csat"]["change"] is None
    assert [card["key"] for card in data["cards"]] == selectors.KPI_KEYS


def test_one_kpi_with_all_its_parts(api_client, manager, book):
    api_client.force_authenticate(manager)
    data = api_client.get(f"{BASE}nps/", MARCH).json()
    assert data["key"] == "nps" and data["unit"] == "score"
    assert (data["value"], data["promoters"], data["passives"], data["detractors"], data["answers"]) == (
        33.3,
        2,
        0,
        1,
        3,
    )
    assert data["previous"]["value"] == 100.0 and data["previous"]["promoters"] == 1


def test_unknown_kpi_or_chart_is_404_naming_the_keys(api_client, manager):
    api_client.force_authenticate(manager)
    api_client.cookies["django_language"] = "en"
    response = api_client.get(f"{BASE}nope/")
    assert response.status_code == 404
    assert "nps" in response.json()["detail"]
    response = api_client.get(f"{BASE}charts/nope/")
    assert response.status_code == 404 and "nps_trend" in response.json()["detail"]


def test_one_chart_as_labels_and_series(api_client, manager, book):
    api_client.force_authenticate(manager)
    data = api_client.get(f"{BASE}charts/nps_distribution/", MARCH).json()
    assert data["key"] == "nps_distribution" and data["kind"] == "bar" and data["unit"] == "count"
    assert data["labels"] == [str(n) for n in range(11)]
    # answers 3, 9 and 10
    assert data["series"][0]["data"] == [0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 1.0]
    assert data["series"][0]["unit"] == "count"


def test_a_chart_mixing_units_says_each_series_unit(api_client, manager, book):
    api_client.force_authenticate(manager)
    data = api_client.get(f"{BASE}charts/tmr_sla_trend/", MARCH).json()
    assert data["unit"] == "mixed"
    assert [(s["key"], s["unit"]) for s in data["series"]] == [("tmr_hours", "hours"), ("sla_met", "pct")]


def test_cohorts(api_client, manager, agent, other_agent):
    # cohort January 2025: one customer bought in January and February, the other in January only
    mine, theirs = CustomerFactory(owner=agent), CustomerFactory(owner=other_agent)
    OrderFactory(customer=mine, purchased_at=at(date(2025, 1, 10), 10))
    OrderFactory(customer=mine, purchased_at=at(date(2025, 2, 5), 10))
    OrderFactory(customer=theirs, purchased_at=at(date(2025, 1, 20), 10))
    api_client.force_authenticate(manager)
    data = api_client.get(f"{BASE}cohorts/", {"start": "2025-01-01", "end": "2025-01-31"}).json()
    assert data["basis"] == "purchase" and data["months"] == [f"M{n}" for n in range(13)]
    assert data["rows"] == [{"cohort": "2025-01", "size": 2, "cells": [100.0, 50.0, *([0.0] * 11)]}]


def test_a_bad_filter_is_400_with_a_message_per_parameter(api_client, manager):
    api_client.force_authenticate(manager)
    api_client.cookies["django_language"] = "en"
    response = api_client.get(BASE, {"period": "custom", "start": "2026-03-31", "end": "2026-03-01", "segment": "x"})
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert errors == {"end": ["The end is before the start."], "segment": ["Must be a whole number."]}
    assert api_client.get(f"{BASE}charts/nps_trend/", {"period": "forever"}).status_code == 400


def test_an_agent_gets_their_own_book(api_client, agent, book):
    api_client.force_authenticate(agent)
    data = api_client.get(BASE, MARCH).json()
    assert data["filter"]["owner"] == agent.pk
    nps = cards(data)["nps"]
    assert (nps["value"], nps["previous"], nps["change"]) == (100.0, 100.0, 0.0)
    # naming themselves is fine
    assert api_client.get(f"{BASE}nps/", {**MARCH, "owner": agent.pk}).json()["value"] == 100.0


def test_an_agent_asking_for_someone_elses_book_is_refused(api_client, agent, other_agent, book):
    api_client.force_authenticate(agent)
    api_client.cookies["django_language"] = "en"
    for path in (BASE, f"{BASE}nps/", f"{BASE}charts/nps_trend/", f"{BASE}cohorts/"):
        response = api_client.get(path, {**MARCH, "owner": other_agent.pk})
        assert response.status_code == 403, path
        assert "own book" in response.json()["detail"]


def test_a_manager_slices_by_owner(api_client, manager, other_agent, book):
    api_client.force_authenticate(manager)
    data = api_client.get(f"{BASE}nps/", {**MARCH, "owner": other_agent.pk}).json()
    assert data["value"] == -100.0 and data["detractors"] == 1


def test_a_bi_tool_reads_with_a_token_and_no_role_is_refused(api_client, manager, no_role_user, book):
    assert api_client.get(BASE).status_code == 401
    token = Token.objects.create(user=manager)
    api_client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    assert cards(api_client.get(BASE, MARCH).json())["nps"]["value"] == 33.3
    api_client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=no_role_user).key}")
    assert api_client.get(BASE).status_code == 403


def test_the_kpi_list_costs_the_same_queries_for_a_larger_book(
    api_client,
    manager,
    agent,
    book,
    django_assert_num_queries,
):
    api_client.force_authenticate(manager)
    api_client.get(BASE, MARCH)  # warm per-process caches
    with CaptureQueriesContext(connection) as small:
        api_client.get(BASE, MARCH)
    for n in range(15):
        customer = CustomerFactory(owner=agent)
        answer(customer, Kind.NPS, n % 11, at(date(2026, 3, 1 + n), 12))
        OrderFactory(customer=customer, purchased_at=at(date(2026, 3, 1 + n), 12))
    with django_assert_num_queries(len(small.captured_queries)):
        assert api_client.get(BASE, MARCH).status_code == 200


def test_the_schema_documents_the_paths_and_filter_parameters(api_client, manager):
    api_client.force_authenticate(manager)
    response = api_client.get("/api/schema/", {"format": "json"})
    paths = response.json()["paths"]
    for path in (BASE, f"{BASE}{{key}}/", f"{BASE}charts/{{key}}/", f"{BASE}cohorts/"):
        assert path in paths, path
        names = {p["name"] for p in paths[path]["get"]["parameters"]}
        assert {"period", "start", "end", "segment", "owner", "kind"} <= names
        assert {"200", "400", "401", "403"} <= set(paths[path]["get"]["responses"])
    chart_key = next(p for p in paths[f"{BASE}charts/{{key}}/"]["get"]["parameters"] if p["name"] == "key")
    assert sorted(chart_key["schema"]["enum"]) == sorted(selectors.CHART_KEYS)
