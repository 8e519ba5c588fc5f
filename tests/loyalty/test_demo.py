import pytest
from django.core.management import call_command

from loyalty.models import Entry, Redemption, Referral
from messaging.models import Message

pytestmark = pytest.mark.django_db


def test_demo_loyalty_loads_once_and_emails_nobody():
    call_command("load_demo", customers=40)
    call_command("load_loyalty_demo")
    counts = (Entry.objects.count(), Redemption.objects.count(), Referral.objects.count())
    call_command("load_loyalty_demo")

    assert counts[0] > 0
    assert (Entry.objects.count(), Redemption.objects.count(), Referral.objects.count()) == counts
    assert not Message.objects.exists()
