"""Post-sale funnel: stage history, transition rules, playbooks (cadences) and CS tasks.

Customer.stage lives on the customer row; funnel.services.stage_move is its only writer and
records every change here.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from customers.models import Customer, Segment

Stage = Customer.Stage


class Priority(models.TextChoices):
    LOW = "low", _("Low")
    NORMAL = "normal", _("Normal")
    HIGH = "high", _("High")
    URGENT = "urgent", _("Urgent")


class TransitionRule(models.Model):
    """An automatic stage transition a manager can enable, tune and restrict to some stages."""

    class Kind(models.TextChoices):
        ADOPTION_DAYS = "adoption_days", _("N days in adoption with no open problem")
        UPSELL = "upsell", _("Upsell order or plan upgrade")
        PROMOTER = "promoter", _("Promoter or successful referral")
        CONTRACT_CANCELLED = "contract_cancelled", _("All contracts cancelled")
        NO_PURCHASE = "no_purchase_days", _("No purchase for N days (B2C)")

    TIME_BASED = (Kind.ADOPTION_DAYS, Kind.NO_PURCHASE)

    kind = models.CharField(_("kind"), max_length=24, choices=Kind.choices, unique=True)
    from_stages = models.JSONField(
        _("from stages"), default=list, blank=True, help_text=_("The rule only moves customers in these stages.")
    )
    to_stage = models.CharField(_("to stage"), max_length=20, choices=Stage.choices)
    days = models.PositiveIntegerField(_("days"), null=True, blank=True)
    enabled = models.BooleanField(_("enabled"), default=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        ordering = ["id"]
        verbose_name = _("transition rule")
        verbose_name_plural = _("transition rules")

    def __str__(self) -> str:
        return str(self.get_kind_display())

    @property
    def is_time_based(self) -> bool:
        return self.kind in self.TIME_BASED

    def from_stage_labels(self) -> list[str]:
        labels = dict(Stage.choices)
        return [str(labels.get(s, s)) for s in self.from_stages]


class StageChange(models.Model):
    class Source(models.TextChoices):
        SYSTEM = "system", _("System")
        MANUAL = "manual", _("Manual")
        RULE = "rule", _("Rule")

    customer = models.ForeignKey(
        Customer, verbose_name=_("customer"), on_delete=models.CASCADE, related_name="stage_changes"
    )
    from_stage = models.CharField(_("from stage"), max_length=20, choices=Stage.choices, blank=True)
    to_stage = models.CharField(_("to stage"), max_length=20, choices=Stage.choices)
    changed_at = models.DateTimeField(_("changed at"), default=timezone.now)
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("changed by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    rule = models.ForeignKey(
        TransitionRule, verbose_name=_("rule"), null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    source = models.CharField(_("source"), max_length=10, choices=Source.choices, default=Source.SYSTEM)
    reason = models.TextField(_("reason"), blank=True)

    class Meta:
        ordering = ["-changed_at", "-id"]
        verbose_name = _("stage change")
        verbose_name_plural = _("stage changes")
        indexes = [
            models.Index(fields=["customer", "-changed_at", "-id"], name="stagechange_customer_idx"),
            models.Index(fields=["changed_at"], name="stagechange_changed_idx"),  # metrics: moves per day
        ]

    def __str__(self) -> str:
        return f"{self.customer_id}: {self.from_stage or '-'} → {self.to_stage}"

    @property
    def is_manual(self) -> bool:
        return self.source == self.Source.MANUAL


class Playbook(models.Model):
    """A cadence of steps run when a customer enters ``stage``.

    A playbook for a segment replaces the default one (segment empty) for that segment's customers.
    """

    stage = models.CharField(_("stage"), max_length=20, choices=Stage.choices)
    segment = models.ForeignKey(
        Segment,
        verbose_name=_("segment"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="playbooks",
        help_text=_("Empty: the default playbook for every customer of the stage."),
    )
    name = models.CharField(_("name"), max_length=120)
    slug = models.SlugField(_("slug"), max_length=80, unique=True, null=True, blank=True)
    active = models.BooleanField(_("active"), default=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        ordering = ["stage", "segment__name", "name"]
        verbose_name = _("playbook")
        verbose_name_plural = _("playbooks")
        constraints = [
            models.UniqueConstraint(
                fields=["stage", "segment"],
                condition=Q(active=True, segment__isnull=False),
                name="playbook_one_active_per_stage_segment",
            ),
            models.UniqueConstraint(
                fields=["stage"],
                condition=Q(active=True, segment__isnull=True),
                name="playbook_one_active_default_per_stage",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class PlaybookStep(models.Model):
    class Action(models.TextChoices):
        SEND_MESSAGE = "send_message", _("Send a message")
        CREATE_TASK = "create_task", _("Create a task for the owner")

    playbook = models.ForeignKey(Playbook, verbose_name=_("playbook"), on_delete=models.CASCADE, related_name="steps")
    day_offset = models.PositiveIntegerField(_("day"), help_text=_("Days after entering the stage (0 = at once)."))
    action = models.CharField(_("action"), max_length=14, choices=Action.choices)
    template = models.ForeignKey(
        "messaging.MessageTemplate",
        verbose_name=_("message template"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="playbook_steps",
    )
    task_title = models.CharField(_("task title"), max_length=200, blank=True)
    task_priority = models.CharField(
        _("task priority"), max_length=8, choices=Priority.choices, default=Priority.NORMAL
    )
    requires_approval = models.BooleanField(
        _("requires approval"),
        default=False,
        help_text=_("The message lands in the owner's approval queue as a draft instead of going out."),
    )

    class Meta:
        ordering = ["playbook", "day_offset", "id"]
        verbose_name = _("playbook step")
        verbose_name_plural = _("playbook steps")

    def __str__(self) -> str:
        return f"{self.playbook} D+{self.day_offset} {self.get_action_display()}"


class StepRun(models.Model):
    """One step of a playbook scheduled for one customer's stay in a stage (the outbox row)."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        RUNNING = "running", _("Running")
        DONE = "done", _("Done")
        CANCELLED = "cancelled", _("Cancelled")
        SKIPPED = "skipped", _("Skipped")
        FAILED = "failed", _("Failed")

    customer = models.ForeignKey(Customer, verbose_name=_("customer"), on_delete=models.CASCADE, related_name="+")
    step = models.ForeignKey(PlaybookStep, verbose_name=_("step"), on_delete=models.CASCADE, related_name="runs")
    stage_change = models.ForeignKey(
        StageChange, verbose_name=_("stage change"), on_delete=models.CASCADE, related_name="step_runs"
    )
    due_at = models.DateTimeField(_("due at"))
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    message_id = models.BigIntegerField(_("message"), null=True, blank=True)
    detail = models.TextField(_("detail"), blank=True)

    class Meta:
        ordering = ["due_at", "id"]
        verbose_name = _("step run")
        verbose_name_plural = _("step runs")
        constraints = [models.UniqueConstraint(fields=["stage_change", "step"], name="steprun_once_per_stage_change")]
        indexes = [
            models.Index(fields=["status", "due_at"], name="steprun_due_idx"),
            models.Index(fields=["customer", "status"], name="steprun_customer_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.step} → {self.customer_id} ({self.status})"


class Task(models.Model):
    Priority = Priority

    class Origin(models.TextChoices):
        PLAYBOOK = "playbook", _("Playbook")
        RULE = "rule", _("Rule")
        MANUAL = "manual", _("Manual")
        SURVEY = "survey", _("Survey")

    class Status(models.TextChoices):
        OPEN = "open", _("Open")
        DONE = "done", _("Done")

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("owner"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="cs_tasks",
    )
    customer = models.ForeignKey(Customer, verbose_name=_("customer"), on_delete=models.CASCADE, related_name="tasks")
    title = models.CharField(_("title"), max_length=200)
    notes = models.TextField(_("notes"), blank=True)
    due_date = models.DateField(_("due date"))
    priority = models.CharField(_("priority"), max_length=8, choices=Priority.choices, default=Priority.NORMAL)
    origin = models.CharField(_("origin"), max_length=10, choices=Origin.choices, default=Origin.MANUAL)
    status = models.CharField(_("status"), max_length=6, choices=Status.choices, default=Status.OPEN)
    step_run = models.OneToOneField(
        StepRun, verbose_name=_("playbook step"), null=True, blank=True, on_delete=models.SET_NULL, related_name="task"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("created by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    done_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("done by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    done_at = models.DateTimeField(_("done at"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        ordering = ["due_date", "id"]
        verbose_name = _("task")
        verbose_name_plural = _("tasks")
        constraints = [
            models.CheckConstraint(
                condition=Q(status="open", done_at__isnull=True) | Q(status="done", done_at__isnull=False),
                name="task_done_has_date",
            ),
        ]
        indexes = [
            models.Index(fields=["owner", "status", "due_date"], name="task_owner_due_idx"),
            models.Index(fields=["customer", "status"], name="task_customer_idx"),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def is_overdue(self) -> bool:
        return self.status == self.Status.OPEN and self.due_date < timezone.localdate()


class DigestLog(models.Model):
    """The overdue-tasks digest sent to one owner on one day; the row is claimed before sending."""

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("owner"), on_delete=models.CASCADE, related_name="+"
    )
    date = models.DateField(_("date"))
    task_count = models.PositiveIntegerField(_("tasks"), default=0)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)

    class Meta:
        ordering = ["-date", "owner"]
        verbose_name = _("digest log")
        verbose_name_plural = _("digest logs")
        constraints = [models.UniqueConstraint(fields=["owner", "date"], name="digestlog_once_per_owner_day")]

    def __str__(self) -> str:
        return f"{self.owner_id} {self.date}"


# --- campaigns -----------------------------------------------------------------------------------


class Audience(models.Model):
    """A saved filter over customers (funnel.campaigns.audience_customers turns it into a queryset).

    ``filters`` keys (all optional, combined with AND): ``stages`` (list of stage values),
    ``segments`` (customers.Segment ids), ``tags`` (customers.Tag ids, any of them), ``kind``,
    ``owner`` (user id or "none"), ``last_purchase_before_days`` (latest paid order more than N
    days ago), ``last_purchase_within_days`` (a paid order in the last N days), ``tenure_min_days``
    (customer for at least N days). See docs/funnel.md.
    """

    name = models.CharField(_("name"), max_length=120, unique=True)
    filters = models.JSONField(_("filters"), default=dict, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("created by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        ordering = ["name", "id"]
        verbose_name = _("audience")
        verbose_name_plural = _("audiences")

    def __str__(self) -> str:
        return self.name


class Campaign(models.Model):
    """A message template sent to an audience, now or at ``scheduled_at``."""

    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        SCHEDULED = "scheduled", _("Scheduled")
        SENDING = "sending", _("Sending")
        DONE = "done", _("Done")
        CANCELLED = "cancelled", _("Cancelled")

    name = models.CharField(_("name"), max_length=150)
    template = models.ForeignKey(
        "messaging.MessageTemplate",
        verbose_name=_("message template"),
        on_delete=models.PROTECT,
        related_name="campaigns",
    )
    audience = models.ForeignKey(
        Audience, verbose_name=_("audience"), on_delete=models.PROTECT, related_name="campaigns"
    )
    scheduled_at = models.DateTimeField(_("scheduled for"), null=True, blank=True, help_text=_("Empty: send now."))
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.DRAFT)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("created by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    cancelled_at = models.DateTimeField(_("cancelled at"), null=True, blank=True)
    # Counters, written with F() by the batches (each batch adds its own once, in its transaction).
    total_count = models.PositiveIntegerField(_("audience size"), default=0)
    processed_count = models.PositiveIntegerField(_("customers processed"), default=0)
    queued_count = models.PositiveIntegerField(_("messages queued"), default=0)
    blocked_count = models.PositiveIntegerField(_("messages blocked"), default=0)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("campaign")
        verbose_name_plural = _("campaigns")
        constraints = [
            models.CheckConstraint(
                condition=~Q(status="scheduled") | Q(scheduled_at__isnull=False), name="campaign_scheduled_has_time"
            ),
        ]
        indexes = [models.Index(fields=["status", "scheduled_at"], name="campaign_due_idx")]

    def __str__(self) -> str:
        return self.name

    @property
    def source(self) -> str:
        """Message.source of this campaign's messages."""
        return f"campaign:{self.pk}"

    @property
    def percent(self) -> int:
        if self.status == self.Status.DONE:
            return 100
        if not self.total_count:
            return 0
        return min(100, int(self.processed_count * 100 / self.total_count))

    @property
    def is_editable(self) -> bool:
        return self.status in (self.Status.DRAFT, self.Status.SCHEDULED)


class CampaignBatch(models.Model):
    """Up to N customers of a started campaign (the outbox row of one fan-out task).

    The customer ids are frozen when the campaign starts, so the audience is the one of that moment.
    """

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        RUNNING = "running", _("Running")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")

    campaign = models.ForeignKey(Campaign, verbose_name=_("campaign"), on_delete=models.CASCADE, related_name="batches")
    number = models.PositiveIntegerField(_("number"))
    customer_ids = models.JSONField(_("customers"), default=list)
    status = models.CharField(_("status"), max_length=8, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    enqueued_at = models.DateTimeField(_("enqueued at"), null=True, blank=True)
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    error = models.TextField(_("last error"), blank=True)

    class Meta:
        ordering = ["campaign", "number"]
        verbose_name = _("campaign batch")
        verbose_name_plural = _("campaign batches")
        constraints = [models.UniqueConstraint(fields=["campaign", "number"], name="campaignbatch_unique_number")]
        indexes = [models.Index(fields=["status", "enqueued_at"], name="campaignbatch_outbox_idx")]

    def __str__(self) -> str:
        return f"{self.campaign_id}#{self.number} ({self.status})"
