"""Load realistic pt-BR demo data for `make run`: users, segments, tags and ~400 customers.

Deterministic (seeded Faker and random) and idempotent: every demo customer has an external_id
``DEMO-C0001``…, and a customer already present is skipped together with its contacts, orders,
contracts, interactions and consents. Users go through ``posvenda.roles.user_create``; the rest
is bulk-inserted because it is throwaway demo data and must load in a few seconds on SQLite.
"""

from __future__ import annotations

import random
import time
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandParser
from django.db import transaction
from django.utils import timezone
from faker import Faker

from customers.models import Consent, Contact, Contract, Customer, Interaction, Order, Segment, Tag
from customers.validators import make_cnpj, make_cpf, normalize_phone
from posvenda import roles

DEMO_PASSWORD = "posvenda-demo"
DEMO_PREFIX = "DEMO-C"
DEFAULT_CUSTOMERS = 400
SEED = 20261123
# Seeds for documents live far from the ranges tests and bench use, and never give all-equal digits.
CPF_SEED_BASE = 401_000_000
CNPJ_SEED_BASE = 61_000_000

DEMO_USERS: tuple[tuple[str, str, str, str], ...] = (
    # username, role, first name, last name
    ("admin", roles.ADMIN, "Ana", "Administradora"),
    ("gerente", roles.MANAGER, "Gustavo", "Ramos"),
    ("agente", roles.AGENT, "Beatriz", "Nogueira"),
    ("camila", roles.AGENT, "Camila", "Souza"),
    ("rafael", roles.AGENT, "Rafael", "Lima"),
)
AGENT_USERNAMES = ("agente", "camila", "rafael")

SEGMENTS: tuple[tuple[str, str], ...] = (
    ("Varejo", "Lojas físicas e redes de varejo."),
    ("PME", "Pequenas e médias empresas com contrato mensal."),
    ("Enterprise", "Grandes contas com gerente de sucesso dedicado."),
    ("E-commerce B2C", "Consumidores finais da loja online."),
)
TAGS = (
    "VIP",
    "Indicação",
    "Risco de churn",
    "Black Friday",
    "Primeira compra",
    "Promotor",
    "Onboarding",
    "Inadimplente",
)

BUSINESS_TYPES = (
    "Padaria",
    "Distribuidora",
    "Construtora",
    "Farmácia",
    "Auto Peças",
    "Clínica",
    "Escola",
    "Agropecuária",
    "Transportadora",
    "Ótica",
    "Supermercado",
    "Papelaria",
    "Academia",
    "Restaurante",
    "Contabilidade",
    "Imobiliária",
)
COMPANY_SUFFIXES = ("Ltda.", "Ltda.", "Ltda.", "S.A.", "- ME", "EIRELI")
DDDS = ("11", "11", "11", "21", "21", "31", "41", "47", "48", "51", "61", "62", "71", "81", "85", "91", "19", "27")
CONTACT_ROLES = (
    "Sócio-administrador",
    "Gerente financeiro",
    "Comprador",
    "Coordenadora de TI",
    "Diretora de operações",
)
B2B_PLANS: tuple[tuple[str, int, int], ...] = (("Essencial", 290, 690), ("Pro", 890, 2490), ("Enterprise", 4900, 18900))
CANCEL_REASONS = (
    "Preço acima do orçamento",
    "Migrou para um concorrente",
    "Encerrou as atividades",
    "Baixa adoção da equipe",
    "Problemas recorrentes no suporte",
)
PRODUCTS: tuple[tuple[str, int, int], ...] = (
    ("Kit skincare completo", 129, 349),
    ("Tênis de corrida", 249, 699),
    ("Cafeteira elétrica", 189, 459),
    ("Fone Bluetooth", 99, 399),
    ("Assinatura mensal de café", 59, 119),
    ("Mochila de notebook", 149, 329),
    ("Jogo de panelas antiaderente", 299, 899),
    ("Perfume importado", 199, 649),
    ("Smartwatch", 399, 1499),
    ("Livro — box de coleção", 79, 259),
)
ORDER_CHANNELS = (
    Order.Channel.ONLINE,
    Order.Channel.ONLINE,
    Order.Channel.ONLINE,
    Order.Channel.MARKETPLACE,
    Order.Channel.WHATSAPP,
    Order.Channel.INSTAGRAM,
    Order.Channel.STORE,
)
INTERACTIONS: tuple[tuple[str, str, str], ...] = (
    (Interaction.Kind.CALL, "Ligação de boas-vindas", "Apresentei o time de sucesso e combinamos o próximo passo."),
    (Interaction.Kind.WHATSAPP, "Dúvida sobre entrega", "Cliente perguntou pelo prazo; enviei o código de rastreio."),
    (Interaction.Kind.EMAIL, "Envio do material de onboarding", "Mandei o guia rápido e o link dos tutoriais."),
    (Interaction.Kind.NOTE, "Cliente satisfeito", "Elogiou o atendimento e disse que vai indicar para amigos."),
    (Interaction.Kind.MEETING, "Reunião de resultados", "Revisamos os indicadores do trimestre e metas do próximo."),
    (Interaction.Kind.CALL, "Reclamação resolvida", "Produto chegou com avaria; troca aprovada e enviada."),
    (Interaction.Kind.WHATSAPP, "Follow-up pós-compra", "Perguntei como foi a primeira semana de uso. Tudo certo."),
    (
        Interaction.Kind.INSTAGRAM,
        "Mensagem no direct",
        "Cliente marcou a loja num story; agradecemos e oferecemos cupom.",
    ),
    (Interaction.Kind.NOTE, "Risco de cancelamento", "Uso caiu nas últimas semanas; agendar conversa com o decisor."),
    (Interaction.Kind.EMAIL, "Proposta de upgrade", "Enviei proposta do plano superior com desconto no primeiro mês."),
    (Interaction.Kind.CALL, "Renovação confirmada", "Contrato renovado por mais 12 meses, sem alteração de valor."),
    (Interaction.Kind.MEETING, "Treinamento da equipe", "Treinamento online com 6 pessoas do time do cliente."),
)
STAGES_COMPANY = (
    (Customer.Stage.ADOPTION, 25),
    (Customer.Stage.RETENTION, 35),
    (Customer.Stage.EXPANSION, 18),
    (Customer.Stage.EVANGELIZATION, 10),
    (Customer.Stage.CHURNED, 12),
)
STAGES_PERSON = (
    (Customer.Stage.ADOPTION, 30),
    (Customer.Stage.RETENTION, 35),
    (Customer.Stage.EXPANSION, 12),
    (Customer.Stage.EVANGELIZATION, 11),
    (Customer.Stage.CHURNED, 12),
)


@dataclass
class PlannedCustomer:
    customer: Customer
    owner_username: str | None
    segment_name: str
    created_at: datetime
    tag_names: list[str] = field(default_factory=list)
    contacts: list[Contact] = field(default_factory=list)
    contracts: list[Contract] = field(default_factory=list)
    orders: list[Order] = field(default_factory=list)
    interactions: list[Interaction] = field(default_factory=list)
    consents: list[Consent] = field(default_factory=list)


def _slug(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(ch if ch.isalnum() else "." for ch in ascii_text.lower()).strip(".").replace("..", ".")


def _weighted(rng: random.Random, choices: tuple[tuple[Any, int], ...]) -> Any:
    return rng.choices([c for c, _w in choices], weights=[w for _c, w in choices])[0]


def _mobile(rng: random.Random) -> str:
    return normalize_phone(f"+55{rng.choice(DDDS)}9{rng.choice('6789')}{rng.randrange(10**7):07d}")


def _money(rng: random.Random, low: int, high: int) -> Decimal:
    return Decimal(rng.randrange(low * 100, high * 100)) / 100


class DemoPlanner:
    """Builds the whole demo data set in memory, deterministically, before anything is written."""

    def __init__(self, *, count: int, now: datetime) -> None:
        self.count = count
        self.now = now
        self.today = timezone.localdate(now)
        self.rng = random.Random(SEED)
        self.fake = Faker("pt_BR")
        self.fake.seed_instance(SEED)

    def plan(self) -> list[PlannedCustomer]:
        return [self._customer(i) for i in range(1, self.count + 1)]

    def _owner(self) -> str | None:
        roll = self.rng.random()
        if roll < 0.06:
            return None
        if roll < 0.14:
            return "gerente"
        return self.rng.choice(AGENT_USERNAMES)

    def _customer(self, index: int) -> PlannedCustomer:
        rng = self.rng
        is_company = index % 3 == 1
        owner = self._owner()
        stage = _weighted(rng, STAGES_COMPANY if is_company else STAGES_PERSON)
        # Adoption is the first months of the relationship; the later stages take longer to reach.
        since_days = rng.randrange(20, 120) if stage == Customer.Stage.ADOPTION else rng.randrange(90, 540)
        created_at = self.now - timedelta(days=since_days, minutes=rng.randrange(600))
        if is_company:
            surname = self.fake.last_name()
            name = f"{rng.choice(BUSINESS_TYPES)} {surname} {rng.choice(COMPANY_SUFFIXES)}"
            domain = f"{_slug(surname)}{index}.example.com"
            customer = Customer(
                kind=Customer.Kind.COMPANY,
                name=name,
                document=make_cnpj(CNPJ_SEED_BASE + index * 7),
                email=f"contato@{domain}",
                phone=_mobile(rng),
                stage=stage,
                external_id=f"{DEMO_PREFIX}{index:04d}",
                language="pt-br",
            )
            segment = rng.choice(("Varejo", "PME", "PME", "Enterprise"))
        else:
            first, last = self.fake.first_name(), self.fake.last_name()
            name = f"{first} {last}" if rng.random() < 0.5 else f"{first} {self.fake.last_name()} {last}"
            domain = rng.choice(("example.com", "example.org", "example.net"))
            customer = Customer(
                kind=Customer.Kind.PERSON,
                name=name,
                document=make_cpf(CPF_SEED_BASE + index * 13),
                email=f"{_slug(first)}.{_slug(last)}{index}@{domain}",
                phone=_mobile(rng) if rng.random() < 0.85 else "",
                stage=stage,
                external_id=f"{DEMO_PREFIX}{index:04d}",
                language="en" if rng.random() < 0.04 else "pt-br",
            )
            segment = "E-commerce B2C" if rng.random() < 0.8 else "Varejo"
        planned = PlannedCustomer(customer=customer, owner_username=owner, segment_name=segment, created_at=created_at)
        planned.tag_names = sorted(set(rng.sample(TAGS, k=rng.choice((0, 0, 1, 1, 2)))))
        if stage == Customer.Stage.CHURNED and "Risco de churn" in planned.tag_names:
            planned.tag_names.remove("Risco de churn")
        if is_company:
            self._company_children(planned, index, since_days)
        else:
            self._person_children(planned, index, since_days)
        self._interactions(planned, since_days)
        self._consents(planned, since_days)
        return planned

    def _company_children(self, planned: PlannedCustomer, index: int, since_days: int) -> None:
        rng = self.rng
        customer = planned.customer
        domain = customer.email.split("@", 1)[1]
        for n in range(rng.randint(1, 3)):
            first, last = self.fake.first_name(), self.fake.last_name()
            planned.contacts.append(
                Contact(
                    name=f"{first} {last}",
                    email=f"{_slug(first)}.{_slug(last)}@{domain}",
                    phone=_mobile(rng),
                    role=rng.choice(CONTACT_ROLES),
                    is_primary=(n == 0),
                    external_id=f"{customer.external_id}-P{n + 1}",
                )
            )
        churned = customer.stage == Customer.Stage.CHURNED
        plan_name, low, high = rng.choice(B2B_PLANS)
        started = self.today - timedelta(days=since_days)
        contracts_n = 2 if (since_days > 365 and rng.random() < 0.5) else 1
        active_mrr = Decimal("0.00")
        for n in range(contracts_n):
            mrr = _money(rng, low, high)
            last = n == contracts_n - 1
            cancelled = (churned and last) or (not last and rng.random() < 0.3)
            contract = Contract(
                external_id=f"{customer.external_id}-K{n + 1}",
                plan=plan_name,
                started_at=started,
                ends_at=started + timedelta(days=365),
                mrr=mrr,
                auto_renew=not cancelled,
            )
            if cancelled:
                cancel_day = min(self.today, started + timedelta(days=rng.randrange(60, 360)))
                contract.status = Contract.Status.CANCELLED
                contract.cancelled_at = cancel_day
                contract.cancel_reason = rng.choice(CANCEL_REASONS)
            elif not last:
                contract.status = Contract.Status.EXPIRED
            else:
                active_mrr += mrr
                while contract.ends_at < self.today:
                    contract.ends_at += timedelta(days=365)
                    contract.renewals += 1
            planned.contracts.append(contract)
            started = started + timedelta(days=365)
            if started > self.today:
                break
        customer.plan = plan_name
        customer.mrr = active_mrr

    def _person_children(self, planned: PlannedCustomer, index: int, since_days: int) -> None:
        rng = self.rng
        customer = planned.customer
        churned = customer.stage == Customer.Stage.CHURNED
        count = rng.randint(1, 8)
        # A churned buyer has not bought for months; the others keep buying until recently.
        latest = max(60, since_days // 3) if churned else 0
        window = max(since_days - latest, 1)
        for n in range(count):
            product, low, high = rng.choice(PRODUCTS)
            days_ago = latest + rng.randrange(window)
            roll = rng.random()
            status = Order.Status.PAID
            if roll < 0.07:
                status = Order.Status.CANCELLED
            elif roll < 0.12:
                status = Order.Status.REFUNDED
            planned.orders.append(
                Order(
                    external_id=f"{customer.external_id}-O{n + 1}",
                    purchased_at=self.now - timedelta(days=days_ago, minutes=rng.randrange(1440)),
                    amount=_money(rng, low, high),
                    status=status,
                    channel=rng.choice(ORDER_CHANNELS),
                    product=product,
                )
            )
        customer.plan = "Clube Posvenda" if rng.random() < 0.2 else ""
        customer.mrr = Decimal("29.90") if customer.plan else Decimal("0.00")

    def _interactions(self, planned: PlannedCustomer, since_days: int) -> None:
        rng = self.rng
        for _n in range(rng.randint(1, 6)):
            kind, subject, body = rng.choice(INTERACTIONS)
            planned.interactions.append(
                Interaction(
                    kind=kind,
                    subject=subject,
                    body=body,
                    happened_at=self.now - timedelta(days=rng.randrange(since_days), minutes=rng.randrange(1440)),
                )
            )

    def _consents(self, planned: PlannedCustomer, since_days: int) -> None:
        rng = self.rng
        granted_at = planned.created_at
        source = rng.choice((Consent.Source.FORM, Consent.Source.FORM, Consent.Source.IMPORT))
        evidence = "Checkbox no checkout da loja online" if source == Consent.Source.FORM else "Base importada do ERP"
        channels = [Consent.Channel.EMAIL]
        if planned.customer.phone:
            channels.append(Consent.Channel.WHATSAPP)
        for channel in channels:
            for purpose in (Consent.Purpose.SERVICE, Consent.Purpose.SURVEYS, Consent.Purpose.MARKETING):
                if purpose == Consent.Purpose.MARKETING and rng.random() < 0.35:
                    continue
                planned.consents.append(
                    Consent(
                        channel=channel,
                        purpose=purpose,
                        granted=True,
                        source=source,
                        evidence=evidence,
                        recorded_at=granted_at,
                    )
                )
        if rng.random() < 0.1:
            # Changed their mind later: LGPD keeps both records, the newest one is in force.
            planned.consents.append(
                Consent(
                    channel=Consent.Channel.EMAIL,
                    purpose=Consent.Purpose.MARKETING,
                    granted=False,
                    source=Consent.Source.PREFERENCE_CENTRE,
                    evidence="Descadastro pelo link do e-mail",
                    recorded_at=self.now - timedelta(days=rng.randrange(max(since_days - 1, 1))),
                )
            )


class Command(BaseCommand):
    help = "Load realistic pt-BR demo data (users, segments, tags, customers). Safe to run twice."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--customers", type=int, default=DEFAULT_CUSTOMERS, help="How many demo customers.")

    def handle(self, *args: Any, **options: Any) -> None:
        started = time.monotonic()
        count: int = options["customers"]
        created_users = self._users()
        wanted = [f"{DEMO_PREFIX}{i:04d}" for i in range(1, count + 1)]
        existing = set(Customer.objects.filter(external_id__in=wanted).values_list("external_id", flat=True))
        if len(existing) == len(wanted):
            self.stdout.write(f"demo data already loaded ({count} demo customers); users created: {created_users}")
            return
        planned = [
            p for p in DemoPlanner(count=count, now=timezone.now()).plan() if p.customer.external_id not in existing
        ]
        summary = self._write(planned)
        elapsed = time.monotonic() - started
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo data loaded in {elapsed:.1f} s: {created_users} users, {summary['customers']} customers "
                f"({summary['companies']} companies, {summary['people']} people), {summary['contacts']} contacts, "
                f"{summary['contracts']} contracts, {summary['orders']} orders, "
                f"{summary['interactions']} interactions, {summary['consents']} consents."
            )
        )
        self.stdout.write(f"Log in as admin, gerente or agente with password {DEMO_PASSWORD!r}.")

    def _users(self) -> int:
        User = get_user_model()
        existing = set(User.objects.filter(username__in=[u[0] for u in DEMO_USERS]).values_list("username", flat=True))
        created = 0
        for username, role, first_name, last_name in DEMO_USERS:
            if username in existing:
                continue
            roles.user_create(
                username=username,
                password=DEMO_PASSWORD,
                role=role,
                email=f"{username}@posvenda.example.com",
                first_name=first_name,
                last_name=last_name,
            )
            created += 1
        if created:
            roles.grant_admin_permissions()
        return created

    @transaction.atomic
    def _write(self, planned: list[PlannedCustomer]) -> dict[str, int]:
        User = get_user_model()
        users = {u.username: u for u in User.objects.filter(username__in=[u[0] for u in DEMO_USERS])}
        segments = {}
        for name, description in SEGMENTS:
            segments[name], _created = Segment.objects.get_or_create(name=name, defaults={"description": description})
        tags = {}
        for name in TAGS:
            tags[name], _created = Tag.objects.get_or_create(name=name)

        for p in planned:
            p.customer.owner = users.get(p.owner_username) if p.owner_username else None
            p.customer.segment = segments[p.segment_name]
        customers = Customer.objects.bulk_create([p.customer for p in planned], batch_size=500)
        for p in planned:
            p.customer.created_at = p.created_at
        # auto_now_add stamped "now"; the demo shows customers who have been with us for months.
        Customer.objects.bulk_update(customers, ["created_at"], batch_size=200)

        through = Customer.tags.through
        tag_rows, contacts, contracts, orders, interactions, consents = [], [], [], [], [], []
        for p in planned:
            c = p.customer
            tag_rows += [through(customer_id=c.pk, tag_id=tags[name].pk) for name in p.tag_names]
            for obj in p.contacts + p.contracts + p.orders + p.interactions + p.consents:
                obj.customer = c
            for interaction in p.interactions:
                interaction.author = c.owner
            contacts += p.contacts
            contracts += p.contracts
            orders += p.orders
            interactions += p.interactions
            consents += p.consents
        through.objects.bulk_create(tag_rows, batch_size=1000)
        Contact.objects.bulk_create(contacts, batch_size=1000)
        Contract.objects.bulk_create(contracts, batch_size=1000)
        Order.objects.bulk_create(orders, batch_size=1000)
        Interaction.objects.bulk_create(interactions, batch_size=1000)
        Consent.objects.bulk_create(consents, batch_size=1000)
        return {
            "customers": len(customers),
            "companies": sum(1 for c in customers if c.kind == Customer.Kind.COMPANY),
            "people": sum(1 for c in customers if c.kind == Customer.Kind.PERSON),
            "contacts": len(contacts),
            "contracts": len(contracts),
            "orders": len(orders),
            "interactions": len(interactions),
            "consents": len(consents),
        }
