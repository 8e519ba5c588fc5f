"""Demo reputation reviews for `make run`: ~60 reviews over the last twelve months from Google,
Reclame Aqui (0–10 grades), the app stores and the own store page, a third of them linked to demo
customers. Deterministic (seeded) and idempotent: each has an external_id ``DEMO-R001``…; a review
already present is left as it is, so a second run (even on another day) adds nothing."""

from __future__ import annotations

import random
from datetime import datetime, time, timedelta
from decimal import Decimal
from typing import Any

from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from customers.models import Customer
from metrics import reviews
from metrics.models import Review

SEED = 20261123
PREFIX = "DEMO-R"
COUNT = 60
# (source, share of the reviews, whether it grades 0–10)
SOURCES = (
    (Review.Source.GOOGLE, 0.45, False),
    (Review.Source.RECLAME_AQUI, 0.2, True),
    (Review.Source.PLAY_STORE, 0.12, False),
    (Review.Source.APP_STORE, 0.08, False),
    (Review.Source.STORE, 0.15, False),
)
GOOD = (
    ("Atendimento excelente", "Resolveram minha dúvida no mesmo dia, com muita atenção."),
    ("Recomendo", "Entrega rápida e produto exatamente como anunciado."),
    ("Muito bom", "O pós-venda ligou para saber se estava tudo certo. Gostei."),
    ("Ótima experiência", "Troca feita sem burocracia."),
)
MIXED = (
    ("Poderia ser melhor", "O produto é bom, mas a entrega atrasou dois dias."),
    ("Ok", "Atendimento cordial, porém demorado no chat."),
)
BAD = (
    ("Demora na resposta", "Abri um chamado e só tive retorno depois de uma semana."),
    ("Cobrança indevida", "Fui cobrado duas vezes; o estorno demorou."),
)
AUTHORS = ("Ana P.", "Bruno L.", "Carla M.", "Diego S.", "Elisa R.", "Fábio T.", "Gabi N.", "Hugo A.", "Íris C.")


def _stars(rng: random.Random) -> Decimal:
    # mostly good reviews, a few bad ones (a mean of about 3.6 stars)
    return Decimal(rng.choices(("5", "5", "4.5", "4", "4", "3", "2", "1"), k=1)[0])


class Command(BaseCommand):
    help = "Load demo reputation reviews (idempotent)."

    def handle(self, *args: Any, **options: Any) -> None:
        rng = random.Random(SEED)
        customers = list(Customer.objects.filter(external_id__startswith="DEMO-C").order_by("id")[:200])
        existing = set(Review.objects.filter(external_id__startswith=PREFIX).values_list("external_id", flat=True))
        today = timezone.localdate()
        created = 0
        with transaction.atomic():
            for n in range(1, COUNT + 1):
                # every draw happens for every review, so the sequence is the same on every run
                source, grades_10 = rng.choices([(s, g) for s, _share, g in SOURCES], [w for _s, w, _g in SOURCES])[0]
                stars = _stars(rng)
                days_ago = rng.randint(0, 364)
                minutes = rng.randint(8 * 60, 21 * 60)
                link = rng.random() < 0.35
                customer = rng.choice(customers) if customers and link else None
                title, text = rng.choice(GOOD if stars >= 4 else MIXED if stars >= 3 else BAD)
                author = rng.choice(AUTHORS)
                external_id = f"{PREFIX}{n:03d}"
                if external_id in existing:
                    continue
                day = today - timedelta(days=days_ago)
                when = timezone.make_aware(datetime.combine(day, time()) + timedelta(minutes=minutes))
                rating: dict[str, Decimal] = {"grade_10": stars * 2} if grades_10 else {"rating": stars}
                reviews.review_create(
                    actor=None,
                    source=source,
                    reviewed_at=min(when, timezone.now()),
                    customer=customer,
                    author=customer.name if customer else author,
                    title=title,
                    text=text,
                    url=f"https://example.com/avaliacoes/{external_id.lower()}",
                    external_id=external_id,
                    **rating,
                )
                created += 1
        total = Review.objects.filter(external_id__startswith=PREFIX).count()
        self.stdout.write(self.style.SUCCESS(f"Demo reviews loaded: {created} new, {total} in all."))
