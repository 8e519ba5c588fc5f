"""Review pages (/metrics/reviews/): list with filters, sorting, pages, the period's reputation and
CSV export; add/edit/delete forms with per-field errors; the CSV upload's per-row report; roles."""

import csv
import io
from datetime import date, datetime
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from metrics import reviews
from metrics.models import Review
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db

LIST = "/metrics/reviews/"


def at(day: date, hour: int = 12) -> datetime:
    return timezone.make_aware(datetime(day.year, day.month, day.day, hour))


def stored(source: str = "google", rating: str = "4", day: date = date(2025, 3, 2), **kw) -> Review:
    return reviews.review_create(actor=None, source=source, rating=Decimal(rating), reviewed_at=at(day), **kw)


@pytest.fixture
def en(client):
    client.cookies["django_language"] = "en"
    return client


def login(client, user):
    client.force_login(user)
    return client


def test_anonymous_users_go_to_login_and_role_less_users_are_refused(client, no_role_user):
    assert client.get(LIST).status_code == 302
    login(client, no_role_user)
    for url in (LIST, f"{LIST}new/", f"{LIST}import/", f"{LIST}export.csv"):
        assert client.get(url).status_code == 403, url


def test_the_list_shows_reviews_and_the_periods_reputation(en, agent):
    # March 2025: Google 5 and 4 → 4.50; Reclame Aqui 8/10 → 4.0; overall (5 + 4 + 4) ÷ 3 = 4.33
    customer = CustomerFactory(name="Maria da Silva")
    stored("google", "5", date(2025, 3, 2), title="Excelente", customer=customer)
    stored("google", "4", date(2025, 3, 3))
    reviews.review_create(actor=None, source="reclame_aqui", grade_10=Decimal("8"), reviewed_at=at(date(2025, 3, 4)))

    html = login(en, agent).get(f"{LIST}?period=custom&start=2025-03-01&end=2025-03-31").content.decode()

    assert "Excelente" in html and "Maria da Silva" in html
    assert "3 reviews" in html
    assert '<td>Google</td><td class="num">2</td>' in html and "4.50" in html
    assert '<td>Reclame Aqui</td><td class="num">1</td>' in html and "4.00" in html
    assert "4.33" in html
    # agents do not get edit or delete links
    assert "/edit/" not in html and "/delete/" not in html


def test_managers_get_edit_and_delete_links(en, manager):
    review = stored()

    html = login(en, manager).get(LIST).content.decode()

    assert f"{LIST}{review.pk}/edit/" in html and f"{LIST}{review.pk}/delete/" in html


def test_the_list_filters_by_source_and_period_and_sorts_by_rating(en, agent):
    low = stored("google", "2", date(2025, 3, 2), title="Baixa")
    high = stored("google", "5", date(2025, 3, 3), title="Alta")
    stored("store", "3", date(2025, 3, 4), title="Loja")
    stored("google", "4", date(2025, 4, 5), title="Abril")
    login(en, agent)

    response = en.get(f"{LIST}?source=google&period=custom&start=2025-03-01&end=2025-03-31&sort=-rating")

    assert [r.pk for r in response.context["reviews"]] == [high.pk, low.pk]
    html = response.content.decode()
    assert "Loja" not in html and "Abril" not in html


def test_a_bad_custom_period_is_explained_on_the_page(en, agent):
    response = login(en, agent).get(f"{LIST}?period=custom&start=2025-03-31&end=2025-03-01")

    assert response.status_code == 200
    assert "The end is before the start." in response.content.decode()


def test_the_list_pages_by_fifty(agent, client):
    for i in range(51):
        stored(rating="4", day=date(2025, 1, 1 + i % 28), external_id=f"g-{i}")
    login(client, agent)

    first, second = client.get(LIST), client.get(f"{LIST}?page=2")

    assert (len(first.context["reviews"]), len(second.context["reviews"])) == (50, 1)


@pytest.mark.parametrize("rows", [1, 20])
def test_the_list_query_count_does_not_grow_with_the_rows(client, agent, django_assert_num_queries, rows):
    for i in range(rows):
        stored(rating="4", customer=CustomerFactory(), external_id=f"g-{i}")
    login(client, agent)

    # session, user, groups; count, page (with customers); first review date; reputation
    with django_assert_num_queries(7):
        response = client.get(LIST)

    assert len(response.context["reviews"]) == rows


def test_the_export_has_the_import_columns_and_imports_back_unchanged(agent, manager, client):
    customer = CustomerFactory(external_id="C-9", email="c9@example.com")
    stored("reclame_aqui", "3.5", date(2025, 3, 2), text="=cmd()", customer=customer, external_id="ra-1")
    stored("google", "5", date(2025, 3, 3), external_id="g-1")
    login(client, agent)

    response = client.get(f"{LIST}export.csv?source=reclame_aqui")

    body = b"".join(response.streaming_content).decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(body)))
    assert rows[0] == list(reviews.EXPORT_COLUMNS)
    assert rows[1:] == [
        ["reclame_aqui", "3.5", "2025-03-02T12:00:00-03:00", "", "", "'=cmd()", "", "ra-1", "C-9", "c9@example.com"]
    ]
    # the formula guard's quote is the only difference: the rest imports back unchanged
    rows[1][5] = "=cmd()"
    out = io.StringIO()
    csv.writer(out).writerows(rows)
    result = reviews.review_import(actor=manager, fh=io.BytesIO(out.getvalue().encode()))
    assert (result.created, result.updated, result.unchanged, result.errors) == (0, 0, 1, [])


def test_an_agent_records_a_review_with_the_form(en, agent):
    customer = CustomerFactory(external_id="C-1")

    response = login(en, agent).post(
        f"{LIST}new/",
        {
            "source": "reclame_aqui",
            "rating": "",
            "grade_10": "9",
            "reviewed_at": "2025-03-02T10:30",
            "customer": "C-1",
            "author": "Ana",
            "title": "Bom",
            "text": "",
            "url": "",
            "external_id": "",
        },
    )

    assert response.status_code == 302
    review = Review.objects.get()
    # 9 of 10 → 4.5 stars; the local time typed is São Paulo time
    assert (review.rating, review.customer, review.created_by, review.external_id) == (
        Decimal("4.5"),
        customer,
        agent,
        None,
    )
    assert review.reviewed_at == at(date(2025, 3, 2), 10).replace(minute=30)


def test_the_form_shows_an_error_beside_each_bad_field(en, agent):
    response = login(en, agent).post(
        f"{LIST}new/",
        {"source": "google", "rating": "", "grade_10": "", "reviewed_at": "2099-01-01T10:00", "customer": "nobody"},
    )

    assert response.status_code == 200
    form = response.context["form"]
    assert form.errors["rating"] == ["Give a rating from 0 to 5 stars, or a 0–10 grade."]
    assert form.errors["customer"] == ["No customer has this external ID or e-mail."]
    html = response.content.decode()
    assert "Please fix the fields marked below." in html
    assert not Review.objects.exists()


def test_the_services_rules_reach_the_form_fields(en, agent):
    response = login(en, agent).post(
        f"{LIST}new/", {"source": "google", "rating": "4", "reviewed_at": "2099-01-01T10:00"}
    )

    assert response.context["form"].errors["reviewed_at"] == ["A review cannot be dated in the future."]
    assert not Review.objects.exists()


def test_agents_cannot_open_edit_or_delete(en, agent):
    review = stored()
    login(en, agent)

    assert en.get(f"{LIST}{review.pk}/edit/").status_code == 403
    assert en.post(f"{LIST}{review.pk}/edit/", {"source": "google", "rating": "1"}).status_code == 403
    assert en.get(f"{LIST}{review.pk}/delete/").status_code == 403
    assert en.post(f"{LIST}{review.pk}/delete/").status_code == 403
    review.refresh_from_db()
    assert review.rating == Decimal("4.0")


def test_a_manager_edits_and_deletes_a_review(en, manager):
    review = stored(rating="4", title="Antes")
    login(en, manager)

    form = en.get(f"{LIST}{review.pk}/edit/").context["form"]
    assert form.initial["title"] == "Antes"
    response = en.post(
        f"{LIST}{review.pk}/edit/",
        {"source": "store", "rating": "2.5", "reviewed_at": "2025-03-02T12:00", "title": "Depois"},
    )
    assert response.status_code == 302
    review.refresh_from_db()
    assert (review.source, review.rating, review.title) == ("store", Decimal("2.5"), "Depois")

    assert en.post(f"{LIST}{review.pk}/delete/").status_code == 302
    assert not Review.objects.exists()


def test_the_upload_page_shows_counts_and_each_bad_row(en, agent):
    content = (
        "external_id;source;rating;reviewed_at\n"
        "u-1;google;5;01/03/2025\n"
        "u-2;google;9;01/03/2025\n"  # line 3: above 5
        "u-3;marte;4;01/03/2025\n"  # line 4: unknown source
    ).encode("cp1252")
    login(en, agent)

    response = en.post(f"{LIST}import/", {"file": SimpleUploadedFile("avaliacoes.csv", content)})

    assert response.status_code == 200
    result = response.context["result"]
    assert (result.created, result.error_count) == (1, 2)
    html = response.content.decode()
    assert "Result for avaliacoes.csv" in html
    assert '<td class="num">3</td><td>rating</td><td>Must be between 0 and 5</td>' in html
    assert '<td class="num">4</td><td>source</td><td>unknown source &#x27;marte&#x27;' in html
    assert Review.objects.get().external_id == "u-1"


def test_a_file_that_cannot_be_read_is_an_error_on_the_file_field(en, agent):
    login(en, agent)

    response = en.post(f"{LIST}import/", {"file": SimpleUploadedFile("planilha.xlsx", b"PK\x03\x04...")})

    assert response.context["result"] is None
    assert "This is a spreadsheet (Excel) file, not a CSV" in response.context["form"].errors["file"][0]
