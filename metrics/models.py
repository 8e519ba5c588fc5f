"""Metrics: daily roll-ups of additive counters, the customer health score (configuration, current
score, daily history) and reputation reviews. Definitions of every KPI: docs/metrics.md."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from customers.models import Customer


class DailyCount(models.Model):
    """One additive counter (``key``, e.g. ``nps.promoters``) for one local day and one slice of the
    book (the customer's owner, segment and kind when the roll-up ran). A KPI over any period and
    filter is a sum of these rows plus today's live counters. Recomputing a day replaces its rows."""

    day = models.DateField(_("day"))
    owner_id = models.IntegerField(_("owner"), null=True, blank=True)
    segment_id = models.IntegerField(_("segment"), null=True, blank=True)
    kind = models.CharField(_("kind"), max_length=10)
    key = models.CharField(_("counter"), max_length=60)
    value = models.DecimalField(_("value"), max_digits=20, decimal_places=2)

    class Meta:
        verbose_name = _("daily count")
        verbose_name_plural = _("daily counts")
        indexes = [
            models.Index(fields=["day", "key"], name="dailycount_day_key_idx"),
            # an agent's dashboard reads their own rows only
            models.Index(fields=["owner_id", "day"], name="dailycount_owner_day_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.key}={self.value}"


class DailyTotal(models.Model):
    """A counter's value for one day over the whole book (the sum of that day's DailyCount rows):
    the unsliced dashboard reads ~30 rows a day here instead of one per slice and counter."""

    day = models.DateField(_("day"))
    key = models.CharField(_("counter"), max_length=60)
    value = models.DecimalField(_("value"), max_digits=20, decimal_places=2)

    class Meta:
        verbose_name = _("daily total")
        verbose_name_plural = _("daily totals")
        constraints = [models.UniqueConstraint(fields=["day", "key"], name="dailytotal_day_key_uniq")]

    def __str__(self) -> str:
        return f"{self.day} {self.key}={self.value}"


class RollupDay(models.Model):
    """Which local days have been rolled up, and when: the beat task resumes from here."""

    class Status(models.TextChoices):
        RUNNING = "running", _("Running")
        DONE = "done", _("Done")

    day = models.DateField(_("day"), unique=True)
    status = models.CharField(_("status"), max_length=8, choices=Status.choices, default=Status.RUNNING)
    rows = models.PositiveIntegerField(_("rows"), default=0)
    seconds = models.FloatField(_("seconds"), default=0)
    computed_at = models.DateTimeField(_("computed at"), default=timezone.now)

    class Meta:
        ordering = ["-day"]
        verbose_name = _("rolled-up day")
        verbose_name_plural = _("rolled-up days")

    def __str__(self) -> str:
        return f"{self.day} ({self.status})"


class HealthConfig(models.Model):
    """The health score's weights (0–100 each, relative) and band limits; one row, edited by managers."""

    weight_survey = models.PositiveSmallIntegerField(
        _("latest NPS/CSAT"), default=25, validators=[MaxValueValidator(100)]
    )
    weight_tickets = models.PositiveSmallIntegerField(
        _("open and breached tickets"), default=20, validators=[MaxValueValidator(100)]
    )
    weight_purchases = models.PositiveSmallIntegerField(
        _("purchases or contract"), default=25, validators=[MaxValueValidator(100)]
    )
    weight_engagement = models.PositiveSmallIntegerField(
        _("e-mail engagement"), default=15, validators=[MaxValueValidator(100)]
    )
    weight_manual = models.PositiveSmallIntegerField(
        _("owner's rating"), default=15, validators=[MaxValueValidator(100)]
    )
    red_below = models.PositiveSmallIntegerField(
        _("red below"), default=40, validators=[MinValueValidator(1), MaxValueValidator(100)]
    )
    green_from = models.PositiveSmallIntegerField(
        _("green from"), default=70, validators=[MinValueValidator(1), MaxValueValidator(100)]
    )
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("updated by"), null=True, blank=True, on_delete=models.SET_NULL
    )

    class Meta:
        verbose_name = _("health score settings")
        verbose_name_plural = _("health score settings")
        constraints = [
            models.CheckConstraint(condition=Q(red_below__lt=models.F("green_from")), name="health_bands_ordered"),
        ]

    def __str__(self) -> str:
        return str(_("Health score settings"))


class HealthBand(models.TextChoices):
    RED = "red", _("At risk")
    YELLOW = "yellow", _("Attention")
    GREEN = "green", _("Healthy")


class HealthScore(models.Model):
    """A customer's current health: the score, its band and each measure's part (``components``:
    a list of {"measure", "score", "weight", "detail"}) so the page can say what pulled it down."""

    customer = models.OneToOneField(
        Customer, verbose_name=_("customer"), on_delete=models.CASCADE, related_name="health", primary_key=True
    )
    score = models.PositiveSmallIntegerField(_("health score"))
    band = models.CharField(_("band"), max_length=6, choices=HealthBand.choices)
    components = models.JSONField(_("measures"), default=list)
    manual_rating = models.PositiveSmallIntegerField(
        _("owner's rating"),
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(5)],
        help_text=_("1 (very unhappy) to 5 (very happy), set by the CS owner."),
    )
    computed_at = models.DateTimeField(_("computed at"), default=timezone.now)
    red_since = models.DateTimeField(_("red since"), null=True, blank=True)

    class Meta:
        verbose_name = _("health score")
        verbose_name_plural = _("health scores")
        indexes = [models.Index(fields=["band", "score"], name="health_band_score_idx")]

    def __str__(self) -> str:
        return f"{self.customer_id}: {self.score} ({self.band})"


class HealthSnapshot(models.Model):
    """The score at the end of each day it was computed, for the trend line (one per customer and day)."""

    customer = models.ForeignKey(
        Customer, verbose_name=_("customer"), on_delete=models.CASCADE, related_name="health_history"
    )
    day = models.DateField(_("day"))
    score = models.PositiveSmallIntegerField(_("health score"))
    band = models.CharField(_("band"), max_length=6, choices=HealthBand.choices)

    class Meta:
        ordering = ["customer", "day"]
        verbose_name = _("health snapshot")
        verbose_name_plural = _("health snapshots")
        constraints = [models.UniqueConstraint(fields=["customer", "day"], name="health_snapshot_one_per_day")]

    def __str__(self) -> str:
        return f"{self.customer_id} {self.day}: {self.score}"


class Review(models.Model):
    """A public review of the company (Google, Reclame Aqui, a store page…), entered by hand, by CSV
    or over the API; optionally linked to a customer."""

    class Source(models.TextChoices):
        GOOGLE = "google", _("Google")
        RECLAME_AQUI = "reclame_aqui", _("Reclame Aqui")
        APP_STORE = "app_store", _("App Store")
        PLAY_STORE = "play_store", _("Google Play")
        MARKETPLACE = "marketplace", _("Marketplace")
        STORE = "store", _("Own store page")
        OTHER = "other", _("Other")

    source = models.CharField(_("source"), max_length=14, choices=Source.choices)
    rating = models.DecimalField(
        _("rating"),
        max_digits=3,
        decimal_places=1,
        validators=[MinValueValidator(Decimal("0")), MaxValueValidator(Decimal("5"))],
        help_text=_("0 to 5 stars (Reclame Aqui's 0–10 grade divided by 2)."),
    )
    reviewed_at = models.DateTimeField(_("reviewed at"), default=timezone.now)
    customer = models.ForeignKey(
        Customer, verbose_name=_("customer"), null=True, blank=True, on_delete=models.SET_NULL, related_name="reviews"
    )
    author = models.CharField(_("author"), max_length=200, blank=True)
    title = models.CharField(_("title"), max_length=200, blank=True)
    text = models.TextField(_("text"), blank=True)
    url = models.URLField(_("link"), max_length=500, blank=True)
    external_id = models.CharField(_("external ID"), max_length=100, null=True, blank=True, unique=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("created by"), null=True, blank=True, on_delete=models.SET_NULL
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        ordering = ["-reviewed_at", "-id"]
        verbose_name = _("review")
        verbose_name_plural = _("reviews")
        constraints = [
            models.CheckConstraint(condition=Q(rating__gte=0) & Q(rating__lte=5), name="review_rating_0_5"),
            models.CheckConstraint(condition=~Q(external_id=""), name="review_external_id_not_empty"),
        ]
        indexes = [models.Index(fields=["reviewed_at"], name="review_reviewed_at_idx")]

    def __str__(self) -> str:
        return f"{self.get_source_display()} {self.rating}"
