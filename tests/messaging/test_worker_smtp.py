"""End-to-end: a real Celery worker over Redis delivers a queued message to a real SMTP server."""

import time
import uuid
from unittest import mock

import pytest
from celery.contrib.testing.worker import start_worker
from django.db import transaction

from messaging import services, tasks
from messaging.models import Message
from posvenda.celery import app
from tests.factories import CustomerFactory


def wait_for_status(message, status, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        message.refresh_from_db()
        if message.status == status:
            return message
        time.sleep(0.1)
    raise AssertionError(f"message stayed {message.status!r}, expected {status!r}")


@pytest.mark.django_db(transaction=True)
def test_real_worker_delivers_a_queued_message_to_a_real_smtp_server(smtp_inbox, checkin_template, settings):
    settings.SITE_URL = "https://crm.example.com.br"
    customer = CustomerFactory(name="Maria da Silva", email="maria@example.com.br")
    # A queue of this test's own, so workers of other test processes sharing the Redis db (each with
    # its own test database) neither take this task nor hand theirs to this worker.
    queue = f"messaging-e2e-{uuid.uuid4().hex}"

    def delay_on_test_queue(message_id):
        return tasks.deliver.apply_async(args=[message_id], queue=queue)

    with (
        start_worker(app, perform_ping_check=False, pool="solo", shutdown_timeout=20, queues=[queue]),
        mock.patch.object(tasks.deliver, "delay", side_effect=delay_on_test_queue) as delay,
    ):
        with transaction.atomic():  # the request's transaction: the task is enqueued on commit
            message = services.message_queue(customer=customer, idempotency_key="welcome:1", template=checkin_template)
            assert delay.call_count == 0
        assert delay.call_count == 1
        wait_for_status(message, Message.Status.SENT)

    assert len(smtp_inbox.messages) == 1
    recipients, email = smtp_inbox.messages[0]
    assert recipients == ["maria@example.com.br"]
    assert email["Subject"] == "Como vai, Maria da Silva?"
    assert email["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert str(email["List-Unsubscribe"]).strip().startswith("<https://crm.example.com.br/messaging/u/")
    text = email.get_body(preferencelist=("plain",)).get_content()
    assert "Olá, Maria da Silva! Como tem sido a experiência" in text
    html = email.get_body(preferencelist=("html",)).get_content()
    assert "Olá, Maria da Silva!" in html
    assert message.provider_message_id == str(email["Message-ID"]).strip()
