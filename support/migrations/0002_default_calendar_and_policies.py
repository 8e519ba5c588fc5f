"""Monday–Friday 09:00–18:00 and one business-hours SLA policy per priority, editable afterwards."""

from datetime import time

from django.db import migrations

POLICIES = (
    # priority, name, first response (min), resolution (min): business minutes (9 h a day)
    ("urgent", "Urgente", 60, 8 * 60),
    ("high", "Alta", 4 * 60, 2 * 9 * 60),
    ("normal", "Normal", 8 * 60, 5 * 9 * 60),
    ("low", "Baixa", 2 * 9 * 60, 10 * 9 * 60),
)


def seed(apps, schema_editor):
    WorkingHours = apps.get_model("support", "WorkingHours")
    SlaPolicy = apps.get_model("support", "SlaPolicy")
    for weekday in range(5):
        WorkingHours.objects.get_or_create(weekday=weekday, defaults={"start": time(9), "end": time(18)})
    for priority, name, first_response, resolution in POLICIES:
        if not SlaPolicy.objects.filter(priority=priority, segment__isnull=True).exists():
            SlaPolicy.objects.create(
                priority=priority,
                name=name,
                first_response_minutes=first_response,
                resolution_minutes=resolution,
                business_hours=True,
                warn_before_minutes=60,
            )


class Migration(migrations.Migration):
    dependencies = [("support", "0001_initial")]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
