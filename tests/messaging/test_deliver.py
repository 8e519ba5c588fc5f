import threading
from datetime import timedelta
from unittest import mock

import pytest
from django.core import mail
from django.db import connection
from django.utils import timezone, translation

from customers.models import Consent
from messaging import links, services, tasks
from messaging.models import Message, MessageEvent
from tests.factories import CustomerFactory
from tests.messaging.conftest import grant

Status = Message.Status


def queued(customer=None, **kwargs):
    customer = customer or CustomerFactory(email="cliente@example.com.br")
    kwargs.setdefault("idempotency_key", "k")
    kwargs.setdefault("subject", "Bem-vindo")
    kwargs.setdefault("body", "Olá! Acesse https://posvenda.example.com/ajuda para começar.")
    return services.message_queue(customer=customer, **kwargs)


@pytest.mark.django_db
def test_deliver_task_run_twice_sends_one_email():
    message = queued()

    tasks.deliver(message.pk)
    tasks.deliver(message.pk)

    assert len(mail.outbox) == 1
    message.refresh_from_db()
    assert message.status == Status.SENT
    assert message.sent_at is not None
    assert message.attempts == 1


@pytest.mark.django_db
def test_email_has_text_html_and_rfc8058_unsubscribe_headers(settings):
    settings.SITE_URL = "https://crm.example.com.br"
    message = queued()

    services.message_deliver(message_id=message.pk)

    email = mail.outbox[0]
    unsubscribe = links.unsubscribe_url(message.customer_id)
    assert email.to == ["cliente@example.com.br"]
    assert email.subject == "Bem-vindo"
    assert unsubscribe.startswith("https://crm.example.com.br/messaging/u/")
    assert (
        email.extra_headers["List-Unsubscribe"]
        == f"<{unsubscribe}>, <mailto:no-reply@posvenda.local?subject=unsubscribe>"
    )
    assert email.extra_headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert "Olá! Acesse https://posvenda.example.com/ajuda" in email.body
    assert links.preferences_url(message.customer_id) in email.body
    html, mimetype = email.alternatives[0]
    assert mimetype == "text/html"
    assert '<a href="https://posvenda.example.com/ajuda"' in html
    assert unsubscribe in html
    message.refresh_from_db()
    assert message.provider_message_id == email.extra_headers["Message-ID"]


@pytest.mark.django_db
def test_footer_follows_the_customers_language():
    message = queued(CustomerFactory(language="en"))

    services.message_deliver(message_id=message.pk)

    assert "Unsubscribe from marketing and surveys:" in mail.outbox[0].body


@pytest.mark.django_db
def test_anymail_provider_message_id_is_stored():
    message = queued()

    def fake_send(self, fail_silently=False):
        self.anymail_status = mock.Mock(message_id="<esp-123@mg.example.com>")
        return 1

    with mock.patch("django.core.mail.EmailMultiAlternatives.send", fake_send):
        services.message_deliver(message_id=message.pk)

    message.refresh_from_db()
    assert message.provider_message_id == "<esp-123@mg.example.com>"


@pytest.mark.django_db
def test_consent_revoked_after_queueing_blocks_at_send_time():
    customer = CustomerFactory()
    grant(customer, Consent.Purpose.MARKETING)
    message = queued(customer, purpose=Consent.Purpose.MARKETING)
    grant(customer, Consent.Purpose.MARKETING, granted=False)
    Consent.objects.filter(granted=False).update(recorded_at=timezone.now() + timedelta(seconds=1))

    services.message_deliver(message_id=message.pk)

    assert mail.outbox == []
    message.refresh_from_db()
    assert message.status == Status.BLOCKED
    assert message.blocked_reason == Message.BlockedReason.NO_CONSENT


@pytest.mark.django_db
def test_backend_error_marks_failed_and_the_beat_retries_it_later(settings):
    settings.MESSAGING_RETRY_AFTER = 300
    message = queued()

    with mock.patch("django.core.mail.EmailMultiAlternatives.send", side_effect=OSError("connection refused")):
        services.message_deliver(message_id=message.pk)

    message.refresh_from_db()
    assert message.status == Status.FAILED
    assert message.error == "OSError: connection refused"
    assert message.events.filter(event_type=MessageEvent.Type.FAILED).exists()
    assert services.messages_due_for_delivery() == []  # too early to retry

    later = timezone.now() + timedelta(seconds=301)
    assert services.messages_due_for_delivery(now=later) == [message.pk]
    services.message_deliver(message_id=message.pk)

    message.refresh_from_db()
    assert message.status == Status.SENT
    assert message.attempts == 2
    assert len(mail.outbox) == 1


@pytest.mark.django_db
def test_failed_message_is_not_retried_after_max_attempts(settings):
    settings.MESSAGING_MAX_ATTEMPTS = 2
    message = queued()
    Message.objects.filter(pk=message.pk).update(status=Status.FAILED, attempts=2)

    assert services.messages_due_for_delivery(now=timezone.now() + timedelta(hours=1)) == []
    message.refresh_from_db()
    assert message.status == Status.FAILED


@pytest.mark.django_db
def test_outbox_beat_delivers_a_queued_message_whose_enqueue_was_lost():
    message = queued()  # in this test transaction on_commit never runs: like a Redis outage at enqueue time
    assert services.messages_due_for_delivery() == []  # handed over less than a minute ago

    Message.objects.filter(pk=message.pk).update(enqueued_at=timezone.now() - timedelta(minutes=2))
    with mock.patch.object(tasks.deliver_batch, "delay", side_effect=lambda ids: tasks.deliver_batch(ids)):
        assert tasks.deliver_pending() == 1
        assert tasks.deliver_pending() == 0

    assert len(mail.outbox) == 1
    message.refresh_from_db()
    assert message.status == Status.SENT


@pytest.mark.django_db
def test_message_stuck_in_sending_is_failed_not_resent():
    message = queued()
    Message.objects.filter(pk=message.pk).update(status=Status.SENDING, attempts=1)
    Message.objects.filter(pk=message.pk).update(updated_at=timezone.now() - timedelta(hours=1))

    with translation.override("en"):  # the error text is stored in the language active at the time
        ids = services.messages_due_for_delivery(now=timezone.now() + timedelta(hours=2))

    assert ids == []
    message.refresh_from_db()
    assert message.status == Status.FAILED
    assert "interrupted" in message.error


@pytest.mark.django_db
def test_enqueue_failure_at_commit_does_not_break_the_caller(django_capture_on_commit_callbacks):
    with (
        mock.patch.object(tasks.deliver, "delay", side_effect=ConnectionError("redis down")),
        django_capture_on_commit_callbacks(execute=True),
    ):
        message = queued()

    message.refresh_from_db()
    assert message.status == Status.QUEUED


@pytest.mark.django_db(transaction=True)
def test_two_workers_racing_on_the_same_message_send_one_email():
    message = queued()
    barrier = threading.Barrier(2)
    errors = []

    def worker():
        try:
            barrier.wait(timeout=10)
            services.message_deliver(message_id=message.pk)
        except Exception as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)

    assert errors == []
    assert len(mail.outbox) == 1
    message.refresh_from_db()
    assert message.status == Status.SENT
    assert message.attempts == 1
