"""REST API /api/v1/reviews/: auth, roles, CRUD, upsert by external id, filters, validation
errors as JSON, cursor pagination and a query count that does not grow with the rows."""

from datetime import date, datetime
from decimal import Decimal

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from metrics import reviews
from metrics.models import Review
from posvenda import services as account_services
from tests.factories import CustomerFactory, UserFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/reviews/"


def token_client(user) -> APIClient:
    client = APIClient(HTTP_ACCEPT_LANGUAGE="en")
    token = account_services.api_token_rotate(user=user)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


def at(day: date, hour: int = 12) -> datetime:
    return timezone.make_aware(datetime(day.year, day.month, day.day, hour))


def stored(source: str = "google", rating: str = "4", day: date = date(2025, 3, 2), **kw) -> Review:
    return reviews.review_create(actor=None, source=source, rating=Decimal(rating), reviewed_at=at(day), **kw)


def test_anonymous_and_role_less_users_are_refused(no_role_user):
    assert APIClient().get(URL).status_code == 401
    response = token_client(no_role_user).get(URL)
    assert response.status_code == 403
    assert response.json()["errors"] == {}


def test_agent_records_a_review_with_a_grade_and_a_customer_by_external_id(agent):
    customer = CustomerFactory(external_id="shop-1", name="Maria")

    response = token_client(agent).post(
        URL,
        {
            "source": "reclame_aqui",
            "grade_10": "7",
            "reviewed_at": "2025-03-10T14:00:00-03:00",
            "customer_external_id": "shop-1",
            "title": "Resolvido",
            "external_id": "ra-1",
        },
        format="json",
    )

    assert response.status_code == 201, response.json()
    body = response.json()
    # 7 of 10 → 3.5 stars
    assert (body["source"], body["source_label"], body["rating"], body["title"]) == (
        "reclame_aqui",
        "Reclame Aqui",
        "3.5",
        "Resolvido",
    )
    assert body["customer"] == {"id": customer.pk, "name": "Maria", "external_id": "shop-1"}
    assert Review.objects.get().created_by == agent


def test_validation_errors_are_json_with_a_message_per_field(agent):
    response = token_client(agent).post(
        URL,
        {"source": "facebook", "rating": "4.25", "url": "nope", "customer_external_id": "none"},
        format="json",
    )

    assert response.status_code == 400
    body = response.json()
    assert body["detail"] == "Invalid input."
    assert set(body["errors"]) == {"source", "rating", "url"}
    assert body["errors"]["rating"] == ["Ensure that there are no more than 1 decimal places."]
    assert not Review.objects.exists()


def test_a_rating_or_a_grade_is_required_and_the_service_rules_answer_as_fields(agent):
    client = token_client(agent)

    missing = client.post(URL, {"source": "google"}, format="json")
    future = client.post(URL, {"source": "google", "rating": "4", "reviewed_at": "2099-01-01T00:00:00Z"}, format="json")
    disagree = client.post(URL, {"source": "google", "rating": "5", "grade_10": "8"}, format="json")

    assert (missing.status_code, list(missing.json()["errors"])) == (400, ["rating"])
    assert future.json()["errors"] == {"reviewed_at": ["A review cannot be dated in the future."]}
    assert list(disagree.json()["errors"]) == ["grade_10"]
    assert not Review.objects.exists()


def test_agents_read_but_cannot_change_or_delete_a_review(agent):
    review = stored(rating="4")
    client = token_client(agent)
    url = f"{URL}{review.pk}/"

    assert client.get(url).json()["rating"] == "4.0"
    patched = client.patch(url, {"rating": "1"}, format="json")
    replaced = client.put(url, {"source": "google", "rating": "1"}, format="json")
    deleted = client.delete(url)

    assert (patched.status_code, replaced.status_code, deleted.status_code) == (403, 403, 403)
    assert patched.json()["detail"] == "Only a CS manager can change or delete a review."
    review.refresh_from_db()
    assert review.rating == Decimal("4.0")


def test_managers_change_replace_and_delete_a_review(manager):
    customer = CustomerFactory()
    review = stored(rating="4", title="Old", customer=customer, external_id="g-1")
    client = token_client(manager)
    url = f"{URL}{review.pk}/"

    patched = client.patch(url, {"rating": "2.5"}, format="json")
    assert (patched.status_code, patched.json()["rating"], patched.json()["title"]) == (200, "2.5", "Old")

    # PUT replaces: what is not sent is cleared (title, customer, external id)
    replaced = client.put(url, {"source": "store", "rating": "5"}, format="json")
    assert replaced.status_code == 200, replaced.json()
    assert (replaced.json()["source"], replaced.json()["title"], replaced.json()["customer"]) == ("store", "", None)
    assert replaced.json()["external_id"] is None

    assert client.delete(url).status_code == 204
    assert not Review.objects.exists()


def test_put_by_external_id_creates_then_is_idempotent(agent):
    client = token_client(agent)
    url = f"{URL}by-external-id/g-77/"
    body = {"source": "google", "rating": "4.5", "reviewed_at": "2025-03-10T14:00:00-03:00", "author": "Ana"}

    created = client.put(url, body, format="json")
    replay = client.put(url, body, format="json")

    assert (created.status_code, replay.status_code) == (201, 200)
    assert created.json() == replay.json()
    assert created.json()["external_id"] == "g-77"
    assert Review.objects.count() == 1
    assert client.get(url).json()["id"] == created.json()["id"]


def test_put_by_external_id_changes_need_a_manager_and_keep_unsent_fields(agent, manager):
    stored(rating="4", external_id="g-77", author="Ana")
    url = f"{URL}by-external-id/g-77/"

    refused = token_client(agent).put(url, {"rating": "1"}, format="json")
    changed = token_client(manager).put(url, {"grade_10": "6"}, format="json")

    assert refused.status_code == 403
    assert changed.status_code == 200
    # grade 6 of 10 → 3.0 stars; the author, not sent, stays
    assert (changed.json()["rating"], changed.json()["author"]) == ("3.0", "Ana")


def test_put_by_external_id_needs_a_source_to_create(agent):
    response = token_client(agent).put(f"{URL}by-external-id/new-1/", {"rating": "4"}, format="json")

    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["source"]
    assert not Review.objects.exists()


def test_get_by_unknown_external_id_is_404(agent):
    assert token_client(agent).get(f"{URL}by-external-id/nope/").status_code == 404


def test_the_list_filters_by_source_period_rating_and_link(agent):
    customer = CustomerFactory()
    google_march = stored("google", "5", date(2025, 3, 2), customer=customer)
    ra_march = stored("reclame_aqui", "2", date(2025, 3, 31))
    google_april = stored("google", "3", date(2025, 4, 1))
    client = token_client(agent)

    def ids(query: str) -> set[int]:
        response = client.get(f"{URL}?{query}")
        assert response.status_code == 200, response.json()
        return {row["id"] for row in response.json()["results"]}

    assert ids("source=google") == {google_march.pk, google_april.pk}
    assert ids("source=google&source=reclame_aqui") == {google_march.pk, ra_march.pk, google_april.pk}
    assert ids("reviewed_at_after=2025-03-01&reviewed_at_before=2025-03-31") == {google_march.pk, ra_march.pk}
    assert ids("rating_min=3") == {google_march.pk, google_april.pk}
    assert ids("linked=true") == {google_march.pk}
    assert ids("linked=false") == {ra_march.pk, google_april.pk}
    assert ids(f"customer={customer.pk}") == {google_march.pk}
    assert client.get(f"{URL}?source=facebook").status_code == 400


def test_the_list_pages_with_a_cursor_newest_first(agent):
    made = [stored(rating="4", day=date(2025, 3, 1 + i)) for i in range(3)]
    client = token_client(agent)

    first = client.get(f"{URL}?page_size=2").json()
    second = client.get(first["next"]).json()

    assert [r["id"] for r in first["results"]] == [made[2].pk, made[1].pk]
    assert [r["id"] for r in second["results"]] == [made[0].pk]
    assert second["next"] is None


@pytest.mark.parametrize("rows", [1, 20])
def test_the_list_query_count_does_not_grow_with_the_rows(django_assert_num_queries, rows):
    for i in range(rows):
        stored(rating="4", customer=CustomerFactory(), external_id=f"g-{i}")
    client = token_client(UserFactory(role="cs_agent"))

    # token + user, the user's groups (role check), the page of reviews with their customers
    with django_assert_num_queries(3):
        response = client.get(f"{URL}?page_size=50")

    assert len(response.json()["results"]) == rows
    assert all(r["customer"]["id"] for r in response.json()["results"])


def test_the_schema_documents_the_review_endpoints(tmp_path):
    import yaml
    from django.core.management import call_command

    target = tmp_path / "schema.yml"
    call_command("spectacular", "--validate", "--file", str(target))
    paths = yaml.safe_load(target.read_text())["paths"]

    assert {"get", "post"} <= set(paths["/api/v1/reviews/"])
    assert {"get", "put", "patch", "delete"} <= set(paths["/api/v1/reviews/{id}/"])
    upsert = paths["/api/v1/reviews/by-external-id/{external_id}/"]["put"]
    assert {"200", "201", "400", "401", "403"} <= set(upsert["responses"])
