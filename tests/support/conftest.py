import pytest

from support.models import SlaPolicy


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
