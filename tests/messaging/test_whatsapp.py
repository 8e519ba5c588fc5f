"""WhatsApp Cloud API adapter: Meta's HTTP API is outside the machine, so only it is mocked."""

from unittest import mock

import pytest

from customers.models import Consent
from messaging import services
from messaging.models import Message
from tests.factories import CustomerFactory
from tests.messaging.conftest import grant

pytestmark = pytest.mark.django_db


@pytest.fixture
def whatsapp_on(settings):
    settings.MESSAGING_WHATSAPP_TOKEN = "EAAG-test-token"
    settings.MESSAGING_WHATSAPP_PHONE_NUMBER_ID = "1234567890"


def api_answer(status=200, payload=None):
    response = mock.Mock(status_code=status, text="{}")
    response.json.return_value = payload if payload is not None else {"messages": [{"id": "wamid.HBgM123"}]}
    return response


def test_configured_whatsapp_sends_through_the_cloud_api_and_stores_the_wamid(whatsapp_on):
    customer = CustomerFactory(phone="+5511987654321")
    message = services.message_queue(customer=customer, idempotency_key="wa1", body="Oi, Maria!", channel="whatsapp")
    assert message.status == Message.Status.QUEUED
    assert message.to_address == "5511987654321"

    with mock.patch("messaging.adapters.meta.requests.post", return_value=api_answer()) as post:
        services.message_deliver(message_id=message.pk)
        services.message_deliver(message_id=message.pk)

    post.assert_called_once()
    url = post.call_args.args[0]
    assert url == "https://graph.facebook.com/v21.0/1234567890/messages"
    assert post.call_args.kwargs["json"]["text"]["body"] == "Oi, Maria!"
    assert post.call_args.kwargs["headers"]["Authorization"] == "Bearer EAAG-test-token"
    message.refresh_from_db()
    assert message.status == Message.Status.SENT
    assert message.provider_message_id == "wamid.HBgM123"


def test_whatsapp_api_error_marks_the_message_failed(whatsapp_on):
    customer = CustomerFactory(phone="+5511987654321")
    message = services.message_queue(customer=customer, idempotency_key="wa1", body="Oi", channel="whatsapp")

    with mock.patch("messaging.adapters.meta.requests.post", return_value=api_answer(status=401)):
        services.message_deliver(message_id=message.pk)

    message.refresh_from_db()
    assert message.status == Message.Status.FAILED
    assert "WhatsApp Cloud API 401" in message.error


def test_whatsapp_marketing_needs_whatsapp_consent_not_email_consent(whatsapp_on):
    customer = CustomerFactory(phone="+5511987654321")
    grant(customer, Consent.Purpose.MARKETING, channel=Consent.Channel.EMAIL)

    blocked = services.message_queue(
        customer=customer, idempotency_key="wa1", body="Oferta", channel="whatsapp", purpose="marketing"
    )
    grant(customer, Consent.Purpose.MARKETING, channel=Consent.Channel.WHATSAPP)
    allowed = services.message_queue(
        customer=customer, idempotency_key="wa2", body="Oferta", channel="whatsapp", purpose="marketing"
    )

    assert blocked.blocked_reason == Message.BlockedReason.NO_CONSENT
    assert allowed.status == Message.Status.QUEUED


def test_whatsapp_can_be_switched_on_from_the_environment(monkeypatch):
    monkeypatch.setenv("MESSAGING_WHATSAPP_TOKEN", "EAAG-env-token")
    monkeypatch.setenv("MESSAGING_WHATSAPP_PHONE_NUMBER_ID", "555")

    message = services.message_queue(
        customer=CustomerFactory(), idempotency_key="wa-env", body="Oi", channel="whatsapp"
    )

    assert message.status == Message.Status.QUEUED
