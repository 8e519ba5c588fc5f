"""Demo support tickets for `make run`: about 80 tickets over the last 60 days from the demo
customers, in every status, with replies, notes, waiting periods, reopenings and some breaches, so
the queue, the ticket pages and the reports have something to show. Deterministic and idempotent
(demo tickets carry source_key "demo:<n>"; a second run adds nothing).

Replies are written as history events without e-mails: demo data must not e-mail anyone.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from customers.models import Customer
from support import services
from support.models import Team, Ticket, TicketEvent

SEED = 20261123
COUNT = 80
SUBJECTS = (
    ("Pedido não chegou", "delivery"),
    ("Cobrança em duplicidade no cartão", "billing"),
    ("Produto com defeito, quero trocar", "return"),
    ("Como emitir a segunda via do boleto?", "question"),
    ("Sistema fora do ar desde ontem", "problem"),
    ("Atendimento demorado na loja", "complaint"),
    ("Nota fiscal com CNPJ errado", "billing"),
    ("Não consigo acessar minha conta", "problem"),
)
REPLIES = (
    "Olá! Já estamos verificando com a transportadora e retornamos ainda hoje.",
    "Identificamos o problema e o estorno foi solicitado. Prazo de até 2 faturas.",
    "Pode nos enviar uma foto do produto e o número do pedido, por favor?",
    "Segue o link para a segunda via. Qualquer dúvida, estamos à disposição.",
)
CUSTOMER_REPLIES = ("Segue a foto em anexo.", "Obrigado, funcionou!", "Ainda não recebi, podem verificar?")
NOTES = ("Cliente VIP, priorizar.", "Aguardando retorno do financeiro.", "Escalado para o time de logística.")


class Command(BaseCommand):
    help = "Load demo support tickets (idempotent, e-mails nobody)."

    def handle(self, *args: Any, **options: Any) -> None:
        if Ticket.objects.filter(source_key__startswith="demo:").exists():
            self.stdout.write("demo tickets already loaded")
            return
        customers = list(
            Customer.objects.filter(external_id__startswith="DEMO-C").select_related("owner").order_by("id")
        )
        if not customers:
            self.stdout.write("no demo customers; run load_demo first")
            return
        users = {u.username: u for u in get_user_model().objects.filter(username__in=("gerente", "agente", "agente2"))}
        team, _ = Team.objects.get_or_create(name="Atendimento", defaults={"manager": users.get("gerente")})
        team.members.add(*users.values())
        rng = random.Random(SEED)
        now = timezone.now()
        with transaction.atomic():
            for n in range(COUNT):
                self._ticket(n, rng.choice(customers), team, rng, now)
        self.stdout.write(self.style.SUCCESS(f"Demo tickets loaded: {COUNT}."))

    def _ticket(self, n: int, customer: Customer, team: Team, rng: random.Random, now: datetime) -> None:
        subject, category = rng.choice(SUBJECTS)
        recent = rng.random() < 0.35  # a third of them from the last five days: a live queue
        opened = now - timedelta(days=rng.uniform(0.05, 5) if recent else rng.uniform(5, 60))
        priority = rng.choices(["low", "normal", "high", "urgent"], weights=[2, 6, 3, 1])[0]
        ticket, _ = services.ticket_create(
            actor=None,
            customer=customer,
            subject=subject,
            description="Olá, preciso de ajuda: " + subject.lower() + ".",
            channel=rng.choice(["email", "phone", "whatsapp", "chat", "web"]),
            category=category,
            priority=priority,
            team=team,
            source_key=f"demo:{n}",
            opened_at=opened,
        )
        author = customer.owner
        clock = opened + timedelta(hours=rng.uniform(0.2, 30))
        if clock >= now:
            return  # still new, no answer yet
        TicketEvent.objects.create(
            ticket=ticket, kind=TicketEvent.Kind.REPLY, author=author, at=clock, body=rng.choice(REPLIES)
        )
        Ticket.objects.filter(pk=ticket.pk).update(first_response_at=clock)
        ticket.refresh_from_db()
        services.ticket_change(actor=None, ticket=ticket, status="open", at=clock)
        if rng.random() < 0.3:
            TicketEvent.objects.create(
                ticket=ticket, kind=TicketEvent.Kind.NOTE, author=author, at=clock, body=rng.choice(NOTES)
            )
        if rng.random() < 0.35:  # waits on the customer, who answers later
            services.ticket_change(actor=None, ticket=ticket, status="waiting", at=clock + timedelta(minutes=5))
            clock += timedelta(hours=rng.uniform(2, 48))
            if clock >= now:
                return
            TicketEvent.objects.create(
                ticket=ticket, kind=TicketEvent.Kind.CUSTOMER_REPLY, at=clock, body=rng.choice(CUSTOMER_REPLIES)
            )
            services.ticket_change(actor=None, ticket=ticket, status="open", at=clock)
        clock += timedelta(hours=rng.uniform(0.5, 60))
        if clock >= now or (opened > now - timedelta(days=5) and rng.random() < 0.4):
            return  # still open (recent tickets)
        ticket = services.ticket_change(actor=None, ticket=ticket, status="resolved", at=clock)
        if rng.random() < 0.1:  # the customer says it is not fixed
            clock += timedelta(hours=rng.uniform(1, 24))
            if clock < now:
                ticket = services.ticket_change(actor=None, ticket=ticket, status="reopened", at=clock)
                clock += timedelta(hours=rng.uniform(1, 10))
                if clock < now:
                    ticket = services.ticket_change(actor=None, ticket=ticket, status="resolved", at=clock)
        if ticket.status == "resolved" and clock + timedelta(days=3) < now and rng.random() < 0.7:
            services.ticket_change(actor=None, ticket=ticket, status="closed", at=clock + timedelta(days=3))
