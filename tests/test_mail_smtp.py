"""End-to-end mail: the password reset e-mail travels through a real SMTP server on loopback."""

import re

import pytest
from django.urls import reverse

from tests.factories import UserFactory


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
