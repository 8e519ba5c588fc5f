"""Demo surveys for `make run`: an NPS wave survey, a post-purchase CSAT and an exit survey, with six
months of answers from the demo customers so the results pages and the 360 panel have something to
show. Deterministic and idempotent (a survey already present is left alone with its answers).

Historic answers are inserted directly (they are throwaway demo data and must not e-mail anyone);
the follow-up tasks of detractors go through funnel.services.task_create like real ones.
"""

from __future__ import annotations

import random
import secrets
from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from customers.models import Customer
from funnel.models import Priority, Task
from funnel.services import task_create
from surveys.models import Invitation, Kind, Response, Survey, Trigger
from surveys.services import category_for, needs_follow_up, survey_texts

SEED = 20261123
COMMENTS = {
    "high": [
        "Atendimento excelente, resolveram tudo rápido.",
        "Produto de ótima qualidade, recomendo!",
        "A entrega chegou antes do prazo.",
        "Equipe de sucesso do cliente muito atenciosa.",
    ],
    "mid": [
        "Bom, mas o preço poderia ser melhor.",
        "Funciona bem, a documentação podia ser mais clara.",
        "",
    ],
    "low": [
        "Demoraram três dias para responder meu chamado.",
        "A entrega atrasou e ninguém avisou.",
        "Cobrança duplicada no cartão, ainda sem solução.",
        "O sistema ficou fora do ar na semana passada.",
    ],
}
SURVEYS: tuple[dict[str, Any], ...] = (
    {"name": "NPS de relacionamento", "kind": Kind.NPS, "trigger": Trigger.RECURRING, "trigger_days": 90},
    {"name": "CSAT pós-compra", "kind": Kind.CSAT, "trigger": Trigger.AFTER_ORDER, "trigger_days": 7},
    {"name": "Pesquisa de saída", "kind": Kind.EXIT, "trigger": Trigger.ON_CHURN, "trigger_days": 7},
)


class Command(BaseCommand):
    help = "Load demo surveys with six months of answers (idempotent)."

    def handle(self, *args: Any, **options: Any) -> None:
        rng = random.Random(SEED)
        customers = list(Customer.objects.filter(external_id__startswith="DEMO-C").order_by("id"))
        if not customers:
            self.stdout.write("no demo customers; run load_demo first")
            return
        made = 0
        for spec in SURVEYS:
            if Survey.objects.filter(name=spec["name"]).exists():
                continue
            with transaction.atomic():
                survey = Survey.objects.create(**spec)
                made += self._answers(survey, customers, rng)
        self.stdout.write(self.style.SUCCESS(f"Demo surveys loaded: {made} answers."))

    def _score(self, kind: str, rng: random.Random) -> int:
        if kind == Kind.NPS:
            return rng.choices(range(11), weights=[1, 1, 1, 2, 2, 3, 4, 8, 12, 14, 12])[0]
        if kind == Kind.CSAT:
            return rng.choices(range(1, 6), weights=[1, 2, 4, 10, 12])[0]
        return rng.choices(range(1, 8), weights=[1, 1, 2, 3, 5, 8, 6])[0]

    def _answers(self, survey: Survey, customers: list[Customer], rng: random.Random) -> int:
        now = timezone.now()
        pool = [c for c in customers if c.stage == Customer.Stage.CHURNED] if survey.kind == Kind.EXIT else customers
        chosen = rng.sample(pool, min(len(pool), 40 if survey.kind == Kind.EXIT else 160))
        reasons = survey_texts(survey=survey, language="pt-br")["reasons"]
        answered = 0
        for customer in chosen:
            sent_at = now - timedelta(days=rng.randint(1, 180), hours=rng.randint(0, 23))
            answers = rng.random() < 0.62
            invitation = Invitation.objects.create(
                survey=survey,
                customer=customer,
                nonce=secrets.token_urlsafe(18),
                source=Invitation.Source.WAVE,
                source_key="demo",
                status=Invitation.Status.ANSWERED if answers else Invitation.Status.SENT,
                language=customer.language,
                due_at=sent_at,
                sent_at=sent_at,
                expires_at=sent_at + timedelta(days=survey.link_valid_days),
                reminded_at=sent_at + timedelta(days=3) if not answers else None,
            )
            if not answers:
                continue
            answered += 1
            answered_at = sent_at + timedelta(hours=rng.randint(1, 60))
            score = None if survey.kind == Kind.EXIT else self._score(survey.kind, rng)
            category = category_for(survey.kind, score)
            band = "high" if category in ("promoter", "satisfied", "easy") else "mid"
            if needs_follow_up(survey.kind, score) or category in ("detractor", "unsatisfied", "difficult"):
                band = "low"
            response = Response.objects.create(
                invitation=invitation,
                survey=survey,
                customer=customer,
                kind=survey.kind,
                score=score,
                category=category,
                reason=rng.choice(reasons) if survey.kind == Kind.EXIT else "",
                comment=rng.choice(COMMENTS[band]),
                language=customer.language,
                answered_at=answered_at,
            )
            if needs_follow_up(survey.kind, score):
                closed = answered_at < now - timedelta(days=20)
                task = task_create(
                    actor=None,
                    customer=customer,
                    title=f"Retornar resposta {survey.get_kind_display().split(' ')[0]} {score} de {customer.name}"[
                        :200
                    ],
                    notes=response.comment,
                    due_date=timezone.localdate(answered_at) + timedelta(days=2),
                    priority=Priority.HIGH,
                    origin=Task.Origin.SURVEY,
                )
                if closed:
                    Task.objects.filter(pk=task.pk).update(
                        status=Task.Status.DONE, done_at=answered_at + timedelta(days=1)
                    )
                Response.objects.filter(pk=response.pk).update(
                    loop_task=task,
                    loop=Response.Loop.CLOSED if closed else Response.Loop.OPEN,
                    loop_note="Liguei para o cliente e combinamos uma solução." if closed else "",
                    loop_closed_at=answered_at + timedelta(days=1) if closed else None,
                )
        # Surveys' created_at is "now"; the answers span six months, which is what the pages show.
        return answered
