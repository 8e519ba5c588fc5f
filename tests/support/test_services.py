from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from messaging.models import Message
from support import services
from support.models import SlaAlert, SlaPolicy, TicketEvent
from support.selectors import support_report, ticket_queue
from tests.factories import CustomerFactory, SegmentFactory

pytestmark = pytest.mark.django_db
SP = ZoneInfo("America/Sao_Paulo")
H = 3600


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=SP)


def open_ticket(customer, *, when, priority="high", actor=None, **kwargs):
    ticket, _ = services.ticket_create(
        actor=actor, customer=customer, subject="Pedido não chegou", priority=priority, opened_at=when, **kwargs
    )
    return ticket


def test_full_history_pause_resume_reopen_priority_change(policy_high, policy_urgent, agent, own_customer):
    # opened Mon 23 09:00 (high: 10 h resolution), waiting 11:00, customer back Tue 10:00, resolved Tue 15:00
    ticket = open_ticket(own_customer, when=at(23, 9))
    assert ticket.assignee == agent and ticket.resolution_due_at == at(23, 18) + timedelta(hours=1) - timedelta(
        hours=1
    ) + timedelta(days=1) - timedelta(hours=8)
    services.ticket_reply(actor=agent, ticket=ticket, body="Estamos verificando", status="waiting", at=at(23, 11))
    ticket.refresh_from_db()
    assert ticket.first_response_at == at(23, 11) and ticket.resolution_paused
    assert ticket.resolution_remaining_seconds == 8 * H
    services.ticket_change(actor=agent, ticket=ticket, status="open", at=at(24, 10))
    ticket.refresh_from_db()
    assert ticket.resolution_due_at == at(24, 18)
    services.ticket_change(actor=agent, ticket=ticket, status="resolved", at=at(24, 15))
    ticket.refresh_from_db()
    # calendar: Mon 09:00 → Tue 15:00 = 30 h; business: 9 h Monday + 6 h Tuesday = 15 h
    assert (ticket.resolution_seconds, ticket.resolution_business_seconds) == (30 * H, 15 * H)
    assert ticket.first_response_business_seconds == 2 * H and not ticket.first_response_breached
    assert not ticket.resolution_breached

    # reopened Wed 09:30 → 3 h left of the 10 h; then urgent (4 h target) → already 7.5 h used at 10:00: breached
    services.ticket_change(actor=agent, ticket=ticket, status="reopened", at=at(25, 9, 30))
    ticket.refresh_from_db()
    assert ticket.reopen_count == 1 and ticket.resolution_due_at == at(25, 12, 30) and ticket.resolved_at is None
    services.ticket_change(actor=agent, ticket=ticket, priority="urgent", at=at(25, 10))
    ticket.refresh_from_db()
    assert ticket.sla_policy == policy_urgent and ticket.resolution_breached
    assert ticket.resolution_due_at == at(24, 12)  # the 4-hour mark was passed on Tuesday at 12:00

    kinds = list(ticket.events.values_list("kind", flat=True))
    assert kinds == ["created", "reply", "status", "status", "status", "status", "priority"]


def test_segment_policy_wins_over_the_default(policy_high):
    vip = SegmentFactory(name="VIP")
    SlaPolicy.objects.create(
        name="VIP alta", priority="high", segment=vip, first_response_minutes=30, resolution_minutes=120
    )
    ticket = open_ticket(CustomerFactory(segment=vip), when=at(23, 9))
    assert ticket.sla_policy.name == "VIP alta" and ticket.resolution_due_at == at(23, 11)


def test_public_reply_emails_the_customer_once_and_sets_first_response(policy_high, agent, own_customer):
    ticket = open_ticket(own_customer, when=at(23, 9))
    services.ticket_reply(actor=agent, ticket=ticket, body="Nota interna", public=False, at=at(23, 9, 30))
    ticket.refresh_from_db()
    assert ticket.first_response_at is None and not Message.objects.exists()

    event = services.ticket_reply(actor=agent, ticket=ticket, body="Olá! Seu pedido sai hoje.", at=at(23, 10))
    ticket.refresh_from_db()
    assert ticket.first_response_at == at(23, 10) and ticket.status == "open"
    message = Message.objects.get()
    assert message.idempotency_key == f"ticket-reply:{event.pk}" and "Seu pedido sai hoje" in message.body
    assert f"#{ticket.pk}" in message.subject


def test_customer_reply_resumes_waiting_and_reopens_resolved_once(policy_high, agent, own_customer):
    ticket = open_ticket(own_customer, when=at(23, 9))
    services.ticket_change(actor=agent, ticket=ticket, status="waiting", at=at(23, 10))
    services.ticket_customer_reply(ticket=ticket, body="Segue o comprovante", inbound_id="<a@x>", at=at(23, 11))
    assert services.ticket_customer_reply(ticket=ticket, body="Segue o comprovante", inbound_id="<a@x>") is None
    ticket.refresh_from_db()
    assert ticket.status == "open"
    services.ticket_change(actor=agent, ticket=ticket, status="resolved", at=at(23, 12))
    services.ticket_customer_reply(ticket=ticket, body="Voltou a falhar", inbound_id="<b@x>", at=at(23, 13))
    ticket.refresh_from_db()
    assert ticket.status == "reopened" and ticket.reopen_count == 1
    assert ticket.events.filter(kind="customer_reply").count() == 2


def test_invalid_transition_and_values_are_refused_and_nothing_changes(policy_high, agent, own_customer):
    ticket = open_ticket(own_customer, when=at(23, 9))
    services.ticket_change(actor=agent, ticket=ticket, status="resolved", at=at(23, 10))
    with pytest.raises(ValidationError) as exc:
        services.ticket_change(actor=agent, ticket=ticket, status="waiting", priority="nope")
    assert set(exc.value.message_dict) == {"status", "priority"}
    ticket.refresh_from_db()
    assert ticket.status == "resolved" and ticket.priority == "high"
    with pytest.raises(ValidationError):
        services.ticket_create(actor=agent, customer=own_customer, subject="  ")


def test_only_assignee_or_manager_edit(policy_high, agent, other_agent, manager, own_customer):
    ticket = open_ticket(own_customer, when=at(23, 9))
    with pytest.raises(PermissionDenied):
        services.ticket_change(actor=other_agent, ticket=ticket, status="open")
    with pytest.raises(PermissionDenied):
        services.ticket_reply(actor=other_agent, ticket=ticket, body="Oi")
    with pytest.raises(ValidationError):
        services.ticket_change(actor=agent, ticket=ticket, assignee=other_agent)
    services.ticket_change(actor=manager, ticket=ticket, assignee=other_agent)
    ticket.refresh_from_db()
    assert ticket.assignee == other_agent
    assert not TicketEvent.objects.filter(ticket=ticket, kind="status").exists()


def test_source_key_opens_one_ticket(policy_high, own_customer):
    first, created = services.ticket_create(actor=None, customer=own_customer, subject="NPS 2", source_key="survey:1")
    again, created_again = services.ticket_create(
        actor=None, customer=own_customer, subject="NPS 2", source_key="survey:1"
    )
    assert created and not created_again and first.pk == again.pk


def test_warning_then_escalation_each_once_when_beat_runs_twice(
    policy_high, agent, manager, own_customer, mailoutbox, django_capture_on_commit_callbacks
):
    ticket = open_ticket(own_customer, when=at(23, 9))  # first response due 11:00, warning from 10:30
    with django_capture_on_commit_callbacks(execute=True):
        assert services.sla_check_due(now=at(23, 10, 40)) == 1
        assert services.sla_check_due(now=at(23, 10, 45)) == 0
    assert [m.to for m in mailoutbox] == [[agent.email]]
    with django_capture_on_commit_callbacks(execute=True):
        assert services.sla_check_due(now=at(23, 11, 1)) == 1
        assert services.sla_check_due(now=at(23, 11, 2)) == 0
    assert sorted(mailoutbox[1].to) == sorted([agent.email, manager.email])
    assert f"#{ticket.pk}" in mailoutbox[1].subject
    assert list(SlaAlert.objects.order_by("id").values_list("kind", flat=True)) == ["fr_warning", "fr_breach"]
    ticket.refresh_from_db()
    assert ticket.first_response_breached
    assert ticket.events.filter(kind="sla_breach").count() == 1


def test_tmr_mean_and_median_on_hand_built_tickets(policy_high, agent, other_agent):
    # resolution times 1 h, 2 h, 3 h (agent) and 10 h (other agent), calendar, all on Mon 23 from 08:00
    for hours, owner in ((1, agent), (2, agent), (3, agent), (10, other_agent)):
        customer = CustomerFactory(owner=owner)
        ticket = open_ticket(customer, when=at(23, 8))
        services.ticket_reply(actor=owner, ticket=ticket, body="Oi", at=at(23, 8, 30))
        services.ticket_change(actor=owner, ticket=ticket, status="resolved", at=at(23, 8) + timedelta(hours=hours))
    open_ticket(CustomerFactory(owner=agent), when=at(23, 8))  # still open: not in TMR

    report = support_report(start=at(23, 0), end=at(24, 0))

    assert report.resolved == 4
    assert report.tmr.mean == 4 * H  # (1 + 2 + 3 + 10) / 4
    assert report.tmr.median == 2.5 * H
    assert report.first_response.mean == 30 * 60 and report.first_response.median == 30 * 60
    # 10 business-hour target from 09:00 (opened 08:00, before hours): only the 10 h ticket... resolved 18:00 = 9 h used: met
    assert report.sla_met == 4 and report.sla_met_pct == 100.0
    by_agent = {row["label"]: row for row in report.rows}
    assert by_agent[agent.get_full_name() or agent.username]["tmr"].mean == 2 * H
    assert by_agent[other_agent.get_full_name() or other_agent.username]["resolved"] == 1


def test_queue_orders_by_time_left(own_customer):
    from django.utils import timezone

    # calendar-hour policies, so the due times do not depend on when the test runs
    SlaPolicy.objects.all().delete()
    for priority, first_response in (("high", 120), ("urgent", 60)):
        SlaPolicy.objects.create(
            name=priority,
            priority=priority,
            first_response_minutes=first_response,
            resolution_minutes=600,
            business_hours=False,
        )
    opened = timezone.now() - timedelta(minutes=30)
    later = open_ticket(own_customer, when=opened)  # first response due in 1 h 30 min
    sooner = open_ticket(own_customer, when=opened, priority="urgent")  # due in 30 min
    unsla = open_ticket(own_customer, when=opened, priority="low")  # no policy for low
    done = open_ticket(own_customer, when=opened, priority="urgent")
    services.ticket_change(actor=None, ticket=done, status="resolved")  # resolved without a reply: sorts last

    assert [t.pk for t in ticket_queue(status="active")] == [sooner.pk, later.pk, unsla.pk]
    assert [t.pk for t in ticket_queue()][-2:] in ([unsla.pk, done.pk], [done.pk, unsla.pk])
    assert ticket_queue()[0].pk == sooner.pk
    soon = timezone.now() + timedelta(minutes=45)
    assert [t.pk for t in ticket_queue(sla_state="breached", now=soon)] == [sooner.pk]
    assert [t.pk for t in ticket_queue(sla_state="none")] == [unsla.pk]


def test_public_reply_carries_a_reply_to_pointing_at_the_ticket(policy_high, agent, own_customer, settings):
    from messaging.adapters.email import EmailAdapter

    settings.SUPPORT_REPLY_TO_EMAIL = "suporte@loja.com.br"
    ticket = open_ticket(own_customer, when=at(23, 9))
    event = services.ticket_reply(actor=agent, ticket=ticket, body="Resolvido!", at=at(23, 10))

    email = EmailAdapter().build(event.message)

    assert email.reply_to == [f"suporte+{ticket.pk}@loja.com.br"]


def test_report_labels_unassigned_tickets_with_an_empty_label(policy_high):
    customer = CustomerFactory(owner=None)
    ticket = open_ticket(customer, when=at(23, 9))
    services.ticket_change(actor=None, ticket=ticket, status="resolved", at=at(23, 10))
    assert [row["label"] for row in support_report(start=at(23, 0), end=at(24, 0)).rows] == [""]


def test_report_keeps_two_agents_with_the_same_name_apart(policy_high):
    from posvenda import roles
    from tests.factories import UserFactory

    twins = [UserFactory(first_name="Ana", last_name="Souza", role=roles.AGENT) for _ in range(2)]
    for hours, owner in ((1, twins[0]), (3, twins[1])):
        ticket = open_ticket(CustomerFactory(owner=owner), when=at(23, 8))
        services.ticket_change(actor=owner, ticket=ticket, status="resolved", at=at(23, 8) + timedelta(hours=hours))

    rows = support_report(start=at(23, 0), end=at(24, 0)).rows

    assert [(row["label"], row["resolved"], row["tmr"].mean) for row in rows] == [
        ("Ana Souza", 1, H),
        ("Ana Souza", 1, 3 * H),
    ]
