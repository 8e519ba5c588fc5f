"""Every write of the loyalty app. The ledger is append-only; balances are sums of it.

Concurrency: a debit (redemption, cashback use) locks the customer's Account row, reads the
balance and writes the entry in one transaction, so concurrent requests are serialised and none
can overdraw (tested with 50 real concurrent transactions). Credits need no lock.
Idempotency: each entry has a unique key (``order:12:points``, ``referral:7:referrer``…): a
replayed event or API request finds the entry instead of booking it twice.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal
from typing import Any

from django.contrib.auth.base_user import AbstractBaseUser
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q, Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from customers.models import Customer, Order
from posvenda import events, roles

from .models import Account, Currency, Entry, Programme, Redemption, Referral, Reward, Tier

log = logging.getLogger(__name__)

CENT = Decimal("0.01")
REFERRAL_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read aloud and typed by hand


def programme() -> Programme:
    prog = Programme.objects.order_by("id").first()
    return prog if prog is not None else Programme.objects.create()


def _code(length: int) -> str:
    return "".join(secrets.choice(REFERRAL_ALPHABET) for _ in range(length))


def account_for(customer: Customer) -> Account:
    """The customer's account, created on first use with a unique referral code."""
    account = Account.objects.filter(customer=customer).first()
    if account is not None:
        return account
    for _attempt in range(5):
        try:
            with transaction.atomic():
                return Account.objects.create(customer=customer, referral_code=_code(8))
        except IntegrityError:
            existing = Account.objects.filter(customer=customer).first()
            if existing is not None:
                return existing  # created concurrently
    raise RuntimeError("could not allocate a referral code")


def balance(account: Account, currency: str = Currency.POINTS) -> Decimal:
    total = Entry.objects.filter(account=account, currency=currency).aggregate(total=Sum("amount"))["total"]
    return (total or Decimal("0")).quantize(CENT)


def _book(
    *,
    account: Account,
    kind: str,
    amount: Decimal,
    key: str,
    source: str,
    currency: str = Currency.POINTS,
    reason: str = "",
    source_ref: str = "",
    expires_at: datetime | None = None,
    actor: Any = None,
    at: datetime | None = None,
) -> tuple[Entry, bool]:
    """Write one ledger entry once per ``key``: (entry, created)."""
    existing = Entry.objects.filter(idempotency_key=key).first()
    if existing is not None:
        return existing, False
    entry = Entry(
        account=account,
        kind=kind,
        currency=currency,
        amount=Decimal(amount).quantize(CENT),
        reason=(reason or "")[:200],
        source=source,
        source_ref=str(source_ref)[:100],
        idempotency_key=key[:200],
        expires_at=expires_at,
        created_by=actor if getattr(actor, "is_authenticated", False) else None,
        created_at=at or timezone.now(),
    )
    try:
        with transaction.atomic():
            entry.save()
    except IntegrityError:
        existing = Entry.objects.filter(idempotency_key=key).first()
        if existing is None:
            raise
        return existing, False
    if kind == Entry.Kind.EARN and currency == Currency.POINTS:
        events.emit(
            events.LOYALTY_POINTS_EARNED,
            entry_id=entry.pk,
            customer_id=account.customer_id,
            amount=entry.amount,
            source=source,
        )
    return entry, True


def _expiry(prog: Programme, at: datetime) -> datetime | None:
    return at + timedelta(days=30 * prog.expiry_months) if prog.expiry_months else None


# --- earning --------------------------------------------------------------------------------


@transaction.atomic
def order_reward(*, order_id: int) -> list[Entry]:
    """Points (and cashback) for an order, once per order. Cancelled or refunded orders earn nothing."""
    prog = programme()
    order = Order.objects.select_related("customer").filter(pk=order_id).first()
    if not prog.is_active or order is None or order.status in (Order.Status.CANCELLED, Order.Status.REFUNDED):
        return []
    account = account_for(order.customer)
    booked = []
    points = (order.amount * prog.points_per_real).quantize(Decimal("1"), rounding=ROUND_DOWN)
    label = order.external_id or f"#{order.pk}"
    if points > 0:
        entry, _created = _book(
            account=account,
            kind=Entry.Kind.EARN,
            amount=points,
            key=f"order:{order.pk}:points",
            source=Entry.Source.ORDER,
            source_ref=str(order.pk),
            reason=_("Order %(order)s") % {"order": label},
            expires_at=_expiry(prog, order.purchased_at),
            at=order.purchased_at,
        )
        booked.append(entry)
    cashback = (order.amount * prog.cashback_percent / 100).quantize(CENT, rounding=ROUND_DOWN)
    if cashback > 0:
        entry, _created = _book(
            account=account,
            kind=Entry.Kind.EARN,
            currency=Currency.CASHBACK,
            amount=cashback,
            key=f"order:{order.pk}:cashback",
            source=Entry.Source.ORDER,
            source_ref=str(order.pk),
            reason=_("Cashback on order %(order)s") % {"order": label},
            at=order.purchased_at,
        )
        booked.append(entry)
    referral_convert_on_order(order=order)
    return booked


@transaction.atomic
def order_reverse(*, order_id: int) -> list[Entry]:
    """A refunded or cancelled order gives back what it earned (once). The balance may go below
    zero if the points were already spent: the customer owes them, nothing is silently lost."""
    entries = list(Entry.objects.filter(idempotency_key__in=[f"order:{order_id}:points", f"order:{order_id}:cashback"]))
    reversed_ = []
    for earned in entries:
        entry, _created = _book(
            account=earned.account,
            kind=Entry.Kind.REVERSE,
            currency=earned.currency,
            amount=-earned.amount,
            key=f"{earned.idempotency_key}:reverse",
            source=Entry.Source.ORDER,
            source_ref=earned.source_ref,
            reason=_("Reversal: %(reason)s") % {"reason": earned.reason},
        )
        reversed_.append(entry)
    return reversed_


def survey_bonus(*, response_id: int, customer_id: int) -> Entry | None:
    prog = programme()
    if not prog.is_active or not prog.survey_points:
        return None
    customer = Customer.objects.get(pk=customer_id)
    now = timezone.now()
    entry, _created = _book(
        account=account_for(customer),
        kind=Entry.Kind.EARN,
        amount=Decimal(prog.survey_points),
        key=f"survey-response:{response_id}",
        source=Entry.Source.SURVEY,
        source_ref=str(response_id),
        reason=_("Thank you for answering our survey"),
        expires_at=_expiry(prog, now),
    )
    return entry


def birthday_bonuses(*, today: Any = None) -> int:
    """Daily: birthday points once a year (29 February birthdays get theirs on 28 February)."""
    prog = programme()
    if not prog.is_active or not prog.birthday_points:
        return 0
    today = today or timezone.localdate()
    days = Q(birthday__month=today.month, birthday__day=today.day)
    if today.month == 2 and today.day == 28:
        days |= Q(birthday__month=2, birthday__day=29)
    booked = 0
    for account in Account.objects.filter(days):
        _entry, created = _book(
            account=account,
            kind=Entry.Kind.EARN,
            amount=Decimal(prog.birthday_points),
            key=f"birthday:{account.pk}:{today.year}",
            source=Entry.Source.BIRTHDAY,
            reason=_("Happy birthday!"),
            expires_at=_expiry(prog, timezone.now()),
        )
        booked += created
    return booked


# --- spending -------------------------------------------------------------------------------


def _lock(account: Account) -> Account:
    return Account.objects.select_for_update().get(pk=account.pk)


def _debit(
    *, account: Account, currency: str, amount: Decimal, key: str, source: str, reason: str, actor: Any, ref: str = ""
) -> Entry:
    amount = Decimal(amount).quantize(CENT)
    if amount <= 0:
        raise ValidationError({"amount": [_("The amount must be greater than zero.")]})
    existing = Entry.objects.filter(idempotency_key=key).first()
    if existing is not None:
        return existing  # a replay: the first result, nothing booked twice
    _lock(account)
    existing = Entry.objects.filter(idempotency_key=key).first()
    if existing is not None:
        return existing  # the same request, committed while we waited for the lock
    available = balance(account, currency)
    if amount > available:
        raise ValidationError(
            {"amount": [_("Not enough balance: %(available)s available.") % {"available": available}]}
        )
    entry, _created = _book(
        account=account,
        kind=Entry.Kind.REDEEM,
        currency=currency,
        amount=-amount,
        key=key,
        source=source,
        source_ref=ref,
        reason=reason,
        actor=actor,
    )
    return entry


@transaction.atomic
def reward_redeem(*, account: Account, reward: Reward, key: str, actor: Any = None) -> Redemption:
    """Spend points on a reward; the redemption code is what the customer shows or types."""
    if not reward.is_active:
        raise ValidationError({"reward": [_("This reward is not available.")]})
    entry = _debit(
        account=account,
        currency=Currency.POINTS,
        amount=Decimal(reward.cost_points),
        key=f"redeem:{key}",
        source=Entry.Source.REWARD,
        reason=reward.name,
        actor=actor,
        ref=str(reward.pk),
    )
    existing = Redemption.objects.filter(entry=entry).first()
    if existing is not None:
        return existing
    return Redemption.objects.create(account=account, reward=reward, entry=entry, code=f"PV-{_code(8)}")


@transaction.atomic
def points_redeem(*, account: Account, points: Decimal, key: str, reason: str, actor: Any = None) -> Entry:
    """Spend points directly (e.g. a discount granted by an integration)."""
    return _debit(
        account=account,
        currency=Currency.POINTS,
        amount=points,
        key=f"redeem:{key}",
        source=Entry.Source.REWARD,
        reason=reason or _("Points redeemed"),
        actor=actor,
    )


@transaction.atomic
def cashback_use(*, account: Account, amount: Decimal, order_ref: str, key: str, actor: Any = None) -> Entry:
    """Use cashback on the next order (recorded by the store's integration over the API)."""
    return _debit(
        account=account,
        currency=Currency.CASHBACK,
        amount=amount,
        key=f"cashback:{key}",
        source=Entry.Source.CASHBACK_USE,
        reason=_("Cashback used on order %(order)s") % {"order": order_ref},
        actor=actor,
        ref=order_ref,
    )


@transaction.atomic
def adjust(
    *,
    actor: AbstractBaseUser | None,
    account: Account,
    amount: Decimal,
    reason: str,
    currency: str = Currency.POINTS,
    key: str = "",
) -> Entry:
    """A manual correction by a CS manager, with the reason kept in the ledger."""
    if actor is not None and not roles.is_manager(actor):
        raise PermissionDenied(_("Only a CS manager can adjust loyalty balances."))
    reason = (reason or "").strip()
    errors: dict[str, list[str]] = {}
    if not reason:
        errors["reason"] = [_("Say why the balance changes.")]
    try:
        amount = Decimal(amount).quantize(CENT)
    except Exception:
        errors["amount"] = [_("Enter a number.")]
    else:
        if amount == 0:
            errors["amount"] = [_("The adjustment cannot be zero.")]
    if currency not in Currency.values:
        errors["currency"] = [_("Choose points or cashback.")]
    if errors:
        raise ValidationError(errors)
    if amount < 0:
        _lock(account)
        if -amount > balance(account, currency):
            raise ValidationError({"amount": [_("The balance cannot go below zero.")]})
    entry, _created = _book(
        account=account,
        kind=Entry.Kind.ADJUST,
        currency=currency,
        amount=amount,
        key=f"adjust:{key}" if key else f"adjust:{account.pk}:{secrets.token_hex(8)}",
        source=Entry.Source.MANUAL,
        reason=reason,
        actor=actor,
    )
    return entry


# --- expiry and tiers -------------------------------------------------------------------------


def expire_due(*, account: Account, now: datetime | None = None) -> Entry | None:
    """Expire the points earned before their expiry date and not spent, first in first out: debits
    use the oldest points first, so what expires is max(0, points earned that are past their date −
    everything already debited, earlier expiries included)."""
    now = now or timezone.now()
    with transaction.atomic():
        _lock(account)
        points = Entry.objects.filter(account=account, currency=Currency.POINTS)
        old = points.filter(amount__gt=0, expires_at__lte=now).aggregate(t=Sum("amount"))["t"] or Decimal("0")
        debited = -(points.filter(amount__lt=0).aggregate(t=Sum("amount"))["t"] or Decimal("0"))
        due = (old - debited).quantize(CENT)
        if due <= 0:
            return None
        entry, _created = _book(
            account=account,
            kind=Entry.Kind.EXPIRE,
            amount=-due,
            key=f"expire:{account.pk}:{now.date().isoformat()}",
            source=Entry.Source.EXPIRY,
            reason=_("Points expired"),
            at=now,
        )
        return entry


def expire_all(*, now: datetime | None = None) -> int:
    """Daily: run expiry for every account holding points past their date."""
    now = now or timezone.now()
    ids = Entry.objects.filter(amount__gt=0, currency=Currency.POINTS, expires_at__lte=now).values_list(
        "account_id", flat=True
    )
    done = 0
    for account in Account.objects.filter(pk__in=ids.distinct()):
        done += expire_due(account=account, now=now) is not None
    return done


@dataclass
class TierStatus:
    tier: Tier | None
    points_12m: Decimal
    next_tier: Tier | None
    missing: Decimal | None


def tier_status(*, account: Account, now: datetime | None = None) -> TierStatus:
    """The tier by points earned in the last 12 months (earned, not net of spending: redeeming does
    not cost a customer their tier)."""
    now = now or timezone.now()
    earned = Entry.objects.filter(
        account=account, currency=Currency.POINTS, kind=Entry.Kind.EARN, created_at__gt=now - timedelta(days=365)
    ).aggregate(t=Sum("amount"))["t"] or Decimal("0")
    reversed_ = Entry.objects.filter(
        account=account, currency=Currency.POINTS, kind=Entry.Kind.REVERSE, created_at__gt=now - timedelta(days=365)
    ).aggregate(t=Sum("amount"))["t"] or Decimal("0")
    points = max(Decimal("0"), earned + reversed_)
    tiers = list(Tier.objects.order_by("min_points"))
    current = None
    for tier in tiers:
        if points >= tier.min_points:
            current = tier
    upcoming = next((t for t in tiers if t.min_points > points), None)
    return TierStatus(current, points, upcoming, (upcoming.min_points - points) if upcoming else None)


# --- referrals --------------------------------------------------------------------------------


@transaction.atomic
def referral_create(*, referrer: Customer, email: str, name: str = "") -> tuple[Referral, bool]:
    """A customer refers someone (by e-mail); the same person referred twice is one referral."""
    email = (email or "").strip().lower()
    from django.core.validators import validate_email

    try:
        validate_email(email)
    except ValidationError as exc:
        raise ValidationError({"email": [_("Enter a valid e-mail address.")]}) from exc
    if referrer.email and referrer.email.lower() == email:
        raise ValidationError({"email": [_("A customer cannot refer themselves.")]})
    account = account_for(referrer)
    existing = Referral.objects.filter(referrer=account, email=email).first()
    if existing is not None:
        return existing, False
    try:
        with transaction.atomic():
            return Referral.objects.create(referrer=account, email=email, name=(name or "").strip()[:200]), True
    except IntegrityError:
        return Referral.objects.get(referrer=account, email=email), False


@transaction.atomic
def referral_convert(*, referral: Referral, customer: Customer, now: datetime | None = None) -> Referral:
    """The referred person became a customer and bought: both sides get the referral points once,
    and the referrer's referral counts as an evangelization event in the funnel."""
    from funnel.services import customer_promoted

    now = now or timezone.now()
    locked = Referral.objects.select_for_update().select_related("referrer__customer").get(pk=referral.pk)
    if locked.referrer.customer_id == customer.pk:
        raise ValidationError({"customer": [_("A customer cannot refer themselves.")]})
    if locked.status == Referral.Status.CONVERTED:
        return locked
    if Referral.objects.filter(referred=customer).exclude(pk=locked.pk).exists():
        raise ValidationError({"customer": [_("This customer was already converted by another referral.")]})
    locked.status, locked.referred, locked.converted_at = Referral.Status.CONVERTED, customer, now
    locked.save(update_fields=["status", "referred", "converted_at"])
    prog = programme()
    if prog.is_active and prog.referral_points:
        for side, who in (("referrer", locked.referrer.customer), ("referred", customer)):
            _book(
                account=account_for(who),
                kind=Entry.Kind.EARN,
                amount=Decimal(prog.referral_points),
                key=f"referral:{locked.pk}:{side}",
                source=Entry.Source.REFERRAL,
                source_ref=str(locked.pk),
                reason=_("Referral of %(name)s") % {"name": customer.name}
                if side == "referrer"
                else _("Welcome bonus: referred by %(name)s") % {"name": locked.referrer.customer.name},
                expires_at=_expiry(prog, now),
            )
    customer_promoted(locked.referrer.customer, _("Successful referral"), occurred_at=now)
    events.emit(
        events.REFERRAL_CONVERTED,
        referral_id=locked.pk,
        referrer_id=locked.referrer.customer_id,
        customer_id=customer.pk,
    )
    return locked


def referral_convert_on_order(*, order: Order) -> Referral | None:
    """The first order of a customer who was referred (same e-mail) converts the referral."""
    email = (order.customer.email or "").strip().lower()
    if not email:
        return None
    referral = (
        Referral.objects.filter(email=email, status=Referral.Status.SENT)
        .exclude(referrer__customer=order.customer)
        .order_by("created_at", "id")
        .first()
    )
    if referral is None:
        return None
    return referral_convert(referral=referral, customer=order.customer)


def liability(*, customers: Q | None = None) -> dict[str, Decimal]:
    """Outstanding points and cashback across all accounts (or the accounts of the customers
    matching ``customers``, a Q on Customer fields), and their value in R$."""
    prog = programme()
    entries = Entry.objects.all()
    if customers is not None:
        entries = entries.filter(account__customer__in=Customer.objects.filter(customers))
    totals = dict(entries.values_list("currency").annotate(total=Sum("amount")).values_list("currency", "total"))
    points = (totals.get(Currency.POINTS) or Decimal("0")).quantize(CENT)
    cashback = (totals.get(Currency.CASHBACK) or Decimal("0")).quantize(CENT)
    points_value = (points * prog.point_value).quantize(CENT, rounding=ROUND_HALF_UP)
    return {"points": points, "points_value": points_value, "cashback": cashback, "total": points_value + cashback}


# --- programme settings and catalogue (CS pages) -----------------------------------------------


def _require_manager(actor: Any) -> None:
    roles.require_manager(actor, _("Only a CS manager can change the loyalty programme."))


def _full_clean(instance: Any) -> None:
    try:
        instance.full_clean()
    except ValidationError as exc:
        raise ValidationError(exc.message_dict) from exc


@transaction.atomic
def programme_save(*, actor: Any, **fields: Any) -> Programme:
    """Change the programme's rules. New rules apply to what is earned from now on; entries already
    in the ledger keep their amounts and expiry dates."""
    _require_manager(actor)
    prog = Programme.objects.select_for_update().filter(pk=programme().pk).get()
    allowed = {f.name for f in Programme._meta.concrete_fields} - {"id", "created_at", "updated_at"}
    for name, value in fields.items():
        if name not in allowed:
            raise ValueError(f"unknown programme field {name!r}")
        setattr(prog, name, value)
    _full_clean(prog)
    prog.save()
    return prog


@transaction.atomic
def tier_save(*, actor: Any, tier: Tier | None, name: str, min_points: int, benefits: str = "") -> Tier:
    _require_manager(actor)
    tier = tier or Tier()
    tier.name, tier.min_points, tier.benefits = (name or "").strip(), min_points, (benefits or "").strip()
    errors: dict[str, list[str]] = {}
    if Tier.objects.filter(name__iexact=tier.name).exclude(pk=tier.pk).exists():
        errors["name"] = [_("Another tier already has this name.")]
    if Tier.objects.filter(min_points=min_points).exclude(pk=tier.pk).exists():
        errors["min_points"] = [_("Another tier already starts at this number of points.")]
    if errors:
        raise ValidationError(errors)
    _full_clean(tier)
    tier.save()
    return tier


@transaction.atomic
def tier_delete(*, actor: Any, tier: Tier) -> None:
    """Tiers are computed, never stored on accounts: removing one just moves its customers down."""
    _require_manager(actor)
    tier.delete()


@transaction.atomic
def reward_save(
    *, actor: Any, reward: Reward | None, name: str, kind: str, description: str, cost_points: int, is_active: bool
) -> Reward:
    """Create or change a reward. Redemptions already made keep their code and cost (the ledger)."""
    _require_manager(actor)
    reward = reward or Reward()
    reward.name, reward.kind = (name or "").strip(), kind
    reward.description, reward.cost_points, reward.is_active = (description or "").strip(), cost_points, is_active
    if not cost_points or cost_points <= 0:
        raise ValidationError({"cost_points": [_("The cost must be at least 1 point.")]})
    _full_clean(reward)
    reward.save()
    return reward


@transaction.atomic
def reward_set_active(*, actor: Any, reward: Reward, active: bool) -> Reward:
    """Deactivate (hide from the catalogue, no new redemptions) or reactivate a reward; rewards are
    never deleted, their redemptions point at them."""
    _require_manager(actor)
    Reward.objects.filter(pk=reward.pk).update(is_active=active, updated_at=timezone.now())
    reward.is_active = active
    return reward
