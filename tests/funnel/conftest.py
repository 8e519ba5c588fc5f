from datetime import timedelta

import pytest
from django.utils import timezone

from funnel.models import Playbook, PlaybookStep, StageChange, TransitionRule
from tests.factories import CustomerFactory

RULE_DEFAULTS = {
    TransitionRule.Kind.ADOPTION_DAYS: (["adoption"], "retention", 30),
    TransitionRule.Kind.UPSELL: (["adoption", "retention"], "expansion", None),
    TransitionRule.Kind.PROMOTER: (["adoption", "retention", "expansion"], "evangelization", None),
    TransitionRule.Kind.CONTRACT_CANCELLED: (["adoption", "retention", "expansion", "evangelization"], "churned", None),
    TransitionRule.Kind.NO_PURCHASE: (["adoption", "retention", "expansion", "evangelization"], "churned", 180),
}


def set_rule(kind, *, enabled=True, **overrides):
    """The rule of ``kind`` in a known state (migration 0002 seeds them, a flush may have removed them)."""
    from_stages, to_stage, days = RULE_DEFAULTS[kind]
    values = {"from_stages": from_stages, "to_stage": to_stage, "days": days, "enabled": enabled, **overrides}
    rule, _ = TransitionRule.objects.update_or_create(kind=kind, defaults=values)
    return rule


def disable_all_rules():
    TransitionRule.objects.update(enabled=False)


def customer_in_stage(stage="adoption", *, since=None, **fields):
    """A customer whose stage history says it entered ``stage`` at ``since`` (default: now)."""
    customer = CustomerFactory(stage=stage, **fields)
    change = StageChange.objects.create(
        customer=customer, from_stage="", to_stage=stage, changed_at=since or timezone.now(), source="system"
    )
    return customer, change


def days_ago(n):
    return timezone.now() - timedelta(days=n)


@pytest.fixture(autouse=True)
def english_pages(client, settings):
    """Pages in English, so text assertions hold once the pt_BR catalogue lands."""
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"


@pytest.fixture
def no_rules(db):
    disable_all_rules()


@pytest.fixture
def task_playbook(db):
    """An adoption playbook with a D+0 task step and a D+7 task step (no messaging needed)."""
    playbook = Playbook.objects.create(stage="adoption", name="Adoção teste")
    PlaybookStep.objects.create(
        playbook=playbook, day_offset=0, action="create_task", task_title="Ligar de boas-vindas"
    )
    PlaybookStep.objects.create(playbook=playbook, day_offset=7, action="create_task", task_title="Check-in D+7")
    return playbook
