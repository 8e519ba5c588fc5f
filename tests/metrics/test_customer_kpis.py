"""Customer and revenue KPIs (metrics/queries/customers.py) on hand-built books; each expected figure
is worked out in the comment above it. Definitions: docs/metrics.md "Customers and revenue" and
"Cohort retention"."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from customers.models import Contract, Customer, Order
from customers.services import contract_update
from metrics.filters import KpiFilter
from metrics.queries.customers import (
    churn_trend,
    cohort_retention,
    logo_churn,
    repeat_customer_rate,
    repurchase,
    repurchase_trend,
    revenue_churn,
)
from tests.factories import ContractFactory, CustomerFactory, OrderFactory, SegmentFactory, UserFactory

pytestmark = pytest.mark.django_db

MARCH = KpiFilter(start=date(2025, 3, 1), end=date(2025, 3, 31))
S = Contract.Status


def local(y: int, m: int, d: int, hh: int = 12, mm: int = 0, ss: int = 0) -> datetime:
    """An aware datetime in America/Sao_Paulo (the project's TIME_ZONE)."""
    return timezone.make_aware(datetime(y, m, d, hh, mm, ss))


def contract(
    customer: Customer | None = None,
    *,
    started: date = date(2024, 6, 1),
    cancelled: date | None = None,
    ends: date | None = None,
    auto_renew: bool = True,
    status: str | None = None,
    mrr: str = "1000.00",
    **customer_fields,
) -> Contract:
    customer = customer or CustomerFactory(company=True, **customer_fields)
    return ContractFactory(
        customer=customer,
        started_at=started,
        ends_at=ends,
        cancelled_at=cancelled,
        status=status or (S.CANCELLED if cancelled else S.ACTIVE),
        auto_renew=auto_renew,
        mrr=Decimal(mrr),
    )


def order(customer: Customer, at: datetime, status: str = Order.Status.PAID) -> Order:
    return OrderFactory(customer=customer, purchased_at=at, status=status)


# --- logo churn -------------------------------------------------------------------------------


def test_logo_churn_counts_cancellations_of_customers_active_at_the_start():
    # given 10 customers in force since 2024; 2 of them cancel in March;
    # and a customer who signs on 5 March and cancels on 25 March (not in force at the start)
    customers = [contract().customer for _ in range(10)]
    Contract.objects.filter(customer__in=customers[:2]).update(status=S.CANCELLED, cancelled_at=date(2025, 3, 10))
    contract(started=date(2025, 3, 5), cancelled=date(2025, 3, 25))

    # when
    churn = logo_churn(MARCH)

    # then 2 churned of 10 active at the start → 20.0 %; 8 still in force at the close
    assert churn.as_dict() == {"active_start": 10, "churned": 2, "active_end": 8, "rate": 20.0}
    assert churn.rate == Decimal("20.0")


def test_logo_churn_period_edges():
    # given cancellations around March 2025
    contract(cancelled=date(2025, 3, 1))  # on the first day: active at the opening, churned in March
    contract(cancelled=date(2025, 3, 31))  # on the last day: churned in March
    contract(cancelled=date(2025, 4, 1))  # the day after: still in force at the close of March
    contract(cancelled=date(2025, 2, 28))  # the day before: never in force during March
    contract(started=date(2025, 3, 1))  # signed on the first day: a new customer, not in the base
    contract(started=date(2025, 2, 28))  # signed the day before: in the base, stays

    # when
    churn = logo_churn(MARCH)

    # then the base is 1 Mar, 31 Mar, 1 Apr and 28 Feb (signed) = 4; churned 1 Mar and 31 Mar = 2 → 50.0 %
    assert (churn.active_start, churn.churned, churn.rate) == (4, 2, Decimal("50.0"))
    # and in force at the close: 1 Apr, signed 1 Mar, signed 28 Feb = 3
    assert churn.active_end == 3


def test_logo_churn_lapses_renewals_and_replacements():
    # given contracts that stop without a cancellation date, or do not stop at all
    contract(ends=date(2025, 3, 15), auto_renew=False)  # G: not renewing, term ends in March → churned
    contract(ends=date(2025, 3, 15), auto_renew=True)  # H: renews (ends_at is not moved forward) → stays
    contract(ends=date(2025, 3, 31), status=S.EXPIRED)  # I: expired on the last day → churned
    k = contract(status=S.EXPIRED)  # K: expired without an end date, marked expired on 10 March → churned
    Contract.objects.filter(pk=k.pk).update(updated_at=local(2025, 3, 10))
    # L: not renewing, term ended 15 Feb, the cancellation recorded on 5 March: gone before March
    contract(ends=date(2025, 2, 15), auto_renew=False, cancelled=date(2025, 3, 5))
    m = contract(cancelled=date(2025, 3, 10))  # M: replaced on the same day by a new contract → stays
    contract(m.customer, started=date(2025, 3, 10))
    n = contract(cancelled=date(2025, 3, 5))  # N: comes back only on 2 April → churned in March
    contract(n.customer, started=date(2025, 4, 2))

    # when
    churn = logo_churn(MARCH)

    # then the base is G, H, I, K, M, N = 6 (L had lapsed); churned G, I, K, N = 4 → 66.7 %
    assert (churn.active_start, churn.churned, churn.rate) == (6, 4, Decimal("66.7"))


def test_logo_churn_honours_the_slice():
    # given owner A: two customers in force at the start, one cancels in March (segment "Varejo");
    # owner B: one B2C person with a contract who cancels; one company of B's who stays
    ana, bruno = UserFactory(), UserFactory()
    varejo = SegmentFactory(name="Varejo")
    contract(owner=ana, segment=varejo, cancelled=date(2025, 3, 10))
    contract(owner=ana)
    contract(CustomerFactory(owner=bruno), cancelled=date(2025, 3, 20))  # a person (B2C)
    contract(owner=bruno)

    def rate(**slice_) -> Decimal | None:
        return logo_churn(KpiFilter(start=MARCH.start, end=MARCH.end, **slice_)).rate

    # then owner A: 1 of 2 → 50.0; owner B: 1 of 2 → 50.0; segment Varejo: 1 of 1 → 100.0;
    # people: 1 of 1 → 100.0; companies: 1 of 3 → 33.3; the whole book: 2 of 4 → 50.0
    assert rate(owner_id=ana.pk) == Decimal("50.0")
    assert rate(owner_id=bruno.pk) == Decimal("50.0")
    assert rate(segment_id=varejo.pk) == Decimal("100.0")
    assert rate(kind=Customer.Kind.PERSON) == Decimal("100.0")
    assert rate(kind=Customer.Kind.COMPANY) == Decimal("33.3")
    assert rate() == Decimal("50.0")


def test_logo_churn_without_customers_in_force_is_none_not_zero():
    # given only a customer who signs on during the period and B2C customers without contracts
    contract(started=date(2025, 3, 5))
    order(CustomerFactory(), local(2025, 3, 5))

    # when
    churn = logo_churn(MARCH)

    # then no base → no rate
    assert churn.as_dict() == {"active_start": 0, "churned": 0, "active_end": 1, "rate": None}


def test_logo_churn_of_the_previous_period():
    # given one cancellation in March and none in April, two customers in force all along
    contract(cancelled=date(2025, 3, 15))
    contract()
    contract()
    april = KpiFilter(start=date(2025, 4, 1), end=date(2025, 4, 30))

    # when / then April: 0 of 2 → 0.0 %; its previous period is March: 1 of 3 → 33.3 %
    assert logo_churn(april).rate == Decimal("0.0")
    assert april.previous() == MARCH
    assert logo_churn(april.previous()).rate == Decimal("33.3")


def test_logo_churn_is_one_query_whatever_the_book(django_assert_num_queries):
    contract(cancelled=date(2025, 3, 15))
    with django_assert_num_queries(1):
        logo_churn(MARCH)
    for n in range(30):
        contract(cancelled=date(2025, 3, 15) if n % 3 else None)
    with django_assert_num_queries(1):
        assert logo_churn(MARCH).active_start == 31


# --- revenue churn, GRR, NRR ------------------------------------------------------------------


def test_revenue_churn_grr_and_nrr():
    # given, in force at the opening of March:
    contract(mrr="1000.00", cancelled=date(2025, 3, 10))  # A: R$ 1,000 cancels → churned MRR 1,000
    contract(mrr="500.00")  # B: R$ 500 stays
    c = contract(mrr="300.00")  # C: R$ 300 + R$ 200; the 200 is cancelled → contraction 200
    contract(c.customer, mrr="200.00", cancelled=date(2025, 3, 20))
    d = contract(mrr="400.00", cancelled=date(2025, 3, 15))  # D: 400 replaced by 700 → expansion 300
    contract(d.customer, mrr="700.00", started=date(2025, 3, 15))
    contract(mrr="900.00", started=date(2025, 3, 5))  # E: new in March — not in GRR/NRR

    # when
    revenue = revenue_churn(MARCH)

    # then start MRR = 1000 + 500 + 500 + 400 = 2,400; lost = 1000 + 200 = 1,200
    # gross churn = 1200 / 2400 = 50.0 %; GRR = 1200 / 2400 = 50.0 %;
    # NRR = (2400 − 1200 + 300) / 2400 = 1500 / 2400 = 62.5 %; end MRR of the same customers = 1,500
    assert revenue.as_dict() == {
        "customers": 4,
        "mrr_start": 2400.0,
        "mrr_end": 1500.0,
        "churned_mrr": 1000.0,
        "contraction": 200.0,
        "expansion": 300.0,
        "gross_churn": 50.0,
        "grr": 50.0,
        "nrr": 62.5,
    }


def test_revenue_churn_cannot_see_an_upgrade_edited_in_place():
    # given a contract of R$ 500 in force since 2024, upgraded in place to R$ 800 (contract_update,
    # the way the app and the API record a plan change; MRR has no history)
    k = contract(mrr="500.00")
    contract_update(actor=None, contract=k, mrr=Decimal("800.00"))

    # when
    revenue = revenue_churn(MARCH)

    # then the start MRR is read as 800 too: no expansion (the limitation docs/metrics.md states)
    assert (revenue.mrr_start, revenue.expansion, revenue.nrr) == (Decimal("800.00"), Decimal("0.00"), Decimal("100.0"))


def test_revenue_churn_without_mrr_is_none_not_zero():
    # given no contract at all
    empty = revenue_churn(MARCH)
    # then rates are None, sums are 0
    assert empty.as_dict()["grr"] is None and empty.as_dict()["nrr"] is None and empty.customers == 0

    # given a customer in force at the start whose contract is free (R$ 0)
    contract(mrr="0.00")
    free = revenue_churn(MARCH)
    # then one customer but no MRR to divide by
    assert (free.customers, free.mrr_start, free.gross_churn, free.grr, free.nrr) == (
        1,
        Decimal("0.00"),
        None,
        None,
        None,
    )


def test_revenue_churn_honours_the_slice_and_is_one_query(django_assert_num_queries):
    # given owner A's customer loses R$ 1,000 of R$ 1,000; owner B's customer keeps R$ 3,000
    ana, bruno = UserFactory(), UserFactory()
    contract(owner=ana, mrr="1000.00", cancelled=date(2025, 3, 2))
    contract(owner=bruno, mrr="3000.00")

    # when / then A: GRR 0.0 %; B: GRR 100.0 %; the book: 3000 / 4000 = 75.0 %
    with django_assert_num_queries(1):
        assert revenue_churn(KpiFilter(start=MARCH.start, end=MARCH.end, owner_id=ana.pk)).grr == Decimal("0.0")
    assert revenue_churn(KpiFilter(start=MARCH.start, end=MARCH.end, owner_id=bruno.pk)).grr == Decimal("100.0")
    assert revenue_churn(MARCH).grr == Decimal("75.0")


# --- repurchase -------------------------------------------------------------------------------


def test_repurchase_rate_counts_paid_orders_only():
    # given B2C customers (no contracts) and their March orders
    p1, p2, p3, p4, p5, p6 = (CustomerFactory() for _ in range(6))
    order(p1, local(2025, 3, 2)), order(p1, local(2025, 3, 20))  # 2 paid → repeat
    order(p2, local(2025, 2, 20)), order(p2, local(2025, 3, 20))  # 1 paid in March (other in Feb) → once
    order(p3, local(2025, 3, 3)), order(p3, local(2025, 3, 9), Order.Status.REFUNDED)  # refund ≠ purchase
    order(p4, local(2025, 3, 3), Order.Status.CANCELLED)  # no purchase at all
    for day in (1, 2, 3):
        order(p5, local(2025, 3, day))  # 3 paid → repeat
    order(p6, local(2025, 3, 4), Order.Status.PENDING), order(p6, local(2025, 3, 5))  # pending ≠ paid

    # when
    result = repurchase(MARCH)

    # then buyers p1, p2, p3, p5, p6 = 5; repeat p1, p5 = 2 → 40.0 %
    assert result.as_dict() == {"buyers": 5, "repeat_buyers": 2, "rate": 40.0}


def test_repurchase_period_edges_are_local_days():
    # given orders around March in São Paulo time (UTC−3)
    first, last, outside = CustomerFactory(), CustomerFactory(), CustomerFactory()
    order(first, local(2025, 3, 1, 0, 0, 0))  # the period's first instant
    order(first, local(2025, 3, 31, 23, 59, 59))  # its last second → first bought twice
    order(last, local(2025, 3, 31, 23, 59, 59))
    order(last, local(2025, 4, 1, 0, 0, 0))  # the next period
    order(outside, local(2025, 2, 28, 23, 59, 59))
    order(outside, datetime(2025, 3, 1, 2, 30, tzinfo=UTC))  # 28 Feb 23:30 local

    # when
    result = repurchase(MARCH)

    # then buyers first and last = 2; repeat first = 1 → 50.0 %
    assert (result.buyers, result.repeat_buyers, result.rate) == (2, 1, Decimal("50.0"))


def test_repurchase_honours_the_slice_previous_period_and_is_one_query(django_assert_num_queries):
    # given owner A's person buys twice in March and once in February; owner B's company buys once in March
    ana, bruno = UserFactory(), UserFactory()
    person, company = CustomerFactory(owner=ana), CustomerFactory(owner=bruno, company=True)
    order(person, local(2025, 3, 5)), order(person, local(2025, 3, 6)), order(person, local(2025, 2, 6))
    order(company, local(2025, 3, 5))
    april = KpiFilter(start=date(2025, 4, 1), end=date(2025, 4, 30), kind=Customer.Kind.PERSON)

    # then the book: 1 of 2 → 50.0; owner A: 1 of 1 → 100.0; companies: 0 of 1 → 0.0;
    # April for people: nobody bought → None; its previous period (March): 1 of 1 → 100.0
    with django_assert_num_queries(1):
        assert repurchase(MARCH).rate == Decimal("50.0")
    assert repurchase(KpiFilter(start=MARCH.start, end=MARCH.end, owner_id=ana.pk)).rate == Decimal("100.0")
    assert repurchase(KpiFilter(start=MARCH.start, end=MARCH.end, kind=Customer.Kind.COMPANY)).rate == Decimal("0.0")
    assert repurchase(april).as_dict() == {"buyers": 0, "repeat_buyers": 0, "rate": None}
    assert repurchase(april.previous()).rate == Decimal("100.0")


def test_repeat_customer_rate_is_cumulative_up_to_the_period_end(django_assert_num_queries):
    # given B2C customers' paid orders over time
    p1, p2, p3, p4, p5 = (CustomerFactory() for _ in range(5))
    order(p1, local(2024, 1, 5)), order(p1, local(2025, 2, 5))  # two before the end → repeat
    order(p2, local(2025, 1, 5))  # one
    order(p3, local(2025, 3, 31, 23, 0)), order(p3, local(2025, 4, 1, 9, 0))  # the second after the end
    order(p4, local(2025, 1, 5)), order(p4, local(2025, 1, 6), Order.Status.REFUNDED)  # refund ≠ purchase
    order(p5, local(2025, 1, 5), Order.Status.CANCELLED)  # never bought

    # when
    with django_assert_num_queries(1):
        result = repeat_customer_rate(MARCH)

    # then customers p1–p4 = 4; repeat p1 = 1 → 25.0 %; before 2025 nobody: None
    assert result.as_dict() == {"customers": 4, "repeat_customers": 1, "rate": 25.0}
    assert repeat_customer_rate(KpiFilter(start=date(2023, 1, 1), end=date(2023, 12, 31))).rate is None


# --- trends -----------------------------------------------------------------------------------


def test_churn_trend_gives_each_month_in_one_query(django_assert_num_queries):
    # given, from 1 January to 31 March 2025:
    contract(cancelled=date(2025, 1, 31))  # A: churns in January (its last day)
    contract(cancelled=date(2025, 2, 1))  # B: churns in February (its first day)
    contract()  # C: stays
    d = contract(cancelled=date(2025, 2, 20))  # D: gone at the close of February, back on 5 March
    contract(d.customer, started=date(2025, 3, 5))
    contract(started=date(2025, 1, 10), cancelled=date(2025, 3, 15))  # New: signs in Jan, churns in March
    quarter = KpiFilter(start=date(2025, 1, 1), end=date(2025, 3, 31))

    # when
    with django_assert_num_queries(1):
        trend = churn_trend(quarter)

    # then Jan: base A, B, C, D = 4, churned A → 25.0
    #      Feb: base B, C, D, New = 4, churned B, D → 50.0
    #      Mar: base C, New = 2 (D was out at the close of Feb), churned New → 50.0
    points = trend.as_dict()["points"]
    assert [(p["month"], p["active_start"], p["churned"], p["rate"]) for p in points] == [
        ("2025-01", 4, 1, 25.0),
        ("2025-02", 4, 2, 50.0),
        ("2025-03", 2, 1, 50.0),
    ]
    # and each month is what logo_churn gives for that month alone
    for point in trend.points:
        assert point.churn == logo_churn(KpiFilter(start=point.start, end=point.end))


def test_churn_trend_clips_months_to_the_period_and_honours_the_slice():
    # given owner A's customer cancels on 10 February, owner B's on 20 February
    ana, bruno = UserFactory(), UserFactory()
    contract(owner=ana, cancelled=date(2025, 2, 10))
    contract(owner=bruno, cancelled=date(2025, 2, 20))
    period = KpiFilter(start=date(2025, 1, 20), end=date(2025, 2, 15), owner_id=bruno.pk)

    # when
    points = churn_trend(period).as_dict()["points"]

    # then two points, 20–31 January and 1–15 February; B's customer cancels after the 15th → 0 of 1
    assert [(p["start"], p["end"], p["active_start"], p["rate"]) for p in points] == [
        ("2025-01-20", "2025-01-31", 1, 0.0),
        ("2025-02-01", "2025-02-15", 1, 0.0),
    ]


def test_repurchase_trend_gives_each_month_in_one_query(django_assert_num_queries):
    # given a period from 15 January to 10 March 2025
    x, y, z = CustomerFactory(), CustomerFactory(), CustomerFactory()
    order(x, local(2025, 1, 20)), order(x, local(2025, 1, 25)), order(x, local(2025, 2, 5))
    order(y, local(2025, 1, 10)), order(y, local(2025, 1, 16))  # 10 Jan is before the period
    order(z, local(2025, 3, 5)), order(z, local(2025, 3, 9)), order(z, local(2025, 3, 15))  # 15 Mar is after
    period = KpiFilter(start=date(2025, 1, 15), end=date(2025, 3, 10))

    # when
    with django_assert_num_queries(1):
        trend = repurchase_trend(period)

    # then Jan (15–31): buyers x, y = 2, repeat x → 50.0; Feb: x once → 0.0; Mar (1–10): z twice → 100.0
    assert [
        (p["month"], p["start"], p["buyers"], p["repeat_buyers"], p["rate"]) for p in trend.as_dict()["points"]
    ] == [
        ("2025-01", "2025-01-15", 2, 1, 50.0),
        ("2025-02", "2025-02-01", 1, 0, 0.0),
        ("2025-03", "2025-03-01", 1, 1, 100.0),
    ]
    for point in trend.points:
        assert point.repurchase == repurchase(KpiFilter(start=point.start, end=point.end))


def test_repurchase_trend_month_without_buyers_is_none():
    # given an order in January only
    order(CustomerFactory(), local(2025, 1, 5))
    # then February has no buyer → None, not 0
    points = repurchase_trend(KpiFilter(start=date(2025, 1, 1), end=date(2025, 2, 28))).as_dict()["points"]
    assert [p["rate"] for p in points] == [0.0, None]


# --- cohort retention -------------------------------------------------------------------------

JAN_FEB = KpiFilter(start=date(2025, 1, 1), end=date(2025, 2, 28))


def test_cohort_retention_by_first_purchase(django_assert_num_queries):
    # given
    old = CustomerFactory()  # first bought in December 2024: in no cohort of the period
    order(old, local(2024, 12, 10)), order(old, local(2025, 1, 10))
    j1, j2, j3, j4, f1, f2 = (CustomerFactory() for _ in range(6))
    order(j1, local(2025, 1, 5)), order(j1, local(2025, 2, 10))  # January; buys again in February
    order(j2, local(2025, 1, 20)), order(j2, local(2025, 3, 3))  # January; back in March
    order(j3, local(2024, 12, 1), Order.Status.REFUNDED), order(j3, local(2025, 1, 31))  # refund is no purchase
    order(j4, local(2025, 1, 3), Order.Status.CANCELLED)  # never bought
    order(f1, local(2025, 2, 2)), order(f1, local(2025, 2, 20)), order(f1, local(2025, 4, 1))  # Feb; April
    order(f2, local(2025, 2, 28, 23, 30)), order(f2, local(2025, 3, 1, 0, 30))  # Feb (local time); March

    # when
    with django_assert_num_queries(1):
        result = cohort_retention(JAN_FEB, months=2)

    # then January: j1, j2, j3 = 3; month 0 100 %, month 1 (Feb) j1 = 33.3 %, month 2 (Mar) j2 = 33.3 %
    #      February: f1, f2 = 2; month 0 100 %, month 1 (Mar) f2 = 50.0 %, month 2 (Apr) f1 = 50.0 %
    assert result.as_dict() == {
        "basis": "purchase",
        "months": 2,
        "cohorts": [
            {"cohort": "2025-01", "size": 3, "cells": [100.0, 33.3, 33.3]},
            {"cohort": "2025-02", "size": 2, "cells": [100.0, 50.0, 50.0]},
        ],
    }


def test_cohort_retention_by_contract_start(django_assert_num_queries):
    # given
    old = contract(started=date(2024, 11, 1))  # first contract before the period: no cohort
    contract(old.customer, started=date(2025, 1, 10))
    contract(started=date(2025, 1, 10))  # K1: renews → in force at the close of Jan, Feb, Mar
    contract(started=date(2025, 1, 15), cancelled=date(2025, 2, 10))  # K2: in force only at the close of Jan
    contract(started=date(2025, 1, 20), cancelled=date(2025, 3, 31))  # K3: stops on 31 Mar → Jan, Feb
    contract(started=date(2025, 2, 5), ends=date(2025, 3, 31), auto_renew=False)  # F: stops on 31 Mar → Feb

    # when
    with django_assert_num_queries(1):
        result = cohort_retention(JAN_FEB, basis="contract", months=2)

    # then January: K1, K2, K3 = 3; close of Jan 3/3 = 100.0, Feb K1, K3 = 66.7, Mar K1 = 33.3
    #      February: F = 1; close of Feb 100.0, Mar 0.0, Apr 0.0
    assert [c.as_dict() for c in result.cohorts] == [
        {"cohort": "2025-01", "size": 3, "cells": [100.0, 66.7, 33.3]},
        {"cohort": "2025-02", "size": 1, "cells": [100.0, 0.0, 0.0]},
    ]


def test_cohort_retention_leaves_months_not_yet_begun_and_empty_cohorts_empty():
    # given a customer who first bought today; nobody started last month
    today = timezone.localdate()
    this_month = today.replace(day=1)
    last_month = (this_month - timedelta(days=1)).replace(day=1)
    order(CustomerFactory(), timezone.now())
    period = KpiFilter(start=last_month, end=today)

    # when
    cohorts = cohort_retention(period, months=2).as_dict()["cohorts"]

    # then last month's cohort is empty (None, never 0); this month's has no following month yet
    assert cohorts == [
        {"cohort": last_month.strftime("%Y-%m"), "size": 0, "cells": [None, None, None]},
        {"cohort": this_month.strftime("%Y-%m"), "size": 1, "cells": [100.0, None, None]},
    ]


def test_cohort_retention_honours_the_slice():
    # given two January buyers, one of owner A who buys again in February
    ana = UserFactory()
    mine, other = CustomerFactory(owner=ana), CustomerFactory()
    order(mine, local(2025, 1, 5)), order(mine, local(2025, 2, 5))
    order(other, local(2025, 1, 6))
    january = KpiFilter(start=date(2025, 1, 1), end=date(2025, 1, 31))

    # then owner A: 1 customer, 100 % in February; the book: 2, 50.0 %
    mine_only = cohort_retention(KpiFilter(start=january.start, end=january.end, owner_id=ana.pk), months=1)
    assert mine_only.as_dict()["cohorts"] == [{"cohort": "2025-01", "size": 1, "cells": [100.0, 100.0]}]
    assert cohort_retention(january, months=1).as_dict()["cohorts"][0]["cells"] == [100.0, 50.0]


def test_cohort_retention_refuses_an_unknown_basis():
    with pytest.raises(ValueError):
        cohort_retention(JAN_FEB, basis="visits")  # type: ignore[arg-type]
