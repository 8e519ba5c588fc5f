"""End-to-end mail: the password reset e-mail travels through a real SMTP server on loopback."""

import re
import socket
from email import message_from_bytes, policy

import pytest
from aiosmtpd.controller import Controller
from django.urls import reverse

from tests.factories import UserFactory


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
    settings.EMAIL_HOST_USER = ""
    settings.EMAIL_HOST_PASSWORD = ""
    yield inbox
    controller.stop()


@pytest.mark.django_db
def test_password_reset_mail_arrives_over_smtp_and_its_link_sets_a_new_password(client, smtp_inbox):
    user = UserFactory(username="carla", email="carla@example.com.br", role="cs_agent")

    response = client.post(reverse("password_reset"), {"email": "carla@example.com.br"})
    assert response.status_code == 302

    assert len(smtp_inbox.messages) == 1
    recipients, message = smtp_inbox.messages[0]
    assert recipients == ["carla@example.com.br"]
    body = message.get_body(preferencelist=("plain",)).get_content()
    link = re.search(r"https?://[^\s]+/accounts/reset/[^\s]+/", body).group(0)
    path = link.split("testserver", 1)[-1] if "testserver" in link else re.sub(r"^https?://[^/]+", "", link)

    form_page = client.get(path, follow=True)
    assert form_page.status_code == 200
    set_password_url = form_page.redirect_chain[-1][0] if form_page.redirect_chain else path
    done = client.post(set_password_url, {"new_password1": "Nova-senha-2026!", "new_password2": "Nova-senha-2026!"})
    assert done.status_code == 302

    user.refresh_from_db()
    assert user.check_password("Nova-senha-2026!")
