from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from customers import services
from customers.models import Consent, Customer
from posvenda import events
from tests.factories import CustomerFactory, valid_cpf

pytestmark = pytest.mark.django_db


def test_agent_creating_a_customer_becomes_its_owner_and_cannot_assign_someone_else(agent, other_agent):
    customer = services.customer_create(actor=agent, name="Ana Souza", document=valid_cpf(11))
    assert customer.owner == agent
    with pytest.raises(PermissionDenied):
        services.customer_create(actor=agent, name="Bia", owner=other_agent)
    assert Customer.objects.count() == 1


def test_manager_assigns_and_reassigns_owner(manager, agent, other_agent):
    customer = services.customer_create(actor=manager, name="Loja Central", owner=agent)
    assert customer.owner == agent
    services.customer_update(actor=manager, customer=customer, owner=other_agent)
    customer.refresh_from_db()
    assert customer.owner == other_agent


def test_agent_cannot_edit_or_reassign_others_customers(agent, own_customer, others_customer, other_agent):
    with pytest.raises(PermissionDenied):
        services.customer_update(actor=agent, customer=others_customer, plan="Pro")
    with pytest.raises(PermissionDenied):
        services.customer_update(actor=agent, customer=own_customer, owner=other_agent)
    own_customer.refresh_from_db()
    assert own_customer.owner == agent


def test_agent_cannot_delete_and_manager_can(agent, manager, own_customer):
    with pytest.raises(PermissionDenied):
        services.customer_delete(actor=agent, customer=own_customer)
    services.customer_delete(actor=manager, customer=own_customer)
    assert not Customer.objects.filter(pk=own_customer.pk).exists()


def test_duplicate_email_is_a_field_level_error_not_a_crash(manager):
    CustomerFactory(email="dup@example.com")
    with pytest.raises(ValidationError) as exc:
        services.customer_create(actor=manager, name="Outro", email="DUP@example.com")
    assert exc.value.message_dict  # reported, nothing saved
    assert Customer.objects.filter(email="dup@example.com").count() == 1


def test_upsert_by_external_id_creates_then_updates_then_is_idempotent(manager):
    customer, outcome = services.customer_sync_by_external_id(
        actor=manager, external_id="ERP-1", name="Padaria Pão Quente", kind="company", mrr=Decimal("99.90")
    )
    created = outcome == "created"
    assert created
    again, outcome_again = services.customer_sync_by_external_id(
        actor=manager, external_id="ERP-1", name="Padaria Pão Quente", kind="company", mrr=Decimal("149.90")
    )
    created_again = outcome_again == "created"
    assert not created_again
    assert again.pk == customer.pk
    assert again.mrr == Decimal("149.90")
    assert Customer.objects.filter(external_id="ERP-1").count() == 1


def test_changing_kind_revalidates_the_document(manager):
    customer = services.customer_create(actor=manager, name="Pessoa", kind="person", document=valid_cpf(21))
    with pytest.raises(ValidationError) as exc:
        services.customer_update(actor=manager, customer=customer, kind="company")
    assert "document" in exc.value.message_dict


def test_tags_are_created_once_and_shared(manager):
    a = services.customer_create(actor=manager, name="A", tags=["vip", "sul"])
    b = services.customer_create(actor=manager, name="B", tags=["vip"])
    assert sorted(a.tags.values_list("name", flat=True)) == ["sul", "vip"]
    assert list(b.tags.values_list("name", flat=True)) == ["vip"]


def test_interaction_needs_text_and_records_author(agent, own_customer):
    with pytest.raises(ValidationError):
        services.interaction_add(actor=agent, customer=own_customer, body="  ")
    note = services.interaction_add(actor=agent, customer=own_customer, body="Ligou pedindo 2ª via do boleto")
    assert note.author == agent
    assert own_customer.interactions.count() == 1


def test_consent_changes_append_new_records(agent, own_customer):
    services.consent_record(
        actor=agent, customer=own_customer, channel="email", purpose="surveys", granted=True, source="form"
    )
    services.consent_record(
        actor=agent, customer=own_customer, channel="email", purpose="surveys", granted=False, source="manual"
    )
    history = list(Consent.objects.filter(customer=own_customer).values_list("granted", flat=True))
    assert history == [False, True]  # newest first: revoked is the one in force


def test_events_fire_only_after_commit(manager, django_capture_on_commit_callbacks):
    seen: list[dict] = []

    def handler(**payload: object) -> None:
        seen.append(payload)

    events.subscribe(events.CUSTOMER_CREATED, handler)
    try:
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            customer = services.customer_create(actor=manager, name="Evento")
        assert seen == []
        for callback in callbacks:
            callback()
        assert seen == [{"event": events.CUSTOMER_CREATED, "customer_id": customer.pk}]
    finally:
        events.unsubscribe(events.CUSTOMER_CREATED, handler)


def test_agent_cannot_record_consent_for_another_agents_customer(agent, others_customer):
    with pytest.raises(PermissionDenied):
        services.consent_record(
            actor=agent, customer=others_customer, channel="email", purpose="marketing", granted=True, source="manual"
        )
    assert not Consent.objects.filter(customer=others_customer).exists()
