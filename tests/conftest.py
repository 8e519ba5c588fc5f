import pytest
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
