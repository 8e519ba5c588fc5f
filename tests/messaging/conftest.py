import pytest

from customers.models import Consent
from messaging.models import Channel, MessageTemplate
from tests.factories import ConsentFactory


@pytest.fixture
def checkin_template(db):
    return MessageTemplate.objects.create(
        slug="adocao-check-in",
        name="Check-in D+7",
        channel=Channel.EMAIL,
        purpose=Consent.Purpose.SERVICE,
        subject_pt_br="Como vai, {nome}?",
        body_pt_br="Olá, {nome}! Como tem sido a experiência com {produto}? Qualquer dúvida, fale com {responsavel}.",
        subject_en="How is it going, {name}?",
        body_en="Hi {name}! How is {product} working for you? {owner} is here to help.",
    )


@pytest.fixture
def marketing_template(db):
    return MessageTemplate.objects.create(
        slug="oferta-expansao",
        name="Oferta de expansão",
        channel=Channel.EMAIL,
        purpose=Consent.Purpose.MARKETING,
        subject_pt_br="Uma oferta para você, {nome}",
        body_pt_br="{nome}, temos um plano novo para você.",
    )


def grant(customer, purpose=Consent.Purpose.MARKETING, channel=Consent.Channel.EMAIL, granted=True):
    return ConsentFactory(customer=customer, channel=channel, purpose=purpose, granted=granted)
