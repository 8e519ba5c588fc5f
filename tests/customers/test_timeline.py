"""The customer 360 timeline: interactions, outbound messages and funnel stage changes in one list."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from customers import selectors
from customers.models import Consent, Interaction
from funnel.models import StageChange, TransitionRule
from messaging import services as messaging_services
from messaging.models import Message, MessageTemplate
from posvenda import roles
from tests.factories import CustomerFactory, InteractionFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def english_pages(client, settings):
    """Pages in English, so the text assertions hold with pt-BR as the default language."""
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"


def detail_html(client, customer):
    response = client.get(reverse("customers:detail", args=[customer.pk]))
    assert response.status_code == 200
    return response.content.decode()


def message(customer, key, *, at=None, status=None, **kwargs):
    """A message through the messaging service (as playbooks and campaigns create them)."""
    kwargs.setdefault("subject", f"Assunto {key}")
    kwargs.setdefault("body", "Texto da mensagem")
    msg = messaging_services.message_queue(customer=customer, idempotency_key=f"timeline-test:{key}", **kwargs)
    changes = {}
    if at is not None:
        changes["created_at"] = at
    if status is not None:
        changes["status"] = status
    if changes:
        Message.objects.filter(pk=msg.pk).update(**changes)
        msg.refresh_from_db()
    return msg


def upsell_rule():
    rule, _ = TransitionRule.objects.get_or_create(
        kind=TransitionRule.Kind.UPSELL, defaults={"from_stages": ["adoption"], "to_stage": "expansion"}
    )
    return rule


def stage_change(customer, at, *, from_stage="", to_stage="adoption", **kwargs):
    return StageChange.objects.create(
        customer=customer, from_stage=from_stage, to_stage=to_stage, changed_at=at, **kwargs
    )


def test_timeline_merges_interactions_messages_and_stage_changes_newest_first(client, agent, own_customer):
    # given one entry of each kind, at known times, and another customer's message
    now = timezone.now()
    old_note = InteractionFactory(customer=own_customer, happened_at=now - timedelta(days=3), subject="Primeira")
    entered = stage_change(own_customer, now - timedelta(days=2))
    welcome = message(own_customer, "welcome", at=now - timedelta(days=1), subject="Boas-vindas, Maria!")
    new_note = InteractionFactory(customer=own_customer, happened_at=now, subject="Mais recente")
    other = message(CustomerFactory(), "other", subject="Não é desta cliente")
    client.force_login(agent)
    # when
    html = detail_html(client, own_customer)
    # then they appear in one list, newest first
    ids = [
        f'id="interaction-{new_note.pk}"',
        f'id="message-{welcome.pk}"',
        f'id="stage-change-{entered.pk}"',
        f'id="interaction-{old_note.pk}"',
    ]
    positions = [html.index(i) for i in ids]
    assert positions == sorted(positions)
    assert "Boas-vindas, Maria!" in html
    assert f'id="message-{other.pk}"' not in html
    assert "Não é desta cliente" not in html


def test_message_on_the_timeline_shows_channel_subject_status_and_links_to_its_page(client, agent, own_customer):
    # given a welcome e-mail that went out
    sent = message(own_customer, "sent", subject="Boas-vindas, Maria!", status=Message.Status.SENT, automated=False)
    client.force_login(agent)
    # when
    html = detail_html(client, own_customer)
    # then
    item = html[html.index(f'id="message-{sent.pk}"') :]
    item = item[: item.index("</li>")]
    assert '<span class="badge">E-mail</span>' in item
    assert f'<a href="/messaging/{sent.pk}/">Boas-vindas, Maria!</a>' in item
    assert '<span class="status msg-status-sent">Sent</span>' in item
    assert "Automated" not in item  # a person wrote this one


def test_blocked_message_shows_the_reason_on_the_timeline(client, agent, own_customer):
    # given a marketing e-mail to a customer who never consented
    blocked = message(own_customer, "offer", purpose=Consent.Purpose.MARKETING, subject="Oferta exclusiva")
    assert blocked.status == Message.Status.BLOCKED
    client.force_login(agent)
    # when
    html = detail_html(client, own_customer)
    # then
    assert '<span class="status msg-status-blocked">Blocked</span>' in html
    assert "No consent for this channel and purpose" in html
    assert "Automated" in html


def test_draft_and_delivered_statuses_are_labelled(client, agent, own_customer):
    # given a draft waiting for approval and a delivered message
    message(own_customer, "draft", draft=True, subject="Oferta para aprovar")
    message(own_customer, "delivered", status=Message.Status.DELIVERED, subject="Entregue")
    client.force_login(agent)
    # when
    html = detail_html(client, own_customer)
    # then
    assert '<span class="status msg-status-draft">Draft (awaiting approval)</span>' in html
    assert '<span class="status msg-status-delivered">Delivered</span>' in html


def test_whatsapp_message_without_subject_shows_the_start_of_its_text(client, agent, own_customer):
    # given a WhatsApp message (no subject; the channel is not configured, so it is blocked)
    wa = message(own_customer, "wa", channel="whatsapp", subject="", body="Oi Maria, tudo certo com o pedido?")
    client.force_login(agent)
    # when
    html = detail_html(client, own_customer)
    # then
    assert '<span class="badge">WhatsApp</span>' in html
    assert f'<a href="/messaging/{wa.pk}/">Oi Maria, tudo certo com o pedido?</a>' in html


def test_stage_changes_show_stages_and_who_or_what_moved_the_customer(client, agent, own_customer):
    # given the initial entry, a rule move and a manual move with a reason
    now = timezone.now()
    manager = UserFactory(username="gabriela", first_name="Gabriela", last_name="Rocha", role=roles.MANAGER)
    rule = upsell_rule()
    stage_change(own_customer, now - timedelta(days=10))
    stage_change(
        own_customer, now - timedelta(days=5), from_stage="adoption", to_stage="expansion", source="rule", rule=rule
    )
    moved = stage_change(
        own_customer,
        now - timedelta(days=1),
        from_stage="expansion",
        to_stage="retention",
        source="manual",
        changed_by=manager,
        reason="Cliente pediu para pausar a expansão",
    )
    client.force_login(agent)
    # when
    html = detail_html(client, own_customer)
    # then
    assert "Entered the funnel" in html
    assert "Rule: Upsell order or plan upgrade" in html
    item = html[html.index(f'id="stage-change-{moved.pk}"') :]
    item = item[: item.index("</li>")]
    assert "Moved by Gabriela Rocha" in item
    assert (
        '<span class="stage stage-expansion">Expansion</span> → <span class="stage stage-retention">Retention</span>'
        in item
    )
    assert "Cliente pediu para pausar a expansão" in item


def test_timeline_keeps_the_newest_entries_across_kinds_when_it_is_cut(own_customer):
    # given two old interactions, two newer messages and the newest stage change
    now = timezone.now()
    for days in (30, 20):
        InteractionFactory(customer=own_customer, happened_at=now - timedelta(days=days))
    message(own_customer, "a", at=now - timedelta(days=10))
    message(own_customer, "b", at=now - timedelta(days=5))
    stage_change(own_customer, now - timedelta(days=1))
    # when the timeline is cut at three entries
    data = selectors.customer_360(pk=own_customer.pk, timeline_limit=3)
    # then the three newest stay, whatever their kind, and the page knows there is more
    assert [e.kind for e in data.timeline] == ["stage_change", "message", "message"]
    assert data.timeline_truncated is True
    # and with room for everything nothing is cut
    full = selectors.customer_360(pk=own_customer.pk, timeline_limit=5)
    assert [e.kind for e in full.timeline] == ["stage_change", "message", "message", "interaction", "interaction"]
    assert full.timeline_truncated is False


def test_page_says_when_older_entries_are_not_shown(client, agent, own_customer):
    # given 49 interactions and 2 newer messages: 51 entries for a page of 50
    now = timezone.now()
    Interaction.objects.bulk_create(
        Interaction(customer=own_customer, kind="note", body=f"Nota {i}", happened_at=now - timedelta(days=100 - i))
        for i in range(49)
    )
    message(own_customer, "x", at=now - timedelta(hours=2))
    message(own_customer, "y", at=now - timedelta(hours=1))
    client.force_login(agent)
    # when
    html = detail_html(client, own_customer)
    # then the oldest note is left out and the page links to the full message list
    assert "Nota 0<" not in html and "Nota 1<" in html
    assert 'id="timeline-more"' in html
    assert "Showing the latest 50 entries (interactions, messages, stage changes, tickets and survey answers)." in html
    assert f'href="/messaging/?customer={own_customer.pk}"' in html


def test_page_without_older_entries_has_no_more_note(client, agent, own_customer):
    InteractionFactory(customer=own_customer)
    client.force_login(agent)
    assert 'id="timeline-more"' not in detail_html(client, own_customer)


def build_timeline(customer, author, n):
    """n interactions with authors, 2n messages (one blocked), 2n stage changes by people and rules,
    n ticket events (a ticket opened) and n survey answers."""
    from support.services import ticket_create
    from surveys.models import Invitation, Survey
    from surveys.services import response_submit

    now = timezone.now()
    template = MessageTemplate.objects.create(
        slug=f"tpl-{customer.pk}", name="Modelo", subject_pt_br="Olá {nome}", body_pt_br="Texto {nome}"
    )
    rule = upsell_rule()
    for i in range(n):
        InteractionFactory(customer=customer, author=author, happened_at=now - timedelta(hours=i))
        message(customer, f"{customer.pk}-{i}", template=template, subject=None, body=None)
        message(customer, f"{customer.pk}-blocked-{i}", purpose=Consent.Purpose.MARKETING)
        stage_change(customer, now - timedelta(days=i), source="manual", changed_by=author, reason="r")
        stage_change(customer, now - timedelta(days=i, hours=1), source="rule", rule=rule)
        ticket_create(
            actor=None, customer=customer, subject=f"Chamado {i}", opened_at=now - timedelta(hours=i, minutes=5)
        )
        survey = Survey.objects.create(name=f"NPS {customer.pk}-{i}", kind="nps", fatigue_days=0)
        invitation = Invitation.objects.create(
            survey=survey, customer=customer, nonce=f"n{customer.pk}-{i}", source_key="t", status="sent", due_at=now
        )
        response_submit(invitation=invitation, score=8, comment=f"Comentário {i}")


def test_360_query_count_is_the_same_for_1_and_many_timeline_entries(client, agent, django_assert_num_queries):
    # given a customer with one entry of each kind and one with many
    small = CustomerFactory(owner=agent)
    big = CustomerFactory(owner=agent)
    build_timeline(small, agent, 1)
    build_timeline(big, agent, 7)  # 49 entries: all fit in the page's 50
    client.force_login(agent)
    with CaptureQueriesContext(connection) as one:
        detail_html(client, small)
    # when / then
    with django_assert_num_queries(len(one)):
        html = detail_html(client, big)
    assert html.count('class="timeline-message') == 14
    assert html.count('class="timeline-stage"') == 14
    assert html.count('class="timeline-item') == 7
    assert html.count('class="timeline-ticket"') == 7
    assert html.count('class="timeline-survey"') == 7
    assert "Chamado 6" in html and "Comentário 6" in html
