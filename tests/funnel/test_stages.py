import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from customers import services as customer_services
from funnel import services
from funnel.models import StageChange, StepRun, Task
from tests.funnel.conftest import customer_in_stage, days_ago

pytestmark = pytest.mark.django_db


def test_new_customer_enters_adoption_with_history(agent, task_playbook, django_capture_on_commit_callbacks):
    # when
    with django_capture_on_commit_callbacks(execute=True):
        customer = customer_services.customer_create(actor=agent, name="Beatriz Lima")
    # then
    change = StageChange.objects.get(customer=customer)
    assert (change.from_stage, change.to_stage, change.source) == ("", "adoption", "system")
    assert change.changed_at == customer.created_at
    runs = StepRun.objects.filter(customer=customer).order_by("due_at")
    assert [r.step.task_title for r in runs] == ["Ligar de boas-vindas", "Check-in D+7"]
    assert (runs[1].due_at - change.changed_at).days == 7


def test_initial_entry_is_recorded_once_when_the_handler_runs_twice(own_customer):
    # when
    first = services.stage_enter_initial(customer_id=own_customer.pk)
    second = services.stage_enter_initial(customer_id=own_customer.pk)
    # then
    assert first is not None and second is None
    assert StageChange.objects.filter(customer=own_customer).count() == 1


def test_manual_move_is_logged_with_user_and_reason(agent, no_rules):
    # given
    customer, _ = customer_in_stage("adoption", owner=agent)
    # when
    change = services.stage_move(customer=customer, to_stage="retention", actor=agent, reason="Onboarding concluído")
    # then
    customer.refresh_from_db()
    assert customer.stage == "retention"
    change.refresh_from_db()
    assert (change.from_stage, change.to_stage, change.source) == ("adoption", "retention", "manual")
    assert change.changed_by == agent
    assert change.reason == "Onboarding concluído"


def test_manual_move_without_reason_is_refused(agent):
    customer, _ = customer_in_stage("adoption", owner=agent)
    with pytest.raises(ValidationError) as exc:
        services.stage_move(customer=customer, to_stage="retention", actor=agent, reason="  ")
    assert "reason" in exc.value.message_dict
    customer.refresh_from_db()
    assert customer.stage == "adoption"


def test_move_to_the_current_stage_is_refused(agent):
    customer, _ = customer_in_stage("retention", owner=agent)
    with pytest.raises(ValidationError) as exc:
        services.stage_move(customer=customer, to_stage="retention", actor=agent, reason="x")
    assert "to_stage" in exc.value.message_dict


def test_agent_cannot_move_another_agents_customer(agent, others_customer):
    with pytest.raises(PermissionDenied):
        services.stage_move(customer=others_customer, to_stage="churned", actor=agent, reason="Cancelou")
    others_customer.refresh_from_db()
    assert others_customer.stage == "adoption"
    assert not StageChange.objects.filter(customer=others_customer).exists()


def test_manager_moves_any_customer(manager, others_customer):
    services.stage_move(customer=others_customer, to_stage="expansion", actor=manager, reason="Novo contrato")
    others_customer.refresh_from_db()
    assert others_customer.stage == "expansion"


def test_leaving_the_stage_cancels_pending_steps_and_schedules_the_new_playbook(agent, task_playbook, no_rules):
    # given a customer in adoption with the D+0 step done and the D+7 step pending
    customer, change = customer_in_stage("adoption", owner=agent, since=days_ago(1))
    services._schedule_playbook(change=change, segment_id=None)
    assert services.steps_run_due() == 1
    # when the customer leaves adoption
    services.stage_move(customer=customer, to_stage="churned", actor=agent, reason="Cancelou")
    # then the pending D+7 run is cancelled and nothing more runs, even after 7 days
    statuses = dict(StepRun.objects.filter(customer=customer).values_list("step__task_title", "status"))
    assert statuses == {"Ligar de boas-vindas": "done", "Check-in D+7": "cancelled"}
    assert services.steps_run_due(now=days_ago(-8)) == 0
    assert list(Task.objects.filter(customer=customer).values_list("title", flat=True)) == ["Ligar de boas-vindas"]
