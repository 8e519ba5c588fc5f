"""Reputation reviews: the services (rules, roles, upsert) and the reputation KPI
(docs/metrics.md "Reputation") on hand-built reviews whose figures were computed by hand."""

import io
from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from customers.models import Customer
from metrics import reviews
from metrics.filters import KpiFilter
from metrics.models import Review
from metrics.queries.reputation import reputation
from tests.factories import CustomerFactory, SegmentFactory, UserFactory

pytestmark = pytest.mark.django_db

MARCH = KpiFilter(start=date(2025, 3, 1), end=date(2025, 3, 31))


def at(day: date, hour: int = 12, minute: int = 0) -> datetime:
    return timezone.make_aware(datetime(day.year, day.month, day.day, hour, minute))


def review(source: str, rating: str, when: datetime, customer: Customer | None = None, **kw) -> Review:
    return reviews.review_create(
        actor=None, source=source, rating=Decimal(rating), reviewed_at=when, customer=customer, **kw
    )


# --- services ----------------------------------------------------------------------------------


def test_agent_records_a_review_and_becomes_its_author(agent):
    created = reviews.review_create(
        actor=agent,
        source=Review.Source.GOOGLE,
        rating=Decimal("4.5"),
        reviewed_at=at(date(2025, 3, 2)),
        author="  Ana  ",
        url="https://maps.google.com/?cid=1",
        external_id="  g-1 ",
    )

    stored = Review.objects.get()
    assert stored.pk == created.pk
    assert (stored.rating, stored.author, stored.external_id, stored.created_by) == (
        Decimal("4.5"),
        "Ana",
        "g-1",
        agent,
    )


def test_a_reclame_aqui_grade_is_halved_and_rounded_half_up():
    # 8/10 → 4.0; 7/10 → 3.5; 7.5/10 → 3.75 → 3.8 (halves up); 0 → 0.0; 10 → 5.0
    for grade, stars in (("8", "4.0"), ("7", "3.5"), ("7.5", "3.8"), ("0", "0.0"), ("10", "5.0")):
        assert reviews.rating_from_grade_10(Decimal(grade)) == Decimal(stars)

    created = reviews.review_create(
        actor=None, source=Review.Source.RECLAME_AQUI, grade_10=Decimal("9"), reviewed_at=at(date(2025, 3, 2))
    )

    assert created.rating == Decimal("4.5")


def test_a_grade_and_a_rating_that_disagree_are_refused():
    with pytest.raises(ValidationError) as exc:
        reviews.review_create(actor=None, source="reclame_aqui", rating=Decimal("5"), grade_10=Decimal("8"))

    assert list(exc.value.message_dict) == ["grade_10"]
    assert not Review.objects.exists()


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"rating": Decimal("5.5")}, "rating"),
        ({"rating": Decimal("-1")}, "rating"),
        ({"rating": Decimal("4.25")}, "rating"),
        ({"rating": None}, "rating"),
        ({"grade_10": Decimal("11")}, "grade_10"),
        ({"source": "facebook"}, "source"),
        ({"reviewed_at": timezone.now() + timedelta(days=1)}, "reviewed_at"),
        ({"url": "not a link"}, "url"),
        ({"author": "x" * 201}, "author"),
    ],
)
def test_invalid_review_fields_are_reported_per_field(fields, field):
    values = {"source": "google", "rating": Decimal("4"), "reviewed_at": at(date(2025, 3, 2)), **fields}

    with pytest.raises(ValidationError) as exc:
        reviews.review_create(actor=None, **values)

    assert list(exc.value.message_dict) == [field]
    assert not Review.objects.exists()


def test_a_second_review_with_the_same_external_id_is_a_field_error():
    review("google", "4", at(date(2025, 3, 2)), external_id="g-1")

    with pytest.raises(ValidationError) as exc:
        review("google", "5", at(date(2025, 3, 3)), external_id="g-1")

    assert list(exc.value.message_dict) == ["external_id"]
    assert Review.objects.count() == 1


def test_a_user_without_a_crm_role_cannot_record_a_review(no_role_user):
    with pytest.raises(PermissionDenied):
        reviews.review_create(actor=no_role_user, source="google", rating=Decimal("4"))

    assert not Review.objects.exists()


def test_only_managers_change_or_delete_reviews(agent, manager):
    stored = review("google", "4", at(date(2025, 3, 2)))

    with pytest.raises(PermissionDenied):
        reviews.review_update(actor=agent, review=stored, rating=Decimal("1"))
    with pytest.raises(PermissionDenied):
        reviews.review_delete(actor=agent, review=stored)
    stored.refresh_from_db()
    assert stored.rating == Decimal("4.0")

    reviews.review_update(actor=manager, review=stored, grade_10=Decimal("6"), title=" Ok ")
    stored.refresh_from_db()
    assert (stored.rating, stored.title) == (Decimal("3.0"), "Ok")
    reviews.review_delete(actor=manager, review=stored)
    assert not Review.objects.exists()


def test_sync_by_external_id_creates_then_leaves_an_identical_replay_unchanged(agent, manager):
    body = {"source": "google", "rating": Decimal("4"), "reviewed_at": at(date(2025, 3, 2)), "author": "Ana"}

    first, outcome1 = reviews.review_sync_by_external_id(actor=agent, external_id="g-9", **body)
    # the agent may replay the same call: nothing changes, so nothing needs a manager
    again, outcome2 = reviews.review_sync_by_external_id(actor=agent, external_id="g-9", **body)

    assert (outcome1, outcome2) == ("created", "unchanged")
    assert first.pk == again.pk and Review.objects.count() == 1


def test_sync_by_external_id_changes_need_a_manager(agent, manager):
    review("google", "4", at(date(2025, 3, 2)), external_id="g-9")

    with pytest.raises(PermissionDenied):
        reviews.review_sync_by_external_id(actor=agent, external_id="g-9", rating=Decimal("2"))
    changed, outcome = reviews.review_sync_by_external_id(actor=manager, external_id="g-9", rating=Decimal("2"))

    assert outcome == "updated" and changed.rating == Decimal("2")
    assert Review.objects.get().rating == Decimal("2.0")


# --- the reputation KPI ------------------------------------------------------------------------


def test_reputation_counts_and_averages_per_source_in_the_period():
    # March 2025 (São Paulo days). In the period:
    #   Google 5 (1 March 00:00, first instant), 4, 3 (31 March 23:59, last minute) → 3 reviews, 12 ÷ 3 = 4.00
    #   Reclame Aqui 8/10 → 4.0 and 7/10 → 3.5 → 2 reviews, 7.5 ÷ 2 = 3.75
    #   own store page 4.5 → 1 review, 4.50
    #   overall 6 reviews, 5 + 4 + 3 + 4 + 3.5 + 4.5 = 24 ÷ 6 = 4.00
    # Outside: Google 1 on 28 Feb 23:59 and Google 2 on 1 April 00:00 (the end is exclusive).
    review("google", "5", at(date(2025, 3, 1), 0, 0))
    review("google", "4", at(date(2025, 3, 15)))
    review("google", "3", at(date(2025, 3, 31), 23, 59))
    reviews.review_create(actor=None, source="reclame_aqui", grade_10=Decimal("8"), reviewed_at=at(date(2025, 3, 5)))
    reviews.review_create(actor=None, source="reclame_aqui", grade_10=Decimal("7"), reviewed_at=at(date(2025, 3, 6)))
    review("store", "4.5", at(date(2025, 3, 7)))
    review("google", "1", at(date(2025, 2, 28), 23, 59))
    review("google", "2", at(date(2025, 4, 1), 0, 0))

    result = reputation(MARCH)

    assert (result.source("google").count, result.source("google").average) == (3, Decimal("4.00"))
    assert (result.source("reclame_aqui").count, result.source("reclame_aqui").average) == (2, Decimal("3.75"))
    assert (result.source("store").count, result.source("store").average) == (1, Decimal("4.50"))
    assert (result.source("app_store").count, result.source("app_store").average) == (0, None)
    assert (result.overall.count, result.overall.average) == (6, Decimal("4.00"))
    assert result.unlinked_excluded is None  # no slice: unlinked reviews count like any other
    # the comparison period of a whole month is the previous month: only the Google 1 of 28 Feb
    before = reputation(MARCH.previous())
    assert (before.overall.count, before.overall.average) == (1, Decimal("1.00"))


def test_reputation_average_rounds_half_up_to_two_decimals():
    # 5 + 5 + 5 + 4 + 4 + 4 + 3 + 3 = 33 ÷ 8 = 4.125 → 4.13 (half up; half-even would say 4.12)
    for i, rating in enumerate(("5", "5", "5", "4", "4", "4", "3", "3")):
        review("google", rating, at(date(2025, 3, 1 + i)))

    assert reputation(MARCH).overall.average == Decimal("4.13")


def test_reputation_as_dict_has_every_source_and_the_overall_figure():
    review("google", "4", at(date(2025, 3, 2)))

    data = reputation(MARCH).as_dict()

    assert [s["source"] for s in data["sources"]] == Review.Source.values
    assert data["sources"][0] == {"source": "google", "label": "Google", "count": 1, "average": "4.00"}
    assert data["overall"]["count"] == 1 and data["overall"]["average"] == "4.00"
    assert data["unlinked_excluded"] is None


def test_reputation_under_a_slice_counts_only_reviews_of_customers_in_it(agent, other_agent):
    varejo, pme = SegmentFactory(name="Varejo"), SegmentFactory(name="PME")
    ana = CustomerFactory(segment=varejo, owner=agent)  # a person
    acme = CustomerFactory(segment=pme, owner=other_agent, company=True)
    review("google", "5", at(date(2025, 3, 2)), customer=ana)
    review("reclame_aqui", "3", at(date(2025, 3, 3)), customer=ana)
    review("google", "1", at(date(2025, 3, 4)), customer=acme)
    review("google", "4", at(date(2025, 3, 5)))  # unlinked
    review("store", "2", at(date(2025, 3, 6)))  # unlinked
    review("google", "5", at(date(2025, 2, 6)))  # unlinked, outside the period: never counted

    # No slice: Google 5, 1, 4 → 3 reviews, 10 ÷ 3 = 3.33; RA 3.00; store 2.00; overall 15 ÷ 5 = 3.00
    whole = reputation(MARCH)
    assert (whole.source("google").count, whole.source("google").average) == (3, Decimal("3.33"))
    assert (whole.overall.count, whole.overall.average, whole.unlinked_excluded) == (5, Decimal("3.00"), None)

    # Segment Varejo: Ana's Google 5 and RA 3 → 2 reviews, 4.00; the 2 unlinked of March are left out
    retail = reputation(KpiFilter(start=MARCH.start, end=MARCH.end, segment_id=varejo.pk))
    assert (retail.source("google").count, retail.source("google").average) == (1, Decimal("5.00"))
    assert (retail.overall.count, retail.overall.average, retail.unlinked_excluded) == (2, Decimal("4.00"), 2)

    # Companies: Acme's Google 1
    companies = reputation(KpiFilter(start=MARCH.start, end=MARCH.end, kind=Customer.Kind.COMPANY))
    assert (companies.overall.count, companies.overall.average, companies.unlinked_excluded) == (1, Decimal("1.00"), 2)

    # An owner with no customers: nothing, and no average (never 0)
    nobody = UserFactory(username="sem_clientes")
    empty = reputation(KpiFilter(start=MARCH.start, end=MARCH.end, owner_id=nobody.pk))
    assert (empty.overall.count, empty.overall.average, empty.unlinked_excluded) == (0, None, 2)


def test_reputation_is_one_query(django_assert_num_queries):
    review("google", "4", at(date(2025, 3, 2)))
    sliced = KpiFilter(start=MARCH.start, end=MARCH.end, kind=Customer.Kind.PERSON)

    with django_assert_num_queries(1):
        reputation(MARCH)
    with django_assert_num_queries(1):
        reputation(sliced)


def test_the_demo_reviews_load_once_however_often_the_command_runs():
    from django.core.management import call_command

    CustomerFactory(external_id="DEMO-C0001")
    call_command("load_reviews_demo", stdout=io.StringIO())
    first = set(Review.objects.values_list("external_id", "rating", "reviewed_at"))

    call_command("load_reviews_demo", stdout=io.StringIO())

    assert len(first) == 60
    assert set(Review.objects.values_list("external_id", "rating", "reviewed_at")) == first
    assert Review.objects.filter(customer__isnull=False).exists()
    assert Review.objects.filter(source="reclame_aqui").exists()
