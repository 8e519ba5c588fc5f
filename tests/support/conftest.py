import importlib

import pytest
from django.apps import apps as django_apps

from support.models import SlaPolicy

_seed = importlib.import_module("support.migrations.0002_default_calendar_and_policies").seed


@pytest.fixture(autouse=True)
def default_calendar_and_policies(db):
    """The working hours and SLA policies migration 0002 seeds: a transactional test elsewhere in
    the same worker flushes them, so every support test puts them back (idempotent)."""
    _seed(django_apps, None)


@pytest.fixture
def policy_high(db):
    """High priority: first response 2 business hours, resolution 10 business hours, warn 30 min before."""
    SlaPolicy.objects.filter(priority="high", segment__isnull=True).delete()
    return SlaPolicy.objects.create(
        name="Alta", priority="high", first_response_minutes=120, resolution_minutes=600, warn_before_minutes=30
    )


@pytest.fixture
def policy_urgent(db):
    SlaPolicy.objects.filter(priority="urgent", segment__isnull=True).delete()
    return SlaPolicy.objects.create(
        name="Urgente", priority="urgent", first_response_minutes=60, resolution_minutes=240, warn_before_minutes=30
    )
