"""Shared helpers for the surveys tests: a consenting customer, surveys and sent invitations."""

import pytest

from surveys import services
from surveys.models import Invitation, Kind, Survey
from tests.factories import ConsentFactory, CustomerFactory


def consenting_customer(**fields):
    """A customer who agreed to receive surveys by e-mail (messaging blocks the others)."""
    customer = CustomerFactory(**fields)
    ConsentFactory(customer=customer)
    return customer


def make_survey(kind=Kind.NPS, **fields):
    """A survey; the quiet period after a ticket is off unless a test turns it on (a detractor answer
    opens a ticket, which would otherwise hold back the next invitation to that customer)."""
    values = {"name": f"Pesquisa {kind}", "kind": kind, "quiet_days_after_ticket": 0, **fields}
    return Survey.objects.create(**values)


def sent_invitation(survey=None, customer=None, **kwargs) -> Invitation:
    """An invitation that went out now (its e-mail queued)."""
    survey = survey or make_survey()
    customer = customer or consenting_customer()
    invitation, _ = services.invitation_create(survey=survey, customer=customer, **kwargs)
    assert invitation.status == Invitation.Status.SENT, invitation.skip_reason
    return invitation


@pytest.fixture
def nps_survey(db):
    return make_survey(Kind.NPS)


@pytest.fixture
def customer(agent):
    return consenting_customer(owner=agent, name="Ana Souza", email="ana@example.com.br")
