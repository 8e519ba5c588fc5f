"""Every page a CS user reaches, rendered over the demo data (the same data `make run` shows), as a
manager and as an agent: no 500 anywhere. Unit tests build tidy objects; demo data has the messy
ones (system events without an author, unassigned tickets, customers without orders…)."""

import pytest
from django.core.management import call_command
from django.urls import reverse

from customers.models import Customer
from messaging.models import Message
from posvenda import roles
from support.models import Ticket
from surveys.models import Response, Survey
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

LIST_PAGES = [
    "home",
    "customers:list",
    "customers:create",
    "customers:import",
    "funnel:board",
    "funnel:my_day",
    "funnel:rules",
    "funnel:playbooks",
    "funnel:campaigns",
    "messaging:list",
    "messaging:approvals",
    "messaging:templates",
    "surveys:list",
    "surveys:create",
    "support:queue",
    "support:create",
    "support:reports",
    "support:sla",
    "loyalty:settings",
    "loyalty:rewards",
    "loyalty:liability",
    "loyalty:referrals",
]


@pytest.fixture
def demo(db):
    call_command("load_demo", customers=60)
    call_command("load_playbooks")
    call_command("load_survey_demo")
    call_command("load_support_demo")
    call_command("load_loyalty_demo")


def detail_urls() -> list[str]:
    urls = [
        reverse("customers:detail", args=[pk])
        for pk in Customer.objects.order_by("id").values_list("pk", flat=True)[:25]
    ]
    urls += [reverse("support:detail", args=[pk]) for pk in Ticket.objects.values_list("pk", flat=True)]
    for survey in Survey.objects.all():
        urls += [reverse("surveys:results", args=[survey.pk]), reverse("surveys:edit", args=[survey.pk])]
        urls.append(reverse("surveys:send", args=[survey.pk]))
    urls += [reverse("surveys:response", args=[pk]) for pk in Response.objects.values_list("pk", flat=True)[:40]]
    urls += [reverse("messaging:detail", args=[pk]) for pk in Message.objects.values_list("pk", flat=True)[:10]]
    return urls


@pytest.mark.parametrize("role", [roles.MANAGER, roles.AGENT])
def test_every_page_renders_over_the_demo_data(client, demo, role):
    user = UserFactory(username=f"smoke-{role}", role=role)
    client.force_login(user)
    failures = []
    for url in [reverse(name) for name in LIST_PAGES] + detail_urls():
        status = client.get(url).status_code
        if status not in (200, 302, 403):  # home redirects; agents get 403 on manager pages; never a 500
            failures.append((url, status))
    assert not failures
