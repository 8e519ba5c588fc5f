"""Demo loyalty data for `make run`: the demo customers' orders earn their points and cashback
(through the same service as real orders, so the keys make a second run book nothing), a rewards
catalogue, some redemptions, referrals (a few converted) and birthdays. E-mails nobody."""

from __future__ import annotations

import random
from datetime import date
from decimal import Decimal
from typing import Any

from django.core.management.base import BaseCommand
from django.db import transaction

from customers.models import Customer, Order
from loyalty import services
from loyalty.models import Account, Entry, Reward

SEED = 20261123
REWARDS = (
    ("Cupom de R$ 20", Reward.Kind.COUPON, 400, "Desconto de R$ 20 na próxima compra acima de R$ 100."),
    ("Frete grátis", Reward.Kind.COUPON, 250, "Frete grátis em um pedido."),
    ("Kit brinde", Reward.Kind.PRODUCT, 1200, "Um kit de produtos enviado com o próximo pedido."),
    ("Acesso antecipado", Reward.Kind.EARLY_ACCESS, 800, "Compre os lançamentos 48 h antes de todo mundo."),
)


class Command(BaseCommand):
    help = "Load demo loyalty data (idempotent, e-mails nobody)."

    def handle(self, *args: Any, **options: Any) -> None:
        prog = services.programme()
        if prog.cashback_percent == 0 and not Reward.objects.exists():
            prog.cashback_percent = Decimal("2.00")
            prog.save(update_fields=["cashback_percent", "updated_at"])
        with transaction.atomic():
            for name, kind, cost, description in REWARDS:
                Reward.objects.get_or_create(
                    name=name, defaults={"kind": kind, "cost_points": cost, "description": description}
                )
            rewarded = set(Entry.objects.filter(source=Entry.Source.ORDER).values_list("source_ref", flat=True))
            orders = Order.objects.filter(customer__external_id__startswith="DEMO-C").order_by("id")
            for order_id in orders.values_list("id", flat=True):
                if str(order_id) not in rewarded:  # a second run skips them (the keys would anyway)
                    services.order_reward(order_id=order_id)
            customers = list(Customer.objects.filter(external_id__startswith="DEMO-C").order_by("id"))
            rewards = list(Reward.objects.filter(is_active=True).order_by("cost_points"))
            for i, customer in enumerate(customers):
                # one generator per customer with a fixed number of draws: the same choices every run
                rng = random.Random(SEED + customer.pk)
                wants_birthday, redeems, refers = rng.random() < 0.6, rng.random() < 0.25, rng.random() < 0.15
                account = services.account_for(customer)
                if account.birthday is None and wants_birthday:
                    account.birthday = date(rng.randint(1960, 2004), rng.randint(1, 12), rng.randint(1, 28))
                    account.save(update_fields=["birthday"])
                if redeems:
                    affordable = [r for r in rewards if r.cost_points <= services.balance(account)]
                    if affordable:
                        services.reward_redeem(
                            account=account, reward=rng.choice(affordable), key=f"demo:{customer.pk}"
                        )
                if refers:
                    services.referral_create(referrer=customer, email=f"indicado{i}@example.net", name=f"Indicado {i}")
        accounts = Account.objects.filter(customer__external_id__startswith="DEMO-C").count()
        self.stdout.write(self.style.SUCCESS(f"Demo loyalty loaded: {accounts} accounts."))
