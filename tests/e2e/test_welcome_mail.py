"""End-to-end: a new customer's D+0 welcome e-mail travels from the funnel's playbook runner
through a real Celery worker over Redis to a real SMTP server on loopback, exactly once."""

import time
import uuid
from unittest import mock

import pytest
from celery.contrib.testing.worker import start_worker
from django.core.management import call_command
from django.urls import reverse

from customers import services as customer_services
from funnel import tasks as funnel_tasks
from funnel.models import StepRun
from messaging import tasks as messaging_tasks
from messaging.models import Message
from posvenda import roles
from posvenda.celery import app
from tests.factories import UserFactory


def wait_for(condition, what, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    runs = list(StepRun.objects.values_list("status", "detail"))
    messages = list(Message.objects.values_list("status", "error", "blocked_reason"))
    raise AssertionError(f"timed out waiting for {what}; step runs {runs}, messages {messages}")


@pytest.mark.django_db(transaction=True)
def test_new_customer_gets_the_welcome_email_once_through_a_real_worker_and_smtp(client, smtp_inbox, settings):
    # given the default playbooks and an agent; the welcome is a service message, so it needs no
    # marketing consent (consent rules are covered in tests/messaging)
    settings.SITE_URL = "https://crm.example.com.br"
    call_command("load_playbooks", verbosity=0)
    agent = UserFactory(username="carla", first_name="Carla", last_name="Mendes", role=roles.AGENT)
    # A queue of this test's own: workers of other test processes sharing the Redis db (each with
    # its own test database) neither take these tasks nor hand theirs to this worker.
    queue = f"welcome-e2e-{uuid.uuid4().hex}"

    def deliver_on_test_queue(message_id):
        return messaging_tasks.deliver.apply_async(args=[message_id], queue=queue)

    with (
        start_worker(app, perform_ping_check=False, pool="solo", shutdown_timeout=20, queues=[queue]),
        mock.patch.object(messaging_tasks.deliver, "delay", side_effect=deliver_on_test_queue) as hand_off,
    ):
        # when the agent creates a customer (the funnel puts it in adoption and schedules D+0)
        customer = customer_services.customer_create(
            actor=agent, name="Beatriz Nogueira", email="beatriz@example.com.br", plan="Plano Pro"
        )
        assert StepRun.objects.filter(customer_id=customer.pk, status=StepRun.Status.PENDING).exists()
        # and the beat's every-minute runner goes through the worker, as beat would send it
        funnel_tasks.run_due_steps.apply_async(queue=queue)

        # then the SMTP server receives the welcome e-mail
        wait_for(lambda: len(smtp_inbox.messages) >= 1, "the welcome e-mail at the SMTP server")
        message = Message.objects.get(customer=customer)
        wait_for(lambda: Message.objects.get(pk=message.pk).status == Message.Status.SENT, "status sent")

        # and running the scheduler again (a second beat tick, a retried task) sends nothing more
        assert funnel_tasks.run_due_steps() == 0
        funnel_tasks.run_due_steps.apply_async(queue=queue)
        assert messaging_tasks.deliver_pending() == 0
        time.sleep(2)  # room for a wrongly enqueued second e-mail to arrive before the worker stops
    assert hand_off.call_count == 1
    assert Message.objects.filter(customer=customer).count() == 1
    assert len(smtp_inbox.messages) == 1

    recipients, email = smtp_inbox.messages[0]
    assert recipients == ["beatriz@example.com.br"]
    assert email["Subject"] == "Boas-vindas, Beatriz Nogueira!"
    text = email.get_body(preferencelist=("plain",)).get_content()
    assert text.startswith("Olá, Beatriz Nogueira!")
    assert "nos primeiros passos com Plano Pro é Carla Mendes" in text  # the owner, personalised too
    assert "Plano Pro" in text
    assert str(email["List-Unsubscribe"]).strip().startswith("<https://crm.example.com.br/messaging/u/")
    assert email["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"

    message.refresh_from_db()
    assert message.status == Message.Status.SENT
    assert message.provider_message_id == str(email["Message-ID"]).strip()
    assert StepRun.objects.get(message_id=message.pk).status == StepRun.Status.DONE

    # and the CS team sees it on the customer's 360 timeline
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    client.force_login(agent)
    html = client.get(reverse("customers:detail", args=[customer.pk])).content.decode()
    item = html[html.index(f'id="message-{message.pk}"') :]
    item = item[: item.index("</li>")]
    assert f'<a href="/messaging/{message.pk}/">Boas-vindas, Beatriz Nogueira!</a>' in item
    assert '<span class="status msg-status-sent">Sent</span>' in item
