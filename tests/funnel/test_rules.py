from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from customers import services as customer_services
from funnel import services
from funnel.models import StageChange, Task, TransitionRule
from tests.factories import ContractFactory, CustomerFactory, OrderFactory
from tests.funnel.conftest import customer_in_stage, days_ago, disable_all_rules, set_rule

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _rules_off(db):
    disable_all_rules()


def stage_of(customer):
    customer.refresh_from_db()
    return customer.stage


# --- adoption → retention after N days ---------------------------------------------------------


def test_adoption_moves_to_retention_after_n_days_without_open_problem():
    # given the rule at 30 days, one customer in adoption for 31 days and one for 29
    set_rule(TransitionRule.Kind.ADOPTION_DAYS, days=30)
    ready, _ = customer_in_stage("adoption", since=days_ago(31))
    too_soon, _ = customer_in_stage("adoption", since=days_ago(29))
    # when
    moved = services.rules_evaluate()
    # then
    assert moved == 1
    assert (stage_of(ready), stage_of(too_soon)) == ("retention", "adoption")
    change = StageChange.objects.filter(customer=ready).first()
    assert (change.source, change.rule.kind, change.changed_by) == ("rule", "adoption_days", None)


def test_adoption_with_an_overdue_high_priority_task_stays():
    set_rule(TransitionRule.Kind.ADOPTION_DAYS, days=30)
    customer, _ = customer_in_stage("adoption", since=days_ago(40))
    Task.objects.create(
        customer=customer, title="Resolver falha", due_date=date.today() - timedelta(days=2), priority="high"
    )
    assert services.rules_evaluate() == 0
    assert stage_of(customer) == "adoption"


def test_time_rules_run_twice_move_once():
    set_rule(TransitionRule.Kind.ADOPTION_DAYS, days=30)
    customer, _ = customer_in_stage("adoption", since=days_ago(31))
    assert (services.rules_evaluate(), services.rules_evaluate()) == (1, 0)
    assert StageChange.objects.filter(customer=customer, to_stage="retention").count() == 1


def test_disabled_rule_moves_nobody():
    set_rule(TransitionRule.Kind.ADOPTION_DAYS, days=30, enabled=False)
    customer, _ = customer_in_stage("adoption", since=days_ago(90))
    assert services.rules_evaluate() == 0
    assert stage_of(customer) == "adoption"


def test_manual_move_back_to_adoption_restarts_the_clock(agent):
    # given a customer moved back to adoption by hand 10 days ago, after 60 days in the funnel
    set_rule(TransitionRule.Kind.ADOPTION_DAYS, days=30)
    customer, _ = customer_in_stage("retention", since=days_ago(60), owner=agent)
    services.stage_move(
        customer=customer, to_stage="adoption", actor=agent, reason="Refazer onboarding", changed_at=days_ago(10)
    )
    # when / then: the rule waits 30 days from the manual move
    assert services.rules_evaluate() == 0
    assert services.rules_evaluate(now=timezone.now() + timedelta(days=21)) == 1
    assert stage_of(customer) == "retention"


# --- upsell order or plan upgrade → expansion --------------------------------------------------


def test_second_paid_order_moves_to_expansion(agent, django_capture_on_commit_callbacks):
    set_rule(TransitionRule.Kind.UPSELL)
    customer, _ = customer_in_stage("retention", owner=agent)
    OrderFactory(customer=customer, purchased_at=days_ago(40))
    # when a new order is recorded (the order_recorded event runs the rule)
    with django_capture_on_commit_callbacks(execute=True):
        customer_services.order_record(actor=agent, customer=customer, amount=Decimal("499.00"), product="Kit Pro")
    # then
    assert stage_of(customer) == "expansion"
    assert StageChange.objects.filter(customer=customer).first().reason.startswith("Upsell")


def test_first_order_does_not_move_to_expansion(agent, django_capture_on_commit_callbacks):
    set_rule(TransitionRule.Kind.UPSELL)
    customer, _ = customer_in_stage("adoption", owner=agent)
    with django_capture_on_commit_callbacks(execute=True):
        customer_services.order_record(actor=agent, customer=customer, amount=Decimal("99.00"))
    assert stage_of(customer) == "adoption"


def test_mrr_increase_on_customer_or_contract_moves_to_expansion(agent, django_capture_on_commit_callbacks):
    set_rule(TransitionRule.Kind.UPSELL)
    by_customer, _ = customer_in_stage("retention", owner=agent, mrr=Decimal("100.00"))
    by_contract, _ = customer_in_stage("adoption", owner=agent)
    contract = ContractFactory(customer=by_contract, mrr=Decimal("1500.00"))
    with django_capture_on_commit_callbacks(execute=True):
        customer_services.customer_update(actor=agent, customer=by_customer, mrr=Decimal("250.00"))
        customer_services.contract_update(actor=agent, contract=contract, mrr=Decimal("2500.00"))
    assert (stage_of(by_customer), stage_of(by_contract)) == ("expansion", "expansion")


def test_mrr_decrease_does_not_move(agent, django_capture_on_commit_callbacks):
    set_rule(TransitionRule.Kind.UPSELL)
    customer, _ = customer_in_stage("retention", owner=agent, mrr=Decimal("300.00"))
    with django_capture_on_commit_callbacks(execute=True):
        customer_services.customer_update(actor=agent, customer=customer, mrr=Decimal("200.00"))
    assert stage_of(customer) == "retention"


def test_backdated_upsell_does_not_override_a_later_manual_move(agent):
    # given an order imported today but purchased 20 days ago, and a manual move 5 days ago
    set_rule(TransitionRule.Kind.UPSELL)
    customer, _ = customer_in_stage("adoption", since=days_ago(60), owner=agent)
    OrderFactory(customer=customer, purchased_at=days_ago(50))
    services.stage_move(
        customer=customer, to_stage="retention", actor=agent, reason="Cliente estável", changed_at=days_ago(5)
    )
    late_order = OrderFactory(customer=customer, purchased_at=days_ago(20))
    # when
    result = services.rule_upsell_on_order(order_id=late_order.pk)
    # then the manual move wins
    assert result is None
    assert stage_of(customer) == "retention"


# --- promoter / referral → evangelization ------------------------------------------------------


def test_promoter_moves_to_evangelization():
    set_rule(TransitionRule.Kind.PROMOTER)
    customer, _ = customer_in_stage("retention")
    change = services.customer_promoted(customer, "NPS 10")
    assert stage_of(customer) == "evangelization"
    assert (change.reason, change.rule.kind) == ("NPS 10", "promoter")


def test_promoter_outside_the_rule_stages_stays():
    set_rule(TransitionRule.Kind.PROMOTER)
    customer, _ = customer_in_stage("churned")
    assert services.customer_promoted(customer, "Indicação") is None
    assert stage_of(customer) == "churned"


# --- churn -------------------------------------------------------------------------------------


def test_churn_only_when_all_contracts_are_cancelled(agent, django_capture_on_commit_callbacks):
    set_rule(TransitionRule.Kind.CONTRACT_CANCELLED)
    customer, _ = customer_in_stage("retention", owner=agent)
    first, second = ContractFactory(customer=customer), ContractFactory(customer=customer)
    with django_capture_on_commit_callbacks(execute=True):
        customer_services.contract_update(actor=agent, contract=first, status="cancelled")
    assert stage_of(customer) == "retention"
    with django_capture_on_commit_callbacks(execute=True):
        customer_services.contract_update(actor=agent, contract=second, status="cancelled")
    assert stage_of(customer) == "churned"
    assert StageChange.objects.filter(customer=customer).first().rule.kind == "contract_cancelled"


def test_b2c_without_purchase_for_n_days_churns():
    set_rule(TransitionRule.Kind.NO_PURCHASE, days=180)
    stale, _ = customer_in_stage("retention", since=days_ago(300))
    OrderFactory(customer=stale, purchased_at=days_ago(200))
    recent, _ = customer_in_stage("retention", since=days_ago(300))
    OrderFactory(customer=recent, purchased_at=days_ago(100))
    company, _ = customer_in_stage("retention", since=days_ago(300), company=True)
    OrderFactory(customer=company, purchased_at=days_ago(200))
    assert services.rules_evaluate() == 1
    assert (stage_of(stale), stage_of(recent), stage_of(company)) == ("churned", "retention", "retention")


def test_no_purchase_rule_skips_a_customer_moved_by_hand_after_the_trigger(agent):
    # given: last purchase 200 days ago (trigger at day 180 = 20 days ago); manual move 3 days ago
    set_rule(TransitionRule.Kind.NO_PURCHASE, days=180)
    customer, _ = customer_in_stage("churned", since=days_ago(15), owner=agent)
    OrderFactory(customer=customer, purchased_at=days_ago(200))
    services.stage_move(
        customer=customer, to_stage="retention", actor=agent, reason="Comprou na loja física", changed_at=days_ago(3)
    )
    # when / then: the manual move wins, now and on every later pass
    assert services.rules_evaluate() == 0
    assert services.rules_evaluate(now=timezone.now() + timedelta(days=2)) == 0
    assert stage_of(customer) == "retention"


# --- editing rules -----------------------------------------------------------------------------


def test_agent_cannot_edit_rules(agent):
    rule = set_rule(TransitionRule.Kind.ADOPTION_DAYS, days=30)
    with pytest.raises(PermissionDenied):
        services.rule_update(
            actor=agent, rule=rule, enabled=True, from_stages=["adoption"], to_stage="retention", days=5
        )
    rule.refresh_from_db()
    assert rule.days == 30


def test_manager_edits_rule_and_bad_values_say_what_to_fix(manager):
    rule = set_rule(TransitionRule.Kind.ADOPTION_DAYS, days=30)
    with pytest.raises(ValidationError) as exc:
        services.rule_update(
            actor=manager, rule=rule, enabled=True, from_stages=["retention"], to_stage="retention", days=0
        )
    assert set(exc.value.message_dict) == {"to_stage", "days"}
    services.rule_update(
        actor=manager, rule=rule, enabled=False, from_stages=["adoption"], to_stage="retention", days=14
    )
    rule.refresh_from_db()
    assert (rule.enabled, rule.days) == (False, 14)


def test_customer_promoted_is_a_no_op_when_the_rule_is_off():
    customer = CustomerFactory(stage="retention")
    assert services.customer_promoted(customer, "NPS 9") is None
    assert stage_of(customer) == "retention"
