from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from customers import services
from customers.models import Consent, Customer
from tests.factories import ConsentFactory, ContractFactory, CustomerFactory, valid_cnpj, valid_cpf

pytestmark = pytest.mark.django_db


def test_document_must_match_kind_at_database_level():
    with pytest.raises(IntegrityError), transaction.atomic():
        Customer.objects.create(kind=Customer.Kind.PERSON, name="X", document=valid_cnpj(1))
    with pytest.raises(IntegrityError), transaction.atomic():
        Customer.objects.create(kind=Customer.Kind.COMPANY, name="Y", document=valid_cpf(1))


def test_document_and_email_are_unique_case_insensitively():
    CustomerFactory(document=valid_cpf(7), email="ana@example.com")
    with pytest.raises(IntegrityError), transaction.atomic():
        CustomerFactory(document=valid_cpf(7))
    with pytest.raises(IntegrityError), transaction.atomic():
        CustomerFactory(email="ANA@example.com")
    # blank documents and e-mails do not collide
    CustomerFactory(document="", email="")
    CustomerFactory(document="", email="")


def test_negative_mrr_is_refused_by_the_database():
    with pytest.raises(IntegrityError), transaction.atomic():
        CustomerFactory(mrr=Decimal("-1"))


def test_contract_cannot_end_before_it_starts_and_cancelled_needs_a_date():
    from datetime import date

    with pytest.raises(IntegrityError), transaction.atomic():
        ContractFactory(started_at=date(2026, 5, 1), ends_at=date(2026, 4, 1))
    with pytest.raises(IntegrityError), transaction.atomic():
        ContractFactory(status="cancelled", cancelled_at=None)


def test_consent_is_append_only():
    consent = ConsentFactory()
    consent.granted = False
    with pytest.raises(ValidationError):
        consent.save()
    with pytest.raises(ValidationError):
        consent.delete()
    assert Consent.objects.get(pk=consent.pk).granted is True


def test_customer_create_normalises_document_phone_and_email(agent):
    customer = services.customer_create(
        actor=agent,
        name="Empresa Exemplo",
        kind=Customer.Kind.COMPANY,
        document="11.222.333/0001-81",
        email="Contato@Exemplo.com.BR",
        phone="(11) 98765-4321",
    )
    assert customer.document == "11222333000181"
    assert customer.document_display == "11.222.333/0001-81"
    assert customer.email == "contato@exemplo.com.br"
    assert customer.phone == "+5511987654321"
    assert customer.owner == agent


def test_customer_create_rejects_invalid_cpf_with_field_message(agent):
    with pytest.raises(ValidationError) as exc:
        services.customer_create(actor=agent, name="Fulano", document="123.456.789-00", phone="123")
    assert "document" in exc.value.message_dict
    assert "phone" in exc.value.message_dict
    assert Customer.objects.count() == 0
