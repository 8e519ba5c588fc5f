"""Instagram DM adapter: Meta's HTTP API is outside the machine, so only it is mocked."""

from unittest import mock

import pytest

from customers.models import Consent, Customer
from messaging import services
from messaging.models import Message
from tests.customers.test_api import CUSTOMERS, detail, token_client
from tests.factories import CustomerFactory
from tests.messaging.conftest import grant

pytestmark = pytest.mark.django_db


@pytest.fixture
def instagram_on(settings):
    settings.MESSAGING_INSTAGRAM_TOKEN = "IGAA-test-token"
    settings.MESSAGING_INSTAGRAM_ACCOUNT_ID = "17841400000000000"


def api_answer(status=200, payload=None):
    response = mock.Mock(status_code=status, text="{}")
    response.json.return_value = (
        payload if payload is not None else {"recipient_id": "IGSID-1", "message_id": "mid.IG123"}
    )
    return response


def test_instagram_is_off_unless_configured_and_blocks_the_message():
    customer = CustomerFactory(instagram_id="1234567890123456")

    with mock.patch("messaging.adapters.meta.requests.post") as post:
        message = services.message_queue(customer=customer, idempotency_key="ig0", body="Oi", channel="instagram")

    post.assert_not_called()
    assert message.status == Message.Status.BLOCKED
    assert message.blocked_reason == Message.BlockedReason.CHANNEL_NOT_CONFIGURED


def test_configured_instagram_sends_through_the_graph_api_and_stores_the_message_id(instagram_on):
    customer = CustomerFactory(instagram_id="1234567890123456")
    message = services.message_queue(customer=customer, idempotency_key="ig1", body="Oi, Maria!", channel="instagram")
    assert message.status == Message.Status.QUEUED
    assert message.to_address == "1234567890123456"

    with mock.patch("messaging.adapters.meta.requests.post", return_value=api_answer()) as post:
        services.message_deliver(message_id=message.pk)
        services.message_deliver(message_id=message.pk)

    post.assert_called_once()
    assert post.call_args.args[0] == "https://graph.facebook.com/v21.0/17841400000000000/messages"
    assert post.call_args.kwargs["json"] == {"recipient": {"id": "1234567890123456"}, "message": {"text": "Oi, Maria!"}}
    assert post.call_args.kwargs["headers"]["Authorization"] == "Bearer IGAA-test-token"
    message.refresh_from_db()
    assert message.status == Message.Status.SENT
    assert message.provider_message_id == "mid.IG123"


def test_instagram_api_error_marks_the_message_failed(instagram_on):
    customer = CustomerFactory(instagram_id="1234567890123456")
    message = services.message_queue(customer=customer, idempotency_key="ig1", body="Oi", channel="instagram")

    with mock.patch("messaging.adapters.meta.requests.post", return_value=api_answer(status=400)):
        services.message_deliver(message_id=message.pk)

    message.refresh_from_db()
    assert message.status == Message.Status.FAILED
    assert "Instagram API 400" in message.error


def test_customer_without_instagram_id_is_blocked_for_no_address(instagram_on):
    customer = CustomerFactory(instagram_id="")

    with mock.patch("messaging.adapters.meta.requests.post") as post:
        message = services.message_queue(customer=customer, idempotency_key="ig2", body="Oi", channel="instagram")
        services.message_deliver(message_id=message.pk)

    post.assert_not_called()
    message.refresh_from_db()
    assert message.status == Message.Status.BLOCKED
    assert message.blocked_reason == Message.BlockedReason.NO_ADDRESS


def test_instagram_marketing_needs_instagram_consent_not_whatsapp_consent(instagram_on):
    customer = CustomerFactory(instagram_id="1234567890123456")
    grant(customer, Consent.Purpose.MARKETING, channel=Consent.Channel.WHATSAPP)

    blocked = services.message_queue(
        customer=customer, idempotency_key="ig3", body="Oferta", channel="instagram", purpose="marketing"
    )
    grant(customer, Consent.Purpose.MARKETING, channel=Consent.Channel.INSTAGRAM)
    allowed = services.message_queue(
        customer=customer, idempotency_key="ig4", body="Oferta", channel="instagram", purpose="marketing"
    )

    assert blocked.blocked_reason == Message.BlockedReason.NO_CONSENT
    assert allowed.status == Message.Status.QUEUED


def test_instagram_can_be_switched_on_from_the_environment(monkeypatch):
    monkeypatch.setenv("MESSAGING_INSTAGRAM_TOKEN", "IGAA-env-token")
    monkeypatch.setenv("MESSAGING_INSTAGRAM_ACCOUNT_ID", "555")

    message = services.message_queue(
        customer=CustomerFactory(instagram_id="42"), idempotency_key="ig-env", body="Oi", channel="instagram"
    )

    assert message.status == Message.Status.QUEUED


def test_api_round_trips_instagram_id(agent, own_customer):
    client = token_client(agent)

    patched = client.patch(detail(own_customer), {"instagram_id": "1234567890123456"}, format="json")
    assert patched.status_code == 200, patched.json()
    assert client.get(detail(own_customer)).json()["instagram_id"] == "1234567890123456"

    created = client.put(f"{CUSTOMERS}by-external-id/ig-1/", {"name": "Ana", "instagram_id": "987"}, format="json")
    assert created.status_code == 201, created.json()
    assert created.json()["instagram_id"] == "987"
    assert Customer.objects.get(external_id="ig-1").instagram_id == "987"
    listed = {row["id"]: row for row in client.get(CUSTOMERS).json()["results"]}
    assert listed[own_customer.pk]["instagram_id"] == "1234567890123456"
