"""The loyalty ledger on hand-built data; every expected figure is worked out in the comment."""

import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.utils import timezone

from customers.services import order_update
from funnel.models import TransitionRule
from loyalty import services
from loyalty.models import Currency, Entry, Programme, Referral, Reward, Tier
from tests.factories import CustomerFactory, OrderFactory
from tests.funnel.conftest import set_rule

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def programme(db):
    """1 point per R$, 5 % cashback, 12-month expiry, 200 referral points, R$ 0.05 per point; tiers
    Bronze 0, Prata 1,000, Ouro 5,000 (a transactional test may have flushed the seeded rows)."""
    Programme.objects.all().delete()
    Tier.objects.all().delete()
    for name, points in (("Bronze", 0), ("Prata", 1000), ("Ouro", 5000)):
        Tier.objects.create(name=name, min_points=points)
    return Programme.objects.create(
        points_per_real=Decimal("1"), cashback_percent=Decimal("5"), referral_points=200, survey_points=20
    )


def points(customer):
    return services.balance(services.account_for(customer), Currency.POINTS)


def cashback(customer):
    return services.balance(services.account_for(customer), Currency.CASHBACK)


def test_order_earns_points_and_cashback_once():
    order = OrderFactory(amount=Decimal("199.90"))
    services.order_reward(order_id=order.pk)
    services.order_reward(order_id=order.pk)  # the event replayed, the order imported again

    # 199.90 × 1 point → 199 points (whole points, rounded down); 5 % → R$ 9.99 (9.995 rounded down)
    assert points(order.customer) == Decimal("199") and cashback(order.customer) == Decimal("9.99")
    assert Entry.objects.count() == 2
    earned = Entry.objects.get(currency="points")
    assert earned.expires_at.date() == (order.purchased_at + timedelta(days=360)).date()


def test_refund_and_cancel_reverse_what_the_order_earned_once(django_capture_on_commit_callbacks):
    refunded = OrderFactory(amount=Decimal("100.00"))
    customer = refunded.customer
    cancelled = OrderFactory(customer=customer, amount=Decimal("50.00"))
    for order in (refunded, cancelled):
        services.order_reward(order_id=order.pk)
    assert points(customer) == Decimal("150")

    with django_capture_on_commit_callbacks(execute=True):
        order_update(actor=None, order=refunded, status="refunded")
        order_update(actor=None, order=cancelled, status="cancelled")
    services.order_reverse(order_id=refunded.pk)  # replayed

    assert points(customer) == Decimal("0") and cashback(customer) == Decimal("0")
    assert Entry.objects.filter(kind="reverse").count() == 4  # points and cashback of each order


def test_cancelled_order_earns_nothing():
    order = OrderFactory(amount=Decimal("80.00"), status="cancelled")
    assert services.order_reward(order_id=order.pk) == []


def test_expiry_is_first_in_first_out_and_runs_once():
    customer = CustomerFactory()
    account = services.account_for(customer)
    now = timezone.now()
    old = OrderFactory(customer=customer, amount=Decimal("100"), purchased_at=now - timedelta(days=400))
    recent = OrderFactory(customer=customer, amount=Decimal("50"), purchased_at=now - timedelta(days=10))
    for order in (old, recent):
        services.order_reward(order_id=order.pk)
    services.points_redeem(account=account, points=Decimal("30"), key="k1", reason="Cupom")

    # 100 old points, 30 already spent (from the oldest) → 70 expire; the 50 recent ones stay
    entry = services.expire_due(account=account, now=now)
    assert entry.amount == Decimal("-70")
    assert services.expire_due(account=account, now=now) is None
    assert services.expire_all(now=now + timedelta(days=1)) == 0
    assert points(customer) == Decimal("50")


def test_tiers_by_points_earned_in_the_last_12_months():
    customer = CustomerFactory()
    now = timezone.now()
    OrderFactory(customer=customer, amount=Decimal("900"), purchased_at=now - timedelta(days=400))  # too old
    for amount in ("700", "500"):
        order = OrderFactory(customer=customer, amount=Decimal(amount), purchased_at=now - timedelta(days=30))
        services.order_reward(order_id=order.pk)
    account = services.account_for(customer)
    services.points_redeem(account=account, points=Decimal("1000"), key="big", reason="Vale")

    status = services.tier_status(account=account, now=now)
    # 700 + 500 = 1,200 earned in 12 months (spending does not lower it) → Prata; Ouro needs 3,800 more
    assert (status.tier.name, status.points_12m, status.next_tier.name, status.missing) == (
        "Prata",
        Decimal("1200"),
        "Ouro",
        Decimal("3800"),
    )


def test_redemption_cannot_overdraw_and_a_replayed_key_books_once():
    order = OrderFactory(amount=Decimal("120"))
    services.order_reward(order_id=order.pk)
    account = services.account_for(order.customer)
    reward = Reward.objects.create(name="Cupom R$ 10", cost_points=100)

    first = services.reward_redeem(account=account, reward=reward, key="req-1")
    again = services.reward_redeem(account=account, reward=reward, key="req-1")
    assert first.pk == again.pk and first.code.startswith("PV-")
    with pytest.raises(ValidationError) as exc:
        services.reward_redeem(account=account, reward=reward, key="req-2")  # 20 left, costs 100
    assert "amount" in exc.value.message_dict
    assert points(order.customer) == Decimal("20")


@pytest.mark.django_db(transaction=True)
def test_fifty_concurrent_redemptions_never_overdraw():
    Programme.objects.create(points_per_real=Decimal("1"))
    order = OrderFactory(amount=Decimal("500"))
    services.order_reward(order_id=order.pk)  # 500 points
    account = services.account_for(order.customer)
    results: list[str] = []
    barrier = threading.Barrier(50)

    def redeem(i: int) -> None:
        try:
            barrier.wait()
            services.points_redeem(account=account, points=Decimal("20"), key=f"concurrent-{i}", reason="Cupom")
            results.append("ok")
        except ValidationError:
            results.append("refused")
        finally:
            connection.close()

    threads = [threading.Thread(target=redeem, args=(i,)) for i in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    # 50 × 20 = 1,000 asked against 500: exactly 25 go through, none lost, never below zero
    assert results.count("ok") == 25 and results.count("refused") == 25
    assert Entry.objects.filter(kind="redeem").count() == 25
    assert points(order.customer) == Decimal("0")


def test_referral_rewards_both_sides_once_and_counts_as_evangelization(django_capture_on_commit_callbacks):
    set_rule(TransitionRule.Kind.PROMOTER)
    referrer = CustomerFactory(stage="retention")
    referral, created = services.referral_create(referrer=referrer, email="Nova@Example.com", name="Nova")
    again, created_again = services.referral_create(referrer=referrer, email="nova@example.com")
    assert created and not created_again and again.pk == referral.pk

    newcomer = CustomerFactory(email="nova@example.com")
    with django_capture_on_commit_callbacks(execute=True):
        services.order_reward(order_id=OrderFactory(customer=newcomer, amount=Decimal("10")).pk)
        services.order_reward(order_id=OrderFactory(customer=newcomer, amount=Decimal("10")).pk)  # second order

    referral.refresh_from_db()
    referrer.refresh_from_db()
    assert referral.status == Referral.Status.CONVERTED and referral.referred == newcomer
    assert points(referrer) == Decimal("200")
    assert points(newcomer) == Decimal("220")  # 200 welcome + 10 + 10
    assert referrer.stage == "evangelization"


def test_customer_cannot_refer_themselves():
    customer = CustomerFactory(email="eu@example.com")
    with pytest.raises(ValidationError):
        services.referral_create(referrer=customer, email="EU@example.com")


def test_manual_adjustment_needs_a_manager_and_a_reason(manager, agent):
    account = services.account_for(CustomerFactory())
    with pytest.raises(PermissionDenied):
        services.adjust(actor=agent, account=account, amount=Decimal("50"), reason="Brinde")
    with pytest.raises(ValidationError) as exc:
        services.adjust(actor=manager, account=account, amount=Decimal("50"), reason=" ")
    assert "reason" in exc.value.message_dict
    entry = services.adjust(actor=manager, account=account, amount=Decimal("50"), reason="Compensação por atraso")
    assert entry.created_by == manager and entry.kind == "adjust"
    with pytest.raises(ValidationError):
        services.adjust(actor=manager, account=account, amount=Decimal("-80"), reason="Erro")
    assert services.balance(account) == Decimal("50")


def test_survey_answer_bonus_once(django_capture_on_commit_callbacks):
    from surveys import services as survey_services
    from tests.surveys.conftest import consenting_customer, make_survey, sent_invitation

    customer = consenting_customer()
    invitation = sent_invitation(make_survey("csat"), customer)
    with django_capture_on_commit_callbacks(execute=True):
        survey_services.response_submit(invitation=invitation, score=5)
        survey_services.response_submit(invitation=invitation, score=4)  # answered again: no second bonus
    assert points(customer) == Decimal("20")


def test_birthday_points_once_a_year():
    from datetime import date

    account = services.account_for(CustomerFactory())
    account.birthday = date(1990, 11, 23)
    account.save()
    assert services.birthday_bonuses(today=date(2026, 11, 23)) == 1
    assert services.birthday_bonuses(today=date(2026, 11, 23)) == 0
    assert services.birthday_bonuses(today=date(2027, 11, 23)) == 1


def test_liability_in_reais():
    order = OrderFactory(amount=Decimal("1000"))
    services.order_reward(order_id=order.pk)
    # 1,000 points × R$ 0.05 = R$ 50.00, plus R$ 50.00 cashback (5 %)
    assert services.liability() == {
        "points": Decimal("1000.00"),
        "points_value": Decimal("50.00"),
        "cashback": Decimal("50.00"),
        "total": Decimal("100.00"),
    }
