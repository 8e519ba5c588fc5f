"""REST API: contacts, orders, contracts, interactions and consents (roles, filters, upserts, counts)."""

from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from customers.models import Consent, Contact, Contract, Interaction, Order
from posvenda import services as account_services
from tests.factories import (
    ConsentFactory,
    ContactFactory,
    ContractFactory,
    CustomerFactory,
    InteractionFactory,
    OrderFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db


def token_client(user) -> APIClient:
    client = APIClient(HTTP_ACCEPT_LANGUAGE="en")
    token = account_services.api_token_rotate(user=user)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


def ids(response) -> set[int]:
    assert response.status_code == 200, response.json()
    return {row["id"] for row in response.json()["results"]}


# --- contacts ----------------------------------------------------------------------------------


def test_agent_adds_edits_and_deletes_contact_of_own_customer(agent, own_customer):
    client = token_client(agent)

    created = client.post(
        "/api/v1/contacts/",
        {"customer": own_customer.pk, "name": "Carlos", "phone": "11 91234-5678", "is_primary": True},
        format="json",
    )
    assert created.status_code == 201, created.json()
    assert created.json()["phone"] == "+5511912345678"
    url = f"/api/v1/contacts/{created.json()['id']}/"

    assert client.patch(url, {"role": "Financeiro"}, format="json").json()["role"] == "Financeiro"
    assert client.delete(url).status_code == 204
    assert not Contact.objects.filter(customer=own_customer).exists()


def test_new_primary_contact_demotes_the_old_one(agent, own_customer):
    old = ContactFactory(customer=own_customer, is_primary=True)

    response = token_client(agent).post(
        "/api/v1/contacts/", {"customer": own_customer.pk, "name": "Nova", "is_primary": True}, format="json"
    )

    assert response.status_code == 201
    old.refresh_from_db()
    assert old.is_primary is False


def test_invalid_contact_phone_is_field_error(agent, own_customer):
    response = token_client(agent).post(
        "/api/v1/contacts/", {"customer": own_customer.pk, "name": "X", "phone": "123"}, format="json"
    )

    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["phone"]


def test_agent_cannot_touch_contacts_of_others_customer(agent, others_customer):
    contact = ContactFactory(customer=others_customer, name="Original")
    client = token_client(agent)

    created = client.post("/api/v1/contacts/", {"customer": others_customer.pk, "name": "Intruso"}, format="json")
    edited = client.patch(f"/api/v1/contacts/{contact.pk}/", {"name": "Mudado"}, format="json")
    deleted = client.delete(f"/api/v1/contacts/{contact.pk}/")

    assert (created.status_code, edited.status_code, deleted.status_code) == (403, 403, 403)
    contact.refresh_from_db()
    assert contact.name == "Original"
    assert not Contact.objects.filter(name="Intruso").exists()


def test_contact_cannot_move_to_another_customer(agent, own_customer, others_customer):
    contact = ContactFactory(customer=own_customer)

    response = token_client(agent).patch(
        f"/api/v1/contacts/{contact.pk}/", {"customer": others_customer.pk}, format="json"
    )

    assert response.status_code == 400
    assert "customer" in response.json()["errors"]


def test_contacts_filter_by_customer(agent, own_customer, others_customer):
    mine = ContactFactory(customer=own_customer)
    ContactFactory(customer=others_customer)

    assert ids(token_client(agent).get(f"/api/v1/contacts/?customer={own_customer.pk}")) == {mine.pk}


# --- orders ------------------------------------------------------------------------------------


def test_agent_records_order_for_own_customer(agent, own_customer):
    response = token_client(agent).post(
        "/api/v1/orders/",
        {"customer": own_customer.pk, "amount": "349.90", "external_id": "PED-1", "channel": "whatsapp"},
        format="json",
    )

    assert response.status_code == 201, response.json()
    order = Order.objects.get(external_id="PED-1")
    assert order.amount == Decimal("349.90")
    assert response.json()["amount"] == "349.90"


def test_agent_cannot_record_order_for_others_customer(agent, others_customer):
    response = token_client(agent).post(
        "/api/v1/orders/", {"customer": others_customer.pk, "amount": "10.00"}, format="json"
    )

    assert response.status_code == 403
    assert not Order.objects.exists()


def test_manager_records_order_for_any_customer(manager, others_customer):
    response = token_client(manager).post(
        "/api/v1/orders/", {"customer": others_customer.pk, "amount": "10.00"}, format="json"
    )

    assert response.status_code == 201


def test_order_filters(agent, own_customer, others_customer):
    now = timezone.localtime()
    march = OrderFactory(customer=own_customer, purchased_at=now.replace(year=2025, month=3, day=10))
    april = OrderFactory(
        customer=own_customer, purchased_at=now.replace(year=2025, month=4, day=2), status=Order.Status.REFUNDED
    )
    other = OrderFactory(customer=others_customer, purchased_at=now.replace(year=2025, month=3, day=31))
    client = token_client(agent)

    assert ids(client.get(f"/api/v1/orders/?customer={own_customer.pk}")) == {march.pk, april.pk}
    assert ids(client.get("/api/v1/orders/?status=refunded")) == {april.pk}
    in_march = "/api/v1/orders/?purchased_at_after=2025-03-01&purchased_at_before=2025-03-31"
    assert ids(client.get(in_march)) == {march.pk, other.pk}
    assert ids(client.get("/api/v1/orders/?purchased_at_after=2025-04-01")) == {april.pk}


def test_order_upsert_by_external_id_with_customer_external_id(agent, own_customer):
    client = token_client(agent)
    url = "/api/v1/orders/by-external-id/PED-77/"
    body = {
        "customer_external_id": own_customer.external_id,
        "amount": "99.00",
        "purchased_at": "2025-03-01T10:00:00-03:00",
    }

    created = client.put(url, body, format="json")
    replay = client.put(url, body, format="json")
    refunded = client.put(url, {"status": "refunded"}, format="json")

    assert (created.status_code, replay.status_code, refunded.status_code) == (201, 200, 200)
    order = Order.objects.get(external_id="PED-77")
    assert order.customer == own_customer
    assert order.status == Order.Status.REFUNDED
    assert created.json()["updated_at"] == replay.json()["updated_at"]
    assert Order.objects.count() == 1


def test_order_upsert_create_needs_customer_and_amount(agent):
    response = token_client(agent).put("/api/v1/orders/by-external-id/PED-0/", {}, format="json")

    assert response.status_code == 400
    assert set(response.json()["errors"]) == {"customer", "amount"}


def test_order_upsert_with_unknown_customer_external_id(agent):
    response = token_client(agent).put(
        "/api/v1/orders/by-external-id/PED-0/", {"customer_external_id": "nope", "amount": "1.00"}, format="json"
    )

    assert response.status_code == 400
    assert "customer_external_id" in response.json()["errors"]


# --- contracts ---------------------------------------------------------------------------------


def test_contract_create_cancel_and_filter_by_status(agent, own_customer):
    client = token_client(agent)
    active = ContractFactory(customer=own_customer)
    created = client.post(
        "/api/v1/contracts/",
        {"customer": own_customer.pk, "started_at": "2025-01-01", "ends_at": "2025-12-31", "mrr": "500.00"},
        format="json",
    )
    assert created.status_code == 201, created.json()

    cancelled = client.patch(
        f"/api/v1/contracts/{created.json()['id']}/", {"status": "cancelled", "cancel_reason": "Preço"}, format="json"
    )

    assert cancelled.status_code == 200
    assert cancelled.json()["cancelled_at"] == timezone.localdate().isoformat()
    assert ids(client.get("/api/v1/contracts/?status=cancelled")) == {created.json()["id"]}
    assert ids(client.get("/api/v1/contracts/?status=active")) == {active.pk}


def test_contract_ending_before_start_is_400(agent, own_customer):
    response = token_client(agent).post(
        "/api/v1/contracts/",
        {"customer": own_customer.pk, "started_at": "2025-06-01", "ends_at": "2025-01-01"},
        format="json",
    )

    assert response.status_code == 400
    assert response.json()["errors"]
    assert not Contract.objects.exists()


def test_contract_upsert_by_external_id(agent, own_customer):
    client = token_client(agent)
    url = "/api/v1/contracts/by-external-id/CTR-9/"

    created = client.put(url, {"customer": own_customer.pk, "started_at": "2025-01-01"}, format="json")
    replay = client.put(url, {"customer": own_customer.pk, "started_at": "2025-01-01"}, format="json")
    renewed = client.put(url, {"renewals": 1, "ends_at": "2026-12-31"}, format="json")

    assert (created.status_code, replay.status_code, renewed.status_code) == (201, 200, 200)
    contract = Contract.objects.get(external_id="CTR-9")
    assert (contract.renewals, contract.ends_at) == (1, date(2026, 12, 31))
    assert client.get(url).json()["id"] == contract.pk


def test_agent_cannot_upsert_contract_of_others_customer(agent, others_customer):
    contract = ContractFactory(customer=others_customer, external_id="CTR-X")

    response = token_client(agent).put("/api/v1/contracts/by-external-id/CTR-X/", {"renewals": 9}, format="json")

    assert response.status_code == 403
    contract.refresh_from_db()
    assert contract.renewals == 0


# --- interactions ------------------------------------------------------------------------------


def test_agent_logs_interaction_as_author(agent, own_customer):
    response = token_client(agent).post(
        "/api/v1/interactions/",
        {"customer": own_customer.pk, "kind": "whatsapp", "body": "  Cliente confirmou a entrega.  "},
        format="json",
    )

    assert response.status_code == 201, response.json()
    assert response.json()["author"]["id"] == agent.pk
    assert Interaction.objects.get().body == "Cliente confirmou a entrega."


def test_agent_cannot_log_interaction_on_others_customer(agent, others_customer):
    response = token_client(agent).post(
        "/api/v1/interactions/", {"customer": others_customer.pk, "body": "Oi"}, format="json"
    )

    assert response.status_code == 403
    assert not Interaction.objects.exists()


def test_interaction_edit_keeps_author_and_delete(agent, manager, own_customer):
    interaction = InteractionFactory(customer=own_customer, author=manager)
    client = token_client(agent)
    url = f"/api/v1/interactions/{interaction.pk}/"

    edited = client.patch(url, {"subject": "Corrigido"}, format="json")

    assert edited.status_code == 200
    assert edited.json()["author"]["id"] == manager.pk
    assert client.delete(url).status_code == 204
    assert not Interaction.objects.exists()


def test_interactions_filter_by_customer_and_kind(agent, own_customer, others_customer):
    call = InteractionFactory(customer=own_customer, kind=Interaction.Kind.CALL)
    InteractionFactory(customer=own_customer, kind=Interaction.Kind.NOTE)
    InteractionFactory(customer=others_customer, kind=Interaction.Kind.CALL)

    response = token_client(agent).get(f"/api/v1/interactions/?customer={own_customer.pk}&kind=call")

    assert ids(response) == {call.pk}


# --- consents ----------------------------------------------------------------------------------


def test_consent_append_and_list(agent, own_customer):
    client = token_client(agent)
    body = {"customer": own_customer.pk, "channel": "whatsapp", "purpose": "marketing", "granted": True}

    granted = client.post("/api/v1/consents/", body, format="json")
    revoked = client.post("/api/v1/consents/", {**body, "granted": False}, format="json")

    assert (granted.status_code, revoked.status_code) == (201, 201)
    assert revoked.json()["source"] == "api"
    assert revoked.json()["recorded_by"]["id"] == agent.pk
    listed = client.get(f"/api/v1/consents/?customer={own_customer.pk}&channel=whatsapp").json()["results"]
    assert [row["granted"] for row in listed] == [False, True]


@pytest.mark.parametrize("method", ["put", "patch", "delete"])
def test_consents_cannot_be_changed_or_deleted(manager, method):
    consent = ConsentFactory()

    response = getattr(token_client(manager), method)(f"/api/v1/consents/{consent.pk}/", {}, format="json")

    assert response.status_code == 405
    consent.refresh_from_db()
    assert consent.granted is True


def test_agent_cannot_record_consent_for_others_customer(agent, others_customer):
    response = token_client(agent).post(
        "/api/v1/consents/",
        {"customer": others_customer.pk, "channel": "email", "purpose": "surveys", "granted": False},
        format="json",
    )

    assert response.status_code == 403
    assert not Consent.objects.exists()


def test_consent_with_unknown_channel_is_400(agent, own_customer):
    response = token_client(agent).post(
        "/api/v1/consents/",
        {"customer": own_customer.pk, "channel": "fax", "purpose": "surveys", "granted": True},
        format="json",
    )

    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["channel"]


# --- query counts: a list costs the same for 1 and 100 rows -------------------------------------


def _make_rows(kind: str, rows: int) -> None:
    customer = CustomerFactory(company=True)
    author = UserFactory(username="autor")
    base = timezone.make_aware(datetime(2025, 1, 1, 12))
    for n in range(rows):
        if kind == "contacts":
            ContactFactory(customer=customer)
        elif kind == "orders":
            OrderFactory(customer=customer, purchased_at=base + timedelta(hours=n))
        elif kind == "contracts":
            ContractFactory(customer=customer)
        elif kind == "interactions":
            InteractionFactory(customer=customer, author=author)
        elif kind == "consents":
            ConsentFactory(customer=customer, recorded_by=author)


@pytest.mark.parametrize("rows", [1, 100])
@pytest.mark.parametrize("kind", ["contacts", "orders", "contracts", "interactions", "consents"])
def test_record_list_query_count_does_not_grow(django_assert_num_queries, kind, rows):
    _make_rows(kind, rows)
    client = token_client(UserFactory(role="cs_agent"))

    # token + user, the user's groups, the page (authors joined in)
    with django_assert_num_queries(3):
        response = client.get(f"/api/v1/{kind}/?page_size=200")

    assert len(response.json()["results"]) == rows
