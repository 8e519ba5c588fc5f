"""Additive KPIs (metrics/queries/activity.py) and their daily roll-ups (metrics/rollups.py) on
hand-built data whose figures are computed by hand in the comments."""

from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from funnel.models import StageChange
from loyalty import services as loyalty
from loyalty.models import Referral
from messaging.models import Message, MessageEvent
from metrics import rollups
from metrics.filters import KpiFilter
from metrics.models import DailyCount, RollupDay
from metrics.queries import activity
from metrics.queries.support import ticket_medians
from support.models import SlaPolicy, Ticket
from surveys.models import Invitation, Kind, Response, Survey
from tests.factories import CustomerFactory, OrderFactory

SP = ZoneInfo("America/Sao_Paulo")
D1, D2 = date(2026, 3, 10), date(2026, 3, 11)
PERIOD = KpiFilter(start=D1, end=D2)


def at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=SP)


_seq = iter(range(1, 10_000))


def answer(customer, kind: str, score: int | None, when: datetime, *, answered: bool = True) -> Invitation:
    survey, _ = Survey.objects.get_or_create(name=f"metrics {kind}", kind=kind)
    n = next(_seq)
    invitation = Invitation.objects.create(
        survey=survey,
        customer=customer,
        nonce=f"n{n}",
        source_key=f"k{n}",
        status=Invitation.Status.ANSWERED if answered else Invitation.Status.SENT,
        due_at=when,
        sent_at=when,
    )
    if answered:
        Response.objects.create(
            invitation=invitation, survey=survey, customer=customer, kind=kind, score=score, answered_at=when
        )
    return invitation


def ticket(customer, *, resolved: datetime, hours: float, frt: int | None, policy, met: bool) -> Ticket:
    return Ticket.objects.create(
        customer=customer,
        subject="x",
        status=Ticket.Status.RESOLVED,
        opened_at=resolved - timedelta(hours=hours),
        resolved_at=resolved,
        resolution_seconds=int(hours * 3600),
        resolution_business_seconds=int(hours * 1800),
        first_response_seconds=frt,
        sla_policy=policy,
        first_response_breached=False,
        resolution_breached=not met,
    )


def email(customer, when: datetime, status: str, *events: str) -> Message:
    message = Message.objects.create(
        customer=customer, body="b", status=status, sent_at=when, idempotency_key=f"m{next(_seq)}"
    )
    for event in events:
        MessageEvent.objects.create(message=message, event_type=event, at=when + timedelta(hours=1))
    return message


@pytest.fixture
def book(agent, other_agent):
    """Two customers (agent's person, other agent's company) and a day and a half of activity."""
    mine = CustomerFactory(owner=agent)
    theirs = CustomerFactory(owner=other_agent, company=True)
    # NPS: mine 10, 9, 8 (23:30 on D2 local — still D2 though already D3 in UTC); theirs 3.
    answer(mine, Kind.NPS, 10, at(D1, 9))
    answer(mine, Kind.NPS, 9, at(D1, 10))
    answer(mine, Kind.NPS, 8, at(D2, 23, 30))
    answer(theirs, Kind.NPS, 3, at(D2, 12))
    answer(theirs, Kind.NPS, None, at(D2, 12), answered=False)  # sent, not answered
    answer(mine, Kind.NPS, 0, at(D2 + timedelta(days=1), 0, 30))  # outside the period (D3 local)
    # CSAT 5, 4, 2; CES 7, 6, 2
    for score in (5, 4, 2):
        answer(mine, Kind.CSAT, score, at(D1, 14))
    for score in (7, 6, 2):
        answer(theirs, Kind.CES, score, at(D2, 15))
    # Tickets resolved: 1 h, 2 h, 10 h; first responses 600 s, 1,200 s, none; two with an SLA, one met.
    # the data migration seeds one; a transactional test elsewhere may have flushed it
    policy = SlaPolicy.objects.filter(priority="normal", segment=None).first() or SlaPolicy.objects.create(
        name="p", priority="normal", first_response_minutes=60, resolution_minutes=600
    )
    ticket(mine, resolved=at(D1, 11), hours=1, frt=600, policy=policy, met=True)
    ticket(mine, resolved=at(D2, 11), hours=2, frt=1200, policy=policy, met=False)
    ticket(theirs, resolved=at(D2, 16), hours=10, frt=None, policy=None, met=True)
    # E-mails: opened (twice), clicked, bounced, sent + unsubscribed.
    email(mine, at(D1, 8), Message.Status.OPENED, "opened", "opened")
    email(mine, at(D1, 8), Message.Status.CLICKED, "opened", "clicked")
    email(theirs, at(D2, 8), Message.Status.BOUNCED, "bounced")
    email(theirs, at(D2, 8), Message.Status.SENT, "unsubscribed")
    # Orders: two paid (100.00 + 50.50), one refunded.
    OrderFactory(customer=mine, amount=Decimal("100.00"), purchased_at=at(D1, 9))
    OrderFactory(customer=theirs, amount=Decimal("50.50"), purchased_at=at(D2, 9))
    OrderFactory(customer=theirs, amount=Decimal("70.00"), purchased_at=at(D2, 9), status="refunded")
    # Referrals by mine: two sent on D1, one converted on D2.
    account = loyalty.account_for(mine)
    r1 = Referral.objects.create(referrer=account, email="a@example.com")
    Referral.objects.create(referrer=account, email="b@example.com")
    Referral.objects.filter(referrer=account).update(created_at=at(D1, 10))
    Referral.objects.filter(pk=r1.pk).update(status="converted", converted_at=at(D2, 10))
    # Funnel: theirs moved to retention on D2.
    StageChange.objects.create(customer=theirs, from_stage="adoption", to_stage="retention", changed_at=at(D2, 9))
    return mine, theirs


def expected_figures(c) -> dict:
    return {
        "nps": activity.nps(c).value,
        "csat": activity.csat(c).value,
        "ces": activity.ces(c).value,
        "response_rate": activity.response_rate(c).value,
        "tmr": activity.tmr(c).value,
        "first_response": activity.first_response(c).value,
        "sla": activity.sla_met(c).value,
        "emails": {k: v.value for k, v in activity.email_rates(c).items()},
        "orders": activity.orders(c)["orders"].value,
        "revenue": activity.orders(c)["revenue"].value,
        "referrals": activity.referrals(c).as_dict(),
        "entered": activity.stage_entries(c)["retention"],
    }


HAND = {
    # promoters 2 (10, 9), passive 1 (8), detractor 1 (3): (2 − 1) ÷ 4 = 25.0
    "nps": Decimal("25.0"),
    "csat": Decimal("66.7"),  # 2 of 3 answers are 4–5
    "ces": Decimal("5.00"),  # (7 + 6 + 2) ÷ 3
    # sent: 5 NPS + 3 CSAT + 3 CES = 11 (the D3 one is outside); answered 10 → 90.9
    "response_rate": Decimal("90.9"),
    "tmr": Decimal("15600.0"),  # (1 + 2 + 10) h ÷ 3 = 4 h 20 min = 15,600 s
    "first_response": Decimal("900.0"),  # (600 + 1,200) ÷ 2; the ticket without a reply is left out
    "sla": Decimal("50.0"),  # 1 met of 2 with a policy
    "emails": {
        "email_delivery": Decimal("75.0"),  # 3 of 4 not bounced
        "email_open": Decimal("66.7"),  # 2 unique opens ÷ 3 delivered (opened twice counts once)
        "email_click": Decimal("33.3"),
        "email_bounce": Decimal("25.0"),
        "email_complaint": Decimal("0.0"),
        "email_unsubscribe": Decimal("33.3"),
    },
    "orders": Decimal(2),
    "revenue": Decimal("150.50"),
    "referrals": {"value": 1, "sent": 2, "converted": 1},
    "entered": 1,
}


def test_live_counts_give_the_hand_computed_kpis(book):
    # given the book, nothing rolled up: when summed live, then every KPI matches the hand figures
    assert expected_figures(rollups.counts(PERIOD)) == HAND


def test_rolled_up_days_give_the_same_figures_and_rolling_twice_changes_nothing(book):
    rollups.rollup_day(D1)
    rollups.rollup_day(D2)
    rows = DailyCount.objects.count()
    rollups.rollup_day(D1)
    rollups.rollup_day(D2)
    assert DailyCount.objects.count() == rows > 0
    assert RollupDay.objects.filter(day__in=(D1, D2), status="done").count() == 2
    assert expected_figures(rollups.counts(PERIOD)) == HAND


def test_a_rolled_up_day_is_read_from_the_roll_up_until_it_is_recomputed(book):
    mine, _theirs = book
    rollups.rollup_day(D1)
    # a late detractor answer recorded for D1 after its roll-up
    answer(mine, Kind.NPS, 2, at(D1, 20))
    # NPS still from the roll-up: 25.0
    assert activity.nps(rollups.counts(PERIOD)).value == Decimal("25.0")
    rollups.rollup_day(D1)
    # now 2 promoters, 1 passive, 2 detractors: (2 − 2) ÷ 5 = 0
    assert activity.nps(rollups.counts(PERIOD)).value == Decimal("0.0")


def test_slices_filter_by_owner_and_kind_in_roll_ups_and_live(book, agent):
    mine_only = KpiFilter(start=D1, end=D2, owner_id=agent.pk)
    companies = KpiFilter(start=D1, end=D2, kind="company")
    for rolled in (False, True):
        if rolled:
            rollups.rollup_day(D1)
            rollups.rollup_day(D2)
        # agent's customer: 10, 9, 8 → 2 promoters, 1 passive → 66.7; revenue 100.00
        assert activity.nps(rollups.counts(mine_only)).value == Decimal("66.7")
        assert activity.orders(rollups.counts(mine_only))["revenue"].value == Decimal("100.00")
        # the company answered only a 3 → −100; CES 5.00
        assert activity.nps(rollups.counts(companies)).value == Decimal("-100.0")
        assert activity.ces(rollups.counts(companies)).value == Decimal("5.00")


def test_no_data_gives_none_not_zero(db):
    c = rollups.counts(KpiFilter(start=D1, end=D2))
    assert activity.nps(c).value is None
    assert activity.csat(c).value is None
    assert activity.tmr(c).value is None
    assert activity.email_rates(c)["email_open"].value is None


def test_ticket_medians(book):
    # resolution 1 h, 2 h, 10 h → median 2 h = 7,200 s; first responses 600, 1,200 → 900
    assert ticket_medians(PERIOD) == {"resolution_median": Decimal("7200.0"), "first_response_median": Decimal("900.0")}


def test_rollup_recent_resumes_and_refreshes_recent_days(book):
    until = D2 + timedelta(days=2)  # "today" is D2 + 2: yesterday is D3
    first = rollups.rollup_recent(refresh_days=0, until=until)
    # from the first day with data (D1 − 10 h for the first ticket's opening: still D1) to D3
    assert first == [D1, D2, D2 + timedelta(days=1)]
    # a second run has nothing missing; with a refresh window of 2 it re-rolls the last two days
    assert rollups.rollup_recent(refresh_days=0, until=until) == []
    assert rollups.rollup_recent(refresh_days=2, until=until) == [D2, D2 + timedelta(days=1)]
    # invalidating a day (history imported into it) makes the next run roll it up again
    rollups.invalidate({D1})
    assert rollups.rollup_recent(refresh_days=0, until=until) == [D1]
    assert expected_figures(rollups.counts(PERIOD)) == HAND


def test_the_nightly_task_run_twice_rolls_each_day_once(book, monkeypatch):
    from metrics import tasks

    monkeypatch.setattr(rollups, "today", lambda: D2 + timedelta(days=2))
    assert tasks.rollup_recent() == 3  # D1, D2, D3 (the 35-day refresh window holds the same days)
    rows = DailyCount.objects.count()
    tasks.rollup_recent()
    assert DailyCount.objects.count() == rows
    assert expected_figures(rollups.counts(PERIOD)) == HAND


def test_importing_orders_forgets_the_roll_ups_of_their_days(
    book, manager, tmp_path, django_capture_on_commit_callbacks
):
    from customers import importer

    mine, _theirs = book
    rollups.rollup_day(D1)
    rollups.rollup_day(D2)
    csv = tmp_path / "orders.csv"
    csv.write_text(
        f"external_id,customer_external_id,purchased_at,amount,status\nIMP-1,{mine.external_id},2026-03-10 15:00,30.00,paid\n",
        encoding="utf-8",
    )
    with django_capture_on_commit_callbacks(execute=True):
        importer.import_path(csv, "orders", manager)
    # D1 is computed live again and sees the imported order: 2 paid orders, R$ 130.00 on D1 + 50.50 on D2
    assert not RollupDay.objects.filter(day=D1).exists() and RollupDay.objects.filter(day=D2).exists()
    assert activity.orders(rollups.counts(PERIOD))["revenue"].value == Decimal("180.50")


def test_daily_totals_are_the_sum_of_the_slices(book):
    from django.db.models import Sum

    from metrics.models import DailyTotal

    rollups.rollup_day(D2)
    rollups.rollup_day(D2)  # twice: replaced, not added
    by_key = dict(DailyCount.objects.filter(day=D2).values_list("key").annotate(v=Sum("value")).values_list("key", "v"))
    totals = dict(DailyTotal.objects.filter(day=D2).values_list("key", "value"))
    assert totals == by_key and totals["orders.revenue"] == Decimal("50.50")
