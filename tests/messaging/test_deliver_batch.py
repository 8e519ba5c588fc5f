"""Batched delivery: one claim, one connection, set-based checks, each e-mail exactly once."""

import threading
from smtplib import SMTPRecipientsRefused
from unittest import mock

import pytest
from django.core import mail
from django.core.mail import EmailMultiAlternatives, get_connection
from django.db import connection

from customers.models import Consent
from funnel import campaigns
from funnel.models import Audience, Campaign, CampaignBatch
from messaging import links, services, tasks
from messaging.models import Channel, Message, MessageEvent, MessageTemplate, Suppression
from tests.factories import CustomerFactory
from tests.messaging.conftest import grant

Status = Message.Status


def queued_marketing(n, *, prefix="cliente"):
    """``n`` queued marketing e-mails, each to a consenting customer of its own."""
    messages = []
    for i in range(n):
        customer = CustomerFactory(email=f"{prefix}{i}@example.com.br")
        grant(customer)
        messages.append(
            services.message_queue(
                customer=customer,
                idempotency_key=f"{prefix}:{i}",
                subject=f"Oferta {i}",
                body="Temos um plano novo para você.",
                purpose=Consent.Purpose.MARKETING,
            )
        )
    return messages


def recipients():
    return sorted(address for email in mail.outbox for address in email.to)


@pytest.mark.django_db
def test_batch_task_run_twice_sends_each_email_once():
    # given three queued messages
    messages = queued_marketing(3)
    ids = [m.pk for m in messages]

    # when the same batch task is delivered twice
    first = tasks.deliver_batch(ids)
    second = tasks.deliver_batch(ids)

    # then each customer got exactly one e-mail, with the unsubscribe headers of a single send
    assert (first, second) == (3, 0)
    assert recipients() == [f"cliente{i}@example.com.br" for i in range(3)]
    for message in Message.objects.filter(pk__in=ids):
        assert message.status == Status.SENT
        assert message.attempts == 1
        assert message.sent_at is not None
        email = next(e for e in mail.outbox if e.to == [message.to_address])
        assert message.provider_message_id == email.extra_headers["Message-ID"]
        # the token carries a timestamp (it differs from one second to the next): decode it
        unsubscribe = email.extra_headers["List-Unsubscribe"].split(">,")[0].strip("<")
        token = unsubscribe.rstrip("/").rsplit("/", 1)[-1]
        assert unsubscribe.startswith(links.absolute_url("/messaging/u/"))
        assert links.customer_id_from_token(token) == message.customer_id
        assert email.extra_headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


@pytest.mark.django_db
def test_batch_sends_over_one_connection():
    messages = queued_marketing(4)

    with mock.patch("messaging.adapters.email.get_connection", wraps=get_connection) as opened:
        services.message_deliver_batch(message_ids=[m.pk for m in messages])

    assert opened.call_count == 1
    assert len(mail.outbox) == 4


@pytest.mark.django_db
def test_batch_sends_only_the_messages_still_queued():
    # given a batch where one message was already sent by a single-message task and one is a draft
    sent, queued, other = queued_marketing(3)
    services.message_deliver(message_id=sent.pk)
    Message.objects.filter(pk=other.pk).update(status=Status.DRAFT)
    mail.outbox.clear()

    # when the batch runs
    count = services.message_deliver_batch(message_ids=[sent.pk, queued.pk, other.pk])

    # then only the queued one goes out
    assert count == 1
    assert recipients() == [queued.to_address]
    assert Message.objects.get(pk=other.pk).status == Status.DRAFT


@pytest.mark.django_db
def test_consent_revoked_after_queueing_is_blocked_not_sent():
    # given two queued marketing e-mails, and one customer who then unsubscribes
    kept, revoked = queued_marketing(2)
    grant(revoked.customer, granted=False)

    # when the batch runs
    services.message_deliver_batch(message_ids=[kept.pk, revoked.pk])

    # then only the customer who still consents gets the e-mail
    assert recipients() == [kept.to_address]
    revoked.refresh_from_db()
    assert revoked.status == Status.BLOCKED
    assert revoked.blocked_reason == Message.BlockedReason.NO_CONSENT
    assert MessageEvent.objects.filter(message=revoked, event_type=MessageEvent.Type.BLOCKED).count() == 1


@pytest.mark.django_db
def test_address_suppressed_after_queueing_is_blocked_not_sent():
    kept, bounced = queued_marketing(2)
    services.suppression_add(address=bounced.to_address, reason=Suppression.Reason.BOUNCE)

    services.message_deliver_batch(message_ids=[kept.pk, bounced.pk])

    assert recipients() == [kept.to_address]
    bounced.refresh_from_db()
    assert (bounced.status, bounced.blocked_reason) == (Status.BLOCKED, Message.BlockedReason.SUPPRESSED)


@pytest.mark.django_db
def test_one_failing_message_does_not_fail_the_others():
    # given three queued messages, the provider refusing the second one
    first, refused, third = queued_marketing(3)
    real_send = EmailMultiAlternatives.send

    def send(self, fail_silently=False):
        if self.to == [refused.to_address]:
            raise SMTPRecipientsRefused({refused.to_address: (550, b"mailbox unavailable")})
        return real_send(self, fail_silently=fail_silently)

    # when the batch runs
    with mock.patch("django.core.mail.EmailMultiAlternatives.send", send):
        count = services.message_deliver_batch(message_ids=[first.pk, refused.pk, third.pk])

    # then the other two are sent and only the refused one is failed (the outbox beat retries it)
    assert count == 2
    assert recipients() == sorted([first.to_address, third.to_address])
    statuses = dict(Message.objects.filter(pk__in=[first.pk, refused.pk, third.pk]).values_list("pk", "status"))
    assert statuses == {first.pk: Status.SENT, refused.pk: Status.FAILED, third.pk: Status.SENT}
    refused.refresh_from_db()
    assert "SMTPRecipientsRefused" in refused.error
    assert MessageEvent.objects.filter(message=refused, event_type=MessageEvent.Type.FAILED).count() == 1


@pytest.mark.django_db
def test_outbox_beat_hands_queued_messages_over_in_batches(settings):
    settings.MESSAGING_DELIVER_TASK_SIZE = 2
    messages = queued_marketing(5)
    Message.objects.filter(pk__in=[m.pk for m in messages]).update(enqueued_at=None)

    with mock.patch.object(tasks.deliver_batch, "delay") as delay:
        assert tasks.deliver_pending() == 5

    assert [len(call.args[0]) for call in delay.call_args_list] == [2, 2, 1]
    assert sorted(pk for call in delay.call_args_list for pk in call.args[0]) == sorted(m.pk for m in messages)


@pytest.mark.django_db
def test_campaign_batch_hands_its_messages_over_in_delivery_batches(settings, django_capture_on_commit_callbacks):
    # given a started campaign of 5 consenting customers, delivery batches of 2
    settings.MESSAGING_DELIVER_TASK_SIZE = 2
    for i in range(5):
        grant(CustomerFactory(email=f"lead{i}@example.com.br"))
    offer = MessageTemplate.objects.create(
        slug="lancamento",
        name="Lançamento",
        channel=Channel.EMAIL,
        purpose=Consent.Purpose.MARKETING,
        subject_pt_br="Novidade para você, {nome}",
        body_pt_br="Olá, {primeiro_nome}!",
    )
    campaign = Campaign.objects.create(name="Novembro", template=offer, audience=Audience.objects.create(name="Todos"))
    assert campaigns.campaign_start(campaign_id=campaign.pk, from_statuses=(Campaign.Status.DRAFT,))

    # when a worker runs the campaign batch
    with (
        mock.patch.object(tasks.deliver, "delay") as single,
        mock.patch.object(tasks.deliver_batch, "delay") as batch,
        django_capture_on_commit_callbacks(execute=True),
    ):
        for batch_id in CampaignBatch.objects.filter(campaign=campaign).values_list("pk", flat=True):
            campaigns.campaign_batch_run(batch_id=batch_id)

    # then the 5 messages are handed over as 3 delivery batches, not 5 single tasks
    assert single.call_count == 0
    assert [len(call.args[0]) for call in batch.call_args_list] == [2, 2, 1]
    ids = sorted(pk for call in batch.call_args_list for pk in call.args[0])
    assert ids == sorted(Message.objects.filter(source=campaign.source).values_list("pk", flat=True))

    # and delivering them (twice) sends each e-mail once
    for call in batch.call_args_list * 2:
        tasks.deliver_batch(*call.args)
    assert recipients() == [f"lead{i}@example.com.br" for i in range(5)]


@pytest.mark.django_db(transaction=True)
def test_two_workers_racing_on_the_same_batch_send_each_email_once():
    # given one batch of 20 queued messages handed to two workers at the same moment
    ids = [m.pk for m in queued_marketing(20)]
    barrier = threading.Barrier(2)
    errors, counts = [], []

    def worker():
        try:
            barrier.wait(timeout=10)
            counts.append(services.message_deliver_batch(message_ids=list(ids)))
        except Exception as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    # then each e-mail went out once, all of them from one worker's claim or split between the two
    assert errors == []
    assert sum(counts) == 20
    assert recipients() == sorted(f"cliente{i}@example.com.br" for i in range(20))
    assert set(Message.objects.filter(pk__in=ids).values_list("status", flat=True)) == {Status.SENT}
    assert set(Message.objects.filter(pk__in=ids).values_list("attempts", flat=True)) == {1}
