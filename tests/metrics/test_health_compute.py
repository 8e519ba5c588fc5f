"""Health score over hand-built records: the facts each measure reads, storing scores and daily
snapshots, the crossing-into-red task (once), the tasks run twice, events and the owner's rating."""

from datetime import timedelta
from uuid import uuid4

import pytest
from django.core.cache import cache
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management import call_command
from django.utils import timezone

from customers import services as customer_services
from customers.models import Contract, Order
from funnel.models import Priority, Task
from messaging.models import Message
from metrics import health, health_tasks
from metrics.models import HealthConfig, HealthScore, HealthSnapshot
from posvenda.celery import app as celery_app
from support import services as support_services
from support.models import SlaPolicy, Ticket
from surveys.models import Invitation, Response, Survey
from tests.factories import ContractFactory, CustomerFactory, OrderFactory, UserFactory

pytestmark = pytest.mark.django_db


# --- hand-built records ---------------------------------------------------------------------------


def answer(customer, kind: str, score: int, days_ago: float, now=None) -> Response:
    now = now or timezone.now()
    survey, _ = Survey.objects.get_or_create(name=f"Saúde {kind}", kind=kind, defaults={"quiet_days_after_ticket": 0})
    invitation = Invitation.objects.create(
        survey=survey,
        customer=customer,
        nonce=uuid4().hex,
        source_key=uuid4().hex[:20],
        status=Invitation.Status.ANSWERED,
        due_at=now - timedelta(days=days_ago),
    )
    return Response.objects.create(
        invitation=invitation,
        survey=survey,
        customer=customer,
        kind=kind,
        score=score,
        answered_at=now - timedelta(days=days_ago),
    )


def ticket(customer, *, status: str = Ticket.Status.OPEN, breached: bool = False) -> Ticket:
    policy = SlaPolicy.objects.filter(priority=Priority.NORMAL, segment__isnull=True).first()
    if policy is None:
        policy = SlaPolicy.objects.create(
            name="Normal", priority=Priority.NORMAL, first_response_minutes=60, resolution_minutes=480
        )
    now = timezone.now()
    return Ticket.objects.create(
        customer=customer,
        subject="Problema",
        opened_at=now - timedelta(days=3),
        status=status,
        resolved_at=now if status in (Ticket.Status.RESOLVED, Ticket.Status.CLOSED) else None,
        sla_policy=policy,
        first_response_at=now - timedelta(days=2),
        resolution_due_at=now + timedelta(days=1),
        resolution_breached=breached,
    )


def email(customer, status: str, days_ago: float, channel: str = "email") -> Message:
    return Message.objects.create(
        customer=customer,
        channel=channel,
        body="Olá",
        idempotency_key=uuid4().hex,
        status=status,
        sent_at=timezone.now() - timedelta(days=days_ago) if status != Message.Status.QUEUED else None,
    )


def order(customer, days_ago: float, status: str = Order.Status.PAID) -> Order:
    return OrderFactory(customer=customer, purchased_at=timezone.now() - timedelta(days=days_ago), status=status)


def red_customer(owner):
    """NPS 0 (→ 0) and three breached tickets (→ 0): score 0, red."""
    customer = CustomerFactory(owner=owner, name="Cliente em Risco")
    answer(customer, "nps", 0, days_ago=1)
    for _ in range(3):
        ticket(customer, breached=True)
    return customer


def components(customer) -> dict:
    return {c["measure"]: c for c in HealthScore.objects.get(customer=customer).components}


# --- facts and measures from the database -----------------------------------------------------------


def test_worked_example_from_records(agent):
    # given the docs' worked example, built from records (with noise that must not count)
    customer = CustomerFactory(owner=agent)
    answer(customer, "nps", 9, days_ago=30)
    answer(customer, "nps", 6, days_ago=5)  # the latest NPS/CSAT: 6 → 30
    answer(customer, "csat", 5, days_ago=400)  # older than 12 months
    answer(customer, "ces", 1, days_ago=1)  # CES is not a measure
    ticket(customer)
    ticket(customer, breached=True)  # 2 open, 1 breached → 45
    ticket(customer, status=Ticket.Status.RESOLVED, breached=True)  # resolved: not counted
    order(customer, 200)
    order(customer, 300)  # last paid 200 days ago, 2 in 12 months → (60 + 75) ÷ 2 → 68
    order(customer, 500)  # older than 12 months: recency only
    order(customer, 10, status=Order.Status.CANCELLED)  # not paid
    email(customer, Message.Status.OPENED, 10)
    email(customer, Message.Status.DELIVERED, 20)
    email(customer, Message.Status.SENT, 30)
    email(customer, Message.Status.BOUNCED, 40)  # 1 of 4 opened → 50
    email(customer, Message.Status.OPENED, 120)  # older than 90 days
    email(customer, Message.Status.QUEUED, 0)  # not sent yet
    email(customer, Message.Status.CLICKED, 5, channel="whatsapp")  # not an e-mail
    health.health_rating_set(actor=agent, customer=customer, rating=4)  # → 75
    # when
    score = health.health_recompute_customer(customer_id=customer.pk)
    # then (25×30 + 20×45 + 25×68 + 15×50 + 15×75) ÷ 100 = 52.25 → 52, yellow
    assert (score.score, score.band, score.manual_rating) == (52, "yellow", 4)
    parts = components(customer)
    assert {name: c["score"] for name, c in parts.items()} == {
        "survey": 30,
        "tickets": 45,
        "purchases": 68,
        "engagement": 50,
        "manual": 75,
    }
    assert parts["survey"]["detail"]["kind"] == "nps" and parts["survey"]["detail"]["value"] == 6
    assert parts["tickets"]["detail"] == {"open": 2, "breached": 1}
    last_order = (timezone.localdate() - timedelta(days=200)).isoformat()
    assert parts["purchases"]["detail"]["last"] == last_order and parts["purchases"]["detail"]["orders_12m"] == 2
    assert parts["engagement"]["detail"] == {"sent": 4, "engaged": 1, "complained": 0}


def test_latest_nps_9_scores_100_and_a_later_detractor_pulls_it_down(agent):
    customer = CustomerFactory(owner=agent)
    answer(customer, "nps", 9, days_ago=10)
    health.health_recompute_customer(customer_id=customer.pk)
    assert components(customer)["survey"]["score"] == 100
    # NPS 10 → 100 and no ticket → 100: score 100
    assert HealthScore.objects.get(customer=customer).score == 100

    answer(customer, "nps", 2, days_ago=1)
    score = health.health_recompute_customer(customer_id=customer.pk)
    # NPS 2 → 10; (25 × 10 + 20 × 100) ÷ 45 = 50
    assert components(customer)["survey"]["score"] == 10
    assert score.score == 50
    assert [c["measure"] for c in health.pulled_down(score.components)] == ["survey"]


def test_ticket_past_its_first_response_target_counts_as_breached(agent):
    customer = CustomerFactory(owner=agent)
    answer(customer, "csat", 5, days_ago=1)
    late = ticket(customer)
    Ticket.objects.filter(pk=late.pk).update(
        first_response_at=None, first_response_due_at=timezone.now() - timedelta(minutes=5)
    )
    health.health_recompute_customer(customer_id=customer.pk)
    # 1 open and past the first response target (the flag not yet set by the SLA beat): 100 − 15 − 25
    assert components(customer)["tickets"]["score"] == 60


def test_contract_status_is_used_instead_of_orders(manager):
    # given a company with an active contract ending in 30 days without auto-renew, and old orders
    customer = CustomerFactory(company=True, owner=manager)
    ContractFactory(customer=customer, ends_at=timezone.localdate() + timedelta(days=30), auto_renew=False)
    order(customer, 400)
    health.health_recompute_customer(customer_id=customer.pk)
    assert components(customer)["purchases"]["score"] == 50
    assert components(customer)["purchases"]["detail"]["basis"] == "contract"
    # when it auto-renews, it is safe
    Contract.objects.filter(customer=customer).update(auto_renew=True)
    health.health_recompute_customer(customer_id=customer.pk)
    assert components(customer)["purchases"]["score"] == 100
    # and cancelled, it is 0
    Contract.objects.filter(customer=customer).update(status="cancelled", cancelled_at=timezone.localdate())
    health.health_recompute_customer(customer_id=customer.pk)
    assert components(customer)["purchases"]["score"] == 0


def test_customer_with_nothing_but_no_tickets_has_no_score(agent):
    customer = CustomerFactory(owner=agent)
    assert health.health_recompute_customer(customer_id=customer.pk) is None
    assert not HealthScore.objects.filter(customer=customer).exists()


# --- storing, snapshots and the trend -------------------------------------------------------------------


def test_whole_book_recompute_in_small_batches_scores_everyone(agent):
    # given 7 customers with a recent order each (→ recency 100, frequency 50 → 75) and one without data
    customers = [CustomerFactory(owner=agent) for _ in range(7)]
    for c in customers:
        order(c, 1)
    bare = CustomerFactory()
    seen = []
    # when, three customers per batch
    stats = health.health_recompute_all(batch_size=3, progress=lambda done, total, s: seen.append((done, total)))
    # then (25 × 75 + 20 × 100) ÷ 45 = 86.1 → 86, green, for all seven
    assert stats.customers == 8 and stats.scored == 7
    assert set(HealthScore.objects.values_list("score", "band")) == {(86, "green")}
    assert not HealthScore.objects.filter(customer=bare).exists()
    assert seen == [(3, 8), (6, 8), (8, 8)]


def test_an_unchanged_book_is_not_rewritten(agent):
    customer = red_customer(agent)
    first = health.health_recompute_all()
    stored = HealthScore.objects.get(customer=customer).computed_at
    # when nothing changed
    second = health.health_recompute_all(now=timezone.now() + timedelta(hours=1))
    # then the score is checked but its row is not written again
    assert (first.scored, first.written) == (1, 1)
    assert (second.scored, second.written) == (1, 0)
    assert HealthScore.objects.get(customer=customer).computed_at == stored
    # a change is written
    Ticket.objects.filter(customer=customer).first().delete()  # 2 breached left → 100 − 30 − 50 = 20
    third = health.health_recompute_all()
    assert third.written == 1 and components(customer)["tickets"]["score"] == 20


def test_one_snapshot_per_day_and_only_when_the_score_moves(agent):
    customer = CustomerFactory(owner=agent)
    answer(customer, "nps", 10, days_ago=1)
    day0 = timezone.now()
    # first score: one snapshot (100)
    health.health_recompute_customer(customer_id=customer.pk, now=day0)
    # same day, a ticket opens: still one snapshot for the day, now 85 → (25 × 100 + 20 × 85) ÷ 45 = 93.3 → 93
    ticket(customer)
    health.health_recompute_customer(customer_id=customer.pk, now=day0 + timedelta(minutes=5))
    assert list(HealthSnapshot.objects.filter(customer=customer).values_list("day", "score")) == [
        (timezone.localdate(day0), 93)
    ]
    # next day, unchanged: no new row
    health.health_recompute_customer(customer_id=customer.pk, now=day0 + timedelta(days=1))
    assert HealthSnapshot.objects.filter(customer=customer).count() == 1
    # two days later the ticket is resolved: a second row (100)
    Ticket.objects.filter(customer=customer).update(status=Ticket.Status.RESOLVED, resolved_at=timezone.now())
    health.health_recompute_customer(customer_id=customer.pk, now=day0 + timedelta(days=2))
    assert list(HealthSnapshot.objects.filter(customer=customer).values_list("score", flat=True)) == [93, 100]
    # the trend carries each value forward, one point per day
    trend = health.health_trend(customer_id=customer.pk, days=5, today=timezone.localdate(day0) + timedelta(days=3))
    assert [score for _day, score in trend] == [93, 93, 100, 100]


def test_trend_starts_from_the_value_before_the_window(agent):
    customer = CustomerFactory(owner=agent)
    today = timezone.localdate()
    HealthSnapshot.objects.create(customer=customer, day=today - timedelta(days=100), score=80, band="green")
    HealthSnapshot.objects.create(customer=customer, day=today - timedelta(days=1), score=30, band="red")
    trend = health.health_trend(customer_id=customer.pk, days=3, today=today)
    assert trend == [(today - timedelta(days=2), 80), (today - timedelta(days=1), 30), (today, 30)]


# --- crossing into red ---------------------------------------------------------------------------------


def test_crossing_into_red_creates_one_task_for_the_owner_however_often_it_runs(agent):
    customer = red_customer(agent)
    # when the whole book is recomputed twice, and the customer once more on its own
    health.health_recompute_all()
    health.health_recompute_all()
    health.health_recompute_customer(customer_id=customer.pk)
    # then exactly one task, for the owner, high priority, due in two days
    tasks = list(Task.objects.filter(customer=customer))
    assert len(tasks) == 1
    task = tasks[0]
    assert (task.owner, task.priority, task.origin) == (agent, Priority.HIGH, Task.Origin.RULE)
    assert task.due_date == timezone.localdate() + timedelta(days=2)
    assert "Cliente em Risco" in task.title and "(0)" in task.title
    assert HealthScore.objects.get(customer=customer).red_since is not None


def test_leaving_red_and_coming_back_creates_a_second_task(agent):
    customer = red_customer(agent)
    health.health_recompute_all()
    # leaves red: the tickets are resolved → tickets 100; (25 × 0 + 20 × 100) ÷ 45 = 44, yellow
    Ticket.objects.filter(customer=customer).update(status=Ticket.Status.RESOLVED, resolved_at=timezone.now())
    stats = health.health_recompute_all()
    assert stats.left_red == 1
    assert HealthScore.objects.get(customer=customer).red_since is None
    assert Task.objects.filter(customer=customer).count() == 1
    # back in red
    ticket(customer, breached=True)
    ticket(customer, breached=True)
    health.health_recompute_all()
    health.health_recompute_all()
    assert Task.objects.filter(customer=customer).count() == 2


def test_staying_yellow_creates_no_task(agent):
    customer = CustomerFactory(owner=agent)
    answer(customer, "nps", 7, days_ago=1)  # 60; (25 × 60 + 20 × 100) ÷ 45 = 77.8 → 78
    ticket(customer, breached=True)  # 60 → (1500 + 1200) ÷ 45 = 60, yellow
    health.health_recompute_all()
    assert HealthScore.objects.get(customer=customer).band == "yellow"
    assert not Task.objects.filter(customer=customer).exists()


# --- tasks, command, events -----------------------------------------------------------------------------


def test_recompute_task_run_twice_does_the_work_once(agent):
    customer = red_customer(agent)
    assert health_tasks.health_recompute_all() == 1
    assert health_tasks.health_recompute_all() == 1
    assert HealthScore.objects.get(customer=customer).score == 0
    assert HealthSnapshot.objects.filter(customer=customer).count() == 1
    assert Task.objects.filter(customer=customer).count() == 1


def test_a_second_whole_book_run_while_one_is_running_is_skipped(agent):
    red_customer(agent)
    cache.add(health_tasks.ALL_LOCK, "1", 60)
    try:
        assert health_tasks.health_recompute_all() == 0
        assert not HealthScore.objects.exists()
    finally:
        cache.delete(health_tasks.ALL_LOCK)


def test_customer_task_run_twice(agent):
    customer = red_customer(agent)
    assert health_tasks.health_recompute_customer(customer.pk) == 0
    assert health_tasks.health_recompute_customer(customer.pk) == 0
    assert Task.objects.filter(customer=customer).count() == 1


def test_command_prints_progress_and_a_summary(agent, capsys):
    red_customer(agent)
    call_command("health_recompute", batch_size=1)
    out = capsys.readouterr().out
    assert "1/1 customers (100%)" in out
    assert "1 customers in" in out and "1 scored (red 1, yellow 0, green 0), 1 changed;" in out
    assert "1 entered red (1 tasks)" in out


@pytest.fixture
def eager_celery():
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = False


def test_a_new_ticket_recomputes_the_customer(agent, eager_celery, django_capture_on_commit_callbacks):
    # given a scored customer (CSAT 5 → 100, no ticket: 100)
    customer = CustomerFactory(owner=agent)
    answer(customer, "csat", 5, days_ago=1)
    health.health_recompute_customer(customer_id=customer.pk)
    # when a ticket is opened through the support service (TICKET_CREATED)
    with django_capture_on_commit_callbacks(execute=True):
        support_services.ticket_create(actor=agent, customer=customer, subject="Não consigo entrar")
    # then the score moved: tickets 85 → (25 × 100 + 20 × 85) ÷ 45 = 93.3 → 93
    assert HealthScore.objects.get(customer=customer).score == 93


def test_a_recorded_order_recomputes_the_customer(agent, eager_celery, django_capture_on_commit_callbacks):
    customer = CustomerFactory(owner=agent)
    with django_capture_on_commit_callbacks(execute=True):
        customer_services.order_record(
            actor=agent, customer=customer, amount="100.00", purchased_at=timezone.now(), external_id="PED-H1"
        )
    # one order today: (100 + 50) ÷ 2 = 75; (25 × 75 + 20 × 100) ÷ 45 = 86.1 → 86
    assert HealthScore.objects.get(customer=customer).score == 86


def test_saving_the_settings_recomputes_everyone(manager, agent, eager_celery, django_capture_on_commit_callbacks):
    customer = CustomerFactory(owner=agent)
    answer(customer, "nps", 6, days_ago=1)  # 30; with tickets 100: (750 + 2000) ÷ 45 = 61.1 → 61, yellow
    health.health_recompute_all()
    assert HealthScore.objects.get(customer=customer).score == 61
    values = {
        "weight_survey": 25,
        "weight_tickets": 0,
        "weight_purchases": 25,
        "weight_engagement": 15,
        "weight_manual": 15,
        "red_below": 40,
        "green_from": 70,
    }
    with django_capture_on_commit_callbacks(execute=True):
        health.health_config_save(actor=manager, values=values)
    # only the NPS counts now: 30, red
    score = HealthScore.objects.get(customer=customer)
    assert (score.score, score.band) == (30, "red")
    assert HealthConfig.objects.get().updated_by == manager


def test_agents_cannot_change_the_settings(agent):
    values = dict.fromkeys(health.WEIGHT_FIELDS.values(), 20) | {"red_below": 40, "green_from": 70}
    with pytest.raises(PermissionDenied):
        health.health_config_save(actor=agent, values=values)
    assert not HealthConfig.objects.exists()


def test_settings_with_bands_the_wrong_way_round_are_refused(manager):
    values = dict.fromkeys(health.WEIGHT_FIELDS.values(), 20) | {"red_below": 70, "green_from": 70}
    with pytest.raises(ValidationError) as caught:
        health.health_config_save(actor=manager, values=values)
    assert set(caught.value.message_dict) == {"green_from"}


# --- the owner's rating ----------------------------------------------------------------------------------


def test_owner_rating_is_kept_by_later_recomputes(agent):
    customer = CustomerFactory(owner=agent)
    score = health.health_rating_set(actor=agent, customer=customer, rating=2)
    # rating 2 → 25 and no ticket → 100: (15 × 25 + 20 × 100) ÷ 35 = 67.9 → 68
    assert (score.score, score.band, score.manual_rating) == (68, "yellow", 2)
    health.health_recompute_all()
    assert HealthScore.objects.get(customer=customer).manual_rating == 2
    # cleared, nothing else is known: no score any more
    assert health.health_rating_set(actor=agent, customer=customer, rating=None) is None


def test_only_the_owner_or_a_manager_rates(agent, other_agent, manager):
    customer = CustomerFactory(owner=agent)
    with pytest.raises(PermissionDenied):
        health.health_rating_set(actor=other_agent, customer=customer, rating=5)
    # rating 5 → 100, no ticket → 100
    assert health.health_rating_set(actor=manager, customer=customer, rating=5).score == 100
    with pytest.raises(ValidationError):
        health.health_rating_set(actor=agent, customer=customer, rating=6)


def test_a_customer_without_owner_gets_an_unassigned_task():
    customer = red_customer(None)
    health.health_recompute_all()
    assert list(Task.objects.filter(customer=customer).values_list("owner", flat=True)) == [None]


def test_other_customers_tasks_are_not_touched(agent):
    # a task given by hand to a red customer is not the health task, and does not count as one
    customer = red_customer(agent)
    owner = UserFactory()
    Task.objects.create(owner=owner, customer=customer, title="Ligar", due_date=timezone.localdate())
    health.health_recompute_all()
    assert Task.objects.filter(customer=customer, origin=Task.Origin.RULE).count() == 1
