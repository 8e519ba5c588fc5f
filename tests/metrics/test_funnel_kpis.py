"""Funnel KPIs (metrics/queries/funnel.py) on a hand-built stage history; each expected figure is
worked out in the comment above it. Definitions: docs/metrics.md "Funnel"."""

from datetime import date, datetime

import pytest
from django.db import connection
from django.utils import timezone

from customers.models import Customer
from funnel.models import StageChange
from metrics.filters import KpiFilter
from metrics.queries import funnel as funnel_queries
from metrics.queries.funnel import funnel
from tests.factories import CustomerFactory, UserFactory

pytestmark = pytest.mark.django_db

MARCH = KpiFilter(start=date(2025, 3, 1), end=date(2025, 3, 31))
Stage = Customer.Stage
DAY = 86400


def local(m: int, d: int, y: int = 2025, hh: int = 12) -> datetime:
    return timezone.make_aware(datetime(y, m, d, hh))


def history(*moves: tuple[str, datetime], **customer_fields) -> Customer:
    """A customer whose stage history is ``moves`` (stage entered, when), the first from nowhere."""
    customer = CustomerFactory(stage=moves[-1][0], **customer_fields)
    before = ""
    for stage, at in moves:
        StageChange.objects.create(customer=customer, from_stage=before, to_stage=stage, changed_at=at)
        before = stage
    return customer


def build_march_book(**customer_fields) -> None:
    # A: adoption 2 Mar → retention 12 Mar → expansion 20 Mar
    history(
        (Stage.ADOPTION, local(3, 2)),
        (Stage.RETENTION, local(3, 12)),
        (Stage.EXPANSION, local(3, 20)),
        **customer_fields,
    )
    # B: adoption 5 Mar → churned 25 Mar
    history((Stage.ADOPTION, local(3, 5)), (Stage.CHURNED, local(3, 25)), **customer_fields)
    # C: adoption 1 Feb → retention 3 Mar (stays)
    history((Stage.ADOPTION, local(2, 1)), (Stage.RETENTION, local(3, 3)), **customer_fields)
    # D: adoption 10 Mar → expansion 2 Apr (after the period)
    history((Stage.ADOPTION, local(3, 10)), (Stage.EXPANSION, local(4, 2)), **customer_fields)
    # E: adoption 1 Jan → retention 1 Feb → evangelization 15 Mar (skips expansion)
    history(
        (Stage.ADOPTION, local(1, 1)),
        (Stage.RETENTION, local(2, 1)),
        (Stage.EVANGELIZATION, local(3, 15)),
        **customer_fields,
    )


def test_funnel_stages_conversion_and_median_time(django_assert_num_queries):
    # given the March book above
    build_march_book()

    # when
    with django_assert_num_queries(3):
        rows = {row["stage"]: row for row in funnel(MARCH).as_dict()["stages"]}

    # then customers now: retention C; expansion A, D; evangelization E; churned B
    assert [rows[s]["customers"] for s in Stage.values] == [0, 1, 2, 1, 1]
    # entered adoption in March: A, B, D = 3; moved on to a later stage by 31 Mar: A → 33.3 %; churned: B
    assert (rows["adoption"]["entered"], rows["adoption"]["advanced"], rows["adoption"]["churned"]) == (3, 1, 1)
    assert rows["adoption"]["conversion"] == 33.3
    # entered retention: A (12 Mar), C (3 Mar) = 2; on to expansion: A → 50.0 %
    assert (rows["retention"]["entered"], rows["retention"]["advanced"], rows["retention"]["conversion"]) == (
        2,
        1,
        50.0,
    )
    # entered expansion: A = 1 (D only in April); nobody moved on → 0.0 %
    assert (rows["expansion"]["entered"], rows["expansion"]["advanced"], rows["expansion"]["conversion"]) == (1, 0, 0.0)
    # evangelization: E entered; it is the last stage → no conversion; churned: B entered, no conversion
    assert (rows["evangelization"]["entered"], rows["evangelization"]["conversion"]) == (1, None)
    assert (rows["churned"]["entered"], rows["churned"]["advanced"], rows["churned"]["conversion"]) == (1, None, None)
    # stays ended in March — adoption: A 10 d (2→12 Mar), B 20 d (5→25 Mar), C 30 d (1 Feb→3 Mar) → median 20 d;
    # retention: A 8 d (12→20 Mar), E 42 d (1 Feb→15 Mar) → median 25 d; the others: none
    assert (rows["adoption"]["stays"], rows["adoption"]["median_seconds"], rows["adoption"]["median_days"]) == (
        3,
        20 * DAY,
        20.0,
    )
    assert (rows["retention"]["stays"], rows["retention"]["median_days"]) == (2, 25.0)
    assert (rows["expansion"]["stays"], rows["expansion"]["median_days"]) == (0, None)


def test_funnel_median_python_path_agrees_with_postgresql():
    # given the March book (owner A) plus a customer of owner B whose history starts with a move
    # (its stay begins at its creation) and two changes at the same instant (ordered by id)
    ana, bruno = UserFactory(), UserFactory()
    build_march_book(owner=ana)
    late = history((Stage.ADOPTION, local(3, 11)), (Stage.RETENTION, local(3, 11)), owner=bruno)
    StageChange.objects.filter(customer=late, from_stage="").update(from_stage=Stage.ADOPTION, to_stage=Stage.ADOPTION)
    Customer.objects.filter(pk=late.pk).update(created_at=local(3, 1))

    def both(f: KpiFilter) -> tuple[dict, dict]:
        python = funnel_queries._medians_python(funnel_queries._ended_stays(f))
        if connection.vendor != "postgresql":  # the suite's database; SQLite has only the Python path
            return python, python
        return python, funnel_queries._medians_postgresql(f)

    # then both paths give, for owner A: adoption 3 stays, median 20 days; retention 2, median 25 days
    mine = KpiFilter(start=MARCH.start, end=MARCH.end, owner_id=ana.pk)
    assert both(mine) == ({Stage.ADOPTION: (3, 20 * DAY), Stage.RETENTION: (2, 25 * DAY)},) * 2
    # for owner B: "adoption → adoption" 11 Mar (10 days after creation), then → retention at the
    # same instant (0 s after it); median of 10 days and 0 s = 5 days
    theirs = KpiFilter(start=MARCH.start, end=MARCH.end, owner_id=bruno.pk)
    assert both(theirs) == ({Stage.ADOPTION: (2, 5 * DAY)},) * 2
    # and for the whole book: adoption 10, 20, 30, 10 days and 0 s → 10 days; retention as for A
    assert both(MARCH) == ({Stage.ADOPTION: (5, 10 * DAY), Stage.RETENTION: (2, 25 * DAY)},) * 2


def test_funnel_counts_a_customer_once_per_stage_and_moves_after_the_period_do_not_convert():
    # given a customer who enters adoption twice in March (sent back by hand) and moves on only in April
    history(
        (Stage.ADOPTION, local(3, 2)),
        (Stage.RETENTION, local(3, 5)),
        (Stage.ADOPTION, local(3, 9)),
        (Stage.RETENTION, local(4, 1, hh=0)),
    )

    # when
    rows = {row["stage"]: row for row in funnel(MARCH).as_dict()["stages"]}

    # then adoption: entered once (first entry 2 Mar), advanced (retention 5 Mar is after it) → 100.0 %
    assert (rows["adoption"]["entered"], rows["adoption"]["advanced"], rows["adoption"]["conversion"]) == (1, 1, 100.0)
    # retention: entered 5 Mar; the move back to adoption is not forward → 0.0 %
    assert (rows["retention"]["entered"], rows["retention"]["conversion"]) == (1, 0.0)
    # adoption stays ended in March: 2→5 Mar (3 d); 9 Mar → 1 Apr ends after it: not counted
    assert (rows["adoption"]["stays"], rows["adoption"]["median_days"]) == (1, 3.0)


def test_funnel_stay_begins_at_creation_without_earlier_history():
    # given a customer created 1 March 12:00 whose history starts with a move on 11 March 12:00
    customer = CustomerFactory(stage=Stage.RETENTION)
    Customer.objects.filter(pk=customer.pk).update(created_at=local(3, 1))
    StageChange.objects.create(
        customer=customer, from_stage=Stage.ADOPTION, to_stage=Stage.RETENTION, changed_at=local(3, 11)
    )

    # then the adoption stay lasted 10 days
    rows = {row["stage"]: row for row in funnel(MARCH).as_dict()["stages"]}
    assert (rows["adoption"]["stays"], rows["adoption"]["median_seconds"]) == (1, 10 * DAY)


def test_funnel_honours_the_slice():
    # given the March book for owner A, and one other customer of owner B entering adoption in March
    ana, bruno = UserFactory(), UserFactory()
    build_march_book(owner=ana)
    history((Stage.ADOPTION, local(3, 4)), owner=bruno, company=True)

    # when
    mine = {
        r["stage"]: r for r in funnel(KpiFilter(start=MARCH.start, end=MARCH.end, owner_id=ana.pk)).as_dict()["stages"]
    }
    theirs = {
        r["stage"]: r
        for r in funnel(KpiFilter(start=MARCH.start, end=MARCH.end, owner_id=bruno.pk)).as_dict()["stages"]
    }
    companies = funnel(KpiFilter(start=MARCH.start, end=MARCH.end, kind=Customer.Kind.COMPANY)).as_dict()["stages"]

    # then A's adoption is as in the whole-book test (3 entered, 33.3 %); B's: 1 entered, 0.0 %, 1 customer now
    assert (mine["adoption"]["entered"], mine["adoption"]["conversion"], mine["adoption"]["customers"]) == (3, 33.3, 0)
    assert (theirs["adoption"]["entered"], theirs["adoption"]["conversion"], theirs["adoption"]["customers"]) == (
        1,
        0.0,
        1,
    )
    assert theirs["adoption"]["median_days"] is None
    # companies: only B's customer
    assert [r["customers"] for r in companies] == [1, 0, 0, 0, 0]


def test_funnel_without_history_is_none_not_zero():
    # given customers but no stage change in March
    history((Stage.ADOPTION, local(1, 5)))

    # when
    rows = funnel(MARCH).as_dict()["stages"]

    # then nobody entered: conversions and medians are None, counts 0; the current stage is still shown
    assert [(r["entered"], r["conversion"], r["median_days"]) for r in rows] == [(0, None, None)] * 5
    assert rows[0]["customers"] == 1


def test_funnel_query_count_does_not_grow_with_the_book(django_assert_num_queries):
    build_march_book()
    with django_assert_num_queries(3):
        funnel(MARCH)
    for _ in range(5):
        build_march_book()
    with django_assert_num_queries(3):
        assert funnel(MARCH).stages[0].entered == 18
