"""Loyalty: the programme's rules, one account per customer, an append-only ledger (points and
cashback), tiers, a rewards catalogue with redemptions, and referrals.

Balances are never stored: they are the sum of the ledger. Every entry has a unique idempotency
key, so an order, a survey answer or a referral is rewarded once however often its event runs.
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from customers.models import Customer
from posvenda.models import TimeStampedModel


class Programme(TimeStampedModel):
    """The programme's rules (one row). Shown to customers on their loyalty page."""

    name = models.CharField(_("name"), max_length=100, default="Clube Posvenda")
    is_active = models.BooleanField(_("active"), default=True)
    points_per_real = models.DecimalField(
        _("points per R$ 1.00 spent"), max_digits=8, decimal_places=2, default=Decimal("1.00")
    )
    cashback_percent = models.DecimalField(
        _("cashback (% of the order)"), max_digits=5, decimal_places=2, default=Decimal("0.00")
    )
    survey_points = models.PositiveIntegerField(_("points for answering a survey"), default=20)
    referral_points = models.PositiveIntegerField(_("points for a referral that buys (each side)"), default=200)
    birthday_points = models.PositiveIntegerField(_("birthday points"), default=100)
    expiry_months = models.PositiveIntegerField(_("points expire after (months)"), default=12)
    point_value = models.DecimalField(
        _("value of one point (R$)"),
        max_digits=8,
        decimal_places=4,
        default=Decimal("0.0500"),
        help_text=_("Used for the liability report."),
    )

    class Meta:
        verbose_name = _("loyalty programme")
        verbose_name_plural = _("loyalty programmes")

    def __str__(self) -> str:
        return self.name


class Tier(models.Model):
    name = models.CharField(_("name"), max_length=50, unique=True)
    min_points = models.PositiveIntegerField(_("points earned in the last 12 months"), unique=True)
    benefits = models.TextField(_("benefits"), blank=True)

    class Meta:
        ordering = ["min_points"]
        verbose_name = _("tier")
        verbose_name_plural = _("tiers")

    def __str__(self) -> str:
        return self.name


class Account(models.Model):
    """A customer's place in the programme; its row is locked to serialise redemptions."""

    customer = models.OneToOneField(
        Customer, verbose_name=_("customer"), on_delete=models.CASCADE, related_name="loyalty_account"
    )
    referral_code = models.CharField(_("referral code"), max_length=16, unique=True)
    birthday = models.DateField(_("birthday"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("loyalty account")
        verbose_name_plural = _("loyalty accounts")

    def __str__(self) -> str:
        return f"{self.customer} ({self.referral_code})"


class Currency(models.TextChoices):
    POINTS = "points", _("Points")
    CASHBACK = "cashback", _("Cashback (R$)")


class Entry(models.Model):
    """One line of the ledger. Append-only: a mistake is corrected by a reversing entry."""

    class Kind(models.TextChoices):
        EARN = "earn", _("Earned")
        REDEEM = "redeem", _("Redeemed")
        EXPIRE = "expire", _("Expired")
        ADJUST = "adjust", _("Adjusted")
        REVERSE = "reverse", _("Reversed")

    class Source(models.TextChoices):
        ORDER = "order", _("Order")
        REFERRAL = "referral", _("Referral")
        SURVEY = "survey", _("Survey")
        BIRTHDAY = "birthday", _("Birthday")
        MANUAL = "manual", _("Manual")
        REWARD = "reward", _("Reward")
        CASHBACK_USE = "cashback_use", _("Cashback used on an order")
        EXPIRY = "expiry", _("Expiry")

    account = models.ForeignKey(Account, verbose_name=_("account"), on_delete=models.CASCADE, related_name="entries")
    kind = models.CharField(_("kind"), max_length=8, choices=Kind.choices)
    currency = models.CharField(_("currency"), max_length=8, choices=Currency.choices, default=Currency.POINTS)
    amount = models.DecimalField(_("amount"), max_digits=12, decimal_places=2)
    reason = models.CharField(_("reason"), max_length=200, blank=True)
    source = models.CharField(_("source"), max_length=12, choices=Source.choices)
    source_ref = models.CharField(_("source reference"), max_length=100, blank=True)
    idempotency_key = models.CharField(_("idempotency key"), max_length=200, unique=True)
    expires_at = models.DateTimeField(_("expires at"), null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("created by"), null=True, blank=True, on_delete=models.SET_NULL
    )
    created_at = models.DateTimeField(_("created at"))

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("ledger entry")
        verbose_name_plural = _("ledger entries")
        constraints = [
            models.CheckConstraint(condition=~Q(amount=0), name="entry_amount_not_zero"),
            models.CheckConstraint(condition=~Q(kind="earn") | Q(amount__gt=0), name="entry_earn_positive"),
            models.CheckConstraint(
                condition=~Q(kind__in=["redeem", "expire"]) | Q(amount__lt=0), name="entry_debit_negative"
            ),
            models.CheckConstraint(condition=~Q(idempotency_key=""), name="entry_key_not_empty"),
        ]
        indexes = [models.Index(fields=["account", "currency", "created_at"], name="entry_account_idx")]

    def __str__(self) -> str:
        return f"{self.account_id} {self.kind} {self.amount} {self.currency}"


class Reward(TimeStampedModel):
    class Kind(models.TextChoices):
        COUPON = "coupon", _("Discount coupon")
        PRODUCT = "product", _("Free product")
        EARLY_ACCESS = "early_access", _("Exclusive early access")

    name = models.CharField(_("name"), max_length=120)
    kind = models.CharField(_("kind"), max_length=12, choices=Kind.choices, default=Kind.COUPON)
    description = models.TextField(_("description"), blank=True)
    cost_points = models.PositiveIntegerField(_("cost (points)"))
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        ordering = ["cost_points", "name"]
        verbose_name = _("reward")
        verbose_name_plural = _("rewards")
        constraints = [models.CheckConstraint(condition=Q(cost_points__gt=0), name="reward_cost_positive")]

    def __str__(self) -> str:
        return self.name


class Redemption(models.Model):
    account = models.ForeignKey(
        Account, verbose_name=_("account"), on_delete=models.CASCADE, related_name="redemptions"
    )
    reward = models.ForeignKey(Reward, verbose_name=_("reward"), on_delete=models.PROTECT, related_name="redemptions")
    entry = models.OneToOneField(
        Entry, verbose_name=_("ledger entry"), on_delete=models.PROTECT, related_name="redemption"
    )
    code = models.CharField(_("code"), max_length=20, unique=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("redemption")
        verbose_name_plural = _("redemptions")

    def __str__(self) -> str:
        return self.code


class Referral(models.Model):
    class Status(models.TextChoices):
        SENT = "sent", _("Sent")
        CONVERTED = "converted", _("Converted")

    referrer = models.ForeignKey(
        Account, verbose_name=_("referred by"), on_delete=models.CASCADE, related_name="referrals"
    )
    email = models.EmailField(_("e-mail of the person referred"))
    name = models.CharField(_("name"), max_length=200, blank=True)
    referred = models.OneToOneField(
        Customer,
        verbose_name=_("customer it became"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="referred_by",
    )
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.SENT)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    converted_at = models.DateTimeField(_("converted at"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("referral")
        verbose_name_plural = _("referrals")
        constraints = [models.UniqueConstraint(fields=["referrer", "email"], name="referral_once_per_email")]
        indexes = [  # metrics: referrals made and converted per day
            models.Index(fields=["created_at"], name="referral_created_idx"),
            models.Index(
                fields=["converted_at"], condition=Q(converted_at__isnull=False), name="referral_converted_idx"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.referrer} → {self.email}"
