"""Unsubscribe and preference centre: signed links, no login."""

from urllib.parse import urlsplit

import pytest
from django.test import Client

from customers.models import Consent
from messaging import links
from tests.factories import CustomerFactory
from tests.messaging.conftest import grant

pytestmark = pytest.mark.django_db


def in_force(customer, channel, purpose):
    latest = (
        Consent.objects.filter(customer=customer, channel=channel, purpose=purpose)
        .order_by("-recorded_at", "-id")
        .first()
    )
    return None if latest is None else latest.granted


def path_of(url):
    return urlsplit(url).path


def test_unsubscribe_link_shows_a_confirmation_in_portuguese_by_default(client):
    customer = CustomerFactory(name="Maria da Silva", email="maria@example.com.br")

    response = client.get(path_of(links.unsubscribe_url(customer.pk)))

    assert response.status_code == 200
    assert response["Content-Language"] == "pt-br"
    assert "Maria da Silva" in response.text
    assert "ma•••@example.com.br" in response.text
    assert not Consent.objects.exists()  # GET never changes anything (link scanners)


def test_one_click_post_without_csrf_token_revokes_email_marketing_and_surveys():
    customer = CustomerFactory()
    grant(customer, Consent.Purpose.MARKETING)
    grant(customer, Consent.Purpose.SURVEYS)
    browserless = Client(enforce_csrf_checks=True)

    response = browserless.post(
        path_of(links.unsubscribe_url(customer.pk)),
        data="List-Unsubscribe=One-Click",
        content_type="application/x-www-form-urlencoded",
    )

    assert response.status_code == 200
    assert in_force(customer, "email", "marketing") is False
    assert in_force(customer, "email", "surveys") is False
    revocations = Consent.objects.filter(granted=False)
    assert set(revocations.values_list("source", flat=True)) == {Consent.Source.PREFERENCE_CENTRE}
    assert "RFC 8058" in revocations.first().evidence


def test_unsubscribing_twice_appends_no_new_records():
    customer = CustomerFactory()
    url = path_of(links.unsubscribe_url(customer.pk))
    Client().post(url)

    Client().post(url)

    assert Consent.objects.filter(customer=customer).count() == 2


def test_tampered_token_gets_a_friendly_400_page(client):
    customer = CustomerFactory()
    token = links.customer_token(customer.pk)
    tampered = token[:-3] + ("aaa" if not token.endswith("aaa") else "bbb")

    get = client.get(f"/messaging/u/{tampered}/")
    post = Client(enforce_csrf_checks=True).post(f"/messaging/u/{tampered}/", data={"List-Unsubscribe": "One-Click"})
    prefs = client.get(f"/messaging/p/{tampered}/")

    for response in (get, post, prefs):
        assert response.status_code == 400
        assert "Este link não é válido" in response.text or "This link is not valid" in response.text
    assert not Consent.objects.exists()


def test_token_of_one_customer_cannot_be_reused_as_a_different_salt(client):
    from django.core import signing

    customer = CustomerFactory()
    other_purpose_token = signing.dumps(customer.pk, salt="something-else")

    response = client.get(f"/messaging/u/{other_purpose_token}/")

    assert response.status_code == 400


def test_public_pages_use_the_customers_language(client):
    customer = CustomerFactory(language="en")

    response = client.get(path_of(links.preferences_url(customer.pk)))

    assert response["Content-Language"] == "en"
    assert "Service messages (orders, account, support)" in response.text


def test_preference_centre_shows_current_choices(client):
    customer = CustomerFactory()
    grant(customer, Consent.Purpose.SURVEYS)

    response = client.get(path_of(links.preferences_url(customer.pk)))

    assert response.status_code == 200
    assert 'name="email-surveys" checked' in response.text
    assert 'name="email-marketing" checked' not in response.text


def test_preference_centre_appends_consent_only_for_changed_topics(client):
    customer = CustomerFactory()
    grant(customer, Consent.Purpose.SURVEYS)  # e-mail surveys on; everything else never recorded
    url = path_of(links.preferences_url(customer.pk))
    client.get(url)

    response = client.post(url, {"email-surveys": "on", "whatsapp-marketing": "on"})

    assert response.status_code == 200
    new = Consent.objects.filter(customer=customer, source=Consent.Source.PREFERENCE_CENTRE)
    assert list(new.values_list("channel", "purpose", "granted")) == [("whatsapp", "marketing", True)]
    assert in_force(customer, "email", "surveys") is True


def test_preference_centre_unticking_revokes(client):
    customer = CustomerFactory()
    grant(customer, Consent.Purpose.MARKETING)
    url = path_of(links.preferences_url(customer.pk))

    client.post(url, {})

    assert in_force(customer, "email", "marketing") is False
    assert Consent.objects.filter(customer=customer, source=Consent.Source.PREFERENCE_CENTRE).count() == 1


def test_preference_centre_form_is_csrf_protected():
    customer = CustomerFactory()

    response = Client(enforce_csrf_checks=True).post(
        path_of(links.preferences_url(customer.pk)), {"email-marketing": "on"}
    )

    assert response.status_code == 403
    assert not Consent.objects.exists()
