import socket
from email import message_from_bytes, policy

import pytest
from aiosmtpd.controller import Controller
from django.utils import translation
from rest_framework.test import APIClient

from posvenda import roles
from tests.factories import CustomerFactory, UserFactory


@pytest.fixture(autouse=True)
def _reset_language():
    """Every test starts in the default language (pt-BR): a request or override must not leak to the next test."""
    translation.deactivate()
    yield
    translation.deactivate()


@pytest.fixture
def agent(db):
    return UserFactory(username="agente", role=roles.AGENT)


@pytest.fixture
def other_agent(db):
    return UserFactory(username="outro_agente", role=roles.AGENT)


@pytest.fixture
def manager(db):
    return UserFactory(username="gerente", role=roles.MANAGER)


@pytest.fixture
def admin_user(db):
    return UserFactory(username="administrador", role=roles.ADMIN)


@pytest.fixture
def no_role_user(db):
    return UserFactory(username="sem_papel")


@pytest.fixture
def own_customer(agent):
    return CustomerFactory(owner=agent, name="Maria da Silva")


@pytest.fixture
def others_customer(other_agent):
    return CustomerFactory(owner=other_agent, name="João Pereira")


@pytest.fixture
def api_client():
    return APIClient()


def client_for(client, user):
    client.force_login(user)
    return client


class SmtpInbox:
    """What a real SMTP server on loopback received: (recipients, parsed e-mail) per message."""

    def __init__(self) -> None:
        self.messages: list = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd hook name
        self.messages.append((envelope.rcpt_tos, message_from_bytes(envelope.content, policy=policy.default)))
        return "250 OK"


@pytest.fixture
def smtp_inbox(settings):
    """An aiosmtpd server on a free loopback port; Django's SMTP backend points at it."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    inbox = SmtpInbox()
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
