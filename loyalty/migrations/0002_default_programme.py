"""The programme row and Bronze/Prata/Ouro tiers, editable afterwards."""

from django.db import migrations

TIERS = (
    ("Bronze", 0, "Acúmulo de pontos em todas as compras."),
    ("Prata", 1000, "Frete grátis em compras acima de R$ 150 e acesso antecipado a lançamentos."),
    ("Ouro", 5000, "Frete grátis sempre, atendimento prioritário e 2x pontos em datas especiais."),
)


def seed(apps, schema_editor):
    Programme = apps.get_model("loyalty", "Programme")
    Tier = apps.get_model("loyalty", "Tier")
    if not Programme.objects.exists():
        Programme.objects.create()
    for name, min_points, benefits in TIERS:
        Tier.objects.get_or_create(name=name, defaults={"min_points": min_points, "benefits": benefits})


class Migration(migrations.Migration):
    dependencies = [("loyalty", "0001_initial")]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
