"""The Surveys panel of the customer 360 page."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from surveys import services
from surveys.models import Kind
from tests.surveys.conftest import consenting_customer, make_survey, sent_invitation

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def english_pages(client, settings):
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"


def detail(client, customer):
    return client.get(reverse("customers:detail", args=[customer.pk]))


def test_panel_shows_latest_answers_invitations_and_loop(client, agent, customer):
    nps, csat = make_survey(Kind.NPS, name="NPS anual"), make_survey(Kind.CSAT, name="CSAT entrega")
    detractor = services.response_submit(invitation=sent_invitation(nps, customer), score=4, comment="Demorou demais")
    services.response_submit(invitation=sent_invitation(csat, customer), score=5)
    skipped, _ = services.invitation_create(survey=make_survey(Kind.NPS, name="NPS repetida"), customer=customer)
    assert skipped.status == "skipped"
    client.force_login(agent)

    html = detail(client, customer).content.decode()

    panel = html[html.index('id="panel-surveys"') : html.index('id="panel-tickets"')]
    assert "NPS anual" in panel and "CSAT entrega" in panel
    assert "Detractor" in panel and "Satisfied" in panel and "Follow-up open" in panel
    assert "“Demorou demais”" in panel
    assert reverse("surveys:response", args=[detractor.pk]) in panel
    assert "Not sent" in panel and "Already surveyed recently (survey fatigue rule)" in panel
    assert 'action="{}"'.format(reverse("surveys:send_to_customer", args=[customer.pk])) in panel


def test_panel_has_no_send_form_for_another_agents_customer(client, other_agent, customer):
    make_survey()
    client.force_login(other_agent)
    html = detail(client, customer).content.decode()
    assert 'id="panel-surveys"' in html and "No survey sent to this customer yet." in html
    assert reverse("surveys:send_to_customer", args=[customer.pk]) not in html


def test_panel_keeps_the_360_query_count_constant(client, agent, settings, django_assert_num_queries):
    settings.MESSAGING_WEEKLY_CAP = 100
    small = consenting_customer(owner=agent)
    services.response_submit(invitation=sent_invitation(make_survey(fatigue_days=0), small), score=9)
    big = consenting_customer(owner=agent)
    for i in range(8):
        kind = (Kind.NPS, Kind.CSAT, Kind.CES)[i % 3]
        invitation = sent_invitation(make_survey(kind, fatigue_days=0, name=f"Pesquisa {i}"), big)
        services.response_submit(invitation=invitation, score=2)
    client.force_login(agent)
    with CaptureQueriesContext(connection) as ctx:
        assert detail(client, small).status_code == 200
    with django_assert_num_queries(len(ctx)):
        detail(client, big)
