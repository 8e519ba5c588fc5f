import re

import pytest
from django.core import mail
from django.urls import reverse
from rest_framework.authtoken.models import Token

from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

PASSWORD = "s3nha-forte-123"


def test_login_page_logs_an_agent_in_and_lands_on_the_customer_list(client, agent):
    page = client.get(reverse("login"))
    assert page.status_code == 200
    assert 'name="username"' in page.content.decode()
    response = client.post(reverse("login"), {"username": agent.username, "password": PASSWORD}, follow=True)
    assert response.redirect_chain[-1][0] == reverse("customers:list")
    assert response.context["user"] == agent


def test_login_with_a_wrong_password_shows_an_error_and_keeps_the_username(client, agent):
    response = client.post(reverse("login"), {"username": agent.username, "password": "wrong"})
    html = response.content.decode()
    assert response.status_code == 200
    assert 'class="msg msg-error"' in html
    assert f'value="{agent.username}"' in html
    assert not response.context["user"].is_authenticated


def test_login_follows_next(client, agent, own_customer):
    target = reverse("customers:detail", args=[own_customer.pk])
    response = client.post(
        f"{reverse('login')}?next={target}", {"username": "agente", "password": PASSWORD, "next": target}
    )
    assert response["Location"] == target


def test_logout_is_a_post_that_returns_to_the_login_page(client, agent):
    client.force_login(agent)
    response = client.post(reverse("logout"))
    assert response["Location"] == reverse("login")
    assert client.get(reverse("customers:list")).status_code == 302


def test_logged_out_page_renders(client):
    from django.template.loader import render_to_string

    html = render_to_string("registration/logged_out.html", {"request": None})
    assert reverse("login") in html


def test_password_change_needs_the_old_password_and_then_the_new_one_works(client, agent):
    client.force_login(agent)
    url = reverse("password_change")
    assert client.get(url).status_code == 200
    bad = client.post(
        url, {"old_password": "nope", "new_password1": "Outra-senha-456", "new_password2": "Outra-senha-456"}
    )
    assert bad.context["form"].errors["old_password"]
    ok = client.post(
        url, {"old_password": PASSWORD, "new_password1": "Outra-senha-456", "new_password2": "Outra-senha-456"}
    )
    assert ok["Location"] == reverse("password_change_done")
    assert client.get(ok["Location"]).status_code == 200
    client.logout()
    assert client.login(username=agent.username, password="Outra-senha-456")


def test_password_reset_end_to_end_mail_link_and_new_password(client):
    # given
    user = UserFactory(username="ana", email="ana@example.com", first_name="Ana")
    # when: she asks for a reset
    assert client.get(reverse("password_reset")).status_code == 200
    response = client.post(reverse("password_reset"), {"email": "ana@example.com"})
    # then: one e-mail with a working link
    assert response["Location"] == reverse("password_reset_done")
    assert client.get(response["Location"]).status_code == 200
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["ana@example.com"]
    assert "\n" not in message.subject and message.subject
    assert "Ana" in message.body
    link = re.search(r"https?://[^/\s]+(/accounts/reset/\S+/)", message.body).group(1)
    form_page = client.get(link, follow=True)
    assert form_page.context["validlink"] is True
    set_url = form_page.redirect_chain[-1][0]
    # when: she sets a new password
    done = client.post(set_url, {"new_password1": "Nova-senha-789", "new_password2": "Nova-senha-789"})
    # then
    assert done["Location"] == reverse("password_reset_complete")
    assert client.get(done["Location"]).status_code == 200
    assert client.login(username="ana", password="Nova-senha-789")
    assert not client.login(username="ana", password=PASSWORD)
    # and the link is spent
    reused = client.get(link, follow=True)
    assert reused.context["validlink"] is False
    assert reverse("password_reset") in reused.content.decode()
    user.refresh_from_db()


def test_password_reset_for_an_unknown_address_sends_nothing_but_looks_the_same(client):
    response = client.post(reverse("password_reset"), {"email": "ninguem@example.com"})
    assert response["Location"] == reverse("password_reset_done")
    assert mail.outbox == []


def test_api_token_page_creates_rotates_and_revokes_the_users_token(client, agent):
    client.force_login(agent)
    url = reverse("api_token")
    # no token yet
    assert client.get(url).context["token"] is None
    # create
    assert client.post(url, {"action": "create"})["Location"] == url
    first = Token.objects.get(user=agent)
    assert first.key in client.get(url).content.decode()
    # rotate
    client.post(url, {"action": "rotate"})
    second = Token.objects.get(user=agent)
    assert second.key != first.key
    page = client.get(url).content.decode()
    assert second.key in page and first.key not in page
    # revoke
    client.post(url, {"action": "revoke"})
    assert not Token.objects.filter(user=agent).exists()


def test_api_token_page_shows_only_the_users_own_token(client, agent, other_agent):
    theirs = Token.objects.create(user=other_agent)
    client.force_login(agent)
    assert theirs.key not in client.get(reverse("api_token")).content.decode()


def test_created_token_authenticates_api_requests(client, api_client, agent):
    client.force_login(agent)
    client.post(reverse("api_token"), {"action": "create"})
    key = Token.objects.get(user=agent).key
    api_client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert api_client.get(reverse("schema")).status_code == 200
    assert api_client.get("/api/v1/customers/").status_code == 200
    api_client.credentials(HTTP_AUTHORIZATION="Token invalid")
    assert api_client.get("/api/v1/customers/").status_code == 401
