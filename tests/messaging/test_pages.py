"""CS pages: the messages list (filters, constant query count) and the approval queue."""

import pytest
from django.urls import reverse

from messaging import services
from messaging.models import Message
from tests.conftest import client_for
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db
LIST = reverse("messaging:list")
APPROVALS = reverse("messaging:approvals")


@pytest.fixture(autouse=True)
def english_pages(client, settings):
    """Pages in English, so the text assertions hold with the pt_BR catalogue as the default."""
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"


def make_messages(n, **kwargs):
    out = []
    for i in range(n):
        customer = kwargs.get("customer") or CustomerFactory()
        out.append(
            services.message_queue(
                customer=customer,
                idempotency_key=f"{kwargs.get('prefix', 'm')}-{i}",
                subject=f"Assunto {i}",
                body="Texto",
                channel=kwargs.get("channel"),
                draft=kwargs.get("draft", False),
                automated=False,
            )
        )
    return out


def test_list_requires_a_crm_role(client, no_role_user):
    assert client.get(LIST).status_code == 302  # anonymous: to login
    client_for(client, no_role_user)
    assert client.get(LIST).status_code == 403


def test_list_query_count_is_the_same_for_one_and_many_messages(client, agent, django_assert_num_queries):
    client_for(client, agent)
    make_messages(1, prefix="a")
    client.get(LIST)  # warm up session/user caches
    with django_assert_num_queries(5) as one:
        response = client.get(LIST)
    assert response.context["page"].paginator.count == 1

    make_messages(30, prefix="b")
    with django_assert_num_queries(len(one.captured_queries)):
        response = client.get(LIST)
    assert response.context["page"].paginator.count == 31


def test_list_filters_by_status_channel_and_customer(client, agent):
    client_for(client, agent)
    maria = CustomerFactory(name="Maria Filtrada")
    [mine] = make_messages(1, customer=maria, prefix="maria")
    make_messages(2, prefix="outros")
    [blocked] = make_messages(1, prefix="wa", channel="whatsapp")

    by_customer = client.get(LIST, {"customer": maria.pk})
    by_status = client.get(LIST, {"status": "blocked"})
    by_channel = client.get(LIST, {"channel": "email"})
    by_search = client.get(LIST, {"q": "filtrada"})

    assert [m.pk for m in by_customer.context["message_rows"]] == [mine.pk]
    assert "Maria Filtrada" in by_customer.text
    assert [m.pk for m in by_status.context["message_rows"]] == [blocked.pk]
    assert "Channel not configured" in by_status.text
    assert by_channel.context["page"].paginator.count == 3
    assert [m.pk for m in by_search.context["message_rows"]] == [mine.pk]


def test_detail_shows_text_and_history(client, agent):
    client_for(client, agent)
    [message] = make_messages(1, channel="whatsapp")

    response = client.get(reverse("messaging:detail", args=[message.pk]))

    assert response.status_code == 200
    assert "Assunto 0" in response.text
    assert "Channel not configured" in response.text


def test_agent_sees_only_drafts_of_own_customers_and_manager_sees_all(
    client, agent, manager, own_customer, others_customer
):
    [own] = make_messages(1, customer=own_customer, draft=True, prefix="own")
    [other] = make_messages(1, customer=others_customer, draft=True, prefix="other")

    client_for(client, agent)
    agent_page = client.get(APPROVALS)
    client_for(client, manager)
    manager_page = client.get(APPROVALS)

    assert [m.pk for m, _form in agent_page.context["drafts"]] == [own.pk]
    assert "Maria da Silva" in agent_page.text and "João Pereira" not in agent_page.text
    assert {m.pk for m, _form in manager_page.context["drafts"]} == {own.pk, other.pk}


def test_approval_queue_query_count_is_constant(client, manager, django_assert_num_queries):
    client_for(client, manager)
    make_messages(1, draft=True, prefix="a")
    client.get(APPROVALS)
    with django_assert_num_queries(4) as one:
        client.get(APPROVALS)

    make_messages(12, draft=True, prefix="b")
    with django_assert_num_queries(len(one.captured_queries)):
        response = client.get(APPROVALS)
    assert len(response.context["drafts"]) == 13


def test_agent_edits_and_approves_a_draft_from_the_queue(
    client, agent, own_customer, django_capture_on_commit_callbacks
):
    [draft] = make_messages(1, customer=own_customer, draft=True)
    client_for(client, agent)

    with django_capture_on_commit_callbacks() as callbacks:
        response = client.post(
            reverse("messaging:approve", args=[draft.pk]),
            {f"m{draft.pk}-subject": "Assunto editado", f"m{draft.pk}-body": "Texto editado pela agente"},
            follow=True,
        )

    draft.refresh_from_db()
    assert draft.status == Message.Status.QUEUED
    assert draft.body == "Texto editado pela agente"
    assert len(callbacks) == 1
    assert "approved and queued" in response.text


def test_agent_cannot_approve_or_discard_another_agents_draft(client, agent, others_customer):
    [draft] = make_messages(1, customer=others_customer, draft=True)
    client_for(client, agent)

    approve = client.post(reverse("messaging:approve", args=[draft.pk]), {f"m{draft.pk}-body": "x"})
    discard = client.post(reverse("messaging:discard", args=[draft.pk]))

    assert approve.status_code == 403
    assert discard.status_code == 403
    draft.refresh_from_db()
    assert draft.status == Message.Status.DRAFT


def test_discard_from_the_queue(client, agent, own_customer):
    [draft] = make_messages(1, customer=own_customer, draft=True)
    client_for(client, agent)

    response = client.post(reverse("messaging:discard", args=[draft.pk]), follow=True)

    draft.refresh_from_db()
    assert draft.status == Message.Status.DISCARDED
    assert "Nothing waiting for approval." in response.text


def test_empty_body_is_refused_with_a_message(client, agent, own_customer):
    [draft] = make_messages(1, customer=own_customer, draft=True)
    client_for(client, agent)

    response = client.post(reverse("messaging:approve", args=[draft.pk]), {f"m{draft.pk}-body": ""}, follow=True)

    draft.refresh_from_db()
    assert draft.status == Message.Status.DRAFT
    assert "the text cannot be empty" in response.text


def test_messages_for_customer_feeds_the_timeline(own_customer):
    make_messages(3, customer=own_customer, prefix="t")
    make_messages(1, prefix="other")

    from messaging.selectors import messages_for_customer

    latest = messages_for_customer(own_customer.pk, limit=2)

    assert [m.subject for m in latest] == ["Assunto 2", "Assunto 1"]


# --- sorting and CSV export --------------------------------------------------------------------

EXPORT = reverse("messaging:export")


def read_csv(response):
    import csv
    import io

    assert response["Content-Type"] == "text/csv; charset=utf-8"
    text = b"".join(response.streaming_content).decode("utf-8")
    assert text.startswith("\ufeff")
    return list(csv.reader(io.StringIO(text[1:])))


def test_list_sorts_by_status_both_ways_and_keeps_sort_in_links(client, agent):
    client_for(client, agent)
    make_messages(2, prefix="q")  # queued (e-mail)
    make_messages(1, prefix="d", draft=True)  # draft
    make_messages(1, prefix="b", channel="whatsapp")  # blocked: channel not configured

    asc = client.get(LIST, {"sort": "status", "channel": "email"})
    desc = client.get(LIST, {"sort": "-status"})
    default = client.get(LIST, {"sort": "nonsense"})

    assert [m.status for m in asc.context["message_rows"]] == ["draft", "queued", "queued"]
    assert [m.status for m in desc.context["message_rows"]] == ["queued", "queued", "draft", "blocked"]
    rows = list(default.context["message_rows"])
    assert [m.pk for m in rows] == sorted((m.pk for m in rows), reverse=True)  # newest first
    link = asc.context["sort_links"]["status"]
    assert link["active"] and link["direction"] == "asc"
    assert "sort=-status" in link["url"] and "channel=email" in link["url"]
    assert 'name="sort" value="status"' in asc.text
    assert "sort=status" in asc.context["export_query"]


def test_export_streams_the_filtered_sorted_list(client, agent):
    client_for(client, agent)
    maria = CustomerFactory(name="Maria Exportada")
    make_messages(2, customer=maria, prefix="maria")
    make_messages(2, prefix="outros")

    response = client.get(EXPORT, {"customer": maria.pk, "sort": "created"})

    assert response.status_code == 200
    assert response["Content-Disposition"].startswith('attachment; filename="messages-')
    header, *rows = read_csv(response)
    assert header == [
        "id",
        "created_at",
        "customer_id",
        "customer",
        "channel",
        "purpose",
        "status",
        "blocked_reason",
        "subject",
        "sent_at",
        "source",
    ]
    assert [r[3] for r in rows] == ["Maria Exportada", "Maria Exportada"]
    assert [r[8] for r in rows] == ["Assunto 0", "Assunto 1"]  # oldest first, as asked
    assert {r[2] for r in rows} == {str(maria.pk)}


def test_export_guards_against_formula_injection(client, agent):
    client_for(client, agent)
    customer = CustomerFactory(name='=HYPERLINK("http://x")')
    services.message_queue(
        customer=customer, idempotency_key="f-1", subject="@SUM(A1)", body="x", automated=False, source="-2+3"
    )

    _header, row = read_csv(client.get(EXPORT))

    assert row[3] == '\'=HYPERLINK("http://x")'
    assert row[8] == "'@SUM(A1)"
    assert row[10] == "'-2+3"


def test_export_requires_a_crm_role(client, no_role_user):
    response = client.get(EXPORT)
    assert response.status_code == 302 and "login" in response["Location"]
    client_for(client, no_role_user)
    assert client.get(EXPORT).status_code == 403


def test_export_query_count_is_the_same_for_one_and_many_messages(client, agent, django_assert_num_queries):
    client_for(client, agent)
    make_messages(1, prefix="a")
    client.get(EXPORT)
    with django_assert_num_queries(4) as one:  # session, user, role, the messages
        assert len(read_csv(client.get(EXPORT))) == 2

    make_messages(30, prefix="b", channel="whatsapp")
    with django_assert_num_queries(len(one.captured_queries)):
        assert len(read_csv(client.get(EXPORT, {"sort": "-customer"}))) == 32
