"""Outbound messages: templates, one Message row per send (it is also the outbox), tracking events
and the suppression list."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower
from django.utils.translation import gettext_lazy as _

from customers.models import Consent, Customer
from posvenda.models import TimeStampedModel


class Channel(models.TextChoices):
    EMAIL = "email", _("E-mail")
    WHATSAPP = "whatsapp", _("WhatsApp")
    INSTAGRAM = "instagram", _("Instagram")


class MessageTemplate(TimeStampedModel):
    """Subject and body per language; pt-BR is required, English falls back to it when empty."""

    slug = models.SlugField(_("slug"), max_length=80, unique=True)
    name = models.CharField(_("name"), max_length=150)
    channel = models.CharField(_("channel"), max_length=10, choices=Channel.choices, default=Channel.EMAIL)
    purpose = models.CharField(
        _("purpose"), max_length=10, choices=Consent.Purpose.choices, default=Consent.Purpose.SERVICE
    )
    subject_pt_br = models.CharField(_("subject (Portuguese)"), max_length=200, blank=True)
    body_pt_br = models.TextField(_("body (Portuguese)"))
    subject_en = models.CharField(_("subject (English)"), max_length=200, blank=True)
    body_en = models.TextField(_("body (English)"), blank=True)
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        ordering = ["name", "id"]
        verbose_name = _("message template")
        verbose_name_plural = _("message templates")

    def __str__(self) -> str:
        return self.name

    def texts_for(self, language: str | None) -> tuple[str, str]:
        """(subject, body) in ``language``; English parts left empty fall back to pt-BR."""
        if (language or "").lower().startswith("en"):
            return (self.subject_en or self.subject_pt_br, self.body_en or self.body_pt_br)
        return (self.subject_pt_br, self.body_pt_br)


class Message(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft (awaiting approval)")
        QUEUED = "queued", _("Queued")
        SENDING = "sending", _("Sending")
        SENT = "sent", _("Sent")
        DELIVERED = "delivered", _("Delivered")
        OPENED = "opened", _("Opened")
        CLICKED = "clicked", _("Clicked")
        BOUNCED = "bounced", _("Bounced")
        COMPLAINED = "complained", _("Complained (spam)")
        FAILED = "failed", _("Failed")
        BLOCKED = "blocked", _("Blocked")
        DISCARDED = "discarded", _("Discarded")

    class BlockedReason(models.TextChoices):
        NO_CONSENT = "no_consent", _("No consent for this channel and purpose")
        SUPPRESSED = "suppressed", _("Address suppressed (bounce, complaint or unsubscribe)")
        NO_ADDRESS = "no_address", _("No address for this channel")
        FREQUENCY_CAP = "frequency_cap", _("Weekly limit of automated messages reached")
        CHANNEL_NOT_CONFIGURED = "channel_not_configured", _("Channel not configured")

    customer = models.ForeignKey(
        Customer, verbose_name=_("customer"), on_delete=models.CASCADE, related_name="messages"
    )
    channel = models.CharField(_("channel"), max_length=10, choices=Channel.choices, default=Channel.EMAIL)
    template = models.ForeignKey(
        MessageTemplate,
        verbose_name=_("template"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="messages",
    )
    purpose = models.CharField(
        _("purpose"), max_length=10, choices=Consent.Purpose.choices, default=Consent.Purpose.SERVICE
    )
    language = models.CharField(_("language"), max_length=10, default="pt-br")
    to_address = models.CharField(_("to"), max_length=254, blank=True)
    subject = models.CharField(_("subject"), max_length=200, blank=True)
    body = models.TextField(_("body"))
    # Structured parts the e-mail renders around the body, e.g. a survey's clickable score scale:
    # {"scale": {"question": str, "low": str, "high": str, "links": [[score, url], ...]},
    #  "button": {"label": str, "url": str}}.
    extra = models.JSONField(_("extra content"), default=dict, blank=True)
    status = models.CharField(_("status"), max_length=12, choices=Status.choices, default=Status.QUEUED)
    blocked_reason = models.CharField(_("blocked reason"), max_length=30, choices=BlockedReason.choices, blank=True)
    error = models.TextField(_("last error"), blank=True)
    attempts = models.PositiveSmallIntegerField(_("delivery attempts"), default=0)
    provider_message_id = models.CharField(_("provider message ID"), max_length=255, blank=True)
    idempotency_key = models.CharField(_("idempotency key"), max_length=200, unique=True)
    automated = models.BooleanField(_("automated"), default=True)
    source = models.CharField(_("source"), max_length=200, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("created by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("approved by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    queued_at = models.DateTimeField(_("queued at"), null=True, blank=True)
    # When a deliver task was last put on the broker; the outbox beat re-enqueues rows left behind.
    enqueued_at = models.DateTimeField(_("enqueued at"), null=True, blank=True)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("message")
        verbose_name_plural = _("messages")
        constraints = [
            models.CheckConstraint(
                condition=~Q(status="blocked") | ~Q(blocked_reason=""), name="message_blocked_has_reason"
            ),
            models.CheckConstraint(condition=~Q(idempotency_key=""), name="message_idempotency_key_not_empty"),
        ]
        indexes = [
            models.Index(fields=["customer", "-created_at"], name="message_customer_idx"),
            models.Index(fields=["status", "enqueued_at"], name="message_outbox_idx"),
            models.Index(fields=["customer", "automated", "queued_at"], name="message_cap_idx"),
            models.Index(
                fields=["provider_message_id"], condition=~Q(provider_message_id=""), name="message_provider_id_idx"
            ),
            # Campaign results aggregate over source = "campaign:<id>" (funnel.campaigns).
            models.Index(fields=["source"], condition=~Q(source=""), name="message_source_idx"),
            # metrics: e-mails sent per day
            models.Index(fields=["sent_at"], condition=Q(sent_at__isnull=False), name="message_sent_idx"),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.subject or self.body[:40]}"


class MessageEvent(models.Model):
    """History of one message: our own transitions and every tracking webhook, with its payload."""

    class Type(models.TextChoices):
        QUEUED = "queued", _("Queued")
        BLOCKED = "blocked", _("Blocked")
        APPROVED = "approved", _("Approved")
        DISCARDED = "discarded", _("Discarded")
        SENT = "sent", _("Sent")
        FAILED = "failed", _("Failed")
        REJECTED = "rejected", _("Rejected by provider")
        DEFERRED = "deferred", _("Deferred")
        DELIVERED = "delivered", _("Delivered")
        OPENED = "opened", _("Opened")
        CLICKED = "clicked", _("Clicked")
        BOUNCED = "bounced", _("Bounced")
        COMPLAINED = "complained", _("Complained (spam)")
        UNSUBSCRIBED = "unsubscribed", _("Unsubscribed")
        OTHER = "other", _("Other")

    message = models.ForeignKey(Message, verbose_name=_("message"), on_delete=models.CASCADE, related_name="events")
    event_type = models.CharField(_("event"), max_length=15, choices=Type.choices)
    at = models.DateTimeField(_("at"))
    provider_event_id = models.CharField(_("provider event ID"), max_length=255, blank=True)
    detail = models.CharField(_("detail"), max_length=500, blank=True)
    payload = models.JSONField(_("raw payload"), default=dict, blank=True)
    created_at = models.DateTimeField(_("recorded at"), auto_now_add=True)

    class Meta:
        ordering = ["at", "id"]
        verbose_name = _("message event")
        verbose_name_plural = _("message events")
        constraints = [
            # A webhook the provider retries is recorded once.
            models.UniqueConstraint(
                fields=["message", "provider_event_id", "event_type"],
                condition=~Q(provider_event_id=""),
                name="message_event_provider_unique",
            )
        ]

    def __str__(self) -> str:
        return f"{self.message_id} {self.event_type}"


class Suppression(models.Model):
    """An address nothing is sent to any more (hard bounce, spam complaint, unsubscribe at the ESP)."""

    class Reason(models.TextChoices):
        BOUNCE = "bounce", _("Hard bounce")
        COMPLAINT = "complaint", _("Spam complaint")
        UNSUBSCRIBE = "unsubscribe", _("Unsubscribe")
        MANUAL = "manual", _("Added by CS")

    address = models.CharField(_("address"), max_length=254, unique=True, help_text=_("Stored in lower case."))
    reason = models.CharField(_("reason"), max_length=12, choices=Reason.choices)
    at = models.DateTimeField(_("at"))
    message = models.ForeignKey(
        Message, verbose_name=_("message"), null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-at", "-id"]
        verbose_name = _("suppressed address")
        verbose_name_plural = _("suppressed addresses")
        constraints = [models.CheckConstraint(condition=Q(address=Lower("address")), name="suppression_address_lower")]

    def __str__(self) -> str:
        return self.address
