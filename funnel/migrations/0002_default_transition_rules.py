from django.db import migrations

# The rules a fresh install starts with; managers tune them on /funnel/rules/.
DEFAULT_RULES = [
    ("adoption_days", ["adoption"], "retention", 30, True),
    ("upsell", ["adoption", "retention"], "expansion", None, True),
    ("promoter", ["adoption", "retention", "expansion"], "evangelization", None, True),
    ("contract_cancelled", ["adoption", "retention", "expansion", "evangelization"], "churned", None, True),
    ("no_purchase_days", ["adoption", "retention", "expansion", "evangelization"], "churned", 180, True),
]


def create_rules(apps, schema_editor):
    TransitionRule = apps.get_model("funnel", "TransitionRule")
    for kind, from_stages, to_stage, days, enabled in DEFAULT_RULES:
        TransitionRule.objects.get_or_create(
            kind=kind, defaults={"from_stages": from_stages, "to_stage": to_stage, "days": days, "enabled": enabled}
        )


class Migration(migrations.Migration):
    dependencies = [("funnel", "0001_stages_rules_playbooks_tasks")]

    operations = [migrations.RunPython(create_rules, migrations.RunPython.noop)]
