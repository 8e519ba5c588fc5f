import pytest
from django.core.management import call_command

from messaging.models import Message
from support.models import Ticket

pytestmark = pytest.mark.django_db


def test_demo_tickets_load_once_and_email_nobody():
    call_command("load_demo", customers=40)
    call_command("load_support_demo")
    count = Ticket.objects.count()
    call_command("load_support_demo")

    assert count == 80 and Ticket.objects.count() == count
    assert Ticket.objects.filter(status__in=["resolved", "closed"], resolution_seconds__isnull=False).exists()
    assert Ticket.objects.exclude(status__in=["resolved", "closed"]).exists()
    assert not Message.objects.exists()
