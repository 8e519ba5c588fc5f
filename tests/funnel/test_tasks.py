from datetime import date, timedelta

import pytest
from django.core import mail
from django.core.exceptions import PermissionDenied

from funnel import services
from funnel.models import DigestLog, Task
from tests.factories import CustomerFactory, UserFactory

pytestmark = pytest.mark.django_db

TODAY = date(2025, 3, 10)


def test_agent_creates_task_on_own_customer_for_themselves(agent, own_customer):
    task = services.task_create(actor=agent, customer=own_customer, title="Ligar", due_date=TODAY, priority="high")
    assert (task.owner, task.origin, task.status, task.created_by) == (agent, "manual", "open", agent)


def test_agent_cannot_create_task_on_another_agents_customer(agent, others_customer):
    with pytest.raises(PermissionDenied):
        services.task_create(actor=agent, customer=others_customer, title="Ligar", due_date=TODAY)
    assert not Task.objects.exists()


def test_agent_cannot_give_a_task_to_someone_else(agent, other_agent, own_customer):
    with pytest.raises(PermissionDenied):
        services.task_create(actor=agent, customer=own_customer, title="Ligar", due_date=TODAY, owner=other_agent)


def test_manager_task_defaults_to_the_customers_owner(manager, other_agent, others_customer):
    task = services.task_create(actor=manager, customer=others_customer, title="Revisar contrato", due_date=TODAY)
    assert task.owner == other_agent


def test_completing_twice_keeps_the_first_completion(agent, manager, own_customer):
    task = services.task_create(actor=agent, customer=own_customer, title="Ligar", due_date=TODAY)
    services.task_complete(actor=agent, task=task)
    first_done_at = task.done_at
    services.task_complete(actor=manager, task=task)
    task.refresh_from_db()
    assert (task.status, task.done_by, task.done_at) == ("done", agent, first_done_at)


def test_agent_cannot_complete_another_agents_task(agent, other_agent, others_customer):
    task = services.task_create(actor=other_agent, customer=others_customer, title="Ligar", due_date=TODAY)
    with pytest.raises(PermissionDenied):
        services.task_complete(actor=agent, task=task)
    task.refresh_from_db()
    assert task.status == "open"


def test_overdue_digest_is_sent_once_per_day_when_the_task_runs_twice(agent, other_agent):
    # given two overdue tasks for the agent, one due today (not overdue) and another owner with nothing overdue
    customer = CustomerFactory(owner=agent, name="Loja Azul")
    Task.objects.create(owner=agent, customer=customer, title="Enviar proposta", due_date=TODAY - timedelta(days=3))
    Task.objects.create(
        owner=agent, customer=customer, title="Ligar", due_date=TODAY - timedelta(days=1), priority="urgent"
    )
    Task.objects.create(owner=agent, customer=customer, title="Hoje", due_date=TODAY)
    Task.objects.create(owner=other_agent, customer=customer, title="Amanhã", due_date=TODAY + timedelta(days=1))
    # when the daily task runs twice the same day
    sent = (services.overdue_digest_send(today=TODAY), services.overdue_digest_send(today=TODAY))
    # then one e-mail, to the agent, listing the two overdue tasks
    assert sent == (1, 0)
    assert len(mail.outbox) == 1
    email = mail.outbox[0]
    assert email.to == [agent.email]
    assert "Enviar proposta" in email.body and "Ligar" in email.body and "Hoje" not in email.body
    assert "/funnel/my-day/" in email.body
    assert DigestLog.objects.get().task_count == 2


def test_overdue_digest_is_sent_again_the_next_day(agent, own_customer):
    Task.objects.create(owner=agent, customer=own_customer, title="Enviar proposta", due_date=TODAY - timedelta(days=3))
    services.overdue_digest_send(today=TODAY)
    services.overdue_digest_send(today=TODAY + timedelta(days=1))
    assert len(mail.outbox) == 2


def test_digest_skips_owners_without_email_and_done_tasks(own_customer):
    no_email = UserFactory(email="")
    Task.objects.create(owner=no_email, customer=own_customer, title="A", due_date=TODAY - timedelta(days=1))
    done = UserFactory()
    Task.objects.create(
        owner=done,
        customer=own_customer,
        title="B",
        due_date=TODAY - timedelta(days=1),
        status="done",
        done_at="2025-03-09T10:00Z",
    )
    assert services.overdue_digest_send(today=TODAY) == 0
    assert mail.outbox == []


def test_failed_send_releases_the_claim_so_a_later_run_retries(agent, own_customer, monkeypatch):
    Task.objects.create(owner=agent, customer=own_customer, title="A", due_date=TODAY - timedelta(days=1))

    def broken(*args, **kwargs):
        raise ConnectionError("smtp down")

    monkeypatch.setattr(services.mail, "send_mail", broken)
    with pytest.raises(ConnectionError):
        services.overdue_digest_send(today=TODAY)
    assert not DigestLog.objects.exists()
    monkeypatch.undo()
    assert services.overdue_digest_send(today=TODAY) == 1
