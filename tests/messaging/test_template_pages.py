import pytest
from django.urls import reverse
from django.utils import translation

from messaging.models import MessageTemplate
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def english(client):
    client.cookies["django_language"] = "en"
    with translation.override("en"):
        yield


def _template(**kwargs):
    values = {
        "slug": "boas-vindas",
        "name": "Boas-vindas",
        "subject_pt_br": "Olá, {nome}!",
        "body_pt_br": "Bem-vindo ao {produto}.",
    }
    values.update(kwargs)
    return MessageTemplate.objects.create(**values)


def _form(**overrides):
    data = {
        "name": "Check-in",
        "slug": "check-in",
        "channel": "email",
        "purpose": "service",
        "subject_pt_br": "Como vai, {nome}?",
        "body_pt_br": "Olá, {nome}! Como tem sido a experiência com {produto}?",
        "subject_en": "",
        "body_en": "",
        "is_active": "on",
    }
    data.update(overrides)
    return data


def test_manager_creates_a_template_and_previews_it_with_a_real_customer(client, manager):
    client.force_login(manager)
    response = client.post(reverse("messaging:template_create"), _form())
    template = MessageTemplate.objects.get(slug="check-in")
    assert response.status_code == 302

    customer = CustomerFactory(name="Rita Alves", plan="Plano Pro")
    page = client.get(reverse("messaging:template_edit", args=[template.pk]), {"customer": f"#{customer.pk}"})

    html = page.content.decode()
    assert "Como vai, Rita Alves?" in html
    assert "Como tem sido a experiência com Plano Pro?" in html


def test_an_unknown_variable_is_refused_on_its_field_and_nothing_is_saved(client, manager):
    client.force_login(manager)
    response = client.post(reverse("messaging:template_create"), _form(body_pt_br="Olá, {nomee}!"))

    assert response.status_code == 200
    assert "Unknown variable {nomee}" in response.content.decode()
    assert not MessageTemplate.objects.filter(slug="check-in").exists()


def test_an_agent_reads_templates_but_cannot_change_them(client, agent):
    template = _template()
    client.force_login(agent)

    assert client.get(reverse("messaging:templates")).status_code == 200
    page = client.get(reverse("messaging:template_edit", args=[template.pk]))
    assert page.status_code == 200
    assert "Only a CS manager can change message templates." in page.content.decode()
    response = client.post(reverse("messaging:template_edit", args=[template.pk]), _form(name="Hacked"))
    assert response.status_code == 403
    template.refresh_from_db()
    assert template.name == "Boas-vindas"


def test_preview_says_when_no_customer_matches(client, manager):
    template = _template()
    client.force_login(manager)

    page = client.get(reverse("messaging:template_edit", args=[template.pk]), {"customer": "ninguém"})

    assert "No customer matches" in page.content.decode()


def test_template_list_costs_the_same_queries_for_one_and_many(client, manager, django_assert_num_queries):
    client.force_login(manager)
    _template()
    client.get(reverse("messaging:templates"))  # warm up session/user caches
    with django_assert_num_queries(4):
        client.get(reverse("messaging:templates"))
    for i in range(20):
        _template(slug=f"t-{i}", name=f"T {i}")
    with django_assert_num_queries(4):
        response = client.get(reverse("messaging:templates"))
    assert response.content.decode().count("/messaging/templates/") >= 21
