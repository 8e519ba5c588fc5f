import csv
import io
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.template import Context, Template
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone, translation

from messaging.models import Message
from support import services
from support.models import Holiday, SlaPolicy, Team, Ticket, TicketEvent
from surveys import services as survey_services
from tests.factories import CustomerFactory, SegmentFactory, UserFactory

pytestmark = pytest.mark.django_db
SP = ZoneInfo("America/Sao_Paulo")
QUEUE = reverse("support:queue")
CREATE = reverse("support:create")
REPORTS = reverse("support:reports")
REPORTS_EXPORT = reverse("support:reports_export")
SLA = reverse("support:sla")


@pytest.fixture(autouse=True)
def english_pages(client, settings):
    """Pages in English, so text assertions hold once the pt_BR catalogue lands."""
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"


@pytest.fixture
def calendar_policies(db):
    """24×7 policies, so timers read the same whatever the time of day the tests run.
    normal: first response 2 h, resolution 10 h; urgent: 1 h / 4 h; warn 30 min before."""
    SlaPolicy.objects.all().delete()
    normal = SlaPolicy.objects.create(
        name="Normal 24x7",
        priority="normal",
        first_response_minutes=120,
        resolution_minutes=600,
        business_hours=False,
        warn_before_minutes=30,
    )
    SlaPolicy.objects.create(
        name="Urgente 24x7",
        priority="urgent",
        first_response_minutes=60,
        resolution_minutes=240,
        business_hours=False,
        warn_before_minutes=30,
    )
    return normal


def ago(**kwargs) -> datetime:
    return timezone.now() - timedelta(**kwargs)


def open_ticket(customer, *, opened_at=None, subject="Pedido não chegou", priority="normal", **kwargs) -> Ticket:
    ticket, _ = services.ticket_create(
        actor=None,
        customer=customer,
        subject=subject,
        priority=priority,
        opened_at=opened_at or timezone.now(),
        **kwargs,
    )
    return ticket


def reply(ticket, *, at, actor=None, public=True, status=None, body="Estamos verificando."):
    actor = actor or ticket.assignee
    return services.ticket_reply(actor=actor, ticket=ticket, body=body, public=public, status=status, at=at)


def change(ticket, *, at, actor=None, **fields):
    return services.ticket_change(actor=actor or ticket.assignee, ticket=ticket, at=at, **fields)


def html(response) -> str:
    return response.content.decode()


# --- permissions --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [QUEUE, CREATE, REPORTS, REPORTS_EXPORT, SLA, reverse("support:detail", args=[1])],
)
def test_pages_send_anonymous_users_to_the_login(client, url):
    response = client.get(url)
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


def test_users_without_a_cs_role_are_refused(client, no_role_user):
    client.force_login(no_role_user)
    assert client.get(QUEUE).status_code == 403


@pytest.mark.parametrize("url", [REPORTS, REPORTS_EXPORT, SLA])
def test_agents_cannot_see_reports_or_sla_policies(client, agent, url):
    client.force_login(agent)
    assert client.get(url).status_code == 403
    assert client.post(SLA, {"action": "holiday_add", "date": "2026-02-17", "name": "Carnaval"}).status_code == 403
    assert not Holiday.objects.exists()


def test_managers_see_reports_and_sla_policies(client, manager):
    client.force_login(manager)
    assert client.get(REPORTS).status_code == 200
    assert client.get(SLA).status_code == 200


def test_an_agent_who_is_not_the_assignee_sees_the_ticket_but_cannot_reply_or_change_it(
    client, calendar_policies, other_agent, others_customer, agent
):
    # given a ticket assigned to another agent
    ticket = open_ticket(others_customer)
    assert ticket.assignee == other_agent
    client.force_login(agent)
    detail = reverse("support:detail", args=[ticket.pk])
    # when the agent opens it
    page = client.get(detail)
    # then they read it, without the forms
    assert page.status_code == 200 and "Only the assignee or a CS manager" in html(page)
    assert f'action="{reverse("support:reply", args=[ticket.pk])}"' not in html(page)
    # and posting anyway is refused, changing nothing
    response = client.post(reverse("support:reply", args=[ticket.pk]), {"body": "Oi", "kind": "public"})
    assert response.status_code == 403
    response = client.post(
        reverse("support:change", args=[ticket.pk]),
        {"status": "resolved", "priority": "urgent", "category": "question", "take": "on"},
    )
    assert response.status_code == 403
    ticket.refresh_from_db()
    assert (ticket.status, ticket.priority, ticket.assignee) == ("new", "normal", other_agent)
    assert list(ticket.events.values_list("kind", flat=True)) == ["created"]
    assert not Message.objects.exists()


def test_an_agent_takes_an_unassigned_ticket(client, calendar_policies, agent):
    ticket = open_ticket(CustomerFactory(owner=None))
    client.force_login(agent)
    page = client.get(reverse("support:detail", args=[ticket.pk]))
    assert "Assign to me" in html(page) and 'name="assignee"' not in html(page)
    response = client.post(
        reverse("support:change", args=[ticket.pk]),
        {"status": "open", "priority": "normal", "category": "question", "take": "on"},
    )
    assert response.status_code == 302
    ticket.refresh_from_db()
    assert (ticket.assignee, ticket.status) == (agent, "open")


# --- queue --------------------------------------------------------------------------------------


def test_queue_sorts_by_time_left_and_shows_the_timers(client, calendar_policies, agent, own_customer):
    # given tickets due at different times (normal: first response 2 h, resolution 10 h)
    late = open_ticket(own_customer, subject="Atrasado", opened_at=ago(hours=5))  # first response 3 h overdue
    soon = open_ticket(own_customer, subject="Quase", opened_at=ago(minutes=40))  # 1 h 20 min left
    answered = open_ticket(own_customer, subject="Respondido", opened_at=ago(hours=8, minutes=40))
    reply(answered, at=ago(hours=8))  # resolution due in 1 h 20 min too
    paused = open_ticket(own_customer, subject="Pausado", opened_at=ago(hours=6))
    reply(paused, at=ago(hours=1), status="waiting")  # 5 h of the 10 h used
    done = open_ticket(own_customer, subject="Resolvido", opened_at=ago(hours=3))
    reply(done, at=ago(hours=2))
    change(done, at=ago(hours=1), status="resolved")
    client.force_login(agent)
    # when
    response = client.get(QUEUE)
    # then the open tickets, the overdue first and the paused last
    subjects = [t.subject for t in response.context["tickets"]]
    assert subjects[0] == "Atrasado" and subjects[-1] == "Pausado"
    assert set(subjects[1:3]) == {"Quase", "Respondido"} and "Resolvido" not in subjects
    page = html(response)
    assert "overdue by 3 h" in page
    assert page.count("1 h 20 min left") == 2 * 2  # each row: the SLA column and the phone line
    assert "paused — 5 h left" in page
    # the resolved one is in "All" with "met"
    response = client.get(QUEUE, {"status": "all"})
    assert "Resolvido" in html(response) and ">met<" in html(response)
    assert late.pk and soon.pk


def test_queue_filters(client, calendar_policies, agent, other_agent, own_customer, others_customer):
    team = Team.objects.create(name="Financeiro")
    mine = open_ticket(own_customer, subject="Meu chamado", priority="urgent", team=team, opened_at=ago(hours=3))
    theirs = open_ticket(others_customer, subject="Chamado do outro", opened_at=ago(minutes=10))
    nobody = open_ticket(CustomerFactory(owner=None, name="Loja Sem Dono"), subject="Sem dono")
    waiting = open_ticket(own_customer, subject="Esperando", opened_at=ago(hours=2))
    reply(waiting, at=ago(hours=1), status="waiting")
    client.force_login(agent)

    def subjects(**params):
        return {t.subject for t in client.get(QUEUE, params).context["tickets"]}

    assert subjects(assignee="me") == {"Meu chamado", "Esperando"}
    assert subjects(assignee="unassigned") == {"Sem dono"}
    assert subjects(assignee=other_agent.pk) == {"Chamado do outro"}
    assert subjects(priority="urgent") == {"Meu chamado"}
    assert subjects(team=team.pk) == {"Meu chamado"}
    assert subjects(status="waiting") == {"Esperando"}
    assert subjects(sla="breached") == {"Meu chamado"}  # urgent: first response in 1 h, opened 3 h ago
    assert subjects(sla="paused") == {"Esperando"}
    assert subjects(sla="on_track") == {"Chamado do outro", "Sem dono"}
    assert subjects(customer=others_customer.pk) == {"Chamado do outro"}
    assert subjects(q=f"#{nobody.pk}") == {"Sem dono"}
    assert subjects(q="sem dono") == {"Sem dono"}  # the customer's name
    assert subjects(q="outro") == {"Chamado do outro"}
    assert subjects(assignee="garbage", priority="nope") == {t.subject for t in (mine, theirs, nobody, waiting)}


def test_queue_sorts_by_other_columns(client, calendar_policies, agent, own_customer):
    open_ticket(own_customer, subject="B normal", priority="normal")
    open_ticket(own_customer, subject="A urgente", priority="urgent")
    open_ticket(own_customer, subject="C baixa", priority="low")
    client.force_login(agent)
    by = lambda sort: [t.subject for t in client.get(QUEUE, {"sort": sort}).context["tickets"]]  # noqa: E731
    assert by("subject") == ["A urgente", "B normal", "C baixa"]
    assert by("-priority") == ["A urgente", "B normal", "C baixa"]
    assert by("priority") == ["C baixa", "B normal", "A urgente"]


def test_queue_costs_the_same_queries_for_1_and_30_tickets(
    client, calendar_policies, agent, own_customer, django_assert_num_queries
):
    team = Team.objects.create(name="N1")
    open_ticket(own_customer, team=team)
    client.force_login(agent)
    with CaptureQueriesContext(connection) as one:
        assert len(client.get(QUEUE).context["tickets"]) == 1
    for i in range(29):
        ticket = open_ticket(CustomerFactory(owner=UserFactory(role="cs_agent")), team=team, subject=f"T{i}")
        if i % 3 == 0:
            reply(ticket, at=timezone.now(), status="waiting")
    with django_assert_num_queries(len(one)):
        assert len(client.get(QUEUE).context["tickets"]) == 30


def test_queue_csv_exports_the_filtered_list(client, calendar_policies, agent, own_customer, others_customer):
    ticket = open_ticket(own_customer, subject="=SOMA(A1)", opened_at=datetime(2026, 11, 16, 9, tzinfo=SP))
    open_ticket(others_customer, subject="Outro")
    client.force_login(agent)
    response = client.get(QUEUE, {"assignee": "me", "export": "csv"})
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode().lstrip("\ufeff"))))
    assert rows[0][:6] == ["number", "subject", "customer_id", "customer", "status", "priority"]
    assert len(rows) == 2
    row = dict(zip(rows[0], rows[1], strict=True))
    assert row["number"] == str(ticket.pk) and row["subject"] == "'=SOMA(A1)"
    assert row["customer"] == "Maria da Silva" and row["status"] == "new"
    assert row["opened_at"] == "2026-11-16T09:00:00-03:00"
    assert row["first_response_due_at"] == "2026-11-16T11:00:00-03:00"
    assert row["sla_state"] == "breached" and row["sla"].startswith("overdue by")


# --- timers on the ticket page --------------------------------------------------------------------


def test_ticket_page_timers(client, calendar_policies, manager, own_customer):
    client.force_login(manager)

    def timers(ticket):
        page = client.get(reverse("support:detail", args=[ticket.pk]))
        ctx = page.context
        from support.templatetags.support_tags import first_response_timer, resolution_timer

        return first_response_timer(ctx["ticket"], ctx["now"]).text, resolution_timer(ctx["ticket"], ctx["now"]).text

    fresh = open_ticket(own_customer, opened_at=ago(minutes=40))
    assert timers(fresh) == ("1 h 20 min left", "9 h 20 min left")

    late = open_ticket(own_customer, opened_at=ago(hours=11))
    assert timers(late) == ("overdue by 9 h", "overdue by 1 h")

    paused = open_ticket(own_customer, opened_at=ago(hours=6))
    reply(paused, at=ago(hours=5, minutes=30), status="waiting", actor=manager)
    paused.refresh_from_db()
    assert timers(paused) == ("met — answered in 30 min", "paused — 9 h 30 min left")

    resolved = open_ticket(own_customer, opened_at=datetime(2026, 11, 16, 9, tzinfo=SP))  # a Monday
    reply(resolved, at=datetime(2026, 11, 16, 12, tzinfo=SP), actor=manager)
    change(resolved, at=datetime(2026, 11, 17, 10, tzinfo=SP), status="resolved", actor=manager)
    assert timers(resolved) == (
        "breached — answered in 3 h",
        "breached — resolved in 1 d 1 h (10 h business)",
    )
    page = html(client.get(reverse("support:detail", args=[resolved.pk])))
    assert "breached — resolved in 1 d 1 h (10 h business)" in page


def test_ticket_page_shows_the_conversation_in_order(client, calendar_policies, manager, own_customer):
    ticket = open_ticket(own_customer, opened_at=ago(hours=3), description="Meu pedido não chegou.")
    reply(ticket, at=ago(hours=2, minutes=50), actor=manager, public=False, body="Conferir com a transportadora")
    reply(ticket, at=ago(hours=2, minutes=40), actor=manager, body="Já estamos verificando.")
    services.ticket_customer_reply(ticket=ticket, body="Obrigada, aguardo.", at=ago(hours=2))
    change(ticket, at=ago(hours=1), actor=manager, priority="urgent", status="waiting")
    client.force_login(manager)
    page = html(client.get(reverse("support:detail", args=[ticket.pk])))
    order = [
        "Meu pedido não chegou.",
        "Internal note",
        "Conferir com a transportadora",
        "Public reply",
        "Já estamos verificando.",
        "Obrigada, aguardo.",
        "changed the status from Open to <strong>Waiting on customer</strong>",
        "changed the priority from Normal to <strong>Urgent</strong>",
    ]
    positions = [page.index(text) for text in order]
    assert positions == sorted(positions)
    assert f'href="{reverse("customers:detail", args=[own_customer.pk])}"' in page


def test_ticket_page_query_count_does_not_grow_with_the_history(
    client, calendar_policies, manager, own_customer, django_assert_num_queries
):
    ticket = open_ticket(own_customer, opened_at=ago(hours=3))
    client.force_login(manager)
    url = reverse("support:detail", args=[ticket.pk])
    with CaptureQueriesContext(connection) as short:
        client.get(url)
    for i in range(10):
        reply(ticket, at=ago(hours=2, minutes=50 - i), actor=manager, public=bool(i % 2), body=f"Resposta {i}")
    with django_assert_num_queries(len(short)):
        client.get(url)


# --- reply and change ---------------------------------------------------------------------------


def test_public_reply_emails_the_customer_and_an_internal_note_does_not(client, calendar_policies, agent, own_customer):
    ticket = open_ticket(own_customer, opened_at=ago(minutes=30))
    client.force_login(agent)
    url = reverse("support:reply", args=[ticket.pk])
    # an internal note, with htmx: the ticket is swapped in place
    response = client.post(url, {"body": "Cliente VIP", "kind": "note"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200 and "<html" not in html(response)
    assert "Note added." in html(response) and "Cliente VIP" in html(response)
    assert not Message.objects.exists()
    ticket.refresh_from_db()
    assert ticket.first_response_at is None and ticket.status == "new"
    # a public reply, without htmx: redirect back to the ticket
    response = client.post(url, {"body": "Seu pedido sai hoje.", "kind": "public", "then_status": "waiting"})
    assert response.status_code == 302 and response["Location"] == reverse("support:detail", args=[ticket.pk])
    message = Message.objects.get()
    assert message.customer == own_customer and message.body == "Seu pedido sai hoje."
    assert f"#{ticket.pk}" in message.subject
    ticket.refresh_from_db()
    assert ticket.first_response_at is not None and ticket.status == "waiting" and ticket.resolution_paused
    assert list(ticket.events.values_list("kind", flat=True)) == ["created", "note", "reply", "status"]


def test_an_empty_reply_says_what_to_fix(client, calendar_policies, agent, own_customer):
    ticket = open_ticket(own_customer)
    client.force_login(agent)
    response = client.post(reverse("support:reply", args=[ticket.pk]), {"body": "  ", "kind": "public"})
    assert response.status_code == 200 and "Write the reply or note." in html(response)
    assert ticket.events.count() == 1


def test_change_form_offers_allowed_statuses_and_explains_a_refused_move(
    client, calendar_policies, agent, own_customer
):
    ticket = open_ticket(own_customer, opened_at=ago(hours=2))
    reply(ticket, at=ago(hours=1))
    change(ticket, at=ago(minutes=30), status="resolved")
    client.force_login(agent)
    page = client.get(reverse("support:detail", args=[ticket.pk]))
    options = [value for value, _label in page.context["change_form"].fields["status"].widget.choices]
    assert options == ["resolved", "closed", "reopened"]
    # a stale form asks for "on hold"
    response = client.post(
        reverse("support:change", args=[ticket.pk]),
        {"status": "on_hold", "priority": "normal", "category": "question"},
    )
    assert response.status_code == 200
    assert "A Resolved ticket cannot become On hold." in html(response)
    ticket.refresh_from_db()
    assert ticket.status == "resolved"


def test_change_with_htmx_updates_the_ticket_in_place(client, calendar_policies, manager, agent, own_customer):
    team = Team.objects.create(name="Financeiro")
    ticket = open_ticket(own_customer)
    client.force_login(manager)
    response = client.post(
        reverse("support:change", args=[ticket.pk]),
        {"status": "open", "priority": "urgent", "assignee": manager.pk, "team": team.pk, "category": "billing"},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200 and "Ticket updated." in html(response)
    ticket.refresh_from_db()
    assert (ticket.status, ticket.priority, ticket.assignee, ticket.team, ticket.category) == (
        "open",
        "urgent",
        manager,
        team,
        "billing",
    )
    assert ticket.sla_policy.name == "Urgente 24x7"
    kinds = set(ticket.events.values_list("kind", flat=True))
    assert {"status", "priority", "assignee", "team", "category"} <= kinds


# --- new ticket ---------------------------------------------------------------------------------


def test_new_ticket_from_the_customer_page(client, calendar_policies, agent, own_customer):
    client.force_login(agent)
    page = client.get(CREATE, {"customer": own_customer.pk})
    assert page.status_code == 200 and "Maria da Silva" in html(page)
    assert "assignee" not in page.context["form"].fields  # only managers choose the assignee
    response = client.post(
        CREATE,
        {
            "customer": own_customer.pk,
            "subject": "Troca de tamanho",
            "description": "Quer trocar M por G.",
            "channel": "whatsapp",
            "category": "return",
            "priority": "normal",
        },
    )
    ticket = Ticket.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("support:detail", args=[ticket.pk])
    assert (ticket.customer, ticket.assignee, ticket.channel, ticket.created_by) == (
        own_customer,
        agent,
        "whatsapp",
        agent,
    )


def test_new_ticket_without_subject_says_what_to_fix(client, calendar_policies, agent, own_customer):
    client.force_login(agent)
    response = client.post(
        CREATE,
        {"customer": own_customer.pk, "subject": "", "channel": "email", "category": "question", "priority": "normal"},
    )
    assert response.status_code == 200 and "This field is required." in html(response)
    assert not Ticket.objects.exists()


def test_new_ticket_finds_the_customer_first(client, agent, own_customer):
    client.force_login(agent)
    page = client.get(CREATE, {"customer_q": "maria"})
    assert f'href="{CREATE}?customer={own_customer.pk}"' in html(page)
    partial = client.get(CREATE, {"customer_q": "maria"}, HTTP_HX_REQUEST="true")
    assert "<html" not in html(partial) and "Maria da Silva" in html(partial)


def test_new_ticket_from_a_survey_answer_opens_one_ticket_per_answer(client, calendar_policies, agent):
    from tests.surveys.conftest import consenting_customer, make_survey, sent_invitation

    customer = consenting_customer(owner=agent, name="Ana Souza", email="ana@example.com.br")
    # the survey does not open tickets by itself here: this is the CS user opening one by hand
    invitation = sent_invitation(make_survey(detractor_ticket=False), customer)
    answer = survey_services.response_submit(invitation=invitation, score=3, comment="Entrega atrasou duas vezes.")
    client.force_login(agent)
    # the form comes filled in
    page = client.get(CREATE, {"survey_response": answer.pk})
    initial = page.context["form"].initial
    assert initial["subject"] == "NPS 3 — Ana Souza"
    assert initial["description"] == "Entrega atrasou duas vezes."
    assert (initial["channel"], initial["customer"]) == ("survey", customer.pk)
    # submitted twice (a double click), one ticket
    data = {
        "customer": customer.pk,
        "survey_response": answer.pk,
        "subject": initial["subject"],
        "description": initial["description"],
        "channel": "survey",
        "category": "complaint",
        "priority": "high",
    }
    first = client.post(CREATE, data)
    second = client.post(CREATE, data)
    ticket = Ticket.objects.get()
    assert first["Location"] == second["Location"] == reverse("support:detail", args=[ticket.pk])
    assert ticket.survey_response == answer and ticket.source_key == f"survey-response:{answer.pk}"
    # and the link from the survey answer now leads to the ticket
    again = client.get(CREATE, {"survey_response": answer.pk})
    assert again.status_code == 302 and again["Location"] == reverse("support:detail", args=[ticket.pk])
    page = html(client.get(reverse("support:detail", args=[ticket.pk])))
    assert reverse("surveys:response", args=[answer.pk]) in page


def test_managers_assign_a_new_ticket(client, calendar_policies, manager, other_agent, own_customer):
    client.force_login(manager)
    client.post(
        CREATE,
        {
            "customer": own_customer.pk,
            "subject": "Cobrança",
            "channel": "email",
            "category": "billing",
            "priority": "urgent",
            "assignee": other_agent.pk,
        },
    )
    assert Ticket.objects.get().assignee == other_agent


# --- reports ------------------------------------------------------------------------------------


@pytest.fixture
def resolved_set(db):
    """Monday 16 Nov 2026, a 24×7 normal policy of 1 h first response and 5 h resolution: Ana resolves
    in 1 h and 3 h, Bruno in 2 h and 10 h (breached); each answered in 30 min."""
    SlaPolicy.objects.filter(priority="normal").delete()
    SlaPolicy.objects.create(
        name="Normal", priority="normal", first_response_minutes=60, resolution_minutes=300, business_hours=False
    )
    ana = UserFactory(username="ana", first_name="Ana", last_name="Lima", role="cs_agent")
    bruno = UserFactory(username="bruno", first_name="Bruno", last_name="Reis", role="cs_agent")
    team = Team.objects.create(name="N1")
    start = datetime(2026, 11, 16, 9, tzinfo=SP)
    for user, hours in ((ana, 1), (ana, 3), (bruno, 2), (bruno, 10)):
        ticket = open_ticket(CustomerFactory(owner=user), opened_at=start, team=team if user == ana else None)
        reply(ticket, at=start + timedelta(minutes=30))
        change(ticket, at=start + timedelta(hours=hours), status="resolved")
    return ana, bruno


def test_reports_figures(client, manager, resolved_set):
    client.force_login(manager)
    response = client.get(REPORTS, {"period": "custom", "start": "2026-11-16", "end": "2026-11-16"})
    report = response.context["report"]
    assert report.resolved == 4 and report.tmr.mean == 4 * 3600 and report.tmr.median == 2.5 * 3600
    page = html(response)
    assert '<span class="kpi-value" id="kpi-tmr">4 h</span>' in page
    assert '<strong id="kpi-tmr-median">2 h 30 min</strong>' in page
    assert '<span class="kpi-value" id="kpi-sla">75.0%</span>' in page
    assert "30 min" in page and "Ana Lima" in page and "Bruno Reis" in page
    # the chart: Bruno's mean (6 h) is the longest bar
    bars = {b["label"]: b for b in response.context["bars"]}
    assert bars["Bruno Reis"]["width"] == "100.0" and bars["Ana Lima"]["width"] == "33.3"
    # outside the period: nothing
    empty = client.get(REPORTS, {"period": "custom", "start": "2026-11-17", "end": "2026-11-18"})
    assert empty.context["report"].resolved == 0 and "No ticket resolved in this period." in html(empty)


def test_reports_csv_per_agent_and_per_team(client, manager, resolved_set):
    client.force_login(manager)
    params = {"period": "custom", "start": "2026-11-16", "end": "2026-11-16"}
    body = client.get(REPORTS_EXPORT, params).content.decode()
    assert body == (
        "\ufeffgroup,resolved,tmr_mean_hours,tmr_median_hours,tmr_business_mean_hours,tmr_business_median_hours,"
        "first_response_mean_hours,first_response_median_hours,first_response_business_mean_hours,"
        "first_response_business_median_hours,sla_tickets,sla_met,sla_met_pct\r\n"
        "Ana Lima,2,2.00,2.00,2.00,2.00,0.50,0.50,0.50,0.50,2,2,100.0\r\n"
        "Bruno Reis,2,6.00,6.00,5.50,5.50,0.50,0.50,0.50,0.50,2,1,50.0\r\n"
        "All,4,4.00,2.50,3.75,2.50,0.50,0.50,0.50,0.50,4,3,75.0\r\n"
    )
    teams = client.get(REPORTS_EXPORT, {**params, "group": "team"}).content.decode().splitlines()
    assert teams[1:] == [
        "(no team),2,6.00,6.00,5.50,5.50,0.50,0.50,0.50,0.50,2,1,50.0",
        "N1,2,2.00,2.00,2.00,2.00,0.50,0.50,0.50,0.50,2,2,100.0",
        "All,4,4.00,2.50,3.75,2.50,0.50,0.50,0.50,0.50,4,3,75.0",
    ]


def test_report_period_presets(client, manager):
    from support.forms import ReportForm

    def bounds(**data):
        form = ReportForm(data)
        start, end = form.bounds(today=date(2026, 3, 15))
        return (timezone.localdate(start) if start else None, timezone.localdate(end) if end else None)

    assert bounds() == (date(2026, 3, 1), None)
    assert bounds(period="last_month") == (date(2026, 2, 1), date(2026, 3, 1))
    assert bounds(period="30") == (date(2026, 2, 14), None)
    assert bounds(period="custom", start="2026-01-10", end="2026-01-20") == (date(2026, 1, 10), date(2026, 1, 21))


# --- SLA policies and holidays -------------------------------------------------------------------


def test_sla_page_lists_policies_hours_and_holidays(client, manager):
    Holiday.objects.create(date=date(timezone.localdate().year, 2, 17), name="Carnaval")
    client.force_login(manager)
    page = html(client.get(SLA))
    assert "Tiradentes" in page and "Carnaval" in page and "Monday" in page


def test_sla_policy_form_adds_and_edits_a_policy(client, manager, calendar_policies, own_customer):
    vip = SegmentFactory(name="VIP")
    client.force_login(manager)
    data = {
        "action": "policy",
        "name": "VIP normal",
        "priority": "normal",
        "segment": vip.pk,
        "first_response_hours": "0",
        "first_response_mins": "30",
        "resolution_hours": "4",
        "resolution_mins": "0",
        "business_hours": "",
        "warn_before_minutes": "15",
    }
    response = client.post(SLA, data)
    assert response.status_code == 302
    policy = SlaPolicy.objects.get(segment=vip)
    assert (policy.first_response_minutes, policy.resolution_minutes, policy.business_hours) == (30, 240, False)
    # editing shows hours and minutes, and an open ticket follows the new target
    own_customer.segment = vip
    own_customer.save()
    ticket = open_ticket(own_customer, opened_at=ago(minutes=10))
    assert client.get(SLA, {"edit": policy.pk}).context["policy_form"].initial["resolution_hours"] == 4
    client.post(SLA, {**data, "policy_id": policy.pk, "resolution_hours": "8"})
    policy.refresh_from_db()
    ticket.refresh_from_db()
    assert policy.resolution_minutes == 480
    assert ticket.resolution_due_at == ticket.opened_at + timedelta(hours=8)


def test_sla_policy_form_explains_errors(client, manager, calendar_policies):
    client.force_login(manager)
    base = {
        "action": "policy",
        "name": "Outra normal",
        "priority": "normal",
        "segment": "",
        "first_response_hours": "0",
        "first_response_mins": "0",
        "resolution_hours": "2",
        "resolution_mins": "0",
        "warn_before_minutes": "30",
    }
    response = client.post(SLA, base)
    page = html(response)
    assert response.status_code == 200
    assert "Give the first response target a time above zero." in page
    assert "“Normal 24x7” already covers this priority for all segments. Edit that policy instead." in page
    assert SlaPolicy.objects.count() == 2


def test_extra_holidays_are_added_and_removed(client, manager):
    client.force_login(manager)
    response = client.post(SLA, {"action": "holiday_add", "date": "2026-02-17", "name": "Carnaval"})
    assert response.status_code == 302
    holiday = Holiday.objects.get()
    again = client.post(SLA, {"action": "holiday_add", "date": "2026-02-17", "name": "Carnaval de novo"})
    assert again.status_code == 200 and "This day is already a holiday." in html(again)
    client.post(SLA, {"action": "holiday_remove", "holiday_id": holiday.pk})
    assert not Holiday.objects.exists()


# --- customer panel -------------------------------------------------------------------------------


def test_customer_tickets_panel(calendar_policies, agent, own_customer):
    open_ticket(own_customer, subject="Pedido atrasado", opened_at=ago(minutes=40))
    template = Template("{% load support_tags %}{% customer_tickets_panel customer user %}")
    with CaptureQueriesContext(connection) as queries, translation.override("en"):
        out = template.render(Context({"customer": own_customer, "user": agent}))
    assert "Pedido atrasado" in out and "1 h 20 min left" in out
    assert f"{CREATE}?customer={own_customer.pk}" in out
    assert len(queries) <= 2  # the tickets (and the user's roles)
    assert TicketEvent.objects.count() == 1
