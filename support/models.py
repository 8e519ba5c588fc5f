"""Support tickets, their history, SLA policies and the business calendar.

The SLA fields on Ticket (due times, elapsed time, breached flags) are derived from the ticket's
history by support.sla and rewritten by support.services on every change; the queue sorts on them.
"""

from __future__ import annotations

from datetime import time

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from customers.models import Contact, Customer, Segment
from funnel.models import Priority
from posvenda.models import TimeStampedModel


class Team(models.Model):
    name = models.CharField(_("name"), max_length=100, unique=True)
    members = models.ManyToManyField(
        settings.AUTH_USER_MODEL, verbose_name=_("members"), blank=True, related_name="support_teams"
    )
    manager = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("manager"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text=_("Receives breach escalations (all CS managers when empty)."),
    )

    class Meta:
        ordering = ["name"]
        verbose_name = _("team")
        verbose_name_plural = _("teams")

    def __str__(self) -> str:
        return self.name


class WorkingHours(models.Model):
    class Weekday(models.IntegerChoices):
        MONDAY = 0, _("Monday")
        TUESDAY = 1, _("Tuesday")
        WEDNESDAY = 2, _("Wednesday")
        THURSDAY = 3, _("Thursday")
        FRIDAY = 4, _("Friday")
        SATURDAY = 5, _("Saturday")
        SUNDAY = 6, _("Sunday")

    weekday = models.PositiveSmallIntegerField(_("weekday"), choices=Weekday.choices, unique=True)
    start = models.TimeField(_("start"), default=time(9))
    end = models.TimeField(_("end"), default=time(18))

    class Meta:
        ordering = ["weekday"]
        verbose_name = _("working hours")
        verbose_name_plural = _("working hours")
        constraints = [
            models.CheckConstraint(condition=Q(end__gt=models.F("start")), name="workinghours_end_after_start")
        ]

    def __str__(self) -> str:
        return f"{self.get_weekday_display()} {self.start:%H:%M}–{self.end:%H:%M}"


class Holiday(models.Model):
    """A day off besides the national holidays (computed): state/city holidays, Carnival…"""

    date = models.DateField(_("date"), unique=True)
    name = models.CharField(_("name"), max_length=100)

    class Meta:
        ordering = ["date"]
        verbose_name = _("holiday")
        verbose_name_plural = _("holidays")

    def __str__(self) -> str:
        return f"{self.date:%Y-%m-%d} {self.name}"


class SlaPolicy(TimeStampedModel):
    """Targets for tickets of one priority (optionally only for one customer segment)."""

    name = models.CharField(_("name"), max_length=100)
    priority = models.CharField(_("priority"), max_length=10, choices=Priority.choices)
    segment = models.ForeignKey(
        Segment,
        verbose_name=_("segment"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
        help_text=_("Only for customers of this segment (a policy without segment covers the rest)."),
    )
    first_response_minutes = models.PositiveIntegerField(_("first response target (minutes)"))
    resolution_minutes = models.PositiveIntegerField(_("resolution target (minutes)"))
    business_hours = models.BooleanField(
        _("count business hours only"), default=True, help_text=_("Off: the clock runs 24 hours a day, every day.")
    )
    warn_before_minutes = models.PositiveIntegerField(
        _("warn the assignee this many minutes before a breach"), default=60
    )

    class Meta:
        ordering = ["priority", "segment__name", "id"]
        verbose_name = _("SLA policy")
        verbose_name_plural = _("SLA policies")
        constraints = [
            models.UniqueConstraint(
                fields=["priority"], condition=Q(segment__isnull=True), name="sla_one_default_per_priority"
            ),
            models.UniqueConstraint(fields=["priority", "segment"], name="sla_one_per_priority_segment"),
            models.CheckConstraint(condition=Q(first_response_minutes__gt=0), name="sla_first_response_positive"),
            models.CheckConstraint(condition=Q(resolution_minutes__gt=0), name="sla_resolution_positive"),
        ]

    def __str__(self) -> str:
        return self.name


class Ticket(TimeStampedModel):
    class Status(models.TextChoices):
        NEW = "new", _("New")
        OPEN = "open", _("Open")
        WAITING = "waiting", _("Waiting on customer")
        ON_HOLD = "on_hold", _("On hold")
        RESOLVED = "resolved", _("Resolved")
        CLOSED = "closed", _("Closed")
        REOPENED = "reopened", _("Reopened")

    class Channel(models.TextChoices):
        EMAIL = "email", _("E-mail")
        PHONE = "phone", _("Phone")
        WHATSAPP = "whatsapp", _("WhatsApp")
        INSTAGRAM = "instagram", _("Instagram")
        CHAT = "chat", _("Chat")
        WEB = "web", _("Web form")
        SURVEY = "survey", _("Survey")

    class Category(models.TextChoices):
        QUESTION = "question", _("Question")
        PROBLEM = "problem", _("Problem")
        BILLING = "billing", _("Billing")
        DELIVERY = "delivery", _("Delivery")
        RETURN = "return", _("Return or exchange")
        COMPLAINT = "complaint", _("Complaint")
        OTHER = "other", _("Other")

    customer = models.ForeignKey(Customer, verbose_name=_("customer"), on_delete=models.CASCADE, related_name="tickets")
    contact = models.ForeignKey(
        Contact, verbose_name=_("contact"), null=True, blank=True, on_delete=models.SET_NULL, related_name="tickets"
    )
    subject = models.CharField(_("subject"), max_length=200)
    description = models.TextField(_("description"), blank=True)
    channel = models.CharField(_("channel"), max_length=10, choices=Channel.choices, default=Channel.EMAIL)
    category = models.CharField(_("category"), max_length=10, choices=Category.choices, default=Category.QUESTION)
    priority = models.CharField(_("priority"), max_length=10, choices=Priority.choices, default=Priority.NORMAL)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("assignee"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="assigned_tickets",
    )
    team = models.ForeignKey(
        Team, verbose_name=_("team"), null=True, blank=True, on_delete=models.SET_NULL, related_name="tickets"
    )
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.NEW)
    opened_at = models.DateTimeField(_("opened at"))
    first_response_at = models.DateTimeField(_("first response at"), null=True, blank=True)
    resolved_at = models.DateTimeField(_("resolved at"), null=True, blank=True)
    closed_at = models.DateTimeField(_("closed at"), null=True, blank=True)
    reopen_count = models.PositiveSmallIntegerField(_("times reopened"), default=0)
    # Idempotent creation (a survey answer, an inbound e-mail, an API request): one ticket per key.
    source_key = models.CharField(_("source key"), max_length=120, null=True, blank=True, unique=True)
    survey_response = models.ForeignKey(
        "surveys.Response",
        verbose_name=_("survey answer"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="tickets",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("created by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    # SLA state, derived by support.sla from the history (see docs/support.md)
    sla_policy = models.ForeignKey(
        SlaPolicy,
        verbose_name=_("SLA policy"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="tickets",
    )
    first_response_due_at = models.DateTimeField(_("first response due"), null=True, blank=True)
    resolution_due_at = models.DateTimeField(
        _("resolution due"), null=True, blank=True, help_text=_("Empty while the clock is paused or stopped.")
    )
    resolution_paused = models.BooleanField(_("resolution clock paused"), default=False)
    resolution_remaining_seconds = models.IntegerField(_("resolution time left when paused (s)"), null=True, blank=True)
    first_response_breached = models.BooleanField(_("first response breached"), default=False)
    resolution_breached = models.BooleanField(_("resolution breached"), default=False)
    # Figures, set when the moment happens
    first_response_seconds = models.PositiveIntegerField(_("first response time (s)"), null=True, blank=True)
    first_response_business_seconds = models.PositiveIntegerField(
        _("first response time, business (s)"), null=True, blank=True
    )
    resolution_seconds = models.PositiveIntegerField(_("resolution time (s)"), null=True, blank=True)
    resolution_business_seconds = models.PositiveIntegerField(_("resolution time, business (s)"), null=True, blank=True)

    class Meta:
        ordering = ["-opened_at", "-id"]
        verbose_name = _("ticket")
        verbose_name_plural = _("tickets")
        constraints = [
            models.CheckConstraint(condition=~Q(subject=""), name="ticket_subject_not_empty"),
            models.CheckConstraint(
                condition=~Q(status__in=["resolved", "closed"]) | Q(resolved_at__isnull=False),
                name="ticket_resolved_has_time",
            ),
        ]
        indexes = [
            models.Index(fields=["status", "resolution_due_at"], name="ticket_queue_idx"),
            models.Index(fields=["assignee", "status"], name="ticket_assignee_idx"),
            models.Index(fields=["customer", "-opened_at"], name="ticket_customer_idx"),
            models.Index(fields=["resolved_at"], name="ticket_resolved_idx"),
            models.Index(fields=["opened_at"], name="ticket_opened_idx"),  # metrics: tickets opened per day
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.subject}"

    @property
    def is_open(self) -> bool:
        return self.status not in (self.Status.RESOLVED, self.Status.CLOSED)


class TicketEvent(models.Model):
    """Append-only history of a ticket: every change, reply and note, and the SLA alerts."""

    class Kind(models.TextChoices):
        CREATED = "created", _("Created")
        STATUS = "status", _("Status changed")
        PRIORITY = "priority", _("Priority changed")
        ASSIGNEE = "assignee", _("Assignee changed")
        TEAM = "team", _("Team changed")
        CATEGORY = "category", _("Category changed")
        REPLY = "reply", _("Public reply")
        NOTE = "note", _("Internal note")
        CUSTOMER_REPLY = "customer_reply", _("Customer reply")
        SLA_WARNING = "sla_warning", _("SLA warning")
        SLA_BREACH = "sla_breach", _("SLA breached")

    ticket = models.ForeignKey(Ticket, verbose_name=_("ticket"), on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    from_value = models.CharField(_("from"), max_length=100, blank=True)
    to_value = models.CharField(_("to"), max_length=100, blank=True)
    body = models.TextField(_("text"), blank=True)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("author"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    at = models.DateTimeField(_("at"))
    message = models.ForeignKey(
        "messaging.Message",
        verbose_name=_("e-mail"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    # Inbound e-mail Message-ID, so a webhook delivered twice attaches the reply once.
    inbound_id = models.CharField(_("inbound message id"), max_length=255, null=True, blank=True, unique=True)

    class Meta:
        ordering = ["at", "id"]
        verbose_name = _("ticket event")
        verbose_name_plural = _("ticket events")
        indexes = [models.Index(fields=["ticket", "at"], name="ticketevent_ticket_idx")]

    def __str__(self) -> str:
        return f"{self.ticket_id} {self.kind}"

    def _label(self, value: str) -> str:
        choices = {
            self.Kind.CREATED: Ticket.Status,
            self.Kind.STATUS: Ticket.Status,
            self.Kind.PRIORITY: Priority,
            self.Kind.CATEGORY: Ticket.Category,
        }.get(self.kind)
        if choices is not None and value in choices.values:
            return str(choices(value).label)
        return value

    @property
    def from_label(self) -> str:
        """``from_value`` as people read it (a status, priority or category label)."""
        return self._label(self.from_value)

    @property
    def to_label(self) -> str:
        return self._label(self.to_value)


class SlaAlert(models.Model):
    """One warning or escalation e-mail; the unique row is the claim, so beat running twice sends once."""

    class Kind(models.TextChoices):
        FIRST_RESPONSE_WARNING = "fr_warning", _("First response due soon")
        FIRST_RESPONSE_BREACH = "fr_breach", _("First response breached")
        RESOLUTION_WARNING = "res_warning", _("Resolution due soon")
        RESOLUTION_BREACH = "res_breach", _("Resolution breached")

    ticket = models.ForeignKey(Ticket, verbose_name=_("ticket"), on_delete=models.CASCADE, related_name="sla_alerts")
    kind = models.CharField(_("kind"), max_length=12, choices=Kind.choices)
    # Reopening starts a new cycle: its resolution clock may warn and breach again.
    cycle = models.PositiveSmallIntegerField(_("cycle"), default=0)
    recipients = models.CharField(_("sent to"), max_length=500, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("SLA alert")
        verbose_name_plural = _("SLA alerts")
        constraints = [models.UniqueConstraint(fields=["ticket", "kind", "cycle"], name="slaalert_once")]

    def __str__(self) -> str:
        return f"{self.ticket_id} {self.kind} {self.cycle}"
