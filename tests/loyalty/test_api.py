"""Loyalty over the REST API: balances and tier after an order, the ledger and its filters,
redemptions and cashback with an Idempotency-Key (a replay books once; a missing key and an
overdraw are 400 with nothing booked; concurrent requests never overdraw), referrals (once per
e-mail, both sides rewarded once), manager-only adjustments and liability, query counts, OpenAPI."""

import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from loyalty import services
from loyalty.models import Currency, Entry, Programme, Redemption, Referral, Reward, Tier
from posvenda import services as account_services
from tests.factories import CustomerFactory, OrderFactory, UserFactory

pytestmark = pytest.mark.django_db

ACCOUNTS = "/api/v1/loyalty/accounts/"
REFERRALS = "/api/v1/loyalty/referrals/"
REWARDS = "/api/v1/loyalty/rewards/"
LIABILITY = "/api/v1/loyalty/liability/"


@pytest.fixture(autouse=True)
def programme(db):
    """1 point per R$, 5 % cashback, 200 referral points, R$ 0.05 per point; tiers Bronze 0,
    Prata 1,000, Ouro 5,000 (a transactional test may have flushed the seeded rows)."""
    Programme.objects.all().delete()
    Tier.objects.all().delete()
    for name, points in (("Bronze", 0), ("Prata", 1000), ("Ouro", 5000)):
        Tier.objects.create(name=name, min_points=points)
    return Programme.objects.create(
        points_per_real=Decimal("1"), cashback_percent=Decimal("5"), referral_points=200, survey_points=20
    )


def token_client(user) -> APIClient:
    client = APIClient(HTTP_ACCEPT_LANGUAGE="en")
    token = account_services.api_token_rotate(user=user)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


def rewarded_customer(amount: str, **kwargs):
    order = OrderFactory(amount=Decimal(amount), **kwargs)
    services.order_reward(order_id=order.pk)
    return order.customer


def url(customer, suffix: str = "") -> str:
    return f"{ACCOUNTS}{customer.pk}/{suffix}"


def points(customer) -> Decimal:
    return services.balance(services.account_for(customer), Currency.POINTS)


# --- balance -------------------------------------------------------------------------------------


def test_balance_tier_and_referral_code_after_an_order(agent):
    customer = rewarded_customer("1199.90", external_id="PED-1")

    response = token_client(agent).get(url(customer))

    body = response.json()
    assert response.status_code == 200, body
    # 1,199.90 × 1 → 1,199 points; 5 % → R$ 59.99 (59.995 rounded down); Prata from 1,000, Ouro at 5,000
    assert (body["points"], body["cashback"], body["points_12m"]) == ("1199.00", "59.99", "1199.00")
    assert body["tier"]["name"] == "Prata" and body["next_tier"]["name"] == "Ouro"
    assert body["points_to_next_tier"] == "3801.00"
    assert body["referral_code"] == services.account_for(customer).referral_code
    assert body["customer"] == customer.pk and body["customer_external_id"] == customer.external_id


def test_a_customer_without_points_gets_an_account_and_the_first_tier(agent):
    customer = CustomerFactory()

    body = token_client(agent).get(url(customer)).json()

    assert (body["points"], body["cashback"], body["tier"]["name"], body["next_tier"]["name"]) == (
        "0.00",
        "0.00",
        "Bronze",
        "Prata",
    )
    assert len(body["referral_code"]) == 8


def test_unknown_customer_is_404(agent):
    response = token_client(agent).get(f"{ACCOUNTS}999999/")
    assert response.status_code == 404 and response.json()["errors"] == {}


def test_list_finds_an_account_by_external_id_and_by_tier(agent):
    silver = rewarded_customer("1500")
    bronze = rewarded_customer("10")
    newcomer = CustomerFactory(external_id="shop-new")  # no account yet
    client = token_client(agent)

    def customers(**params):
        response = client.get(ACCOUNTS, params)
        assert response.status_code == 200, response.json()
        return [row["customer"] for row in response.json()["results"]]

    assert customers(customer_external_id=silver.external_id) == [silver.pk]
    assert customers(customer_external_id="shop-new") == [newcomer.pk]  # opened on lookup
    assert customers(tier="prata") == [silver.pk]
    assert set(customers(tier="Bronze")) == {bronze.pk, newcomer.pk}
    assert customers(referral_code=services.account_for(bronze).referral_code.lower()) == [bronze.pk]
    assert client.get(ACCOUNTS, {"tier": "Diamante"}).json()["errors"] == {"tier": ["No tier has this name."]}


def test_no_role_user_reads_nothing(no_role_user):
    customer = rewarded_customer("10")
    assert token_client(no_role_user).get(url(customer)).status_code == 403


# --- ledger --------------------------------------------------------------------------------------


def test_ledger_is_newest_first_and_filters(agent, manager):
    now = timezone.now()
    customer = rewarded_customer("100", purchased_at=now - timedelta(days=3))
    services.adjust(actor=manager, account=services.account_for(customer), amount=Decimal("50"), reason="Brinde")
    services.points_redeem(account=services.account_for(customer), points=Decimal("30"), key="k", reason="Cupom")
    client = token_client(agent)

    def kinds(**params):
        response = client.get(url(customer, "ledger/"), params)
        assert response.status_code == 200, response.json()
        return [(row["kind"], row["currency"], row["amount"]) for row in response.json()["results"]]

    # the order's two entries share its purchase time: the later-booked (cashback) first
    assert kinds() == [
        ("redeem", "points", "-30.00"),
        ("adjust", "points", "50.00"),
        ("earn", "cashback", "5.00"),
        ("earn", "points", "100.00"),
    ]
    assert kinds(currency="cashback") == [("earn", "cashback", "5.00")]
    assert kinds(kind="adjust") == [("adjust", "points", "50.00")]
    assert kinds(source="order", currency="points") == [("earn", "points", "100.00")]
    assert kinds(created_after=(now - timedelta(days=1)).isoformat()) == [
        ("redeem", "points", "-30.00"),
        ("adjust", "points", "50.00"),
    ]
    assert len(kinds(created_before=(now - timedelta(days=1)).isoformat())) == 2
    bad = client.get(url(customer, "ledger/"), {"currency": "euros"})
    assert bad.status_code == 400 and "currency" in bad.json()["errors"]


def test_ledger_pages_follow_next(agent, manager):
    customer = CustomerFactory()
    account = services.account_for(customer)
    for n in range(5):
        services.adjust(actor=manager, account=account, amount=Decimal(n + 1), reason=f"Ajuste {n}")
    client = token_client(agent)

    seen, next_url = [], url(customer, "ledger/?page_size=2")
    while next_url:
        body = client.get(next_url).json()
        seen += [row["amount"] for row in body["results"]]
        next_url = body["next"]

    assert seen == ["5.00", "4.00", "3.00", "2.00", "1.00"]


# --- redeeming -----------------------------------------------------------------------------------


def test_redeeming_a_reward_replayed_with_the_same_key_books_once(agent):
    customer = rewarded_customer("500")
    reward = Reward.objects.create(name="Cupom R$ 20", cost_points=400)
    client = token_client(agent)

    first = client.post(url(customer, "redeem/"), {"reward_id": reward.pk}, format="json", HTTP_IDEMPOTENCY_KEY="r-1")
    again = client.post(url(customer, "redeem/"), {"reward_id": reward.pk}, format="json", HTTP_IDEMPOTENCY_KEY="r-1")

    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json() == again.json()
    body = first.json()
    assert body["redemption"]["code"].startswith("PV-") and body["redemption"]["reward"]["id"] == reward.pk
    assert body["entry"]["amount"] == "-400.00" and body["entry"]["redemption_code"] == body["redemption"]["code"]
    assert body["entry"]["created_by"]["username"] == "agente"
    assert Redemption.objects.count() == 1 and Entry.objects.filter(kind="redeem").count() == 1
    assert points(customer) == Decimal("100")
    reward.is_active = False  # withdrawn from the catalogue since: a retry still gets its first result
    reward.save()
    late = client.post(url(customer, "redeem/"), {"reward_id": reward.pk}, format="json", HTTP_IDEMPOTENCY_KEY="r-1")
    assert late.status_code == 200 and late.json() == body


def test_redeeming_points_replayed_books_once_and_a_reused_key_is_refused(agent):
    customer = rewarded_customer("500")
    client = token_client(agent)
    body = {"points": 120, "reason": "Desconto no pedido PED-9"}

    first = client.post(url(customer, "redeem/"), body, format="json", HTTP_IDEMPOTENCY_KEY="p-1")
    again = client.post(url(customer, "redeem/"), body, format="json", HTTP_IDEMPOTENCY_KEY="p-1")
    other = client.post(url(customer, "redeem/"), {"points": 5}, format="json", HTTP_IDEMPOTENCY_KEY="p-1")

    assert (first.status_code, again.status_code) == (201, 200) and first.json() == again.json()
    assert first.json()["redemption"] is None and first.json()["entry"]["reason"] == "Desconto no pedido PED-9"
    assert other.status_code == 400 and "idempotency_key" in other.json()["errors"]
    assert points(customer) == Decimal("380")


def test_the_same_key_for_another_customer_is_another_operation(agent):
    ana, bia = rewarded_customer("100"), rewarded_customer("100")
    client = token_client(agent)

    for customer in (ana, bia):
        response = client.post(url(customer, "redeem/"), {"points": 10}, format="json", HTTP_IDEMPOTENCY_KEY="same")
        assert response.status_code == 201

    assert points(ana) == points(bia) == Decimal("90")


def test_redeem_without_an_idempotency_key_is_400_and_books_nothing(agent):
    customer = rewarded_customer("100")

    response = token_client(agent).post(url(customer, "redeem/"), {"points": 10}, format="json")

    assert response.status_code == 400
    assert "Idempotency-Key" in response.json()["errors"]["idempotency_key"][0]
    assert not Entry.objects.filter(kind="redeem").exists()


def test_overdraw_is_400_with_a_field_message_and_books_nothing(agent):
    customer = rewarded_customer("100")
    reward = Reward.objects.create(name="Fone de ouvido", kind="product", cost_points=500)
    client = token_client(agent)

    by_points = client.post(url(customer, "redeem/"), {"points": 101}, format="json", HTTP_IDEMPOTENCY_KEY="a")
    by_reward = client.post(url(customer, "redeem/"), {"reward_id": reward.pk}, format="json", HTTP_IDEMPOTENCY_KEY="b")

    assert by_points.status_code == 400
    assert by_points.json()["errors"] == {"points": ["Not enough balance: 100.00 available."]}
    assert by_reward.status_code == 400 and "reward_id" in by_reward.json()["errors"]
    assert not Entry.objects.filter(kind="redeem").exists() and not Redemption.objects.exists()
    assert points(customer) == Decimal("100")


def test_redeem_needs_a_reward_or_points(agent):
    customer = rewarded_customer("100")
    inactive = Reward.objects.create(name="Antigo", cost_points=10, is_active=False)
    client = token_client(agent)

    neither = client.post(url(customer, "redeem/"), {}, format="json", HTTP_IDEMPOTENCY_KEY="n")
    gone = client.post(url(customer, "redeem/"), {"reward_id": inactive.pk}, format="json", HTTP_IDEMPOTENCY_KEY="g")

    assert neither.status_code == 400 and "reward_id" in neither.json()["errors"]
    assert gone.status_code == 400 and gone.json()["errors"] == {"reward_id": ["This reward is not available."]}


@pytest.mark.django_db(transaction=True)
def test_twenty_concurrent_api_redemptions_never_overdraw():
    customer = rewarded_customer("200")  # 200 points
    token = account_services.api_token_rotate(user=UserFactory(role="cs_agent")).key
    statuses: list[int] = []
    barrier = threading.Barrier(20)

    def redeem(i: int) -> None:
        client = APIClient(HTTP_ACCEPT_LANGUAGE="en")
        client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
        try:
            barrier.wait()
            response = client.post(
                url(customer, "redeem/"), {"points": 30}, format="json", HTTP_IDEMPOTENCY_KEY=f"c-{i}"
            )
            statuses.append(response.status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=redeem, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    # 20 × 30 = 600 asked against 200: 6 go through (180), 14 are refused, 20 left, never below zero
    assert statuses.count(201) == 6 and statuses.count(400) == 14
    assert Entry.objects.filter(kind="redeem").count() == 6
    assert points(customer) == Decimal("20")


# --- cashback ------------------------------------------------------------------------------------


def test_cashback_use_books_once_and_cannot_overdraw(agent):
    customer = rewarded_customer("400")  # R$ 20.00 cashback
    client = token_client(agent)
    body = {"amount": "15.00", "order_ref": "PED-2002"}

    first = client.post(url(customer, "cashback/"), body, format="json", HTTP_IDEMPOTENCY_KEY="cb-1")
    again = client.post(url(customer, "cashback/"), body, format="json", HTTP_IDEMPOTENCY_KEY="cb-1")
    over = client.post(
        url(customer, "cashback/"),
        {"amount": "5.01", "order_ref": "PED-2003"},
        format="json",
        HTTP_IDEMPOTENCY_KEY="cb-2",
    )
    missing = client.post(url(customer, "cashback/"), body, format="json")

    assert (first.status_code, again.status_code) == (201, 200) and first.json() == again.json()
    entry = first.json()
    assert (entry["amount"], entry["currency"], entry["source"], entry["source_ref"]) == (
        "-15.00",
        "cashback",
        "cashback_use",
        "PED-2002",
    )
    assert over.status_code == 400 and over.json()["errors"] == {"amount": ["Not enough balance: 5.00 available."]}
    assert missing.status_code == 400 and "idempotency_key" in missing.json()["errors"]
    assert services.balance(services.account_for(customer), Currency.CASHBACK) == Decimal("5.00")
    assert token_client(agent).get(url(customer)).json()["cashback"] == "5.00"


# --- adjustments and liability (managers) ----------------------------------------------------------


def test_adjust_is_for_managers_with_a_reason(agent, manager):
    customer = CustomerFactory()
    body = {"amount": "150", "currency": "points", "reason": "Compensação pelo atraso"}

    refused = token_client(agent).post(url(customer, "adjust/"), body, format="json")
    client = token_client(manager)
    no_reason = client.post(url(customer, "adjust/"), {"amount": "10", "reason": " "}, format="json")
    first = client.post(url(customer, "adjust/"), body, format="json", HTTP_IDEMPOTENCY_KEY="adj-1")
    again = client.post(url(customer, "adjust/"), body, format="json", HTTP_IDEMPOTENCY_KEY="adj-1")
    below = client.post(url(customer, "adjust/"), {"amount": "-200", "reason": "Erro"}, format="json")

    assert refused.status_code == 403
    assert refused.json()["detail"] == "Only a CS manager can adjust loyalty balances."
    assert no_reason.status_code == 400 and "reason" in no_reason.json()["errors"]
    assert (first.status_code, again.status_code) == (201, 200) and first.json() == again.json()
    assert first.json()["created_by"]["username"] == "gerente" and first.json()["kind"] == "adjust"
    assert below.status_code == 400 and "amount" in below.json()["errors"]
    assert points(customer) == Decimal("150")


def test_liability_is_for_managers(agent, manager):
    rewarded_customer("1000")

    refused = token_client(agent).get(LIABILITY)
    response = token_client(manager).get(LIABILITY)

    assert refused.status_code == 403
    # 1,000 points × R$ 0.05 = R$ 50.00, plus R$ 50.00 cashback (5 %)
    assert response.json() == {"points": "1000.00", "points_value": "50.00", "cashback": "50.00", "total": "100.00"}


# --- referrals -----------------------------------------------------------------------------------


def test_referral_created_twice_is_one(agent):
    referrer = CustomerFactory(external_id="shop-1001")
    client = token_client(agent)

    first = client.post(
        REFERRALS, {"referrer_external_id": "shop-1001", "email": "Joana@Example.com", "name": "Joana"}, format="json"
    )
    again = client.post(REFERRALS, {"referrer_customer_id": referrer.pk, "email": "joana@example.com"}, format="json")

    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["id"] == again.json()["id"] and Referral.objects.count() == 1
    assert first.json()["email"] == "joana@example.com" and first.json()["status"] == "sent"
    assert first.json()["referrer"] == referrer.pk


def test_referral_input_errors_name_the_field(agent):
    referrer = CustomerFactory(email="eu@example.com")
    client = token_client(agent)

    nobody = client.post(REFERRALS, {"email": "x@example.com"}, format="json")
    unknown = client.post(REFERRALS, {"referrer_external_id": "nope", "email": "x@example.com"}, format="json")
    itself = client.post(REFERRALS, {"referrer_customer_id": referrer.pk, "email": "EU@example.com"}, format="json")

    assert nobody.status_code == 400 and "referrer_customer_id" in nobody.json()["errors"]
    assert unknown.json()["errors"] == {"referrer_external_id": ["No customer has this external ID."]}
    assert itself.json()["errors"] == {"email": ["A customer cannot refer themselves."]}


def test_convert_rewards_both_sides_once_and_is_replay_safe(agent, django_capture_on_commit_callbacks):
    referrer = CustomerFactory()
    referral, _ = services.referral_create(referrer=referrer, email="joana@example.com")
    newcomer = CustomerFactory(external_id="shop-1077", email="joana@example.com")
    client = token_client(agent)

    with django_capture_on_commit_callbacks(execute=True):
        first = client.post(f"{REFERRALS}{referral.pk}/convert/", {"customer_external_id": "shop-1077"}, format="json")
        again = client.post(f"{REFERRALS}{referral.pk}/convert/", {"customer_id": newcomer.pk}, format="json")
    other = client.post(f"{REFERRALS}{referral.pk}/convert/", {"customer_id": CustomerFactory().pk}, format="json")

    assert (first.status_code, again.status_code) == (200, 200) and first.json() == again.json()
    assert first.json()["status"] == "converted" and first.json()["referred"] == newcomer.pk
    assert other.status_code == 400 and "customer_id" in other.json()["errors"]
    assert points(referrer) == points(newcomer) == Decimal("200")
    assert Entry.objects.filter(source="referral").count() == 2


def test_referral_list_filters(agent):
    ana, bia = CustomerFactory(), CustomerFactory()
    sent, _ = services.referral_create(referrer=ana, email="a@example.com")
    converted, _ = services.referral_create(referrer=bia, email="b@example.com")
    services.referral_convert(referral=converted, customer=CustomerFactory(email="b@example.com"))
    client = token_client(agent)

    def ids(**params):
        response = client.get(REFERRALS, params)
        assert response.status_code == 200, response.json()
        return [row["id"] for row in response.json()["results"]]

    assert ids() == [converted.pk, sent.pk]
    assert ids(status="sent") == [sent.pk]
    assert ids(status="converted") == [converted.pk]
    assert ids(referrer=ana.pk) == [sent.pk]
    assert ids(referrer_external_id=bia.external_id) == [converted.pk]


# --- rewards -------------------------------------------------------------------------------------


def test_rewards_lists_the_active_catalogue_cheapest_first(agent):
    dear = Reward.objects.create(name="Fone", kind="product", cost_points=900)
    cheap = Reward.objects.create(name="Cupom", cost_points=100)
    Reward.objects.create(name="Antigo", cost_points=50, is_active=False)

    body = token_client(agent).get(REWARDS).json()

    assert [row["id"] for row in body["results"]] == [cheap.pk, dear.pk]
    assert body["results"][1] == {
        "id": dear.pk,
        "name": "Fone",
        "kind": "product",
        "description": "",
        "cost_points": 900,
    }


# --- query counts --------------------------------------------------------------------------------


@pytest.mark.parametrize("rows", [1, 12])
def test_account_list_query_count_does_not_grow(django_assert_num_queries, rows):
    for _ in range(rows):
        rewarded_customer("1200")
    client = token_client(UserFactory(role="cs_agent"))

    # token + user, the user's groups, the page of accounts with customers and sums, the tiers
    with django_assert_num_queries(4):
        response = client.get(f"{ACCOUNTS}?page_size=200")

    assert len(response.json()["results"]) == rows
    assert {row["tier"]["name"] for row in response.json()["results"]} == {"Prata"}


@pytest.mark.parametrize("rows", [1, 12])
def test_ledger_query_count_does_not_grow(django_assert_num_queries, rows, manager):
    customer = CustomerFactory()
    account = services.account_for(customer)
    reward = Reward.objects.create(name="Cupom", cost_points=1)
    for n in range(rows):
        services.adjust(actor=manager, account=account, amount=Decimal("5"), reason=f"Ajuste {n}")
        services.reward_redeem(account=account, reward=reward, key=f"q-{n}")
    client = token_client(UserFactory(role="cs_agent"))

    # token + user, the user's groups, the customer, its account, the page of entries (creator, redemption)
    with django_assert_num_queries(5):
        response = client.get(url(customer, "ledger/?page_size=200"))

    assert len(response.json()["results"]) == rows * 2


@pytest.mark.parametrize("rows", [1, 12])
def test_referral_list_query_count_does_not_grow(django_assert_num_queries, rows):
    for n in range(rows):
        referral, _ = services.referral_create(referrer=CustomerFactory(), email=f"p{n}@example.com")
        services.referral_convert(referral=referral, customer=CustomerFactory(email=f"p{n}@example.com"))
    client = token_client(UserFactory(role="cs_agent"))

    # token + user, the user's groups, the page of referrals with referrer and referred customers
    with django_assert_num_queries(3):
        response = client.get(f"{REFERRALS}?page_size=200")

    assert len(response.json()["results"]) == rows


@pytest.mark.parametrize("rows", [1, 12])
def test_reward_list_query_count_does_not_grow(django_assert_num_queries, rows):
    for n in range(rows):
        Reward.objects.create(name=f"Cupom {n}", cost_points=100 + n)
    client = token_client(UserFactory(role="cs_agent"))

    # token + user, the user's groups, the page of rewards
    with django_assert_num_queries(3):
        response = client.get(f"{REWARDS}?page_size=200")

    assert len(response.json()["results"]) == rows


# --- OpenAPI -------------------------------------------------------------------------------------


def test_schema_documents_every_loyalty_endpoint_with_bodies_and_examples(tmp_path):
    import yaml
    from django.core.management import call_command

    target = tmp_path / "schema.yml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(target))
    paths = yaml.safe_load(target.read_text())["paths"]

    assert set(paths[f"{ACCOUNTS}"]) == {"get"} and set(paths[f"{ACCOUNTS}{{customer_id}}/"]) == {"get"}
    for action in ("redeem", "cashback", "adjust"):
        post = paths[f"{ACCOUNTS}{{customer_id}}/{action}/"]["post"]
        assert {"200", "201", "400", "401", "403", "404"} <= set(post["responses"]), action
        assert post["requestBody"]["content"]["application/json"]["examples"], action
        header = next(p for p in post["parameters"] if p["in"] == "header")
        assert header["name"] == "Idempotency-Key" and header.get("required", False) is (action != "adjust")
    ledger = paths[f"{ACCOUNTS}{{customer_id}}/ledger/"]["get"]
    assert {"currency", "kind", "source", "created_after", "created_before", "cursor"} <= {
        p["name"] for p in ledger["parameters"]
    }
    assert set(paths[REFERRALS]) == {"get", "post"}
    assert "post" in paths[f"{REFERRALS}{{id}}/convert/"]
    assert set(paths[REWARDS]) == {"get"} and set(paths[LIABILITY]) == {"get"}
    assert paths[LIABILITY]["get"]["responses"]["200"]["content"]["application/json"]["examples"]
