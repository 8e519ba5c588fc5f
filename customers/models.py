from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from posvenda.models import TimeStampedModel

from .validators import format_document, validate_e164


class Segment(models.Model):
    name = models.CharField(_("name"), max_length=80, unique=True)
    description = models.TextField(_("description"), blank=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("segment")
        verbose_name_plural = _("segments")

    def __str__(self) -> str:
        return self.name


class Tag(models.Model):
    name = models.CharField(_("name"), max_length=50, unique=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("tag")
        verbose_name_plural = _("tags")

    def __str__(self) -> str:
        return self.name


class Customer(TimeStampedModel):
    class Kind(models.TextChoices):
        COMPANY = "company", _("Company (B2B)")
        PERSON = "person", _("Person (B2C)")

    class Stage(models.TextChoices):
        # Reserved for the funnel app (issue 3), which owns every transition.
        ADOPTION = "adoption", _("Adoption")
        RETENTION = "retention", _("Retention")
        EXPANSION = "expansion", _("Expansion")
        EVANGELIZATION = "evangelization", _("Evangelization")
        CHURNED = "churned", _("Churned")

    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices, default=Kind.PERSON)
    name = models.CharField(_("name"), max_length=200)
    document = models.CharField(
        _("CPF/CNPJ"), max_length=14, blank=True, help_text=_("CPF for people, CNPJ for companies; digits only.")
    )
    email = models.EmailField(_("e-mail"), blank=True)
    phone = models.CharField(_("phone"), max_length=20, blank=True, validators=[validate_e164])
    instagram_id = models.CharField(
        _("Instagram ID"),
        max_length=64,
        blank=True,
        help_text=_("Instagram user id (IGSID) — the id Meta gives when the customer messages your Instagram account."),
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("owner"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="owned_customers",
        db_index=False,  # customer_owner_name_idx (owner, name) serves owner lookups
    )
    segment = models.ForeignKey(
        Segment, verbose_name=_("segment"), null=True, blank=True, on_delete=models.SET_NULL, related_name="customers"
    )
    tags = models.ManyToManyField(Tag, verbose_name=_("tags"), blank=True, related_name="customers")
    plan = models.CharField(_("plan"), max_length=80, blank=True)
    mrr = models.DecimalField(_("MRR (R$)"), max_digits=12, decimal_places=2, default=Decimal("0.00"))
    # Unique through Meta.constraints rather than unique=True: same guarantee, without the extra
    # varchar_pattern_ops index PostgreSQL gets for unique CharFields (no LIKE query uses it, and each
    # index slows the bulk import; docs/benchmarks.md).
    external_id = models.CharField(_("external ID"), max_length=100, null=True, blank=True)
    stage = models.CharField(_("funnel stage"), max_length=20, choices=Stage.choices, default=Stage.ADOPTION)
    language = models.CharField(_("language"), max_length=10, choices=settings.LANGUAGES, default="pt-br")

    class Meta:
        ordering = ["name", "id"]
        verbose_name = _("customer")
        verbose_name_plural = _("customers")
        constraints = [
            models.UniqueConstraint(fields=["document"], condition=~Q(document=""), name="customer_document_unique"),
            models.UniqueConstraint(Lower("email"), condition=~Q(email=""), name="customer_email_unique_ci"),
            models.CheckConstraint(condition=Q(mrr__gte=0), name="customer_mrr_non_negative"),
            models.CheckConstraint(
                condition=Q(document="")
                | Q(kind="person", document__regex=r"^[0-9]{11}$")
                | Q(kind="company", document__regex=r"^[0-9]{14}$"),
                name="customer_document_matches_kind",
            ),
            models.CheckConstraint(condition=~Q(external_id=""), name="customer_external_id_not_empty"),
            models.UniqueConstraint(fields=["external_id"], name="customer_external_id_unique"),
        ]
        indexes = [
            models.Index(fields=["owner", "name"], name="customer_owner_name_idx"),
            models.Index(fields=["stage"], name="customer_stage_idx"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def document_display(self) -> str:
        return format_document(self.document)

    @property
    def document_label(self) -> str:
        return "CNPJ" if self.kind == self.Kind.COMPANY else "CPF"


class Contact(TimeStampedModel):
    customer = models.ForeignKey(
        Customer, verbose_name=_("customer"), on_delete=models.CASCADE, related_name="contacts"
    )
    name = models.CharField(_("name"), max_length=200)
    email = models.EmailField(_("e-mail"), blank=True)
    phone = models.CharField(_("phone"), max_length=20, blank=True, validators=[validate_e164])
    role = models.CharField(_("role"), max_length=100, blank=True)
    is_primary = models.BooleanField(_("primary contact"), default=False)
    external_id = models.CharField(_("external ID"), max_length=100, null=True, blank=True, unique=True)

    class Meta:
        ordering = ["-is_primary", "name", "id"]
        verbose_name = _("contact")
        verbose_name_plural = _("contacts")
        constraints = [
            models.UniqueConstraint(
                fields=["customer"], condition=Q(is_primary=True), name="contact_one_primary_per_customer"
            ),
            models.CheckConstraint(condition=~Q(external_id=""), name="contact_external_id_not_empty"),
        ]

    def __str__(self) -> str:
        return self.name


class Order(TimeStampedModel):
    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        PAID = "paid", _("Paid")
        CANCELLED = "cancelled", _("Cancelled")
        REFUNDED = "refunded", _("Refunded")

    class Channel(models.TextChoices):
        ONLINE = "online", _("Online store")
        MARKETPLACE = "marketplace", _("Marketplace")
        STORE = "store", _("Physical store")
        SALES = "sales", _("Sales team")
        PHONE = "phone", _("Phone")
        WHATSAPP = "whatsapp", _("WhatsApp")
        INSTAGRAM = "instagram", _("Instagram")
        OTHER = "other", _("Other")

    customer = models.ForeignKey(Customer, verbose_name=_("customer"), on_delete=models.CASCADE, related_name="orders")
    external_id = models.CharField(_("external ID"), max_length=100, null=True, blank=True, unique=True)
    purchased_at = models.DateTimeField(_("purchased at"), default=timezone.now)
    amount = models.DecimalField(_("amount (R$)"), max_digits=12, decimal_places=2)
    status = models.CharField(_("status"), max_length=12, choices=Status.choices, default=Status.PAID)
    channel = models.CharField(_("channel"), max_length=12, choices=Channel.choices, default=Channel.ONLINE)
    product = models.CharField(_("product"), max_length=200, blank=True)

    class Meta:
        ordering = ["-purchased_at", "-id"]
        verbose_name = _("order")
        verbose_name_plural = _("orders")
        constraints = [
            models.CheckConstraint(condition=Q(amount__gte=0), name="order_amount_non_negative"),
            models.CheckConstraint(condition=~Q(external_id=""), name="order_external_id_not_empty"),
        ]
        indexes = [
            models.Index(fields=["customer", "-purchased_at"], name="order_customer_date_idx"),
            models.Index(fields=["purchased_at"], name="order_purchased_idx"),  # metrics: orders per day
        ]

    def __str__(self) -> str:
        return self.external_id or f"#{self.pk}"


class Contract(TimeStampedModel):
    class Status(models.TextChoices):
        ACTIVE = "active", _("Active")
        CANCELLED = "cancelled", _("Cancelled")
        EXPIRED = "expired", _("Expired")

    customer = models.ForeignKey(
        Customer, verbose_name=_("customer"), on_delete=models.CASCADE, related_name="contracts"
    )
    external_id = models.CharField(_("external ID"), max_length=100, null=True, blank=True, unique=True)
    plan = models.CharField(_("plan"), max_length=80, blank=True)
    started_at = models.DateField(_("started at"))
    ends_at = models.DateField(_("ends at"), null=True, blank=True)
    cancelled_at = models.DateField(_("cancelled at"), null=True, blank=True)
    cancel_reason = models.CharField(_("cancel reason"), max_length=255, blank=True)
    mrr = models.DecimalField(_("MRR (R$)"), max_digits=12, decimal_places=2, default=Decimal("0.00"))
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.ACTIVE)
    renewals = models.PositiveIntegerField(_("renewals"), default=0)
    auto_renew = models.BooleanField(_("auto-renew"), default=True)

    class Meta:
        ordering = ["-started_at", "-id"]
        verbose_name = _("contract")
        verbose_name_plural = _("contracts")
        constraints = [
            models.CheckConstraint(condition=Q(mrr__gte=0), name="contract_mrr_non_negative"),
            models.CheckConstraint(
                condition=Q(ends_at__isnull=True) | Q(ends_at__gte=models.F("started_at")),
                name="contract_ends_after_start",
            ),
            models.CheckConstraint(
                condition=~Q(status="cancelled") | Q(cancelled_at__isnull=False),
                name="contract_cancelled_has_date",
            ),
            models.CheckConstraint(condition=~Q(external_id=""), name="contract_external_id_not_empty"),
        ]

    def __str__(self) -> str:
        return self.external_id or f"#{self.pk}"


class Interaction(models.Model):
    class Kind(models.TextChoices):
        NOTE = "note", _("Note")
        CALL = "call", _("Call")
        EMAIL = "email", _("E-mail")
        WHATSAPP = "whatsapp", _("WhatsApp")
        INSTAGRAM = "instagram", _("Instagram")
        MEETING = "meeting", _("Meeting")

    customer = models.ForeignKey(
        Customer, verbose_name=_("customer"), on_delete=models.CASCADE, related_name="interactions"
    )
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices, default=Kind.NOTE)
    subject = models.CharField(_("subject"), max_length=200, blank=True)
    body = models.TextField(_("text"))
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("author"), null=True, blank=True, on_delete=models.SET_NULL
    )
    happened_at = models.DateTimeField(_("happened at"), default=timezone.now)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        ordering = ["-happened_at", "-id"]
        verbose_name = _("interaction")
        verbose_name_plural = _("interactions")
        indexes = [models.Index(fields=["customer", "-happened_at"], name="interaction_timeline_idx")]

    def __str__(self) -> str:
        return self.subject or self.body[:50]


class Consent(models.Model):
    """Append-only LGPD record: a change of mind is a new row, never an edit."""

    class Channel(models.TextChoices):
        EMAIL = "email", _("E-mail")
        WHATSAPP = "whatsapp", _("WhatsApp")
        SMS = "sms", _("SMS")
        PHONE = "phone", _("Phone")
        INSTAGRAM = "instagram", _("Instagram")

    class Purpose(models.TextChoices):
        SERVICE = "service", _("Service messages")
        SURVEYS = "surveys", _("Surveys")
        MARKETING = "marketing", _("Marketing")

    class Source(models.TextChoices):
        FORM = "form", _("Form")
        IMPORT = "import", _("Import")
        API = "api", _("API")
        MANUAL = "manual", _("Recorded by CS")
        PREFERENCE_CENTRE = "preferences", _("Preference centre")

    customer = models.ForeignKey(
        Customer, verbose_name=_("customer"), on_delete=models.CASCADE, related_name="consents"
    )
    channel = models.CharField(_("channel"), max_length=10, choices=Channel.choices)
    purpose = models.CharField(_("purpose"), max_length=10, choices=Purpose.choices)
    granted = models.BooleanField(_("granted"))
    source = models.CharField(_("source"), max_length=12, choices=Source.choices)
    evidence = models.TextField(_("evidence"), blank=True, help_text=_("Where and how the consent was given."))
    recorded_at = models.DateTimeField(_("recorded at"), default=timezone.now)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("recorded by"), null=True, blank=True, on_delete=models.SET_NULL
    )

    class Meta:
        ordering = ["-recorded_at", "-id"]
        verbose_name = _("consent")
        verbose_name_plural = _("consents")
        indexes = [models.Index(fields=["customer", "channel", "purpose", "-recorded_at"], name="consent_lookup_idx")]

    def __str__(self) -> str:
        return f"{self.customer_id} {self.channel}/{self.purpose}: {self.granted}"

    def save(self, *args: object, **kwargs: object) -> None:
        if self.pk is not None:
            raise ValidationError(_("Consent records are append-only; record a new one instead."))
        super().save(*args, **kwargs)

    def delete(self, *args: object, **kwargs: object) -> tuple[int, dict[str, int]]:
        raise ValidationError(_("Consent records are append-only and cannot be deleted."))


class ImportJob(models.Model):
    """A CSV import (upload page or command); its counters drive the progress bars."""

    class Kind(models.TextChoices):
        CUSTOMERS = "customers", _("Customers")
        CONTACTS = "contacts", _("Contacts")
        ORDERS = "orders", _("Orders")
        CONTRACTS = "contracts", _("Contracts")

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        RUNNING = "running", _("Running")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")

    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.PENDING)
    file = models.FileField(_("file"), upload_to="imports/%Y/%m/")
    original_name = models.CharField(_("file name"), max_length=255, blank=True)
    total_rows = models.PositiveIntegerField(_("rows"), default=0)
    processed_rows = models.PositiveIntegerField(_("processed rows"), default=0)
    created_count = models.PositiveIntegerField(_("created"), default=0)
    updated_count = models.PositiveIntegerField(_("updated"), default=0)
    unchanged_count = models.PositiveIntegerField(_("unchanged"), default=0)
    error_count = models.PositiveIntegerField(_("errors"), default=0)
    errors = models.JSONField(_("error report"), default=list, blank=True)
    message = models.TextField(_("message"), blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("created by"), null=True, blank=True, on_delete=models.SET_NULL
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    # Bumped by every progress write; a pending/running job untouched for long has lost its worker.
    updated_at = models.DateTimeField(_("updated at"), default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("import")
        verbose_name_plural = _("imports")

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.original_name}"

    @property
    def percent(self) -> int:
        if self.status == self.Status.DONE:
            return 100
        if not self.total_rows:
            return 0
        return min(100, int(self.processed_rows * 100 / self.total_rows))
