"""Support tickets over the REST API: the queue with filters and order by time left, SLA fields,
opening (by id or external id, idempotent), changes and replies (assignee or manager only, 400 with
field messages and nothing saved), the history, the report, query counts, the OpenAPI schema."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from messaging.models import Message
from posvenda import services as account_services
from support import services
from support.models import SlaPolicy, Team, Ticket, TicketEvent
from tests.factories import CustomerFactory, UserFactory

pytestmark = pytest.mark.django_db

TICKETS = "/api/v1/tickets/"
SP = ZoneInfo("America/Sao_Paulo")
H = 3600


def token_client(user) -> APIClient:
    client = APIClient(HTTP_ACCEPT_LANGUAGE="en")
    token = account_services.api_token_rotate(user=user)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=SP)


def open_ticket(customer, *, when=None, priority="high", subject="Pedido não chegou", **kwargs) -> Ticket:
    ticket, _ = services.ticket_create(
        actor=None, customer=customer, subject=subject, priority=priority, opened_at=when, **kwargs
    )
    return ticket


def url(ticket: Ticket, suffix: str = "") -> str:
    return f"{TICKETS}{ticket.pk}/{suffix}"


# --- reading -----------------------------------------------------------------------------------


def test_agent_reads_any_ticket_with_its_sla_clocks(policy_high, other_agent, others_customer, agent):
    now = timezone.now()
    ticket = open_ticket(others_customer, when=now - timedelta(minutes=5))
    services.ticket_reply(actor=other_agent, ticket=ticket, body="Vamos verificar.", status="waiting")

    body = token_client(agent).get(url(ticket)).json()

    assert (body["id"], body["status"], body["customer_name"]) == (ticket.pk, "waiting", "João Pereira")
    assert body["assignee"]["username"] == "outro_agente" and body["can_work"] is False
    sla = body["sla"]
    assert sla["policy"] == "Alta" and sla["state"] == "paused"
    assert sla["resolution_paused"] is True and sla["resolution_due_at"] is None
    assert sla["resolution_remaining_seconds"] is not None and sla["first_response_seconds"] is not None
    assert sla["first_response_due_at"] and sla["first_response_breached"] is False


def test_list_is_ordered_by_time_left_and_filters(policy_high, policy_urgent, agent, own_customer):
    later = open_ticket(own_customer, when=at(16, 9))  # first response due 11:00
    sooner = open_ticket(own_customer, when=at(16, 9), priority="urgent")  # due 10:00
    SlaPolicy.objects.filter(priority="low").delete()
    no_sla = open_ticket(own_customer, when=at(16, 8), priority="low")
    done = open_ticket(CustomerFactory(external_id="shop-9"), when=at(16, 8))
    services.ticket_change(actor=None, ticket=done, status="resolved", at=at(16, 9))
    client = token_client(agent)

    def ids(**params):
        response = client.get(TICKETS, params)
        assert response.status_code == 200, response.json()
        return [row["id"] for row in response.json()["results"]]

    assert ids() == [sooner.pk, later.pk, done.pk, no_sla.pk]  # no running clock: newest first
    assert ids(status="active") == [sooner.pk, later.pk, no_sla.pk]
    assert ids(status="resolved") == [done.pk]
    assert ids(priority="urgent") == [sooner.pk]
    assert ids(customer_external_id="shop-9") == [done.pk]
    assert ids(customer=own_customer.pk, sla_state="none") == [no_sla.pk]
    assert ids(sla_state="breached") == [sooner.pk, later.pk]  # long overdue by now
    assert ids(assignee=agent.pk) == [sooner.pk, later.pk, no_sla.pk]
    assert ids(assignee="none") == [done.pk]
    assert ids(resolved_after=at(16, 8, 30).isoformat(), resolved_before=at(16, 10).isoformat()) == [done.pk]
    assert ids(opened_before=at(16, 8, 30).isoformat()) == [done.pk, no_sla.pk]
    assert ids(search=f"#{later.pk}") == [later.pk]
    assert ids(ordering="id") == sorted([sooner.pk, later.pk, no_sla.pk, done.pk])


def test_bad_filter_values_are_400_naming_the_parameter(agent):
    client = token_client(agent)

    for params, field in (({"status": "alien"}, "status"), ({"assignee": "ana"}, "assignee")):
        response = client.get(TICKETS, params)
        assert response.status_code == 400
        assert field in response.json()["errors"]


def test_queue_pages_follow_next_and_previous_without_gaps(policy_high, agent, own_customer):
    # three share no due time (resolved), three have one: pages of two cross both groups
    tickets = [open_ticket(own_customer, when=at(16, 9) + timedelta(minutes=n)) for n in range(6)]
    for ticket in tickets[:3]:
        services.ticket_change(actor=None, ticket=ticket, status="resolved", at=at(16, 10))
    Ticket.objects.filter(pk__in=[t.pk for t in tickets[:3]]).update(opened_at=at(16, 9))  # equal opened_at too
    client = token_client(agent)

    seen, pages, next_url = [], [], f"{TICKETS}?page_size=2"
    while next_url:
        body = client.get(next_url).json()
        pages.append(body)
        seen += [row["id"] for row in body["results"]]
        next_url = body["next"]
    back = client.get(pages[-1]["previous"]).json()

    expected = [t.pk for t in tickets[3:]] + sorted((t.pk for t in tickets[:3]), reverse=True)
    assert seen == expected and len(pages) == 3
    assert [row["id"] for row in back["results"]] == expected[2:4]
    assert pages[0]["previous"] is None


def test_events_list_the_history_in_order(policy_high, agent, own_customer):
    ticket = open_ticket(own_customer, when=at(16, 9))
    services.ticket_reply(actor=agent, ticket=ticket, body="Olá!", status="waiting", at=at(16, 10))
    services.ticket_customer_reply(ticket=ticket, body="Segue o comprovante", inbound_id="<c@x>", at=at(16, 11))

    body = token_client(UserFactory(role="cs_agent")).get(url(ticket, "events/")).json()

    rows = [(e["kind"], e["from_value"], e["to_value"]) for e in body["results"]]
    assert rows == [
        ("created", "", "new"),
        ("reply", "", ""),
        ("status", "new", "waiting"),
        ("customer_reply", "", ""),
        ("status", "waiting", "open"),
    ]
    assert body["results"][1]["author"]["username"] == "agente" and body["results"][1]["message"]
    assert body["results"][3]["body"] == "Segue o comprovante" and body["results"][3]["inbound_id"] == "<c@x>"


# --- opening -----------------------------------------------------------------------------------


def test_agent_opens_a_ticket_by_external_id_and_a_replay_opens_nothing(policy_high, agent, own_customer):
    own_customer.external_id = "shop-1001"
    own_customer.save()
    client = token_client(agent)
    payload = {
        "customer_external_id": "shop-1001",
        "subject": "Pedido PED-1001 não chegou",
        "priority": "high",
        "category": "delivery",
        "source_key": "zendesk-88123",
    }

    first = client.post(TICKETS, payload, format="json")
    replay = client.post(TICKETS, payload, format="json")

    assert first.status_code == 201, first.json()
    assert replay.status_code == 200 and replay.json()["id"] == first.json()["id"]
    body = first.json()
    assert (body["customer"], body["status"], body["channel"], body["source_key"]) == (
        own_customer.pk,
        "new",
        "email",
        "api:zendesk-88123",
    )
    assert body["assignee"]["id"] == agent.pk and body["created_by"]["id"] == agent.pk
    assert body["sla"]["policy"] == "Alta" and body["sla"]["first_response_due_at"]
    assert Ticket.objects.count() == 1
    assert TicketEvent.objects.filter(kind="created").count() == 1


def test_invalid_ticket_is_400_with_field_messages_and_saves_nothing(agent, own_customer):
    client = token_client(agent)

    shape = client.post(TICKETS, {"customer": own_customer.pk, "subject": "", "priority": "alien"}, format="json")
    unknown = client.post(TICKETS, {"customer_external_id": "nope", "subject": "Oi"}, format="json")
    blank = client.post(TICKETS, {"customer": own_customer.pk, "subject": "   "}, format="json")

    assert shape.status_code == 400 and set(shape.json()["errors"]) == {"subject", "priority"}
    assert unknown.status_code == 400 and "customer_external_id" in unknown.json()["errors"]
    assert blank.status_code == 400 and "subject" in blank.json()["errors"]
    assert not Ticket.objects.exists()


def test_agent_cannot_assign_a_ticket_to_someone_else(agent, other_agent, own_customer):
    response = token_client(agent).post(
        TICKETS, {"customer": own_customer.pk, "subject": "Oi", "assignee": other_agent.pk}, format="json"
    )

    assert response.status_code == 403
    assert response.json()["detail"] == "Only a CS manager can assign a ticket to someone else."
    assert not Ticket.objects.exists()


# --- changing ----------------------------------------------------------------------------------


def test_assignee_changes_status_and_priority_with_history(policy_high, policy_urgent, agent, own_customer):
    ticket = open_ticket(own_customer)

    response = token_client(agent).patch(url(ticket), {"status": "open", "priority": "urgent"}, format="json")

    assert response.status_code == 200, response.json()
    assert (response.json()["status"], response.json()["priority"]) == ("open", "urgent")
    assert response.json()["sla"]["policy"] == "Urgente"
    assert list(ticket.events.values_list("kind", flat=True)) == ["created", "status", "priority"]


def test_invalid_change_is_400_and_nothing_is_saved(policy_high, agent, own_customer):
    ticket = open_ticket(own_customer)
    services.ticket_change(actor=agent, ticket=ticket, status="resolved")
    before = ticket.events.count()

    response = token_client(agent).patch(url(ticket), {"status": "waiting", "priority": "low"}, format="json")

    assert response.status_code == 400
    assert response.json()["errors"] == {"status": ["A Resolved ticket cannot become Waiting on customer."]}
    ticket.refresh_from_db()
    assert (ticket.status, ticket.priority, ticket.events.count()) == ("resolved", "high", before)


def test_only_the_assignee_or_a_manager_changes_or_replies(policy_high, agent, other_agent, manager, own_customer):
    ticket = open_ticket(own_customer)
    other = token_client(other_agent)

    changed = other.patch(url(ticket), {"status": "resolved"}, format="json")
    replied = other.post(url(ticket, "replies/"), {"body": "Oi"}, format="json")
    taken = token_client(agent).patch(url(ticket), {"assignee": other_agent.pk}, format="json")
    reassigned = token_client(manager).patch(url(ticket), {"assignee": other_agent.pk}, format="json")

    assert (changed.status_code, replied.status_code) == (403, 403)
    assert changed.json()["detail"] == "Only the assignee or a CS manager can change this ticket."
    assert taken.status_code == 400 and "assignee" in taken.json()["errors"]
    assert reassigned.status_code == 200 and reassigned.json()["assignee"]["id"] == other_agent.pk
    assert not Message.objects.exists()
    assert list(ticket.events.values_list("kind", flat=True)) == ["created", "assignee"]


def test_agent_takes_an_unassigned_ticket(policy_high, agent):
    ticket = open_ticket(CustomerFactory(owner=None))

    response = token_client(agent).patch(url(ticket), {"assignee": agent.pk}, format="json")

    assert response.status_code == 200 and response.json()["assignee"]["id"] == agent.pk


def test_no_role_user_gets_403_everywhere(no_role_user, policy_high, own_customer):
    ticket = open_ticket(own_customer)
    client = token_client(no_role_user)

    assert client.get(TICKETS).status_code == 403
    assert client.get(url(ticket, "events/")).status_code == 403
    assert client.post(TICKETS, {"customer": own_customer.pk, "subject": "Oi"}, format="json").status_code == 403


# --- replies -----------------------------------------------------------------------------------


def test_public_reply_emails_the_customer_and_waits(policy_high, agent, own_customer):
    ticket = open_ticket(own_customer)

    response = token_client(agent).post(
        url(ticket, "replies/"), {"body": "Pode enviar o comprovante?", "status": "waiting"}, format="json"
    )

    assert response.status_code == 201, response.json()
    assert response.json()["kind"] == "reply" and response.json()["author"]["id"] == agent.pk
    message = Message.objects.get()
    # in the customer's language (pt-BR: "[Chamado #N] …"); the inbound webhook knows both
    assert message.subject.endswith(f" #{ticket.pk}] Pedido não chegou")
    assert message.pk == response.json()["message"]
    ticket.refresh_from_db()
    assert ticket.status == "waiting" and ticket.first_response_at is not None and ticket.resolution_paused


def test_internal_note_is_not_sent_and_sets_no_first_response(policy_high, agent, own_customer):
    ticket = open_ticket(own_customer)

    response = token_client(agent).post(
        url(ticket, "replies/"), {"body": "Cliente VIP", "public": False}, format="json"
    )

    assert response.status_code == 201 and response.json()["kind"] == "note"
    ticket.refresh_from_db()
    assert ticket.first_response_at is None and ticket.status == "new"
    assert not Message.objects.exists()


def test_invalid_reply_is_400_and_nothing_is_saved(policy_high, agent, own_customer):
    ticket = open_ticket(own_customer)
    services.ticket_change(actor=agent, ticket=ticket, status="closed")
    client = token_client(agent)

    empty = client.post(url(ticket, "replies/"), {"body": "  "}, format="json")
    bad_move = client.post(url(ticket, "replies/"), {"body": "Oi", "status": "waiting"}, format="json")

    assert empty.status_code == 400 and "body" in empty.json()["errors"]
    assert bad_move.status_code == 400 and "status" in bad_move.json()["errors"]
    assert not Message.objects.exists()
    assert not ticket.events.filter(kind__in=("reply", "note")).exists()
    ticket.refresh_from_db()
    assert ticket.status == "closed"


# --- report ------------------------------------------------------------------------------------


def test_report_on_hand_built_tickets_for_managers_only(policy_high, agent, other_agent, manager):
    # resolution times 1 h, 2 h, 3 h (agent, team N1) and 10 h (other agent, team N2), from Mon 16 08:00
    n1, n2 = Team.objects.create(name="N1"), Team.objects.create(name="N2")
    for hours, owner, team in ((1, agent, n1), (2, agent, n1), (3, agent, n1), (10, other_agent, n2)):
        ticket = open_ticket(CustomerFactory(owner=owner), when=at(16, 8), team=team)
        services.ticket_reply(actor=owner, ticket=ticket, body="Oi", at=at(16, 8, 30))
        services.ticket_change(actor=owner, ticket=ticket, status="resolved", at=at(16, 8) + timedelta(hours=hours))
    params = {"start": at(16, 0).isoformat(), "end": at(17, 0).isoformat()}

    body = token_client(manager).get(f"{TICKETS}report/", params).json()
    by_team = token_client(manager).get(f"{TICKETS}report/", {**params, "group_by": "team"}).json()
    refused = token_client(agent).get(f"{TICKETS}report/", params)
    bad = token_client(manager).get(f"{TICKETS}report/", {"start": "ontem"})

    assert body["resolved"] == 4
    assert body["tmr"] == {"count": 4, "mean_seconds": 4 * H, "median_seconds": int(2.5 * H)}
    assert body["first_response"] == {"count": 4, "mean_seconds": 1800, "median_seconds": 1800}
    assert (body["sla_total"], body["sla_met"], body["sla_met_pct"]) == (4, 4, "100.0")
    assert body["group_by"] == "assignee" and len(body["rows"]) == 2
    assert [(row["label"], row["resolved"], row["tmr"]["mean_seconds"]) for row in by_team["rows"]] == [
        ("N1", 3, 2 * H),
        ("N2", 1, 10 * H),
    ]
    assert refused.status_code == 403 and refused.json()["detail"] == "Only a CS manager can see the support report."
    assert bad.status_code == 400 and "start" in bad.json()["errors"]


# --- query counts ------------------------------------------------------------------------------


@pytest.mark.parametrize("rows", [1, 15])
def test_ticket_list_query_count_does_not_grow(django_assert_num_queries, rows, policy_high):
    team = Team.objects.create(name="N1")
    for n in range(rows):
        owner = UserFactory(role="cs_agent")
        ticket = open_ticket(CustomerFactory(owner=owner), team=team, subject=f"Chamado {n}")
        services.ticket_reply(actor=owner, ticket=ticket, body="Oi")
    client = token_client(UserFactory(role="cs_agent"))

    # token + user, the user's groups, the page of tickets with customer, assignee, team, policy, creator
    with django_assert_num_queries(3):
        response = client.get(f"{TICKETS}?page_size=200&status=active&sla_state=on_track")

    assert len(response.json()["results"]) == rows


@pytest.mark.parametrize("rows", [1, 15])
def test_event_list_query_count_does_not_grow(django_assert_num_queries, rows, policy_high, agent, own_customer):
    ticket = open_ticket(own_customer)
    for n in range(rows):
        services.ticket_reply(actor=agent, ticket=ticket, body=f"Nota {n}", public=False)
    client = token_client(UserFactory(role="cs_agent"))

    # token + user, the user's groups, the ticket, the page of events with their authors
    with django_assert_num_queries(4):
        response = client.get(url(ticket, "events/?page_size=200"))

    assert len(response.json()["results"]) == rows + 1


# --- OpenAPI -----------------------------------------------------------------------------------


def test_schema_documents_every_ticket_endpoint_with_bodies_and_examples(tmp_path):
    import yaml
    from django.core.management import call_command

    target = tmp_path / "schema.yml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(target))
    paths = yaml.safe_load(target.read_text())["paths"]

    assert set(paths["/api/v1/tickets/"]) == {"get", "post"}
    assert set(paths["/api/v1/tickets/{id}/"]) == {"get", "patch"}
    for path, method in (
        ("/api/v1/tickets/", "post"),
        ("/api/v1/tickets/{id}/", "patch"),
        ("/api/v1/tickets/{id}/replies/", "post"),
    ):
        operation = paths[path][method]
        assert operation["requestBody"]["content"]["application/json"]["examples"], path
        assert {"400", "401", "403"} <= set(operation["responses"]), path
    for path in (
        "/api/v1/tickets/",
        "/api/v1/tickets/{id}/",
        "/api/v1/tickets/{id}/events/",
        "/api/v1/tickets/report/",
    ):
        assert paths[path]["get"]["responses"]["200"]["content"]["application/json"]["examples"], path
    filters = {p["name"] for p in paths["/api/v1/tickets/"]["get"]["parameters"]}
    assert {"status", "priority", "assignee", "team", "customer", "customer_external_id", "sla_state"} <= filters
    assert {"opened_after", "opened_before", "resolved_after", "resolved_before", "cursor"} <= filters
    report = {p["name"] for p in paths["/api/v1/tickets/report/"]["get"]["parameters"]}
    assert {"start", "end", "group_by", "priority", "team"} <= report
