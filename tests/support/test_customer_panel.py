import pytest
from django.urls import reverse

from support import services

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def english_pages(client, settings):
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"


def test_360_page_lists_the_customers_tickets_with_a_new_ticket_link(client, agent, own_customer, others_customer):
    mine, _ = services.ticket_create(actor=agent, customer=own_customer, subject="Boleto vencido")
    services.ticket_create(actor=None, customer=others_customer, subject="Outro cliente")
    client.force_login(agent)

    html = client.get(reverse("customers:detail", args=[own_customer.pk])).content.decode()

    panel = html[html.index('id="panel-tickets"') :]
    assert reverse("support:detail", args=[mine.pk]) in panel and "Boleto vencido" in panel
    assert "Outro cliente" not in panel
    assert f"{reverse('support:create')}?customer={own_customer.pk}" in panel


def test_timeline_shows_ticket_status_labels_not_codes(client, agent, own_customer):
    ticket, _ = services.ticket_create(actor=agent, customer=own_customer, subject="Troca de produto")
    services.ticket_change(actor=agent, ticket=ticket, status="waiting")
    client.force_login(agent)

    html = client.get(reverse("customers:detail", args=[own_customer.pk])).content.decode()

    timeline = html[html.index('id="timeline"') :]
    assert "New → Waiting on customer" in timeline


def test_ticket_page_renders_events_without_an_author(client, manager, own_customer):
    """System changes (a customer's e-mail reopening a ticket, beat alerts) have no author."""
    ticket, _ = services.ticket_create(actor=None, customer=own_customer, subject="Sem autor")
    services.ticket_change(actor=None, ticket=ticket, status="open")
    services.ticket_reply(actor=None, ticket=ticket, body="Resposta automática", public=False)
    services.ticket_customer_reply(ticket=ticket, body="Obrigado", inbound_id="<x@y>")
    client.force_login(manager)

    response = client.get(reverse("support:detail", args=[ticket.pk]))

    assert response.status_code == 200 and "Resposta automática" in response.content.decode()


def test_person_filter_is_safe_on_none():
    from posvenda.templatetags.people import person
    from tests.factories import UserFactory

    assert person(None) == ""
    assert person(UserFactory(username="ana", first_name="Ana", last_name="Lima")) == "Ana Lima"
    assert person(UserFactory(username="semnome", first_name="", last_name="")) == "semnome"
