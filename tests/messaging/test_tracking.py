"""Tracking webhooks through anymail's real Mailgun view: signature checked, then message_track."""

import base64
import hashlib
import hmac
import json

import pytest
from django.urls import reverse

from customers.models import Consent
from messaging import services
from messaging.models import Message, MessageEvent, Suppression
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db

SIGNING_KEY = "mailgun-signing-key-test"
BASIC_AUTH = "posvenda:webhook-secret"
URL = "/messaging/anymail/mailgun/tracking/"


@pytest.fixture(autouse=True)
def mailgun_webhook_settings(settings):
    settings.ANYMAIL = {"MAILGUN_WEBHOOK_SIGNING_KEY": SIGNING_KEY, "WEBHOOK_SECRET": BASIC_AUTH}


@pytest.fixture
def sent_message():
    customer = CustomerFactory(email="cliente@example.com.br")
    message = services.message_queue(customer=customer, idempotency_key="k", subject="Oi", body="Olá")
    Message.objects.filter(pk=message.pk).update(
        status=Message.Status.SENT, provider_message_id="<20260301.abc123@mg.posvenda.example.com>"
    )
    message.refresh_from_db()
    return message


def mailgun_payload(event, *, token="tok-1", timestamp="1772366400", key=SIGNING_KEY, **event_data):
    signature = hmac.new(key.encode(), f"{timestamp}{token}".encode(), hashlib.sha256).hexdigest()
    data = {
        "event": event,
        "timestamp": 1772366400.25,
        "id": f"evt-{token}",
        "recipient": "cliente@example.com.br",
        "message": {"headers": {"message-id": "20260301.abc123@mg.posvenda.example.com"}},
        **event_data,
    }
    return {"signature": {"timestamp": timestamp, "token": token, "signature": signature}, "event-data": data}


def post(client, payload, auth=BASIC_AUTH):
    headers = {}
    if auth:
        headers["HTTP_AUTHORIZATION"] = "Basic " + base64.b64encode(auth.encode()).decode()
    return client.post(URL, data=json.dumps(payload), content_type="application/json", **headers)


def test_webhook_url_is_mounted_under_messaging():
    assert reverse("messaging:anymail:mailgun_tracking_webhook") == URL


def test_valid_delivered_webhook_updates_status_and_records_the_event(client, sent_message):
    response = post(client, mailgun_payload("delivered"))

    assert response.status_code == 200
    sent_message.refresh_from_db()
    assert sent_message.status == Message.Status.DELIVERED
    event = sent_message.events.get()
    assert event.event_type == MessageEvent.Type.DELIVERED
    assert event.payload["event-data"]["event"] == "delivered"
    assert event.at.year == 2026


def test_webhook_with_a_bad_signature_is_refused_and_changes_nothing(client, sent_message):
    forged = mailgun_payload("complained", key="not-the-signing-key")

    response = post(client, forged)

    assert response.status_code == 400
    sent_message.refresh_from_db()
    assert sent_message.status == Message.Status.SENT
    assert not MessageEvent.objects.exists()
    assert not Suppression.objects.exists()


def test_webhook_without_basic_auth_is_refused_and_changes_nothing(client, sent_message):
    response = post(client, mailgun_payload("delivered"), auth="posvenda:wrong")

    assert response.status_code in (400, 401, 403)
    sent_message.refresh_from_db()
    assert sent_message.status == Message.Status.SENT
    assert not MessageEvent.objects.exists()


def test_status_only_moves_forward(client, sent_message):
    post(client, mailgun_payload("clicked", token="t1", url="https://posvenda.example.com/ajuda"))
    post(client, mailgun_payload("opened", token="t2"))
    post(client, mailgun_payload("delivered", token="t3"))

    sent_message.refresh_from_db()
    assert sent_message.status == Message.Status.CLICKED
    assert list(sent_message.events.values_list("event_type", flat=True)) == ["clicked", "opened", "delivered"]


def test_retried_webhook_is_recorded_once(client, sent_message):
    post(client, mailgun_payload("opened", token="same"))
    post(client, mailgun_payload("opened", token="same"))

    assert sent_message.events.count() == 1


def test_hard_bounce_marks_the_message_and_suppresses_the_address(client, sent_message):
    response = post(
        client,
        mailgun_payload(
            "failed", severity="permanent", reason="bounce", **{"delivery-status": {"message": "550 No such user"}}
        ),
    )

    assert response.status_code == 200
    sent_message.refresh_from_db()
    assert sent_message.status == Message.Status.BOUNCED
    suppression = Suppression.objects.get()
    assert suppression.address == "cliente@example.com.br"
    assert suppression.reason == Suppression.Reason.BOUNCE
    blocked = services.message_queue(customer=sent_message.customer, idempotency_key="next", body="de novo")
    assert blocked.blocked_reason == Message.BlockedReason.SUPPRESSED


def test_temporary_failure_does_not_suppress(client, sent_message):
    post(client, mailgun_payload("failed", severity="temporary", reason="generic"))

    sent_message.refresh_from_db()
    assert sent_message.status == Message.Status.SENT
    assert sent_message.events.get().event_type == MessageEvent.Type.DEFERRED
    assert not Suppression.objects.exists()


def test_complaint_suppresses_the_address(client, sent_message):
    post(client, mailgun_payload("opened", token="t1"))
    post(client, mailgun_payload("complained", token="t2"))

    sent_message.refresh_from_db()
    assert sent_message.status == Message.Status.COMPLAINED
    assert Suppression.objects.get().reason == Suppression.Reason.COMPLAINT


def test_unsubscribe_reported_by_the_esp_revokes_email_marketing_and_surveys(client, sent_message):
    post(client, mailgun_payload("unsubscribed"))

    revoked = Consent.objects.filter(customer=sent_message.customer, granted=False)
    assert sorted(revoked.values_list("purpose", flat=True)) == ["marketing", "surveys"]


def test_event_for_an_unknown_message_is_accepted_and_ignored(client, sent_message):
    payload = mailgun_payload("delivered")
    payload["event-data"]["message"]["headers"]["message-id"] = "outro@mg.example.com"

    response = post(client, payload)

    assert response.status_code == 200
    assert not MessageEvent.objects.exists()


def test_event_found_by_our_metadata_when_the_provider_id_is_not_stored_yet(client, sent_message):
    Message.objects.filter(pk=sent_message.pk).update(provider_message_id="")
    payload = mailgun_payload("delivered", **{"user-variables": {"posvenda_message_id": str(sent_message.pk)}})

    post(client, payload)

    sent_message.refresh_from_db()
    assert sent_message.status == Message.Status.DELIVERED
    assert sent_message.provider_message_id == "<20260301.abc123@mg.posvenda.example.com>"
