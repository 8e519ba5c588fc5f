import socket
from email import message_from_bytes, policy

import pytest
from aiosmtpd.controller import Controller

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


class Inbox:
    def __init__(self) -> None:
        self.messages: list = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd hook name
        self.messages.append((envelope.rcpt_tos, message_from_bytes(envelope.content, policy=policy.default)))
        return "250 OK"


@pytest.fixture
def smtp_inbox(settings):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = port
    settings.EMAIL_USE_TLS = False
    settings.EMAIL_USE_SSL = False
    settings.EMAIL_HOST_USER = ""
    settings.EMAIL_HOST_PASSWORD = ""
    yield inbox
    controller.stop()
