"""The customer's signed loyalty page and the public referral landing page (no login)."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from loyalty import links, services
from loyalty.models import Currency, Entry, Programme, Redemption, Referral, Reward, Tier
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def programme(db):
    """1 point per R$, 5 % cashback, 200 referral points; tiers Bronze 0, Prata 1,000, Ouro 5,000."""
    Programme.objects.all().delete()
    Tier.objects.all().delete()
    for name, pts, benefits in (
        ("Bronze", 0, "Points on every order"),
        ("Prata", 1000, "Free shipping"),
        ("Ouro", 5000, ""),
    ):
        Tier.objects.create(name=name, min_points=pts, benefits=benefits)
    return Programme.objects.create(
        points_per_real=Decimal("1"), cashback_percent=Decimal("5"), referral_points=200, expiry_months=12
    )


def html(response) -> str:
    return response.content.decode()


def earn(account, amount, *, key, reason="Order X1", currency=Currency.POINTS, days_ago=0):
    return Entry.objects.create(
        account=account,
        kind=Entry.Kind.EARN,
        currency=currency,
        amount=Decimal(amount),
        reason=reason,
        source=Entry.Source.ORDER,
        idempotency_key=key,
        created_at=timezone.now() - timedelta(days=days_ago),
    )


@pytest.fixture(autouse=True)
def english_visitor(client, settings):
    """The visitor's browser asks for English (the customer's page follows the customer instead)."""
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"


@pytest.fixture
def customer(db):
    return CustomerFactory(name="Marina Costa Lima", email="marina@example.com", language="en")


@pytest.fixture
def account(customer):
    return services.account_for(customer)


def page_url(account) -> str:
    return links.account_path(account.customer_id, account.referral_code)


@pytest.fixture
def reward(db):
    return Reward.objects.create(name="Coupon R$ 10", cost_points=300, description="Any product")


# --- the customer's page --------------------------------------------------------------------------


def test_page_shows_balance_tier_history_and_rules_of_its_own_customer_only(client, account, reward):
    # given 1,200 points (two orders) and R$ 12.50 cashback; another customer with their own entries
    earn(account, "700", key="o1", reason="Order A-100", days_ago=10)
    earn(account, "500", key="o2", reason="Order A-200", days_ago=2)
    earn(account, "12.50", key="o2c", reason="Cashback on order A-200", currency=Currency.CASHBACK, days_ago=2)
    other = services.account_for(CustomerFactory(name="Otávio Secreto"))
    earn(other, "9999", key="x", reason="Order OTHER-1")

    response = client.get(page_url(account))

    body = html(response)
    assert response.status_code == 200
    assert response["X-Robots-Tag"] == "noindex" and response["Cache-Control"] == "no-store"
    assert 'lang="en"' in body  # the customer's language
    assert "Hello, Marina!" in body
    assert '<span class="ly-big" id="points-balance">1,200</span>' in body
    assert '<span class="ly-big" id="cashback-balance">R$12.50</span>' in body
    # Prata from 1,000; Ouro at 5,000 → 3,800 missing
    assert "Prata" in body and "Earn 3,800 more points to reach Ouro." in body
    # history newest first
    assert body.index("Cashback on order A-200") < body.index("Order A-100")
    assert "You earn 1 point(s) for every R$ 1.00 you spend." in body
    assert "5% of every order comes back to you as cashback" in body
    assert "Points expire 12 months after you earn them" in body
    assert "Order OTHER-1" not in body and "Otávio" not in body and "9,999" not in body
    assert links.referral_url(account.referral_code) in body


def test_a_tampered_or_foreign_token_is_a_friendly_404_that_shows_nothing(client, account):
    earn(account, "700", key="o1", reason="Order A-100")
    good = links.account_token(account.customer_id, account.referral_code)
    forged_code = links.account_token(account.customer_id, "AAAAAAAA")  # signed, but not the account's code
    for token in (good[:-2] + ("xy" if not good.endswith("xy") else "zw"), "abc", forged_code):
        response = client.get(reverse("loyalty:account", args=[token]))
        body = html(response)
        assert response.status_code == 404
        assert "This link is not valid" in body
        assert "Marina" not in body and "700" not in body and "Order A-100" not in body


def redeem(client, account, reward, nonce="n" * 20):
    return client.post(page_url(account), {"reward": reward.pk, "nonce": nonce})


def test_redeem_twice_with_the_same_nonce_redeems_once_and_shows_the_code(client, account, reward):
    earn(account, "1000", key="o1")

    first = redeem(client, account, reward, nonce="abc123abc123abc123")
    second = redeem(client, account, reward, nonce="abc123abc123abc123")  # the double click

    assert first.status_code == second.status_code == 302
    assert first["Location"] == second["Location"]
    redemption = Redemption.objects.get()
    assert services.balance(account) == Decimal("700.00")
    page = html(client.get(first["Location"]))
    assert redemption.code in page and "You redeemed “Coupon R$ 10”." in page
    assert '<span class="ly-big" id="points-balance">700</span>' in page


def test_each_form_has_its_own_nonce_so_two_deliberate_redemptions_book_twice(client, account, reward):
    earn(account, "1000", key="o1")
    redeem(client, account, reward, nonce="a" * 20)
    redeem(client, account, reward, nonce="b" * 20)
    assert Redemption.objects.count() == 2 and services.balance(account) == Decimal("400.00")


def test_unaffordable_reward_shows_a_clear_error_and_books_nothing(client, account, reward):
    earn(account, "299", key="o1")

    response = redeem(client, account, reward)

    assert response.status_code == 200
    assert "You do not have enough points for “Coupon R$ 10” yet. Nothing was redeemed." in html(response)
    assert not Redemption.objects.exists()
    assert not Entry.objects.filter(kind=Entry.Kind.REDEEM).exists()


def test_affordable_rewards_get_a_button_others_say_what_is_missing(client, account, reward):
    Reward.objects.create(name="Mug", cost_points=2000)
    Reward.objects.create(name="Hidden", cost_points=10, is_active=False)
    earn(account, "500", key="o1")

    body = html(client.get(page_url(account)))

    assert body.count('name="nonce"') == 1  # only the coupon can be redeemed
    assert "1,500 more points needed" in body
    assert "Hidden" not in body


def test_an_inactive_reward_cannot_be_redeemed(client, account, reward):
    earn(account, "1000", key="o1")
    reward.is_active = False
    reward.save()
    response = redeem(client, account, reward)
    assert "This reward is no longer available" in html(response)
    assert not Redemption.objects.exists()


def test_redeem_needs_the_csrf_token(account, reward):
    earn(account, "1000", key="o1")
    client = Client(enforce_csrf_checks=True)
    url = page_url(account)
    response = client.post(url, {"reward": reward.pk, "nonce": "c" * 20}, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 403
    assert "Open the page again" in response.content.decode() and f'href="{url}"' in response.content.decode()
    assert not Redemption.objects.exists()


def test_history_is_paginated_and_costs_the_same_queries_for_one_and_many_entries(
    client, account, reward, django_assert_num_queries
):
    earn(account, "10", key="e0")
    url = page_url(account)
    client.get(url)  # warm up (session, content types)
    with django_assert_num_queries(10) as one:
        client.get(url)
    for i in range(1, 45):
        earn(account, "10", key=f"e{i}", reason=f"Entry {i:02d}", days_ago=i)
    with django_assert_num_queries(len(one.captured_queries)):
        response = client.get(url)
    body = html(response)
    assert "Entry 19" in body and "Entry 20" not in body  # 20 a page, newest first
    assert "Entry 20" in html(client.get(url + "?page=2"))


# --- referral landing -----------------------------------------------------------------------------


def test_referral_landing_shows_only_the_first_name_and_creates_one_referral_per_email(client, account):
    url = reverse("loyalty:referral", args=[account.referral_code])

    page = html(client.get(url))
    assert "Marina invited you" in page
    assert "Costa" not in page and "marina@example.com" not in page

    for _ in range(2):
        response = client.post(url, {"name": "Paulo Reis", "email": "Paulo@Example.com"})
        assert response.status_code == 302
        assert response["Location"] == reverse("loyalty:referral_thanks", args=[account.referral_code])
    referral = Referral.objects.get()
    assert (referral.referrer, referral.email, referral.name) == (account, "paulo@example.com", "Paulo Reis")
    thanks = html(client.get(response["Location"]))
    assert "Thank you! Your invitation is registered." in thanks and "paulo@example.com" not in thanks


def test_referral_landing_refuses_bad_input_and_unknown_codes(client, account):
    url = reverse("loyalty:referral", args=[account.referral_code])

    bad = client.post(url, {"name": "Eu", "email": "marina@example.com"})  # the referrer themselves
    assert "A customer cannot refer themselves." in html(bad)
    invalid = client.post(url, {"name": "", "email": "not-an-email"})
    assert "Please check the fields marked below." in html(invalid)
    assert not Referral.objects.exists()

    unknown = client.get(reverse("loyalty:referral", args=["ZZZZZZZZ"]))
    assert unknown.status_code == 404 and "This link is not valid" in html(unknown)
    assert (
        client.post(reverse("loyalty:referral", args=["ZZZZZZZZ"]), {"name": "A", "email": "a@b.com"}).status_code
        == 404
    )


def test_referral_form_needs_the_csrf_token(account):
    client = Client(enforce_csrf_checks=True)
    url = reverse("loyalty:referral", args=[account.referral_code])
    response = client.post(url, {"name": "Paulo", "email": "paulo@example.com"}, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 403 and "Open the page again" in response.content.decode()
    assert not Referral.objects.exists()
