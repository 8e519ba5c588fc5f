"""CS pages of the loyalty programme: settings, rewards, liability, referrals, adjustments, the
360 panel and the {link_fidelidade} message variable."""

import csv
import io
from datetime import timedelta
from decimal import Decimal

import pytest
from django.template import Context, Template
from django.urls import reverse
from django.utils import timezone

from customers.models import Customer
from loyalty import links, services
from loyalty.models import Currency, Entry, Programme, Referral, Reward, Tier
from messaging import services as messaging_services
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db
SETTINGS = reverse("loyalty:settings")
REWARDS = reverse("loyalty:rewards")
LIABILITY = reverse("loyalty:liability")
REFERRALS = reverse("loyalty:referrals")


@pytest.fixture(autouse=True)
def english_pages(client, settings):
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"


@pytest.fixture(autouse=True)
def programme(db):
    """R$ 0.05 per point; tiers Bronze 0, Prata 1,000, Ouro 5,000."""
    Programme.objects.all().delete()
    Tier.objects.all().delete()
    for name, pts in (("Bronze", 0), ("Prata", 1000), ("Ouro", 5000)):
        Tier.objects.create(name=name, min_points=pts)
    return Programme.objects.create(points_per_real=Decimal("1"), point_value=Decimal("0.05"), referral_points=200)


def html(response) -> str:
    return response.content.decode()


def book(customer, amount, *, kind=Entry.Kind.EARN, currency=Currency.POINTS, days_ago=1, key=None):
    account = services.account_for(customer)
    return Entry.objects.create(
        account=account,
        kind=kind,
        currency=currency,
        amount=Decimal(amount),
        reason="test",
        source=Entry.Source.ORDER,
        idempotency_key=key or f"t:{account.pk}:{Entry.objects.count()}:{amount}:{currency}",
        created_at=timezone.now() - timedelta(days=days_ago),
    )


# --- permissions ----------------------------------------------------------------------------------


@pytest.mark.parametrize("url", [SETTINGS, REWARDS, LIABILITY, REFERRALS, reverse("loyalty:adjust", args=[1])])
def test_pages_send_anonymous_users_to_the_login(client, url):
    response = client.get(url)
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


def test_users_without_a_cs_role_are_refused(client, no_role_user):
    client.force_login(no_role_user)
    assert client.get(SETTINGS).status_code == 403


def test_agents_read_settings_rewards_and_referrals_but_cannot_write(client, agent, own_customer):
    client.force_login(agent)
    reward = Reward.objects.create(name="Coupon", cost_points=100)
    assert client.get(SETTINGS).status_code == 200 and "Save rules" not in html(client.get(SETTINGS))
    assert client.get(REWARDS).status_code == 200
    assert client.get(REFERRALS).status_code == 200
    assert client.get(LIABILITY).status_code == 403
    adjust_url = reverse("loyalty:adjust", args=[own_customer.pk])
    assert client.get(adjust_url).status_code == 403

    writes = [
        (SETTINGS, {"action": "programme", "name": "Hacked", "points_per_real": "9"}),
        (SETTINGS, {"action": "tier", "name": "Diamante", "min_points": "9000"}),
        (SETTINGS, {"action": "tier_delete", "tier_id": Tier.objects.first().pk}),
        (REWARDS, {"action": "save", "name": "Free", "kind": "coupon", "cost_points": "1", "is_active": "on"}),
        (REWARDS, {"action": "deactivate", "reward_id": reward.pk}),
        (adjust_url, {"currency": "points", "amount": "1000", "reason": "gift", "nonce": "x" * 20}),
    ]
    for url, data in writes:
        assert client.post(url, data).status_code == 403
    assert Programme.objects.get().name != "Hacked" and Tier.objects.count() == 3
    assert Reward.objects.get().is_active and Reward.objects.count() == 1
    assert not Entry.objects.exists()


# --- settings and rewards -------------------------------------------------------------------------


def test_manager_changes_the_rules_and_the_tiers(client, manager):
    client.force_login(manager)
    data = {
        "action": "programme",
        "name": "Clube Azul",
        "is_active": "on",
        "points_per_real": "2",
        "cashback_percent": "3.5",
        "survey_points": "30",
        "referral_points": "250",
        "birthday_points": "0",
        "expiry_months": "18",
        "point_value": "0.04",
    }
    assert client.post(SETTINGS, data).status_code == 302
    prog = Programme.objects.get()
    assert (prog.name, prog.points_per_real, prog.cashback_percent, prog.expiry_months) == (
        "Clube Azul",
        Decimal("2.00"),
        Decimal("3.50"),
        18,
    )

    bad = client.post(SETTINGS, {**data, "cashback_percent": "150"})
    assert "Enter a percentage between 0 and 100." in html(bad)

    prata = Tier.objects.get(name="Prata")
    client.post(
        SETTINGS, {"action": "tier", "tier_id": prata.pk, "name": "Prata", "min_points": "1500", "benefits": "Frete"}
    )
    assert Tier.objects.get(pk=prata.pk).min_points == 1500
    clash = client.post(SETTINGS, {"action": "tier", "name": "Platina", "min_points": "5000"})
    assert "Another tier already starts at this number of points." in html(clash)
    client.post(SETTINGS, {"action": "tier", "name": "Diamante", "min_points": "10000", "benefits": "VIP"})
    client.post(SETTINGS, {"action": "tier_delete", "tier_id": Tier.objects.get(name="Bronze").pk})
    assert list(Tier.objects.values_list("name", flat=True)) == ["Prata", "Ouro", "Diamante"]


def test_manager_creates_edits_and_deactivates_rewards(client, manager):
    client.force_login(manager)
    data = {"action": "save", "name": "Frete grátis", "kind": "coupon", "cost_points": "500", "is_active": "on"}
    assert client.post(REWARDS, data).status_code == 302
    reward = Reward.objects.get()
    client.post(REWARDS, {**data, "reward_id": reward.pk, "cost_points": "400", "description": "Any order"})
    reward.refresh_from_db()
    assert (reward.cost_points, reward.description) == (400, "Any order")
    assert "Ensure this value is greater than or equal to" in html(client.post(REWARDS, {**data, "cost_points": "-1"}))

    client.post(REWARDS, {"action": "deactivate", "reward_id": reward.pk})
    reward.refresh_from_db()
    assert not reward.is_active
    assert "Removed" in html(client.get(REWARDS))


def test_rewards_list_costs_the_same_queries_for_one_and_many(client, manager, django_assert_num_queries):
    client.force_login(manager)
    Reward.objects.create(name="R0", cost_points=10)
    client.get(REWARDS)
    with django_assert_num_queries(4) as one:
        client.get(REWARDS)
    for i in range(1, 15):
        Reward.objects.create(name=f"R{i}", cost_points=10 + i)
    with django_assert_num_queries(len(one.captured_queries)):
        assert "R14" in html(client.get(REWARDS))


# --- liability ------------------------------------------------------------------------------------


def test_liability_figures_on_a_hand_built_ledger(client, manager):
    # Ana: earned 1,200 this year, redeemed 300 → 900 points outstanding, Prata (1,200 earned in 12 months)
    ana = CustomerFactory(name="Ana Prata")
    book(ana, "1200")
    book(ana, "-300", kind=Entry.Kind.REDEEM)
    book(ana, "10.00", currency=Currency.CASHBACK)
    # Bia: 400 earned 2 years ago (outside the 12 months) → Bronze, 400 points, R$ 5.50 cashback
    bia = CustomerFactory(name="Bia Bronze")
    book(bia, "400", days_ago=800)
    book(bia, "5.50", currency=Currency.CASHBACK)
    # Caio: nothing left (earned 100, expired 100) → not counted
    caio = CustomerFactory(name="Caio Zero")
    book(caio, "100")
    book(caio, "-100", kind=Entry.Kind.EXPIRE)
    client.force_login(manager)

    body = html(client.get(LIABILITY))

    # 1,300 points × R$ 0.05 = R$ 65.00; cashback R$ 15.50; total R$ 80.50
    assert '<span class="kpi-value" id="kpi-points">1,300</span>' in body
    assert "worth R$65.00" in body
    assert '<span class="kpi-value" id="kpi-cashback">R$15.50</span>' in body
    assert '<span class="kpi-value" id="kpi-total">R$80.50</span>' in body
    rows = {b["tier"].name if b["tier"] else None: b for b in client.get(LIABILITY).context["by_tier"]}
    assert (rows["Prata"]["accounts"], rows["Prata"]["points"], rows["Prata"]["cashback"]) == (1, 900, 10)
    assert rows["Prata"]["total"] == Decimal("55.00")  # 900 × 0.05 + 10
    assert (rows["Bronze"]["accounts"], rows["Bronze"]["points"], rows["Bronze"]["total"]) == (1, 400, Decimal("25.50"))
    assert rows["Ouro"]["accounts"] == 0
    assert body.index("Ana Prata") < body.index("Bia Bronze") and "Caio Zero" not in body


def test_liability_costs_the_same_queries_for_one_and_many_accounts(client, manager, django_assert_num_queries):
    client.force_login(manager)
    book(CustomerFactory(), "10")
    client.get(LIABILITY)
    with django_assert_num_queries(11) as one:
        client.get(LIABILITY)
    for _ in range(10):
        book(CustomerFactory(), "20")
        book(CustomerFactory(), "3.00", currency=Currency.CASHBACK)
    with django_assert_num_queries(len(one.captured_queries)):
        client.get(LIABILITY)


# --- referrals ------------------------------------------------------------------------------------


@pytest.fixture
def referrals(db):
    """Ana referred 3 people, one converted; Bruno referred 1, not converted: 4 sent, 1 converted, 25 %."""
    ana = CustomerFactory(name="Ana Indica")
    bruno = CustomerFactory(name="Bruno Indica")
    made = [
        services.referral_create(referrer=ana, email=f"amigo{i}@example.com", name=f"Amigo {i}")[0] for i in range(3)
    ]
    services.referral_create(referrer=bruno, email="=cmd@example.com", name="=HYPERLINK()")
    newbie = CustomerFactory(name="Novo Cliente", email="amigo0@example.com")
    Referral.objects.filter(pk=made[0].pk).update(
        status=Referral.Status.CONVERTED, referred=newbie, converted_at=timezone.now()
    )
    return ana, bruno, newbie


def test_referrals_list_shows_kpis_and_filters(client, agent, referrals):
    client.force_login(agent)

    body = html(client.get(REFERRALS))
    assert '<span class="kpi-value" id="kpi-sent">4</span>' in body
    assert '<span class="kpi-value" id="kpi-converted">1</span>' in body
    assert '<span class="kpi-value" id="kpi-rate">25.0%</span>' in body

    ana_only = html(client.get(REFERRALS, {"q": "Ana Indica"}))
    assert '<span class="kpi-value" id="kpi-sent">3</span>' in ana_only and "33.3%" in ana_only
    assert "cmd@example.com" not in ana_only
    converted = html(client.get(REFERRALS, {"status": "converted"}))
    assert "Novo Cliente" in converted and "amigo1@example.com" not in converted
    assert "100.0%" in converted


def test_referrals_csv_is_exact(client, agent, referrals):
    ana, bruno, newbie = referrals
    client.force_login(agent)

    response = client.get(REFERRALS, {"export": "csv", "sort": "email"})

    assert response["Content-Type"] == "text/csv; charset=utf-8"
    content = b"".join(response.streaming_content).decode()
    assert content.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(content.lstrip("\ufeff"))))
    assert rows[0] == [
        "id", "created_at", "referrer_id", "referrer", "referral_code", "name", "email", "status",
        "converted_at", "customer_id", "customer",
    ]  # fmt: skip
    assert [r[6] for r in rows[1:]] == [
        "'=cmd@example.com",
        "amigo0@example.com",
        "amigo1@example.com",
        "amigo2@example.com",
    ]
    first = Referral.objects.get(email="amigo0@example.com")
    assert rows[2] == [
        str(first.pk),
        timezone.localtime(first.created_at).isoformat(timespec="seconds"),
        str(ana.pk),
        "Ana Indica",
        ana.loyalty_account.referral_code,
        "Amigo 0",
        "amigo0@example.com",
        "converted",
        timezone.localtime(first.converted_at).isoformat(timespec="seconds"),
        str(newbie.pk),
        "Novo Cliente",
    ]
    assert rows[1][5] == "'=HYPERLINK()"  # no formula reaches the spreadsheet
    assert rows[3][7:] == ["sent", "", "", ""]


def test_referrals_list_costs_the_same_queries_for_one_and_many(client, agent, django_assert_num_queries):
    client.force_login(agent)
    ana = CustomerFactory()
    services.referral_create(referrer=ana, email="x0@example.com")
    client.get(REFERRALS)
    with django_assert_num_queries(6) as one:
        client.get(REFERRALS)
    for i in range(1, 20):
        services.referral_create(referrer=CustomerFactory(), email=f"x{i}@example.com")
    with django_assert_num_queries(len(one.captured_queries)):
        client.get(REFERRALS)


# --- adjustments ----------------------------------------------------------------------------------


def test_manager_adjusts_with_a_reason_once_per_form_and_sees_the_new_balance(client, manager, own_customer):
    book(own_customer, "100")
    client.force_login(manager)
    url = reverse("loyalty:adjust", args=[own_customer.pk])

    missing = client.post(url, {"currency": "points", "amount": "50", "reason": "", "nonce": "k" * 20})
    assert "This field is required." in html(missing)
    overdraw = client.post(url, {"currency": "points", "amount": "-500", "reason": "Erro", "nonce": "k" * 20})
    assert "The balance cannot go below zero." in html(overdraw)
    assert Entry.objects.filter(kind=Entry.Kind.ADJUST).count() == 0

    data = {"currency": "points", "amount": "50", "reason": "Goodwill after a late delivery", "nonce": "k" * 20}
    first = client.post(url, data)
    client.post(url, data)  # the double submit
    assert first.status_code == 302
    entry = Entry.objects.get(kind=Entry.Kind.ADJUST)
    assert (entry.amount, entry.reason, entry.created_by) == (
        Decimal("50.00"),
        "Goodwill after a late delivery",
        manager,
    )
    page = html(client.get(first["Location"]))
    assert "Adjustment of 50 booked" in page and "New balance:" in page and "150 points" in page

    client.post(url, {"currency": "cashback", "amount": "7.25", "reason": "Refund of shipping", "nonce": "m" * 20})
    assert services.balance(services.account_for(own_customer), Currency.CASHBACK) == Decimal("7.25")


# --- 360 panel and message variable ---------------------------------------------------------------


def render_panel(customer, user) -> str:
    return Template("{% load loyalty_tags %}{% customer_loyalty_panel customer user %}").render(
        Context({"customer": customer, "user": user})
    )


def test_panel_shows_balance_tier_entries_and_links(manager, agent, own_customer):
    book(own_customer, "1200")
    book(own_customer, "8.40", currency=Currency.CASHBACK)
    account = services.account_for(own_customer)

    for_manager = render_panel(own_customer, manager)
    for_agent = render_panel(own_customer, agent)

    assert "Prata" in for_manager and "1.200" in for_manager and "R$ 8,40" in for_manager  # pt-BR default
    assert links.account_url(own_customer.pk, account.referral_code) in for_manager
    assert links.referral_url(account.referral_code) in for_manager
    assert reverse("loyalty:adjust", args=[own_customer.pk]) in for_manager
    assert reverse("loyalty:adjust", args=[own_customer.pk]) not in for_agent


def test_message_variable_links_to_the_signed_loyalty_page(own_customer):
    subject, body = messaging_services.text_render(
        subject="Indique e ganhe", body="Seu link: {link_fidelidade} / {loyalty_url}", customer=own_customer
    )
    account = services.account_for(own_customer)
    url = links.account_url(own_customer.pk, account.referral_code)
    assert body == f"Seu link: {url} / {url}"


def test_liability_csv_lists_every_balance_exactly(client, manager, agent):
    ana = CustomerFactory(name="Ana Prata")
    book(ana, "1200")
    book(ana, "-300", kind=Entry.Kind.REDEEM)
    book(ana, "10.00", currency=Currency.CASHBACK)
    bia = CustomerFactory(name="=Bia")
    book(bia, "400", days_ago=800)
    book(CustomerFactory(name="Caio Zero"), "0.50", currency=Currency.CASHBACK, key="c1")
    Entry.objects.create(
        account=services.account_for(CustomerFactory.create(name="Nobody")),
        kind=Entry.Kind.ADJUST,
        amount=Decimal("5"),
        source=Entry.Source.MANUAL,
        idempotency_key="n1",
        created_at=timezone.now(),
    )
    Entry.objects.create(
        account=services.account_for(Customer.objects.get(name="Nobody")),
        kind=Entry.Kind.ADJUST,
        amount=Decimal("-5"),
        source=Entry.Source.MANUAL,
        idempotency_key="n2",
        created_at=timezone.now(),
    )
    client.force_login(agent)
    assert client.get(LIABILITY, {"export": "csv"}).status_code == 403
    client.force_login(manager)

    response = client.get(LIABILITY, {"export": "csv"})

    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode().lstrip("\ufeff"))))
    code = {c.name: services.account_for(c).referral_code for c in Customer.objects.all()}
    assert rows == [
        [
            "customer_id",
            "customer",
            "referral_code",
            "tier",
            "points_12m",
            "points",
            "points_value",
            "cashback",
            "total",
        ],
        [str(ana.pk), "Ana Prata", code["Ana Prata"], "Prata", "1200.00", "900.00", "45.00", "10.00", "55.00"],
        [str(bia.pk), "'=Bia", code["=Bia"], "Bronze", "0.00", "400.00", "20.00", "0.00", "20.00"],
        [
            str(Customer.objects.get(name="Caio Zero").pk),
            "Caio Zero",
            code["Caio Zero"],
            "Bronze",
            "0.00",
            "0.00",
            "0.00",
            "0.50",
            "0.50",
        ],
    ]


def test_360_page_shows_the_loyalty_panel(client, agent, own_customer):
    from django.urls import reverse as url_for

    from loyalty import services as loyalty_services
    from tests.factories import OrderFactory

    loyalty_services.order_reward(order_id=OrderFactory(customer=own_customer, amount="250.00").pk)
    client.force_login(agent)
    client.cookies["django_language"] = "en"

    html = client.get(url_for("customers:detail", args=[own_customer.pk])).content.decode()

    panel = html[html.index('id="panel-loyalty"') :]
    assert "250" in panel and loyalty_services.account_for(own_customer).referral_code in panel
