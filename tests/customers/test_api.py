"""REST API: authentication, roles, customers, upsert by external id, errors, pagination."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from rest_framework.request import Request
from rest_framework.test import APIClient, APIRequestFactory

from customers.models import Customer
from posvenda import services as account_services
from posvenda.api.pagination import CursorPagination
from tests.factories import CustomerFactory, SegmentFactory, UserFactory, valid_cnpj, valid_cpf

pytestmark = pytest.mark.django_db

CUSTOMERS = "/api/v1/customers/"


def token_client(user) -> APIClient:
    client = APIClient(HTTP_ACCEPT_LANGUAGE="en")
    token = account_services.api_token_rotate(user=user)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


def detail(customer: Customer) -> str:
    return f"{CUSTOMERS}{customer.pk}/"


# --- authentication ----------------------------------------------------------------------------


def test_request_without_credentials_gets_401_json(own_customer):
    response = APIClient().get(CUSTOMERS)

    assert response.status_code == 401
    assert response.json()["errors"] == {}
    assert response["WWW-Authenticate"].startswith("Token")


def test_bad_token_gets_401(agent):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")

    response = client.get(CUSTOMERS)

    assert response.status_code == 401


def test_rotated_token_stops_working(agent):
    old_key = account_services.api_token_rotate(user=agent).key
    account_services.api_token_rotate(user=agent)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {old_key}")

    assert client.get(CUSTOMERS).status_code == 401


def test_good_token_lists_customers(agent, own_customer, others_customer):
    response = token_client(agent).get(CUSTOMERS)

    assert response.status_code == 200
    names = {row["name"] for row in response.json()["results"]}
    assert names == {"Maria da Silva", "João Pereira"}


def test_session_login_works_for_reads(api_client, manager, own_customer):
    api_client.force_login(manager)

    response = api_client.get(detail(own_customer))

    assert response.status_code == 200
    assert response.json()["id"] == own_customer.pk


@pytest.mark.parametrize("path", ["customers", "contacts", "orders", "contracts", "interactions", "consents"], ids=str)
def test_user_without_role_gets_403_on_every_list(no_role_user, path):
    response = token_client(no_role_user).get(f"/api/v1/{path}/")

    assert response.status_code == 403
    assert "detail" in response.json()


def test_user_without_role_cannot_create_customer(no_role_user):
    response = token_client(no_role_user).post(CUSTOMERS, {"name": "Nova"}, format="json")

    assert response.status_code == 403
    assert not Customer.objects.filter(name="Nova").exists()


# --- customer representation ------------------------------------------------------------------


def test_customer_shows_owner_segment_tags_and_document_both_ways(agent, manager):
    agent.first_name, agent.last_name = "Ana", "Souza"
    agent.save()
    customer = CustomerFactory(
        owner=agent, segment=SegmentFactory(name="Varejo"), document=valid_cpf(529982247), mrr=Decimal("149.90")
    )
    customer.tags.create(name="vip")
    customer.tags.create(name="b2c")

    data = token_client(manager).get(detail(customer)).json()

    assert data["owner"] == {"id": agent.pk, "username": "agente", "name": "Ana Souza"}
    assert data["segment"] == "Varejo"
    assert data["tags"] == ["b2c", "vip"]
    assert data["document"] == customer.document
    assert data["document_formatted"] == (
        f"{customer.document[:3]}.{customer.document[3:6]}.{customer.document[6:9]}-{customer.document[9:]}"
    )
    assert data["document_label"] == "CPF"
    assert data["mrr"] == "149.90"


def test_unknown_customer_is_404_json(agent):
    response = token_client(agent).get(f"{CUSTOMERS}999999/")

    assert response.status_code == 404
    assert response.json()["errors"] == {}


# --- creating and editing customers ------------------------------------------------------------


def test_agent_creates_customer_with_punctuated_cnpj_and_becomes_owner(agent):
    cnpj = valid_cnpj(4242)
    punctuated = f"{cnpj[:2]}.{cnpj[2:5]}.{cnpj[5:8]}/{cnpj[8:12]}-{cnpj[12:]}"
    SegmentFactory(name="Indústria")

    response = token_client(agent).post(
        CUSTOMERS,
        {
            "kind": "company",
            "name": "Acme Ltda",
            "document": punctuated,
            "phone": "(11) 98765-4321",
            "segment": "Indústria",
            "tags": ["enterprise", "sp"],
        },
        format="json",
    )

    assert response.status_code == 201, response.json()
    data = response.json()
    assert data["document"] == cnpj
    assert data["document_formatted"] == punctuated
    assert data["phone"] == "+5511987654321"
    assert data["owner"]["id"] == agent.pk
    assert data["tags"] == ["enterprise", "sp"]
    assert Customer.objects.get(pk=data["id"]).segment.name == "Indústria"


def test_invalid_cpf_is_400_with_document_error(agent):
    response = token_client(agent).post(CUSTOMERS, {"name": "Fulano", "document": "123.456.789-00"}, format="json")

    assert response.status_code == 400
    body = response.json()
    assert body["detail"] == "Invalid input."
    assert body["errors"]["document"] == ["Invalid CPF: check the 11 digits."]
    assert not Customer.objects.filter(name="Fulano").exists()


def test_missing_name_and_unknown_segment_are_field_errors(agent):
    response = token_client(agent).post(CUSTOMERS, {"segment": "Nope", "mrr": "-1"}, format="json")

    assert response.status_code == 400
    assert set(response.json()["errors"]) == {"name", "segment", "mrr"}


def test_duplicate_document_is_400(agent, own_customer):
    response = token_client(agent).post(CUSTOMERS, {"name": "Cópia", "document": own_customer.document}, format="json")

    assert response.status_code == 400
    assert response.json()["errors"]


def test_agent_edits_own_customer(agent, own_customer):
    response = token_client(agent).patch(detail(own_customer), {"plan": "Enterprise"}, format="json")

    assert response.status_code == 200
    own_customer.refresh_from_db()
    assert own_customer.plan == "Enterprise"


def test_agent_cannot_edit_others_customer(agent, others_customer):
    response = token_client(agent).patch(detail(others_customer), {"plan": "Hacked"}, format="json")

    assert response.status_code == 403
    others_customer.refresh_from_db()
    assert others_customer.plan != "Hacked"


def test_agent_cannot_edit_others_customer_even_with_invalid_body(agent, others_customer):
    response = token_client(agent).patch(detail(others_customer), {"document": "x"}, format="json")

    assert response.status_code == 403


def test_agent_cannot_reassign_owner(agent, other_agent, own_customer):
    response = token_client(agent).patch(detail(own_customer), {"owner": other_agent.pk}, format="json")

    assert response.status_code == 403
    own_customer.refresh_from_db()
    assert own_customer.owner == agent


def test_agent_cannot_create_customer_for_someone_else(agent, other_agent):
    response = token_client(agent).post(CUSTOMERS, {"name": "Alheio", "owner": other_agent.pk}, format="json")

    assert response.status_code == 403
    assert not Customer.objects.filter(name="Alheio").exists()


def test_manager_reassigns_owner(manager, other_agent, own_customer):
    response = token_client(manager).patch(detail(own_customer), {"owner": other_agent.pk}, format="json")

    assert response.status_code == 200
    assert response.json()["owner"]["id"] == other_agent.pk


def test_admin_edits_any_customer(admin_user, others_customer):
    response = token_client(admin_user).put(
        detail(others_customer), {"name": "Renomeado", "tags": ["a"]}, format="json"
    )

    assert response.status_code == 200
    assert response.json()["name"] == "Renomeado"
    assert response.json()["tags"] == ["a"]


def test_agent_cannot_delete_even_own_customer(agent, own_customer):
    response = token_client(agent).delete(detail(own_customer))

    assert response.status_code == 403
    assert Customer.objects.filter(pk=own_customer.pk).exists()


def test_manager_deletes_customer(manager, own_customer):
    response = token_client(manager).delete(detail(own_customer))

    assert response.status_code == 204
    assert not Customer.objects.filter(pk=own_customer.pk).exists()


# --- filters -----------------------------------------------------------------------------------


def _names(client: APIClient, query: str) -> set[str]:
    response = client.get(f"{CUSTOMERS}?{query}")
    assert response.status_code == 200, response.json()
    return {row["name"] for row in response.json()["results"]}


def test_customer_filters(agent, other_agent):
    vip = CustomerFactory(
        name="Ana VIP", owner=agent, segment=SegmentFactory(name="Varejo"), stage=Customer.Stage.RETENTION
    )
    vip.tags.create(name="vip")
    company = CustomerFactory(name="Beta SA", company=True, owner=other_agent)
    CustomerFactory(name="Sem Dono", owner=None, email="semdono@example.com", external_id="erp-77")
    client = token_client(agent)

    assert _names(client, f"owner={agent.pk}") == {"Ana VIP"}
    assert _names(client, "owner=none") == {"Sem Dono"}
    assert _names(client, "segment=Varejo") == {"Ana VIP"}
    assert _names(client, "kind=company") == {"Beta SA"}
    assert _names(client, "stage=retention") == {"Ana VIP"}
    assert _names(client, "tag=vip") == {"Ana VIP"}
    assert _names(client, "search=beta") == {"Beta SA"}
    assert _names(client, "search=SEMDONO@example") == {"Sem Dono"}
    assert _names(client, "search=erp-77") == {"Sem Dono"}
    doc = company.document
    assert _names(client, f"search={doc[:2]}.{doc[2:5]}.{doc[5:8]}") == {"Beta SA"}


def test_customer_filter_updated_since(agent):
    old = CustomerFactory(name="Antigo")
    CustomerFactory(name="Recente")
    Customer.objects.filter(pk=old.pk).update(updated_at=timezone.now() - timedelta(days=10))
    since = (timezone.now() - timedelta(days=1)).isoformat()

    response = token_client(agent).get(CUSTOMERS, {"updated_since": since})

    assert {row["name"] for row in response.json()["results"]} == {"Recente"}


def test_bad_filter_values_are_400(agent):
    client = token_client(agent)

    assert client.get(f"{CUSTOMERS}?owner=abc").json()["errors"] == {"owner": ['Use a user id or "none".']}
    assert "updated_since" in client.get(f"{CUSTOMERS}?updated_since=yesterday").json()["errors"]
    assert "kind" in client.get(f"{CUSTOMERS}?kind=alien").json()["errors"]


# --- upsert by external id ---------------------------------------------------------------------


def test_upsert_creates_then_updates_then_replays_without_change(agent):
    client = token_client(agent)
    url = f"{CUSTOMERS}by-external-id/shop-1001/"
    body = {"name": "Maria", "document": "529.982.247-25", "email": "Maria@Example.com", "tags": ["vip"]}

    created = client.put(url, body, format="json")
    assert created.status_code == 201, created.json()
    customer = Customer.objects.get(external_id="shop-1001")
    assert customer.owner == agent
    assert customer.email == "maria@example.com"
    first_updated_at = customer.updated_at

    replay = client.put(url, body, format="json")
    assert replay.status_code == 200
    customer.refresh_from_db()
    assert customer.updated_at == first_updated_at
    assert replay.json() == created.json()

    changed = client.put(url, {**body, "plan": "Pro"}, format="json")
    assert changed.status_code == 200
    customer.refresh_from_db()
    assert customer.plan == "Pro"
    assert customer.updated_at > first_updated_at
    assert Customer.objects.filter(external_id="shop-1001").count() == 1


def test_upsert_replay_with_changed_tags_updates_tags(agent):
    client = token_client(agent)
    url = f"{CUSTOMERS}by-external-id/ext-9/"
    client.put(url, {"name": "Tagged", "tags": ["a"]}, format="json")

    response = client.put(url, {"tags": ["a", "b"]}, format="json")

    assert response.status_code == 200
    assert response.json()["tags"] == ["a", "b"]


def test_upsert_create_without_name_is_400(agent):
    response = token_client(agent).put(f"{CUSTOMERS}by-external-id/no-name/", {"plan": "Pro"}, format="json")

    assert response.status_code == 400
    assert "name" in response.json()["errors"]


def test_agent_cannot_upsert_others_customer(agent, others_customer):
    url = f"{CUSTOMERS}by-external-id/{others_customer.external_id}/"

    response = token_client(agent).put(url, {"plan": "Hacked"}, format="json")

    assert response.status_code == 403
    others_customer.refresh_from_db()
    assert others_customer.plan != "Hacked"


def test_get_by_external_id(agent, others_customer):
    client = token_client(agent)

    found = client.get(f"{CUSTOMERS}by-external-id/{others_customer.external_id}/")
    missing = client.get(f"{CUSTOMERS}by-external-id/nope/")

    assert found.status_code == 200
    assert found.json()["id"] == others_customer.pk
    assert missing.status_code == 404


# --- pagination --------------------------------------------------------------------------------


def test_cursor_pagination_walks_every_customer_once(agent):
    created = {c.pk for c in CustomerFactory.create_batch(5)}
    client = token_client(agent)

    seen: list[int] = []
    url: str | None = f"{CUSTOMERS}?page_size=2"
    pages = 0
    while url:
        body = client.get(url).json()
        seen.extend(row["id"] for row in body["results"])
        url = body["next"]
        pages += 1

    assert pages == 3
    assert len(seen) == 5
    assert set(seen) == created
    assert seen == sorted(seen, reverse=True)


def test_page_size_is_capped_at_200():
    paginator = CursorPagination()
    request = Request(APIRequestFactory().get(CUSTOMERS, {"page_size": "1000"}))

    assert paginator.get_page_size(request) == 200


def test_ordering_by_name(agent):
    for name in ("Carla", "Ana", "Bruno"):
        CustomerFactory(name=name)

    body = token_client(agent).get(f"{CUSTOMERS}?ordering=name").json()

    assert [row["name"] for row in body["results"]] == ["Ana", "Bruno", "Carla"]


# --- query counts ------------------------------------------------------------------------------


@pytest.mark.parametrize("rows", [1, 100])
def test_customer_list_query_count_does_not_grow(django_assert_num_queries, rows):
    owner = UserFactory(username="dono")
    segment = SegmentFactory(name="Varejo")
    for customer in CustomerFactory.create_batch(rows, owner=owner, segment=segment):
        customer.tags.create(name=f"t{customer.pk}")
    client = token_client(UserFactory(role="cs_agent"))

    # token + user, the user's groups, the customers page, their tags
    with django_assert_num_queries(4):
        response = client.get(f"{CUSTOMERS}?page_size=200")

    assert len(response.json()["results"]) == rows


def test_list_rows_render_exactly_like_the_customer_serializer(agent):
    from customers.api.serializers import CustomerSerializer

    owner = UserFactory(username="dona", first_name="Ana", last_name="Lima")
    rich = CustomerFactory(owner=owner, segment=SegmentFactory(name="PME"), company=True, mrr="1234.50")
    for name in ("vip", "sul"):
        rich.tags.create(name=name)
    bare = CustomerFactory(owner=UserFactory(username="semnome", first_name="", last_name=""), document="")
    orphan = CustomerFactory(owner=None, segment=None)

    listed = {row["id"]: row for row in token_client(agent).get(f"{CUSTOMERS}?page_size=200").json()["results"]}

    for customer in (rich, bare, orphan):
        customer.refresh_from_db()
        assert listed[customer.pk] == CustomerSerializer(customer).data
    assert listed[rich.pk]["tags"] == ["sul", "vip"]
    assert listed[rich.pk]["owner"] == {"id": owner.pk, "username": "dona", "name": "Ana Lima"}
    assert listed[bare.pk]["owner"]["name"] == "semnome"
    assert listed[orphan.pk]["owner"] is None
