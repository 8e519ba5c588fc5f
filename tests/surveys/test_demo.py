import pytest
from django.core.management import call_command

from messaging.models import Message
from surveys.models import Invitation, Response, Survey

pytestmark = pytest.mark.django_db


def test_demo_surveys_load_once_and_send_nothing():
    call_command("load_demo", customers=60)
    call_command("load_survey_demo")
    counts = (Survey.objects.count(), Invitation.objects.count(), Response.objects.count())
    call_command("load_survey_demo")

    assert counts[0] == 3 and counts[2] > 0
    assert (Survey.objects.count(), Invitation.objects.count(), Response.objects.count()) == counts
    assert not Message.objects.exists()  # historic demo answers never e-mail anyone
    nps = Survey.objects.get(kind="nps")
    assert nps.responses.filter(category="detractor", loop_task__isnull=True).count() == 0
