from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone, translation

from customers.models import Consent
from messaging import services
from messaging.models import Message, MessageEvent, Suppression
from tests.factories import CustomerFactory
from tests.messaging.conftest import grant

pytestmark = pytest.mark.django_db

Status = Message.Status
Reason = Message.BlockedReason


def test_same_idempotency_key_twice_creates_one_message(checkin_template):
    customer = CustomerFactory()

    first = services.message_queue(
        customer=customer, idempotency_key="playbook:1/step:1/customer:9", template=checkin_template
    )
    second = services.message_queue(
        customer=customer, idempotency_key="playbook:1/step:1/customer:9", subject="outro", body="outro texto"
    )

    assert second.pk == first.pk
    assert second.body == first.body
    assert Message.objects.filter(idempotency_key="playbook:1/step:1/customer:9").count() == 1


def test_service_message_is_queued_with_rendered_text_and_address(checkin_template, django_capture_on_commit_callbacks):
    customer = CustomerFactory(name="Maria", email="Maria@Example.com.br")

    with django_capture_on_commit_callbacks() as callbacks:
        message = services.message_queue(
            customer=customer, idempotency_key="k1", template=checkin_template, source="playbook:3/step:7"
        )

    assert message.status == Status.QUEUED
    assert message.subject == "Como vai, Maria?"
    assert message.to_address == "maria@example.com.br"
    assert message.purpose == Consent.Purpose.SERVICE
    assert message.source == "playbook:3/step:7"
    assert message.queued_at is not None
    assert len(callbacks) == 1  # the deliver task is handed to the broker only after commit


def test_marketing_without_consent_is_blocked_and_never_enqueued(
    marketing_template, django_capture_on_commit_callbacks
):
    customer = CustomerFactory()

    with django_capture_on_commit_callbacks() as callbacks:
        message = services.message_queue(customer=customer, idempotency_key="k", template=marketing_template)

    assert message.status == Status.BLOCKED
    assert message.blocked_reason == Reason.NO_CONSENT
    assert callbacks == []
    assert list(message.events.values_list("event_type", flat=True)) == [MessageEvent.Type.BLOCKED]


def test_marketing_with_consent_is_queued(marketing_template):
    customer = CustomerFactory()
    grant(customer, Consent.Purpose.MARKETING)

    message = services.message_queue(customer=customer, idempotency_key="k", template=marketing_template)

    assert message.status == Status.QUEUED


def test_latest_consent_record_wins(marketing_template):
    customer = CustomerFactory()
    grant(customer, Consent.Purpose.MARKETING, granted=True)
    later = grant(customer, Consent.Purpose.MARKETING, granted=False)
    later_time = timezone.now() + timedelta(seconds=1)
    Consent.objects.filter(pk=later.pk).update(recorded_at=later_time)

    message = services.message_queue(customer=customer, idempotency_key="k", template=marketing_template)

    assert message.blocked_reason == Reason.NO_CONSENT


def test_consent_for_another_purpose_does_not_allow_marketing(marketing_template):
    customer = CustomerFactory()
    grant(customer, Consent.Purpose.SURVEYS)

    message = services.message_queue(customer=customer, idempotency_key="k", template=marketing_template)

    assert message.blocked_reason == Reason.NO_CONSENT


def test_caller_cannot_downgrade_a_marketing_template_to_service(marketing_template):
    customer = CustomerFactory()

    message = services.message_queue(
        customer=customer, idempotency_key="k", template=marketing_template, purpose=Consent.Purpose.SERVICE
    )

    assert message.purpose == Consent.Purpose.MARKETING
    assert message.status == Status.BLOCKED


def test_suppressed_address_is_blocked_even_for_service_messages(checkin_template):
    customer = CustomerFactory(email="devolvido@example.com.br")
    services.suppression_add(address="DEVOLVIDO@example.com.br", reason=Suppression.Reason.BOUNCE)

    message = services.message_queue(customer=customer, idempotency_key="k", template=checkin_template)

    assert message.status == Status.BLOCKED
    assert message.blocked_reason == Reason.SUPPRESSED


def test_customer_without_email_is_blocked(checkin_template):
    customer = CustomerFactory(email="")

    message = services.message_queue(customer=customer, idempotency_key="k", template=checkin_template)

    assert message.blocked_reason == Reason.NO_ADDRESS


def test_frequency_cap_blocks_the_fourth_automated_message_in_seven_days(settings):
    settings.MESSAGING_WEEKLY_CAP = 3
    customer = CustomerFactory()
    old = services.message_queue(customer=customer, idempotency_key="old", body="antiga")
    Message.objects.filter(pk=old.pk).update(queued_at=timezone.now() - timedelta(days=8), status=Status.SENT)
    for n in range(3):
        services.message_queue(customer=customer, idempotency_key=f"k{n}", body=f"mensagem {n}")

    fourth = services.message_queue(customer=customer, idempotency_key="k3", body="mensagem 4")

    assert fourth.status == Status.BLOCKED
    assert fourth.blocked_reason == Reason.FREQUENCY_CAP


def test_frequency_cap_is_configurable_and_ignores_manual_blocked_and_failed_messages(settings):
    settings.MESSAGING_WEEKLY_CAP = 1
    customer = CustomerFactory()
    services.message_queue(customer=customer, idempotency_key="manual", body="feita à mão", automated=False)
    failed = services.message_queue(customer=customer, idempotency_key="failed", body="falhou")
    Message.objects.filter(pk=failed.pk).update(status=Status.FAILED)

    allowed = services.message_queue(customer=customer, idempotency_key="auto1", body="automática")
    over = services.message_queue(customer=customer, idempotency_key="auto2", body="automática 2")
    manual = services.message_queue(customer=customer, idempotency_key="manual2", body="humana", automated=False)

    assert allowed.status == Status.QUEUED
    assert over.blocked_reason == Reason.FREQUENCY_CAP
    assert manual.status == Status.QUEUED


def test_draft_waits_for_approval_and_is_not_enqueued(checkin_template, django_capture_on_commit_callbacks):
    customer = CustomerFactory()

    with django_capture_on_commit_callbacks() as callbacks:
        message = services.message_queue(customer=customer, idempotency_key="k", template=checkin_template, draft=True)

    assert message.status == Status.DRAFT
    assert callbacks == []


def test_whatsapp_is_blocked_as_channel_not_configured_when_off(settings):
    settings.MESSAGING_WHATSAPP_TOKEN = ""
    customer = CustomerFactory()

    message = services.message_queue(customer=customer, idempotency_key="k", body="Oi!", channel="whatsapp")

    assert message.status == Status.BLOCKED
    assert message.blocked_reason == Reason.CHANNEL_NOT_CONFIGURED
    with translation.override("en"):
        assert message.get_blocked_reason_display() == "Channel not configured"


def test_message_without_text_is_refused():
    customer = CustomerFactory()

    with pytest.raises(ValidationError) as excinfo:
        services.message_queue(customer=customer, idempotency_key="k", body="  ")

    assert "body" in excinfo.value.message_dict
    assert not Message.objects.exists()


def test_empty_idempotency_key_is_refused():
    with pytest.raises(ValidationError) as excinfo:
        services.message_queue(customer=CustomerFactory(), idempotency_key=" ", body="x")

    assert "idempotency_key" in excinfo.value.message_dict


def test_agent_approves_an_edited_draft_of_own_customer(agent, own_customer, checkin_template):
    draft = services.message_queue(customer=own_customer, idempotency_key="k", template=checkin_template, draft=True)

    approved = services.message_approve(message=draft, actor=agent, subject="Assunto revisto", body="Texto revisto")

    assert approved.status == Status.QUEUED
    assert approved.subject == "Assunto revisto"
    assert approved.body == "Texto revisto"
    assert approved.approved_by == agent
    assert approved.events.filter(event_type=MessageEvent.Type.APPROVED).count() == 1


def test_agent_cannot_approve_a_draft_of_another_agents_customer(agent, others_customer, checkin_template):
    draft = services.message_queue(customer=others_customer, idempotency_key="k", template=checkin_template, draft=True)

    with pytest.raises(PermissionDenied):
        services.message_approve(message=draft, actor=agent)

    draft.refresh_from_db()
    assert draft.status == Status.DRAFT


def test_approving_twice_is_refused(manager, own_customer, checkin_template):
    draft = services.message_queue(customer=own_customer, idempotency_key="k", template=checkin_template, draft=True)
    services.message_approve(message=draft, actor=manager)

    with pytest.raises(ValidationError) as excinfo:
        services.message_approve(message=draft, actor=manager)

    assert "status" in excinfo.value.message_dict


def test_approved_marketing_draft_still_needs_consent(manager, own_customer, marketing_template):
    draft = services.message_queue(customer=own_customer, idempotency_key="k", template=marketing_template, draft=True)
    assert draft.status == Status.BLOCKED  # blocked up front: nobody reviews a draft that cannot be sent

    grant(own_customer, Consent.Purpose.MARKETING)
    other = services.message_queue(customer=own_customer, idempotency_key="k2", template=marketing_template, draft=True)
    grant(own_customer, Consent.Purpose.MARKETING, granted=False)
    Consent.objects.filter(granted=False).update(recorded_at=timezone.now() + timedelta(seconds=1))

    approved = services.message_approve(message=other, actor=manager)

    assert approved.status == Status.BLOCKED
    assert approved.blocked_reason == Reason.NO_CONSENT


def test_discarded_draft_is_never_recreated_by_the_same_key(agent, own_customer, checkin_template):
    draft = services.message_queue(customer=own_customer, idempotency_key="k", template=checkin_template, draft=True)

    services.message_discard(message=draft, actor=agent)
    again = services.message_queue(customer=own_customer, idempotency_key="k", template=checkin_template, draft=True)

    assert again.pk == draft.pk
    assert again.status == Status.DISCARDED
