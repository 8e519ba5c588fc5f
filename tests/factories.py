from datetime import date, timedelta
from decimal import Decimal

import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.utils import timezone
from faker import Faker

from customers.models import Consent, Contact, Contract, Customer, Interaction, Order, Segment
from customers.validators import make_cnpj, make_cpf
from posvenda import roles

fake = Faker("pt_BR")


valid_cpf = make_cpf
valid_cnpj = make_cnpj


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda o: f"{o.username}@example.com")
    first_name = factory.Faker("first_name", locale="pt_BR")
    password = factory.PostGenerationMethodCall("set_password", "s3nha-forte-123")

    @factory.post_generation
    def role(self, create: bool, extracted: str | None, **kwargs: object) -> None:
        if not create:
            return
        if extracted:
            roles.ensure_role_groups()
            self.groups.add(Group.objects.get(name=extracted))
            if extracted == roles.ADMIN:
                self.is_staff = True
        self.save()


class SegmentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Segment
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"Segmento {n}")


class CustomerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Customer

    kind = Customer.Kind.PERSON
    name = factory.Faker("name", locale="pt_BR")
    document = factory.Sequence(lambda n: valid_cpf(100000 + n))
    email = factory.Sequence(lambda n: f"cliente{n}@example.com.br")
    phone = "+5511987654321"
    plan = "Básico"
    mrr = Decimal("0.00")
    external_id = factory.Sequence(lambda n: f"C{n:06d}")

    class Params:
        company = factory.Trait(
            kind=Customer.Kind.COMPANY,
            name=factory.Faker("company", locale="pt_BR"),
            document=factory.Sequence(lambda n: valid_cnpj(200000 + n)),
        )


class ContactFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Contact

    customer = factory.SubFactory(CustomerFactory, company=True)
    name = factory.Faker("name", locale="pt_BR")
    email = factory.Sequence(lambda n: f"contato{n}@example.com.br")


class OrderFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Order

    customer = factory.SubFactory(CustomerFactory)
    external_id = factory.Sequence(lambda n: f"PED-{n:06d}")
    purchased_at = factory.LazyFunction(timezone.now)
    amount = Decimal("199.90")
    product = "Kit inicial"


class ContractFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Contract

    customer = factory.SubFactory(CustomerFactory, company=True)
    external_id = factory.Sequence(lambda n: f"CTR-{n:06d}")
    started_at = factory.LazyFunction(lambda: date.today() - timedelta(days=90))
    ends_at = factory.LazyFunction(lambda: date.today() + timedelta(days=275))
    mrr = Decimal("1500.00")
    plan = "Pro"


class InteractionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Interaction

    customer = factory.SubFactory(CustomerFactory)
    body = "Cliente pediu ajuda com a configuração."


class ConsentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Consent

    customer = factory.SubFactory(CustomerFactory)
    channel = Consent.Channel.EMAIL
    purpose = Consent.Purpose.SURVEYS
    granted = True
    source = Consent.Source.FORM
