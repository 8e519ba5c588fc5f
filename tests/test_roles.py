"""Every refusal of the role rules, seen through the pages."""

import pytest
from django.urls import reverse

from customers.models import Consent, Contact, Contract, Customer, Interaction, Order
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db

CUSTOMER_PAGES = ["customers:list", "customers:export", "customers:create"]
CUSTOMER_OBJECT_PAGES = [
    "customers:detail",
    "customers:edit",
    "customers:delete",
    "customers:interaction_add",
    "customers:consent_add",
    "customers:contact_add",
    "customers:order_add",
    "customers:contract_add",
]
WORK_ON_CUSTOMER = {
    "customers:interaction_add": {"kind": "note", "body": "Tentativa"},
    "customers:consent_add": {"channel": "email", "purpose": "surveys", "granted": "1", "evidence": "x"},
    "customers:contact_add": {"name": "Contato"},
    "customers:order_add": {"amount": "10", "status": "paid", "channel": "online"},
    "customers:contract_add": {"mrr": "10", "started_at": "2025-01-01"},
}


def edit_data(customer, **overrides):
    data = {
        "kind": customer.kind,
        "name": customer.name,
        "document": customer.document,
        "email": customer.email,
        "phone": customer.phone,
        "plan": customer.plan,
        "mrr": "0",
        "external_id": customer.external_id or "",
        "language": customer.language,
    }
    data.update(overrides)
    return data


@pytest.mark.parametrize("name", [*CUSTOMER_PAGES, "api_token", "password_change", "home"])
def test_anonymous_is_sent_to_login_from_every_page(client, name):
    url = reverse(name)
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('login')}?next={url}"


@pytest.mark.parametrize("name", CUSTOMER_OBJECT_PAGES)
def test_anonymous_is_sent_to_login_from_every_customer_page(client, name):
    customer = CustomerFactory()
    url = reverse(name, args=[customer.pk])
    response = client.get(url) if name != "customers:interaction_add" else client.post(url, {"body": "x"})
    assert response.status_code == 302
    assert response["Location"].startswith(f"{reverse('login')}?next=")
    assert Interaction.objects.count() == 0


@pytest.mark.parametrize("name", CUSTOMER_PAGES)
def test_user_without_a_role_gets_403_on_customer_pages(client, no_role_user, name):
    client.force_login(no_role_user)
    assert client.get(reverse(name)).status_code == 403


@pytest.mark.parametrize("name", CUSTOMER_OBJECT_PAGES)
def test_user_without_a_role_gets_403_on_every_customer_object_page(client, no_role_user, name):
    customer = CustomerFactory()
    client.force_login(no_role_user)
    assert client.post(reverse(name, args=[customer.pk]), WORK_ON_CUSTOMER.get(name, {})).status_code == 403
    assert Customer.objects.filter(pk=customer.pk).exists()


def test_agent_gets_403_opening_or_posting_the_edit_form_of_another_agents_customer(client, agent, others_customer):
    client.force_login(agent)
    url = reverse("customers:edit", args=[others_customer.pk])
    assert client.get(url).status_code == 403
    assert client.post(url, edit_data(others_customer, name="Hacked")).status_code == 403
    others_customer.refresh_from_db()
    assert others_customer.name == "João Pereira"


def test_agent_cannot_edit_a_customer_without_owner(client, agent):
    orphan = CustomerFactory(owner=None)
    client.force_login(agent)
    assert client.get(reverse("customers:edit", args=[orphan.pk])).status_code == 403


@pytest.mark.parametrize("htmx", [True, False])
def test_agent_gets_403_adding_a_note_to_another_agents_customer(client, agent, others_customer, htmx):
    client.force_login(agent)
    headers = {"HTTP_HX_REQUEST": "true"} if htmx else {}
    response = client.post(
        reverse("customers:interaction_add", args=[others_customer.pk]), {"kind": "note", "body": "Oi"}, **headers
    )
    assert response.status_code == 403
    assert Interaction.objects.count() == 0


@pytest.mark.parametrize("name", sorted(WORK_ON_CUSTOMER))
def test_agent_gets_403_on_every_work_form_of_another_agents_customer(client, agent, others_customer, name):
    client.force_login(agent)
    url = reverse(name, args=[others_customer.pk])
    if name != "customers:interaction_add":
        assert client.get(url).status_code == 403
    assert client.post(url, WORK_ON_CUSTOMER[name]).status_code == 403
    assert Interaction.objects.count() == Consent.objects.count() == Contact.objects.count() == 0
    assert Order.objects.count() == Contract.objects.count() == 0


def test_agent_gets_403_on_delete_even_for_their_own_customer(client, agent, own_customer):
    client.force_login(agent)
    url = reverse("customers:delete", args=[own_customer.pk])
    assert client.get(url).status_code == 403
    assert client.post(url).status_code == 403
    assert Customer.objects.filter(pk=own_customer.pk).exists()


def test_agent_posting_another_owner_on_their_customer_is_refused_with_an_error(
    client, agent, other_agent, own_customer
):
    client.force_login(agent)
    response = client.post(
        reverse("customers:edit", args=[own_customer.pk]), edit_data(own_customer, owner=other_agent.pk, plan="X")
    )
    assert response.status_code == 200
    assert [e.code for e in response.context["form"].non_field_errors().as_data()] == ["owner_forbidden"]
    assert 'class="msg msg-error"' in response.content.decode()
    own_customer.refresh_from_db()
    assert own_customer.owner == agent
    assert own_customer.plan != "X"


def test_agent_creating_a_customer_for_another_agent_is_refused_with_an_error(client, agent, other_agent):
    client.force_login(agent)
    data = {"kind": "person", "name": "Bia", "mrr": "0", "language": "pt-br", "owner": other_agent.pk}
    response = client.post(reverse("customers:create"), data)
    assert response.status_code == 200
    assert [e.code for e in response.context["form"].non_field_errors().as_data()] == ["owner_forbidden"]
    assert 'class="msg msg-error"' in response.content.decode()
    assert Customer.objects.count() == 0


def test_manager_reassigns_the_owner_of_any_customer(client, manager, agent, others_customer):
    client.force_login(manager)
    response = client.post(
        reverse("customers:edit", args=[others_customer.pk]), edit_data(others_customer, owner=agent.pk)
    )
    assert response.status_code == 302
    others_customer.refresh_from_db()
    assert others_customer.owner == agent


def test_manager_can_remove_the_owner(client, manager, others_customer):
    client.force_login(manager)
    client.post(reverse("customers:edit", args=[others_customer.pk]), edit_data(others_customer, owner=""))
    others_customer.refresh_from_db()
    assert others_customer.owner is None


def test_manager_deletes_any_customer(client, manager, others_customer):
    client.force_login(manager)
    assert client.post(reverse("customers:delete", args=[others_customer.pk])).status_code == 302
    assert not Customer.objects.filter(pk=others_customer.pk).exists()


@pytest.mark.parametrize("user_fixture", ["agent", "manager", "no_role_user"])
def test_non_admin_roles_are_refused_by_the_admin_site(client, request, user_fixture):
    client.force_login(request.getfixturevalue(user_fixture))
    for url in (reverse("admin:index"), reverse("admin:auth_user_changelist")):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("admin:login"))


def test_admin_role_enters_the_admin_site_and_the_user_list(client, admin_user, agent):
    client.force_login(admin_user)
    assert client.get(reverse("admin:index")).status_code == 200
    users = client.get(reverse("admin:auth_user_changelist"))
    assert users.status_code == 200
    assert agent.username in users.content.decode()


def test_only_admins_see_the_administration_link(client, admin_user, manager):
    client.force_login(manager)
    assert reverse("admin:index") not in client.get(reverse("customers:list")).content.decode()
    client.force_login(admin_user)
    assert reverse("admin:index") in client.get(reverse("customers:list")).content.decode()
