from io import StringIO

import pytest
from django.contrib.auth import authenticate
from django.core.management import call_command
from stdnum.br import cnpj, cpf

from customers.models import Consent, Contact, Contract, Customer, Interaction, Order, Segment, Tag
from customers.validators import normalize_phone
from posvenda import roles

pytestmark = pytest.mark.django_db

MODELS = (Customer, Contact, Contract, Order, Interaction, Consent, Segment, Tag)


def _counts() -> dict[str, int]:
    return {model.__name__: model.objects.count() for model in MODELS} | {
        "tag links": Customer.tags.through.objects.count()
    }


def _load() -> str:
    out = StringIO()
    call_command("load_demo", stdout=out)
    return out.getvalue()


def test_load_demo_twice_creates_everything_once():
    # given an empty database, when the demo is loaded
    first = _load()
    counts = _counts()

    # then there are ~400 customers, a third of them companies, with their related records
    assert counts["Customer"] == 400
    assert Customer.objects.filter(kind=Customer.Kind.COMPANY).count() == 134
    assert counts["Contact"] > 134 and counts["Contract"] >= 134 and counts["Order"] >= 266
    assert counts["Interaction"] >= 400 and counts["Consent"] >= 400
    assert "Demo data loaded" in first

    # when it is loaded again, then nothing new is created and it says so
    second = _load()
    assert "demo data already loaded" in second
    assert _counts() == counts


def test_demo_customers_have_valid_documents_phones_and_stages():
    # given the demo data
    _load()

    # then every document is a valid CPF (people) or CNPJ (companies), and phones are E.164
    for kind, document, phone in Customer.objects.values_list("kind", "document", "phone"):
        if kind == Customer.Kind.PERSON:
            assert cpf.is_valid(document), document
        else:
            assert cnpj.is_valid(document), document
        assert phone == normalize_phone(phone)
    # and every funnel stage is represented
    assert set(Customer.objects.values_list("stage", flat=True)) == set(Customer.Stage.values)
    # and B2B churn is explained: some contracts were cancelled with a date and a reason
    cancelled = Contract.objects.filter(status=Contract.Status.CANCELLED)
    assert cancelled.exists()
    assert not cancelled.filter(cancel_reason="").exists()
    assert Order.objects.filter(status__in=[Order.Status.CANCELLED, Order.Status.REFUNDED]).exists()


def test_demo_users_can_log_in_with_their_roles():
    # given the demo data
    _load()

    # then the documented logins work and each user has the expected role
    expected = {"admin": roles.ADMIN, "gerente": roles.MANAGER, "agente": roles.AGENT}
    for username, role in expected.items():
        user = authenticate(username=username, password="posvenda-demo")
        assert user is not None, username
        assert roles.primary_role(user) == role
    # and interactions are authored by the customer's owner
    authored = Interaction.objects.exclude(author_id=None).exclude(customer__owner_id=None)
    assert authored.exists()
    for author_id, owner_id in authored.values_list("author_id", "customer__owner_id"):
        assert author_id == owner_id


def test_load_demo_keeps_an_existing_user_and_fills_missing_customers():
    # given a pre-existing "agente" and a partially loaded demo (one customer removed)
    existing = roles.user_create(username="agente", password="outra-senha-123", role=roles.AGENT)
    _load()
    Customer.objects.get(external_id="DEMO-C0002").delete()

    # when it runs again
    _load()

    # then the missing customer is back and the existing user was left alone
    assert Customer.objects.filter(external_id__startswith="DEMO-C").count() == 400
    existing.refresh_from_db()
    assert existing.check_password("outra-senha-123")
