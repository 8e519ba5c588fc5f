import threading
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from funnel import services
from funnel.models import Playbook, PlaybookStep, StageChange, StepRun, Task
from messaging.models import Message, MessageTemplate
from tests.factories import CustomerFactory, SegmentFactory
from tests.funnel.conftest import customer_in_stage, days_ago, disable_all_rules


def make_template(slug="check-in", body="Olá, {nome}! Como tem sido a experiência com {produto}?"):
    return MessageTemplate.objects.create(
        slug=slug, name=slug, purpose="service", subject_pt_br="Check-in de {nome}", body_pt_br=body
    )


def message_playbook(*, stage="adoption", segment=None, day=0, approval=False, template=None):
    playbook = Playbook.objects.create(stage=stage, segment=segment, name=f"{stage} {segment or 'padrão'}")
    PlaybookStep.objects.create(
        playbook=playbook,
        day_offset=day,
        action="send_message",
        template=template or make_template(),
        requires_approval=approval,
    )
    return playbook


def enter(customer, stage="adoption", at=None):
    change = StageChange.objects.create(
        customer=customer, from_stage="", to_stage=stage, changed_at=at or timezone.now(), source="system"
    )
    services._schedule_playbook(change=change, segment_id=customer.segment_id)
    return change


@pytest.mark.django_db
def test_scheduler_run_twice_sends_once(agent):
    # given a D+0 message step due now
    message_playbook()
    customer = CustomerFactory(owner=agent, name="Carla Dias", plan="Plano Pro")
    enter(customer)
    # when the beat task runs twice
    first = services.steps_run_due()
    second = services.steps_run_due()
    # then one message, rendered for the customer, and the run is done
    assert (first, second) == (1, 0)
    message = Message.objects.get(customer=customer)
    assert message.idempotency_key == f"steprun:{StepRun.objects.get().pk}"
    assert message.body == "Olá, Carla Dias! Como tem sido a experiência com Plano Pro?"
    assert message.status != Message.Status.DRAFT
    assert StepRun.objects.get().status == "done"
    assert StepRun.objects.get().message_id == message.pk


@pytest.mark.django_db
def test_a_run_executed_again_after_a_lost_ack_sends_nothing_more(agent):
    # given a run performed once, then put back to pending as a retried task would find it
    message_playbook()
    customer = CustomerFactory(owner=agent)
    enter(customer)
    services.steps_run_due()
    StepRun.objects.update(status="pending")
    # when it runs again
    services.steps_run_due()
    # then the idempotency key keeps it to one message
    assert Message.objects.filter(customer=customer).count() == 1


@pytest.mark.django_db
def test_steps_are_not_run_before_they_are_due(agent):
    message_playbook(day=7)
    customer = CustomerFactory(owner=agent)
    enter(customer, at=days_ago(6))
    assert services.steps_run_due() == 0
    assert services.steps_run_due(now=timezone.now() + timedelta(days=1, minutes=1)) == 1
    assert Message.objects.filter(customer=customer).count() == 1


@pytest.mark.django_db
def test_approval_step_creates_a_draft_in_the_owners_queue(agent):
    message_playbook(approval=True)
    customer = CustomerFactory(owner=agent)
    enter(customer)
    services.steps_run_due()
    message = Message.objects.get(customer=customer)
    assert message.status == Message.Status.DRAFT


@pytest.mark.django_db
def test_task_step_creates_one_task_for_the_owner(agent, task_playbook):
    customer = CustomerFactory(owner=agent)
    enter(customer)
    services.steps_run_due()
    StepRun.objects.filter(step__day_offset=0).update(status="pending")  # a retry of the same run
    services.steps_run_due()
    task = Task.objects.get(customer=customer)
    assert (task.owner, task.title, task.origin, task.due_date) == (
        agent,
        "Ligar de boas-vindas",
        "playbook",
        timezone.localdate(),
    )


@pytest.mark.django_db
def test_runner_cancels_a_run_whose_customer_left_the_stage_change(agent):
    # given a pending run left behind (as if claimed before the move committed)
    message_playbook()
    customer, _ = customer_in_stage("adoption", owner=agent)
    old = enter(customer)
    StageChange.objects.create(customer=customer, from_stage="adoption", to_stage="churned", source="manual")
    run = StepRun.objects.get(stage_change=old)
    # when
    performed = services.step_run_execute(step_run_id=run.pk)
    # then
    run.refresh_from_db()
    assert performed is False
    assert run.status == "cancelled"
    assert not Message.objects.exists()


@pytest.mark.django_db
def test_customer_who_moved_receives_nothing_more_from_the_old_playbook(agent):
    disable_all_rules()
    message_playbook(day=7)
    customer, _ = customer_in_stage("adoption", owner=agent)
    enter(customer, at=days_ago(1))
    services.stage_move(customer=customer, to_stage="retention", actor=agent, reason="Já usa bem")
    assert services.steps_run_due(now=timezone.now() + timedelta(days=30)) == 0
    assert not Message.objects.exists()


@pytest.mark.django_db
def test_segment_playbook_replaces_the_default_for_that_segment(agent):
    # given a default adoption playbook and one for a quick-consumption B2C segment
    segment = SegmentFactory(name="Cosméticos")
    default = message_playbook(day=30, template=make_template("padrao"))
    quick = message_playbook(segment=segment, day=3, template=make_template("rapido"))
    in_segment = CustomerFactory(owner=agent, segment=segment)
    other = CustomerFactory(owner=agent)
    # when
    enter(in_segment)
    enter(other)
    # then
    assert StepRun.objects.get(customer=in_segment).step.playbook == quick
    assert StepRun.objects.get(customer=other).step.playbook == default


@pytest.mark.django_db
def test_broken_template_marks_the_run_skipped_with_the_reason(agent):
    template = make_template(body="Olá, {nome}!")
    MessageTemplate.objects.filter(pk=template.pk).update(body_pt_br="Olá, {apelido}!")
    message_playbook(template=MessageTemplate.objects.get(pk=template.pk))
    customer = CustomerFactory(owner=agent)
    enter(customer)
    services.steps_run_due()
    run = StepRun.objects.get()
    assert run.status == "skipped"
    assert "{apelido}" in run.detail
    assert not Message.objects.exists()


@pytest.mark.django_db
def test_stale_running_run_is_retried_without_a_second_message(agent):
    message_playbook()
    customer = CustomerFactory(owner=agent)
    enter(customer)
    services.steps_run_due()
    # a worker died after sending but before marking the run done
    StepRun.objects.update(status="running", started_at=timezone.now() - timedelta(hours=1))
    services.steps_run_due()
    assert StepRun.objects.get().status == "done"
    assert Message.objects.count() == 1


@pytest.mark.django_db
def test_load_playbooks_ships_pt_br_defaults_and_is_idempotent():
    call_command("load_playbooks")
    call_command("load_playbooks")
    assert Playbook.objects.filter(active=True, segment__isnull=True).count() == 4
    adoption = Playbook.objects.get(slug="adocao-padrao")
    steps = list(adoption.steps.order_by("day_offset"))
    assert [s.day_offset for s in steps] == [0, 7, 30]
    assert "Como tem sido a experiência com {produto}?" in steps[1].template.body_pt_br
    assert MessageTemplate.objects.filter(slug__startswith="funil-").count() == 6
    assert PlaybookStep.objects.count() == 9


@pytest.mark.django_db(transaction=True)
def test_two_workers_racing_the_runner_send_once(agent):
    # given ten due message steps for ten customers
    template = make_template()
    message_playbook(template=template)
    customers = [CustomerFactory(owner=agent) for _ in range(10)]
    for customer in customers:
        enter(customer)
    barrier = threading.Barrier(2)
    results = []

    def worker():
        try:
            barrier.wait()
            results.append(services.steps_run_due())
        finally:
            connection.close()

    # when two beat processes run the scheduler at the same moment
    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # then each step was performed once, by one of them
    assert sum(results) == 10
    assert Message.objects.count() == 10
    assert set(Message.objects.values_list("customer_id", flat=True)) == {c.pk for c in customers}
    assert set(StepRun.objects.values_list("status", flat=True)) == {"done"}
